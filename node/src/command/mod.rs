//! Commands: every change to this node's records, decided completely before
//! it is applied (ids, instants, actor), so that [`apply`] reads no clock and
//! no randomness. Replaying the command log on an empty database rebuilds the
//! same records; that is what lets a replicated log drive several replicas.
//!
//! [`apply`] is a short router; each area applies its own changes:
//! `users.rs` (accounts), `cases.rs` (a centre's own records), `between.rs`
//! (messages to and from other centres, through `crate::between`) and
//! `national.rs` (statutory reports received by the national node).

mod between;
mod cases;
mod change;
mod national;
mod users;

use serde::{Deserialize, Serialize};
use sqlx::SqliteConnection;
use time::OffsetDateTime;

pub use change::*;

use crate::time_fmt;

/// A change with who made it and when, and the statutory reports it sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub change: Change,
    /// Reports to queue in the outbox after the change, in this transaction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<crate::reports::ReportTicket>,
    /// Shares whose data goes out again after the change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub share_updates: Vec<ShareTicket>,
}

/// A decision, made before `apply`, to send a share's current data again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareTicket {
    pub share_id: String,
    pub me: String,
    pub message_id: uuid::Uuid,
}

impl Command {
    pub fn new(at: OffsetDateTime, actor: &str, change: Change) -> Self {
        Self {
            at,
            actor: actor.to_string(),
            change,
            reports: Vec::new(),
            share_updates: Vec::new(),
        }
    }
}

/// Why a command could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("the notification is locked: additional registration {by} supersedes it")]
    Locked { by: String },
    /// A federation message its sender has no authority to send (see
    /// `renkei_federation::authority`); never applied.
    #[error(transparent)]
    Unauthorised(renkei_federation::authority::Refused),
    /// A federation message that may become acceptable once another
    /// centre's message arrives; the sender tries again.
    #[error("not yet: {0}")]
    NotYet(renkei_federation::authority::Refused),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What every area's apply needs of the command besides its change.
pub(crate) struct Cx<'a> {
    /// The command's instant, as stored.
    at: String,
    /// The same instant, for messages queued by the change.
    now: OffsetDateTime,
    /// Who made the change.
    by: &'a str,
}

/// Applies one command to the database. Deterministic: the outcome depends
/// only on the command and the database.
pub async fn apply(conn: &mut SqliteConnection, command: &Command) -> Result<(), ApplyError> {
    let cx = Cx {
        at: time_fmt::instant(command.at),
        now: command.at,
        by: command.actor.as_str(),
    };
    match &command.change {
        Change::CreateUser(user) => users::create_user(conn, &cx, user).await?,
        Change::DisableUser { user_id } => users::disable_user(conn, &cx, user_id).await?,
        Change::SetPassword {
            user_id,
            password_hash,
            totp,
        } => users::set_password(conn, user_id, password_hash, totp).await?,
        Change::ResetCredentials {
            user_id,
            password_hash,
            totp_secret,
        } => users::reset_credentials(conn, user_id, password_hash, totp_secret).await?,
        Change::RegisterCase(case) => cases::register_case(conn, &cx, case).await?,
        Change::UpdateNotification {
            case_id,
            diagnosis_class,
            details,
            reported_on,
        } => {
            cases::update_notification(conn, case_id, diagnosis_class, details, reported_on).await?
        }
        Change::AddTests { case_id, tests } => cases::add_tests(conn, &cx, case_id, tests).await?,
        Change::Confirm {
            case_id,
            status,
            by_entrant,
        } => cases::confirm(conn, &cx, case_id, status, by_entrant).await?,
        Change::SetStatus { case_id, status } => {
            cases::change_status(conn, &cx, case_id, status).await?
        }
        Change::MovePlaceOfStay {
            case_id,
            municipality_code,
            address,
        } => cases::move_place_of_stay(conn, &cx, case_id, municipality_code, address).await?,
        Change::AddObservation {
            case_id,
            observation: o,
        } => cases::add_observation(conn, &cx, case_id, o).await?,
        Change::AddContact {
            case_id,
            contact: c,
        } => cases::add_contact(conn, &cx, case_id, c).await?,
        Change::SetMedical {
            case_id,
            medical: m,
        } => cases::set_medical(conn, &cx, case_id, m).await?,
        Change::SetAssignment {
            case_id,
            assignment: a,
        } => cases::set_assignment(conn, &cx, case_id, a).await?,
        Change::OfferTransfer {
            transfer_id,
            case_id,
            me,
            to,
            reason,
            message_id,
        } => {
            between::offer_transfer(conn, &cx, transfer_id, case_id, me, to, reason, message_id)
                .await?
        }
        Change::ReceiveTransferOffer {
            sender,
            message_id,
            me,
            offer,
            auto_answer,
        } => {
            between::receive_transfer_offer(conn, &cx, sender, message_id, me, offer, auto_answer)
                .await?
        }
        Change::AnswerTransfer {
            transfer_id,
            accepted,
            reason,
            me,
            message_id,
        } => {
            between::answer_transfer(conn, &cx, transfer_id, accepted, reason, me, message_id)
                .await?
        }
        Change::ReceiveTransferAnswer {
            sender,
            message_id,
            me,
            answer,
            outcome_message,
        } => {
            between::receive_transfer_answer(
                conn,
                &cx,
                sender,
                message_id,
                me,
                answer,
                outcome_message,
            )
            .await?
        }
        Change::WithdrawTransfer {
            transfer_id,
            me,
            message_id,
        } => between::withdraw_transfer(conn, &cx, transfer_id, me, message_id).await?,
        Change::ReceiveTransferOutcome {
            sender,
            message_id,
            me,
            outcome,
            person_id,
        } => {
            if !between::receive_transfer_outcome(
                conn, &cx, sender, message_id, me, outcome, person_id,
            )
            .await?
            {
                return Ok(());
            }
        }
        Change::ForwardObservation {
            case_id,
            me,
            observation,
            message_id,
        } => between::forward_observation(conn, &cx, case_id, me, observation, message_id).await?,
        Change::ReceiveForwardedObservation {
            sender,
            message_id,
            forwarded,
        } => {
            between::receive_forwarded_observation(conn, &cx, sender, message_id, forwarded).await?
        }
        Change::ReferContact {
            referral_id,
            case_id,
            contact_id,
            to,
            me,
            index_link,
            message_id,
        } => {
            between::refer_contact(
                conn,
                &cx,
                referral_id,
                case_id,
                contact_id,
                to,
                me,
                index_link,
                message_id,
            )
            .await?
        }
        Change::ReceiveContactReferral {
            sender,
            message_id,
            referral,
        } => between::receive_contact_referral(conn, &cx, sender, message_id, referral).await?,
        Change::GrantShare {
            share_id,
            case_id,
            to,
            purpose,
            me,
            message_id,
        } => {
            between::grant_share(conn, &cx, share_id, case_id, to, purpose, me, message_id).await?
        }
        Change::RevokeShare {
            share_id,
            me,
            message_id,
        } => between::revoke_share(conn, &cx, share_id, me, message_id).await?,
        Change::ReceiveShareData {
            sender,
            message_id,
            data,
        } => between::receive_share_data(conn, &cx, sender, message_id, data).await?,
        Change::ReceiveShareRevoke {
            sender,
            message_id,
            revoke,
        } => between::receive_share_revoke(conn, &cx, sender, message_id, revoke).await?,
        Change::ReportShareView {
            share_id,
            viewer,
            role,
            me,
            message_id,
        } => between::report_share_view(conn, &cx, share_id, viewer, role, me, message_id).await?,
        Change::ReceiveShareViewed {
            sender,
            message_id,
            viewed,
        } => between::receive_share_viewed(conn, &cx, sender, message_id, viewed).await?,
        Change::ReceiveReport {
            sender,
            message_id,
            sent_at_ms,
            report,
        } => national::receive_report(conn, &cx, sender, message_id, sent_at_ms, report).await?,
        Change::IssueSelfReportLink {
            case_id,
            token_hash,
            expires_at,
        } => cases::issue_self_report_link(conn, &cx, case_id, token_hash, expires_at).await?,
    }
    for ticket in &command.reports {
        crate::reports::queue(conn, ticket, command.at).await?;
    }
    for ticket in &command.share_updates {
        let out = crate::between::Out {
            me: &ticket.me,
            at: command.at,
        };
        crate::between::send_share(conn, &out, &ticket.share_id, ticket.message_id).await?;
    }
    Ok(())
}
