//! Commands: every change to this node's records, decided completely before
//! it is applied (ids, instants, actor), so that [`apply`] reads no clock and
//! no randomness. Replaying the command log on an empty database rebuilds the
//! same records; that is what lets a replicated log drive several replicas.

use serde::{Deserialize, Serialize};
use sqlx::{Row, SqliteConnection};
use time::{Date, OffsetDateTime};

use crate::domain::{
    AssignmentKind, CaseStatus, DiagnosisClass, Role, Sex, Specimen, Symptom, TestMethod,
    TestResult, WireName,
};
use crate::{between, time_fmt};
use renkei_federation::wire;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewPerson {
    /// The keyed person hash for duplicate warnings across centres.
    #[serde(default)]
    pub person_key: Option<Vec<u8>>,
    pub name: String,
    pub name_kana: String,
    pub sex: Sex,
    pub date_of_birth: Date,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRecord {
    pub id: String,
    pub method: TestMethod,
    pub specimen: Specimen,
    pub collected_on: Date,
    pub result: TestResult,
}

/// The parts of a notification that may follow the first six fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotificationDetails {
    pub onset_date: Option<Date>,
    pub diagnosis_date: Option<Date>,
    pub symptoms: Option<Vec<Symptom>>,
    pub reporting_doctor: Option<String>,
    pub reporting_institution: Option<String>,
    pub occupation: Option<String>,
    pub free_text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCase {
    pub case_id: String,
    pub person_id: String,
    /// `None` when the case is for a person this node already holds.
    pub person: Option<NewPerson>,
    pub disease: String,
    pub diagnosis_class: DiagnosisClass,
    pub municipality_code: String,
    pub address: String,
    pub status: CaseStatus,
    pub tests: Vec<TestRecord>,
    pub details: NotificationDetails,
    /// The day (in Japan) the notification was received.
    pub reported_on: Date,
    /// The earlier notification this one supersedes (additional registration).
    pub supersedes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub observed_at: OffsetDateTime,
    pub temperature: Option<f64>,
    pub spo2: Option<u8>,
    pub symptoms: Vec<Symptom>,
    pub entered_role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub id: String,
    pub name: String,
    pub name_kana: Option<String>,
    pub phone: Option<String>,
    pub municipality_code: Option<String>,
    pub relation: Option<String>,
    pub last_exposure_on: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Medical {
    pub hospital: Option<String>,
    pub admitted_on: Option<Date>,
    pub discharged_on: Option<Date>,
    pub icu: bool,
    pub ventilator: bool,
    pub ecmo: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub kind: AssignmentKind,
    pub organisation: String,
    pub from_date: Date,
    pub until_date: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewUser {
    pub id: String,
    pub role: Role,
    pub organisation: Option<String>,
    pub password_hash: String,
    pub totp_secret: String,
    pub until: Option<Date>,
}

/// What a command does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    CreateUser(NewUser),
    DisableUser {
        user_id: String,
    },
    SetPassword {
        user_id: String,
        password_hash: String,
        /// A second factor the user enrolled with this change (the secret
        /// and the time step of the code that proved it), replacing the one
        /// handed over with the account.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        totp: Option<(String, i64)>,
    },
    /// An administrator's reset: a new one-time password and second factor;
    /// the user's sessions end.
    ResetCredentials {
        user_id: String,
        password_hash: String,
        totp_secret: String,
    },
    RegisterCase(Box<NewCase>),
    UpdateNotification {
        case_id: String,
        diagnosis_class: Option<DiagnosisClass>,
        details: NotificationDetails,
        reported_on: Date,
    },
    AddTests {
        case_id: String,
        tests: Vec<TestRecord>,
    },
    Confirm {
        case_id: String,
        status: CaseStatus,
        by_entrant: bool,
    },
    SetStatus {
        case_id: String,
        status: CaseStatus,
    },
    MovePlaceOfStay {
        case_id: String,
        municipality_code: String,
        address: String,
    },
    AddObservation {
        case_id: String,
        observation: Observation,
    },
    AddContact {
        case_id: String,
        contact: Contact,
    },
    SetMedical {
        case_id: String,
        medical: Medical,
    },
    SetAssignment {
        case_id: String,
        assignment: Assignment,
    },
    IssueSelfReportLink {
        case_id: String,
        token_hash: Vec<u8>,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
    OfferTransfer {
        transfer_id: uuid::Uuid,
        case_id: String,
        me: String,
        to: String,
        reason: Option<String>,
        message_id: uuid::Uuid,
    },
    ReceiveTransferOffer {
        sender: String,
        message_id: uuid::Uuid,
        me: String,
        offer: Box<wire::TransferOffer>,
        auto_answer: Option<uuid::Uuid>,
    },
    AnswerTransfer {
        transfer_id: String,
        accepted: bool,
        reason: Option<String>,
        me: String,
        message_id: uuid::Uuid,
    },
    ReceiveTransferAnswer {
        sender: String,
        message_id: uuid::Uuid,
        me: String,
        answer: wire::TransferAnswer,
        outcome_message: uuid::Uuid,
    },
    WithdrawTransfer {
        transfer_id: String,
        me: String,
        message_id: uuid::Uuid,
    },
    ReceiveTransferOutcome {
        sender: String,
        message_id: uuid::Uuid,
        me: String,
        outcome: wire::TransferOutcome,
        person_id: String,
    },
    ForwardObservation {
        case_id: String,
        me: String,
        observation: wire::TransferredObservation,
        message_id: uuid::Uuid,
    },
    ReceiveForwardedObservation {
        sender: String,
        message_id: uuid::Uuid,
        forwarded: wire::ForwardedObservation,
    },
    ReferContact {
        referral_id: uuid::Uuid,
        case_id: String,
        contact_id: String,
        to: String,
        me: String,
        index_link: String,
        message_id: uuid::Uuid,
    },
    ReceiveContactReferral {
        sender: String,
        message_id: uuid::Uuid,
        referral: wire::ContactReferral,
    },
    GrantShare {
        share_id: uuid::Uuid,
        case_id: String,
        to: String,
        purpose: String,
        me: String,
        message_id: uuid::Uuid,
    },
    RevokeShare {
        share_id: String,
        me: String,
        message_id: uuid::Uuid,
    },
    ReceiveShareData {
        sender: String,
        message_id: uuid::Uuid,
        data: Box<wire::ShareData>,
    },
    ReceiveShareRevoke {
        sender: String,
        message_id: uuid::Uuid,
        revoke: wire::ShareRevoke,
    },
    ReportShareView {
        share_id: String,
        viewer: String,
        role: String,
        me: String,
        message_id: uuid::Uuid,
    },
    ReceiveShareViewed {
        sender: String,
        message_id: uuid::Uuid,
        viewed: wire::ShareViewed,
    },
    /// A statutory report received from a centre (national node).
    ReceiveReport {
        sender: String,
        message_id: uuid::Uuid,
        /// When the sender committed the change (the envelope's created-at).
        #[serde(default)]
        sent_at_ms: i64,
        report: renkei_federation::StatutoryReport,
    },
}

impl Change {
    pub fn name(&self) -> &'static str {
        match self {
            Change::CreateUser(_) => "create_user",
            Change::DisableUser { .. } => "disable_user",
            Change::SetPassword { .. } => "set_password",
            Change::ResetCredentials { .. } => "reset_credentials",
            Change::RegisterCase(_) => "register_case",
            Change::UpdateNotification { .. } => "update_notification",
            Change::AddTests { .. } => "add_tests",
            Change::Confirm { .. } => "confirm",
            Change::SetStatus { .. } => "set_status",
            Change::MovePlaceOfStay { .. } => "move_place_of_stay",
            Change::AddObservation { .. } => "add_observation",
            Change::AddContact { .. } => "add_contact",
            Change::SetMedical { .. } => "set_medical",
            Change::SetAssignment { .. } => "set_assignment",
            Change::IssueSelfReportLink { .. } => "issue_self_report_link",
            Change::ReceiveReport { .. } => "receive_report",
            Change::OfferTransfer { .. } => "offer_transfer",
            Change::ReceiveTransferOffer { .. } => "receive_transfer_offer",
            Change::AnswerTransfer { .. } => "answer_transfer",
            Change::ReceiveTransferAnswer { .. } => "receive_transfer_answer",
            Change::WithdrawTransfer { .. } => "withdraw_transfer",
            Change::ReceiveTransferOutcome { .. } => "receive_transfer_outcome",
            Change::ForwardObservation { .. } => "forward_observation",
            Change::ReceiveForwardedObservation { .. } => "receive_forwarded_observation",
            Change::ReferContact { .. } => "refer_contact",
            Change::ReceiveContactReferral { .. } => "receive_contact_referral",
            Change::GrantShare { .. } => "grant_share",
            Change::RevokeShare { .. } => "revoke_share",
            Change::ReceiveShareData { .. } => "receive_share_data",
            Change::ReceiveShareRevoke { .. } => "receive_share_revoke",
            Change::ReportShareView { .. } => "report_share_view",
            Change::ReceiveShareViewed { .. } => "receive_share_viewed",
        }
    }

    /// Whether applying the change queues messages to other nodes.
    pub fn sends_messages(&self) -> bool {
        matches!(
            self,
            Change::OfferTransfer { .. }
                | Change::AnswerTransfer { .. }
                | Change::WithdrawTransfer { .. }
                | Change::ForwardObservation { .. }
                | Change::ReferContact { .. }
                | Change::GrantShare { .. }
                | Change::RevokeShare { .. }
                | Change::ReportShareView { .. }
        )
    }

    /// The cases whose statutory report this change alters: the one place
    /// that decides when a new report revision goes to the national node.
    pub fn reported_cases(&self) -> Vec<&str> {
        match self {
            Change::RegisterCase(case) => {
                let mut cases = vec![case.case_id.as_str()];
                // The superseded notification is withdrawn in its own report.
                cases.extend(case.supersedes.as_deref());
                cases
            }
            Change::UpdateNotification { case_id, .. }
            | Change::AddTests { case_id, .. }
            | Change::Confirm { case_id, .. }
            | Change::SetStatus { case_id, .. }
            | Change::MovePlaceOfStay { case_id, .. }
            | Change::SetMedical { case_id, .. } => vec![case_id.as_str()],
            _ => Vec::new(),
        }
    }
}

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

/// Applies one command to the database. Deterministic: the outcome depends
/// only on the command and the database.
pub async fn apply(conn: &mut SqliteConnection, command: &Command) -> Result<(), ApplyError> {
    let at = time_fmt::instant(command.at);
    let by = command.actor.as_str();
    match &command.change {
        Change::CreateUser(user) => {
            let result = sqlx::query(
                "INSERT INTO users (id, role, organisation, password_hash, must_change_password, totp_secret, until, created_at, created_by) \
                 VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
            )
            .bind(&user.id)
            .bind(user.role.wire_name())
            .bind(&user.organisation)
            .bind(&user.password_hash)
            .bind(&user.totp_secret)
            .bind(user.until.map(time_fmt::date))
            .bind(&at)
            .bind(by)
            .execute(&mut *conn)
            .await?;
            if result.rows_affected() == 0 {
                return Err(ApplyError::Conflict(format!(
                    "user `{}` already exists",
                    user.id
                )));
            }
        }
        Change::DisableUser { user_id } => {
            let result =
                sqlx::query("UPDATE users SET disabled_at = COALESCE(disabled_at, ?) WHERE id = ?")
                    .bind(&at)
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await?;
            if result.rows_affected() == 0 {
                return Err(ApplyError::NotFound("user"));
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = ?")
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
        }
        Change::SetPassword {
            user_id,
            password_hash,
            totp,
        } => {
            let result = sqlx::query(
                "UPDATE users SET password_hash = ?, must_change_password = 0 WHERE id = ?",
            )
            .bind(password_hash)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
            if result.rows_affected() == 0 {
                return Err(ApplyError::NotFound("user"));
            }
            if let Some((secret, step)) = totp {
                sqlx::query("UPDATE users SET totp_secret = ?, totp_last_step = ? WHERE id = ?")
                    .bind(secret)
                    .bind(step)
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Change::ResetCredentials {
            user_id,
            password_hash,
            totp_secret,
        } => {
            let result = sqlx::query(
                "UPDATE users SET password_hash = ?, must_change_password = 1, totp_secret = ?, totp_last_step = 0 WHERE id = ?",
            )
            .bind(password_hash)
            .bind(totp_secret)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
            if result.rows_affected() == 0 {
                return Err(ApplyError::NotFound("user"));
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = ?")
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
        }
        Change::RegisterCase(case) => register_case(conn, case, &at, by).await?,
        Change::UpdateNotification {
            case_id,
            diagnosis_class,
            details,
            reported_on,
        } => {
            touch_case(conn, case_id).await?;
            if let Some(class) = diagnosis_class {
                sqlx::query("UPDATE cases SET diagnosis_class = ? WHERE id = ?")
                    .bind(class.wire_name())
                    .bind(case_id)
                    .execute(&mut *conn)
                    .await?;
                record_class_report(conn, case_id, *class, *reported_on).await?;
            }
            sqlx::query(
                "UPDATE cases SET onset_date = COALESCE(?, onset_date), diagnosis_date = COALESCE(?, diagnosis_date), \
                 symptoms = COALESCE(?, symptoms), reporting_doctor = COALESCE(?, reporting_doctor), \
                 reporting_institution = COALESCE(?, reporting_institution), occupation = COALESCE(?, occupation), \
                 free_text = COALESCE(?, free_text) WHERE id = ?",
            )
            .bind(details.onset_date.map(time_fmt::date))
            .bind(details.diagnosis_date.map(time_fmt::date))
            .bind(details.symptoms.as_ref().map(|s| serde_json::to_string(s).expect("symptoms serialise")))
            .bind(&details.reporting_doctor)
            .bind(&details.reporting_institution)
            .bind(&details.occupation)
            .bind(&details.free_text)
            .bind(case_id)
            .execute(&mut *conn)
            .await?;
        }
        Change::AddTests { case_id, tests } => {
            touch_case(conn, case_id).await?;
            insert_tests(conn, case_id, tests, &at, by).await?;
        }
        Change::Confirm {
            case_id,
            status,
            by_entrant,
        } => {
            touch_case(conn, case_id).await?;
            let result = sqlx::query(
                "UPDATE cases SET confirmed_by = ?, confirmed_at = ?, confirmed_by_entrant = ? WHERE id = ? AND confirmed_at IS NULL",
            )
            .bind(by)
            .bind(&at)
            .bind(*by_entrant)
            .bind(case_id)
            .execute(&mut *conn)
            .await?;
            if result.rows_affected() == 0 {
                return Err(ApplyError::Conflict("the case is already confirmed".into()));
            }
            set_status(conn, case_id, *status, &at, by).await?;
        }
        Change::SetStatus { case_id, status } => {
            touch_case(conn, case_id).await?;
            set_status(conn, case_id, *status, &at, by).await?;
        }
        Change::MovePlaceOfStay {
            case_id,
            municipality_code,
            address,
        } => {
            touch_case(conn, case_id).await?;
            sqlx::query("UPDATE cases SET municipality_code = ?, address = ? WHERE id = ?")
                .bind(municipality_code)
                .bind(address)
                .bind(case_id)
                .execute(&mut *conn)
                .await?;
            push_place_of_stay(conn, case_id, municipality_code, address, &at, by).await?;
        }
        Change::AddObservation {
            case_id,
            observation: o,
        } => {
            touch_case(conn, case_id).await?;
            sqlx::query(
                "INSERT INTO observations (id, case_id, observed_at, temperature, spo2, symptoms, entered_by, entered_role) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&o.id)
            .bind(case_id)
            .bind(time_fmt::instant(o.observed_at))
            .bind(o.temperature)
            .bind(o.spo2.map(i64::from))
            .bind(serde_json::to_string(&o.symptoms).expect("symptoms serialise"))
            .bind(by)
            .bind(&o.entered_role)
            .execute(&mut *conn)
            .await?;
            crate::alerts::refresh(conn, case_id).await?;
        }
        Change::AddContact {
            case_id,
            contact: c,
        } => {
            touch_case(conn, case_id).await?;
            sqlx::query(
                "INSERT INTO contacts (id, case_id, name, name_kana, phone, municipality_code, relation, last_exposure_on, entered_by, entered_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&c.id)
            .bind(case_id)
            .bind(&c.name)
            .bind(&c.name_kana)
            .bind(&c.phone)
            .bind(&c.municipality_code)
            .bind(&c.relation)
            .bind(c.last_exposure_on.map(time_fmt::date))
            .bind(by)
            .bind(&at)
            .execute(&mut *conn)
            .await?;
        }
        Change::SetMedical {
            case_id,
            medical: m,
        } => {
            touch_case(conn, case_id).await?;
            sqlx::query(
                "INSERT INTO medical (case_id, hospital, admitted_on, discharged_on, icu, ventilator, ecmo, updated_at, updated_by) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(case_id) DO UPDATE SET hospital = excluded.hospital, \
                 admitted_on = excluded.admitted_on, discharged_on = excluded.discharged_on, icu = excluded.icu, \
                 ventilator = excluded.ventilator, ecmo = excluded.ecmo, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            )
            .bind(case_id)
            .bind(&m.hospital)
            .bind(m.admitted_on.map(time_fmt::date))
            .bind(m.discharged_on.map(time_fmt::date))
            .bind(m.icu)
            .bind(m.ventilator)
            .bind(m.ecmo)
            .bind(&at)
            .bind(by)
            .execute(&mut *conn)
            .await?;
        }
        Change::SetAssignment {
            case_id,
            assignment: a,
        } => {
            touch_case(conn, case_id).await?;
            sqlx::query(
                "INSERT INTO assignments (case_id, kind, organisation, from_date, until_date, assigned_by, assigned_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(case_id) DO UPDATE SET kind = excluded.kind, \
                 organisation = excluded.organisation, from_date = excluded.from_date, until_date = excluded.until_date, \
                 assigned_by = excluded.assigned_by, assigned_at = excluded.assigned_at",
            )
            .bind(case_id)
            .bind(a.kind.wire_name())
            .bind(&a.organisation)
            .bind(time_fmt::date(a.from_date))
            .bind(a.until_date.map(time_fmt::date))
            .bind(by)
            .bind(&at)
            .execute(&mut *conn)
            .await?;
        }
        Change::OfferTransfer {
            transfer_id,
            case_id,
            me,
            to,
            reason,
            message_id,
        } => {
            between::offer(
                conn,
                &between::Out { me, at: command.at },
                *transfer_id,
                case_id,
                to,
                reason.as_deref(),
                *message_id,
            )
            .await?;
        }
        Change::ReceiveTransferOffer {
            sender,
            message_id,
            me,
            offer,
            auto_answer,
        } => {
            if between::first_time(conn, sender, *message_id, &at).await? {
                between::receive_offer(
                    conn,
                    &between::Out { me, at: command.at },
                    sender,
                    offer,
                    *auto_answer,
                )
                .await?;
            }
        }
        Change::AnswerTransfer {
            transfer_id,
            accepted,
            reason,
            me,
            message_id,
        } => {
            between::answer(
                conn,
                &between::Out { me, at: command.at },
                transfer_id,
                *accepted,
                reason.as_deref(),
                *message_id,
            )
            .await?;
        }
        Change::ReceiveTransferAnswer {
            sender,
            message_id,
            me,
            answer,
            outcome_message,
        } => {
            if between::first_time(conn, sender, *message_id, &at).await? {
                between::receive_answer(
                    conn,
                    &between::Out { me, at: command.at },
                    sender,
                    answer,
                    *outcome_message,
                )
                .await?;
            }
        }
        Change::WithdrawTransfer {
            transfer_id,
            me,
            message_id,
        } => {
            between::withdraw(
                conn,
                &between::Out { me, at: command.at },
                transfer_id,
                *message_id,
            )
            .await?;
        }
        Change::ReceiveTransferOutcome {
            sender,
            message_id,
            me,
            outcome,
            person_id,
        } => {
            if !between::first_time(conn, sender, *message_id, &at).await? {
                // Applied before: the report tickets of this command have nothing new to say.
                return Ok(());
            }
            between::receive_outcome(
                conn,
                &between::Out { me, at: command.at },
                sender,
                outcome,
                person_id,
            )
            .await?;
        }
        Change::ForwardObservation {
            case_id,
            me,
            observation,
            message_id,
        } => {
            between::forward_observation(
                conn,
                &between::Out { me, at: command.at },
                case_id,
                observation.clone(),
                *message_id,
            )
            .await?;
        }
        Change::ReceiveForwardedObservation {
            sender,
            message_id,
            forwarded,
        } => {
            if between::first_time(conn, sender, *message_id, &at).await? {
                between::receive_forwarded(conn, sender, *message_id, forwarded).await?;
            }
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
            between::refer(
                conn,
                &between::Out { me, at: command.at },
                *referral_id,
                case_id,
                contact_id,
                to,
                index_link,
                *message_id,
            )
            .await?;
        }
        Change::ReceiveContactReferral {
            sender,
            message_id,
            referral,
        } => {
            if between::first_time(conn, sender, *message_id, &at).await? {
                between::receive_referral(conn, sender, referral, &at).await?;
            }
        }
        Change::GrantShare {
            share_id,
            case_id,
            to,
            purpose,
            me,
            message_id,
        } => {
            between::grant_share(
                conn,
                &between::Out { me, at: command.at },
                *share_id,
                case_id,
                to,
                purpose,
                *message_id,
            )
            .await?;
        }
        Change::RevokeShare {
            share_id,
            me,
            message_id,
        } => {
            between::revoke_share(
                conn,
                &between::Out { me, at: command.at },
                share_id,
                *message_id,
            )
            .await?;
        }
        Change::ReceiveShareData {
            sender,
            message_id,
            data,
        } => {
            if between::first_time(conn, sender, *message_id, &at).await? {
                between::receive_share(conn, sender, data, &at).await?;
            }
        }
        Change::ReceiveShareRevoke {
            sender,
            message_id,
            revoke,
        } => {
            if between::first_time(conn, sender, *message_id, &at).await? {
                between::receive_revoke(conn, sender, revoke, &at).await?;
            }
        }
        Change::ReportShareView {
            share_id,
            viewer,
            role,
            me,
            message_id,
        } => {
            between::report_view(
                conn,
                &between::Out { me, at: command.at },
                share_id,
                viewer,
                role,
                *message_id,
            )
            .await?;
        }
        Change::ReceiveShareViewed {
            sender,
            message_id,
            viewed,
        } => {
            if between::first_time(conn, sender, *message_id, &at).await? {
                between::receive_view(conn, sender, viewed).await?;
            }
        }
        Change::ReceiveReport {
            sender,
            message_id,
            sent_at_ms,
            report,
        } => {
            let sent_at =
                OffsetDateTime::from_unix_timestamp_nanos(*sent_at_ms as i128 * 1_000_000)
                    .map(time_fmt::instant)
                    .unwrap_or_else(|_| at.clone());
            crate::reports::store_received(conn, sender, *message_id, report, &at, &sent_at)
                .await?;
        }
        Change::IssueSelfReportLink {
            case_id,
            token_hash,
            expires_at,
        } => {
            touch_case(conn, case_id).await?;
            sqlx::query("INSERT INTO self_report_links (token_hash, case_id, expires_at, created_by, created_at) VALUES (?, ?, ?, ?, ?)")
                .bind(token_hash)
                .bind(case_id)
                .bind(time_fmt::instant(*expires_at))
                .bind(by)
                .bind(&at)
                .execute(&mut *conn)
                .await?;
        }
    }
    for ticket in &command.reports {
        crate::reports::queue(conn, ticket, command.at).await?;
    }
    for ticket in &command.share_updates {
        let out = between::Out {
            me: &ticket.me,
            at: command.at,
        };
        between::send_share(conn, &out, &ticket.share_id, ticket.message_id).await?;
    }
    Ok(())
}

/// Checks the case exists and is not locked, and bumps its revision.
async fn touch_case(conn: &mut SqliteConnection, case_id: &str) -> Result<(), ApplyError> {
    let row = sqlx::query("SELECT locked_by, owner, pending_transfer FROM cases WHERE id = ?")
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Err(ApplyError::NotFound("case"));
    };
    if let Some(by) = row.get::<Option<String>, _>(0) {
        return Err(ApplyError::Locked { by });
    }
    if let Some(owner) = row.get::<Option<String>, _>(1) {
        return Err(ApplyError::Conflict(format!(
            "the case was transferred to `{owner}`; it is read-only here"
        )));
    }
    if row.get::<Option<String>, _>(2).is_some() {
        return Err(ApplyError::Conflict(
            "a transfer of this case is pending; it cannot be changed until the other centre answers or the offer is withdrawn".into(),
        ));
    }
    sqlx::query("UPDATE cases SET revision = revision + 1 WHERE id = ?")
        .bind(case_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn register_case(
    conn: &mut SqliteConnection,
    case: &NewCase,
    at: &str,
    by: &str,
) -> Result<(), ApplyError> {
    if let Some(p) = &case.person {
        sqlx::query("INSERT INTO persons (id, name, name_kana, sex, date_of_birth, phone, person_key) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(&case.person_id)
            .bind(&p.name)
            .bind(&p.name_kana)
            .bind(p.sex.wire_name())
            .bind(time_fmt::date(p.date_of_birth))
            .bind(&p.phone)
            .bind(&p.person_key)
            .execute(&mut *conn)
            .await?;
    }
    let d = &case.details;
    sqlx::query(
        "INSERT INTO cases (id, person_id, disease, diagnosis_class, onset_date, diagnosis_date, symptoms, reporting_doctor, \
         reporting_institution, occupation, free_text, municipality_code, address, status, entered_by, entered_at, supersedes) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&case.case_id)
    .bind(&case.person_id)
    .bind(&case.disease)
    .bind(case.diagnosis_class.wire_name())
    .bind(d.onset_date.map(time_fmt::date))
    .bind(d.diagnosis_date.map(time_fmt::date))
    .bind(serde_json::to_string(d.symptoms.as_deref().unwrap_or_default()).expect("symptoms serialise"))
    .bind(&d.reporting_doctor)
    .bind(&d.reporting_institution)
    .bind(&d.occupation)
    .bind(&d.free_text)
    .bind(&case.municipality_code)
    .bind(&case.address)
    .bind(case.status.wire_name())
    .bind(by)
    .bind(at)
    .bind(&case.supersedes)
    .execute(&mut *conn)
    .await?;
    if let Some(earlier) = &case.supersedes {
        // Lock the earlier notification (after the new case exists, which the
        // lock refers to); refuse if it is already locked.
        let result = sqlx::query("UPDATE cases SET locked_by = ?, revision = revision + 1 WHERE id = ? AND locked_by IS NULL")
            .bind(&case.case_id)
            .bind(earlier)
            .execute(&mut *conn)
            .await?;
        if result.rows_affected() == 0 {
            let locked: Option<Option<String>> =
                sqlx::query_scalar("SELECT locked_by FROM cases WHERE id = ?")
                    .bind(earlier)
                    .fetch_optional(&mut *conn)
                    .await?;
            return Err(match locked {
                Some(Some(by)) => ApplyError::Locked { by },
                _ => ApplyError::NotFound("case"),
            });
        }
    }
    record_class_report(conn, &case.case_id, case.diagnosis_class, case.reported_on).await?;
    insert_tests(conn, &case.case_id, &case.tests, at, by).await?;
    set_status(conn, &case.case_id, case.status, at, by).await?;
    push_place_of_stay(
        conn,
        &case.case_id,
        &case.municipality_code,
        &case.address,
        at,
        by,
    )
    .await?;
    Ok(())
}

/// The report date of a class is the day it was first reported (Q&A Q8):
/// reporting the same class again keeps the first date.
async fn record_class_report(
    conn: &mut SqliteConnection,
    case_id: &str,
    class: DiagnosisClass,
    on: Date,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO class_reports (case_id, class, reported_on) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
        .bind(case_id)
        .bind(class.wire_name())
        .bind(time_fmt::date(on))
        .execute(conn)
        .await?;
    Ok(())
}

async fn insert_tests(
    conn: &mut SqliteConnection,
    case_id: &str,
    tests: &[TestRecord],
    at: &str,
    by: &str,
) -> Result<(), sqlx::Error> {
    if tests.is_empty() {
        return Ok(());
    }
    let mut builder = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "INSERT INTO tests (id, case_id, method, specimen, collected_on, result, entered_by, entered_at) ",
    );
    builder.push_values(tests, |mut b, t| {
        b.push_bind(t.id.clone())
            .push_bind(case_id.to_string())
            .push_bind(t.method.wire_name())
            .push_bind(t.specimen.wire_name())
            .push_bind(time_fmt::date(t.collected_on))
            .push_bind(t.result.wire_name())
            .push_bind(by.to_string())
            .push_bind(at.to_string());
    });
    builder.build().execute(conn).await?;
    Ok(())
}

async fn set_status(
    conn: &mut SqliteConnection,
    case_id: &str,
    status: CaseStatus,
    at: &str,
    by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE cases SET status = ? WHERE id = ?")
        .bind(status.wire_name())
        .bind(case_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO status_history (case_id, seq, status, at, by_user) \
         VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM status_history WHERE case_id = ?), ?, ?, ?)",
    )
    .bind(case_id)
    .bind(case_id)
    .bind(status.wire_name())
    .bind(at)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}

async fn push_place_of_stay(
    conn: &mut SqliteConnection,
    case_id: &str,
    municipality_code: &str,
    address: &str,
    at: &str,
    by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO place_of_stay_history (case_id, seq, municipality_code, address, at, by_user) \
         VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM place_of_stay_history WHERE case_id = ?), ?, ?, ?, ?)",
    )
    .bind(case_id)
    .bind(case_id)
    .bind(municipality_code)
    .bind(address)
    .bind(at)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}
