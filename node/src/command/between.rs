//! Applying the changes that pass between centres: transfers, forwarded
//! self-reports, referrals and shares, sent and received (the work itself is
//! in `crate::between`). A received message is applied once per (sender,
//! message id).

use sqlx::SqliteConnection;

use super::{ApplyError, Cx};
use crate::between;
use renkei_federation::wire;

#[allow(clippy::too_many_arguments)]
pub(super) async fn offer_transfer(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    transfer_id: &uuid::Uuid,
    case_id: &str,
    me: &str,
    to: &str,
    reason: &Option<String>,
    message_id: &uuid::Uuid,
) -> Result<(), ApplyError> {
    between::offer(
        conn,
        &between::Out { me, at: cx.now },
        *transfer_id,
        case_id,
        to,
        reason.as_deref(),
        *message_id,
    )
    .await?;
    Ok(())
}

pub(super) async fn receive_transfer_offer(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    sender: &str,
    message_id: &uuid::Uuid,
    me: &str,
    offer: &wire::TransferOffer,
    auto_answer: &Option<uuid::Uuid>,
) -> Result<(), ApplyError> {
    let at = cx.at.as_str();
    if between::first_time(conn, sender, *message_id, at).await? {
        between::receive_offer(
            conn,
            &between::Out { me, at: cx.now },
            sender,
            offer,
            *auto_answer,
        )
        .await?;
    }
    Ok(())
}

pub(super) async fn answer_transfer(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    transfer_id: &str,
    accepted: &bool,
    reason: &Option<String>,
    me: &str,
    message_id: &uuid::Uuid,
) -> Result<(), ApplyError> {
    between::answer(
        conn,
        &between::Out { me, at: cx.now },
        transfer_id,
        *accepted,
        reason.as_deref(),
        *message_id,
    )
    .await?;
    Ok(())
}

pub(super) async fn receive_transfer_answer(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    sender: &str,
    message_id: &uuid::Uuid,
    me: &str,
    answer: &wire::TransferAnswer,
    outcome_message: &uuid::Uuid,
) -> Result<(), ApplyError> {
    let at = cx.at.as_str();
    if between::first_time(conn, sender, *message_id, at).await? {
        between::receive_answer(
            conn,
            &between::Out { me, at: cx.now },
            sender,
            answer,
            *outcome_message,
        )
        .await?;
    }
    Ok(())
}

pub(super) async fn withdraw_transfer(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    transfer_id: &str,
    me: &str,
    message_id: &uuid::Uuid,
) -> Result<(), ApplyError> {
    between::withdraw(
        conn,
        &between::Out { me, at: cx.now },
        transfer_id,
        *message_id,
    )
    .await?;
    Ok(())
}

/// Whether the outcome was new (a duplicate applies nothing, and the report
/// tickets of its command have nothing new to say).
pub(super) async fn receive_transfer_outcome(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    sender: &str,
    message_id: &uuid::Uuid,
    me: &str,
    outcome: &wire::TransferOutcome,
    person_id: &str,
) -> Result<bool, ApplyError> {
    let at = cx.at.as_str();
    if !between::first_time(conn, sender, *message_id, at).await? {
        return Ok(false);
    }
    between::receive_outcome(
        conn,
        &between::Out { me, at: cx.now },
        sender,
        outcome,
        person_id,
    )
    .await?;
    Ok(true)
}

pub(super) async fn forward_observation(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    case_id: &str,
    me: &str,
    observation: &wire::TransferredObservation,
    message_id: &uuid::Uuid,
) -> Result<(), ApplyError> {
    between::forward_observation(
        conn,
        &between::Out { me, at: cx.now },
        case_id,
        observation.clone(),
        *message_id,
    )
    .await?;
    Ok(())
}

pub(super) async fn receive_forwarded_observation(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    sender: &str,
    message_id: &uuid::Uuid,
    forwarded: &wire::ForwardedObservation,
) -> Result<(), ApplyError> {
    let at = cx.at.as_str();
    if between::first_time(conn, sender, *message_id, at).await? {
        between::receive_forwarded(conn, sender, *message_id, forwarded).await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn refer_contact(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    referral_id: &uuid::Uuid,
    case_id: &str,
    contact_id: &str,
    to: &str,
    me: &str,
    index_link: &str,
    message_id: &uuid::Uuid,
) -> Result<(), ApplyError> {
    between::refer(
        conn,
        &between::Out { me, at: cx.now },
        *referral_id,
        case_id,
        contact_id,
        to,
        index_link,
        *message_id,
    )
    .await?;
    Ok(())
}

pub(super) async fn receive_contact_referral(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    sender: &str,
    message_id: &uuid::Uuid,
    referral: &wire::ContactReferral,
) -> Result<(), ApplyError> {
    let at = cx.at.as_str();
    if between::first_time(conn, sender, *message_id, at).await? {
        between::receive_referral(conn, sender, referral, at).await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn grant_share(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    share_id: &uuid::Uuid,
    case_id: &str,
    to: &str,
    purpose: &str,
    me: &str,
    message_id: &uuid::Uuid,
) -> Result<(), ApplyError> {
    between::grant_share(
        conn,
        &between::Out { me, at: cx.now },
        *share_id,
        case_id,
        to,
        purpose,
        *message_id,
    )
    .await?;
    Ok(())
}

pub(super) async fn revoke_share(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    share_id: &str,
    me: &str,
    message_id: &uuid::Uuid,
) -> Result<(), ApplyError> {
    between::revoke_share(
        conn,
        &between::Out { me, at: cx.now },
        share_id,
        *message_id,
    )
    .await?;
    Ok(())
}

pub(super) async fn receive_share_data(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    sender: &str,
    message_id: &uuid::Uuid,
    data: &wire::ShareData,
) -> Result<(), ApplyError> {
    let at = cx.at.as_str();
    if between::first_time(conn, sender, *message_id, at).await? {
        between::receive_share(conn, sender, data, at).await?;
    }
    Ok(())
}

pub(super) async fn receive_share_revoke(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    sender: &str,
    message_id: &uuid::Uuid,
    revoke: &wire::ShareRevoke,
) -> Result<(), ApplyError> {
    let at = cx.at.as_str();
    if between::first_time(conn, sender, *message_id, at).await? {
        between::receive_revoke(conn, sender, revoke, at).await?;
    }
    Ok(())
}

pub(super) async fn report_share_view(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    share_id: &str,
    viewer: &str,
    role: &str,
    me: &str,
    message_id: &uuid::Uuid,
) -> Result<(), ApplyError> {
    between::report_view(
        conn,
        &between::Out { me, at: cx.now },
        share_id,
        viewer,
        role,
        *message_id,
    )
    .await?;
    Ok(())
}

pub(super) async fn receive_share_viewed(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    sender: &str,
    message_id: &uuid::Uuid,
    viewed: &wire::ShareViewed,
) -> Result<(), ApplyError> {
    let at = cx.at.as_str();
    if between::first_time(conn, sender, *message_id, at).await? {
        between::receive_view(conn, sender, viewed).await?;
    }
    Ok(())
}
