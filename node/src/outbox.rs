//! The outbox and the inbox record, shared by everything that sends or
//! receives federation messages inside `apply`: one way to queue a message,
//! one way to tell a new message from one seen before.

use renkei_federation::authority::Verdict;
use renkei_federation::wire::{Body, Envelope, PROTOCOL_VERSION};
use sqlx::SqliteConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::command::ApplyError;
use crate::time_fmt;

/// Who we are and when: what every outgoing message needs.
pub struct Out<'a> {
    pub me: &'a str,
    pub at: OffsetDateTime,
}

/// Queues one message in the outbox.
pub async fn queue(
    conn: &mut SqliteConnection,
    out: &Out<'_>,
    message_id: Uuid,
    to: &str,
    case_id: Option<&str>,
    body: Body,
) -> Result<(), ApplyError> {
    let envelope = Envelope {
        version: PROTOCOL_VERSION,
        message_id,
        sender: out.me.to_string(),
        recipient: to.to_string(),
        created_at_ms: (out.at.unix_timestamp_nanos() / 1_000_000) as i64,
        body,
    };
    let at = time_fmt::instant(out.at);
    sqlx::query("INSERT INTO outbox (message_id, recipient, kind, case_id, envelope, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(message_id.to_string())
        .bind(to)
        .bind(envelope.body.name())
        .bind(case_id)
        .bind(envelope.encode())
        .bind(&at)
        .bind(&at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records a received message; false if it was seen before.
pub async fn first_time(
    conn: &mut SqliteConnection,
    sender: &str,
    message_id: Uuid,
    at: &str,
) -> Result<bool, ApplyError> {
    let r = sqlx::query("INSERT INTO inbox_seen (sender, message_id, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
        .bind(sender)
        .bind(message_id.to_string())
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// What an authority verdict means inside `apply`: `Ok(true)` apply the
/// message, `Ok(false)` acknowledge it and change nothing, `Err` refuse it
/// (the command rolls back, so not even its de-duplication record stays).
pub fn authorised(verdict: Verdict) -> Result<bool, ApplyError> {
    match verdict {
        Verdict::Apply => Ok(true),
        Verdict::NoChange => Ok(false),
        Verdict::NotYet(r) => Err(ApplyError::NotYet(r)),
        Verdict::Refuse(r) => Err(ApplyError::Unauthorised(r)),
    }
}
