//! A self-report that reached a transferred case's old link, forwarded to
//! the case's owner.

use renkei_federation::authority::{self};
use renkei_federation::wire::{Body, ForwardedObservation, TransferredObservation};
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::take_over::insert_observations;
use super::{Out, authorised, conflict, queue};
use crate::command::ApplyError;

/// A self-report that reached a transferred case's old link goes to its owner.
pub async fn forward_observation(
    conn: &mut SqliteConnection,
    out: &Out<'_>,
    case_id: &str,
    observation: TransferredObservation,
    message_id: Uuid,
) -> Result<(), ApplyError> {
    let owner: Option<String> = sqlx::query_scalar("SELECT owner FROM cases WHERE id = ?")
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await?
        .flatten();
    let owner = owner.ok_or_else(|| conflict("the case was not transferred"))?;
    let body = Body::ForwardedObservation(ForwardedObservation {
        case_id: Uuid::parse_str(case_id).map_err(|_| conflict("bad case id"))?,
        observation,
    });
    queue(conn, out, message_id, &owner, Some(case_id), body).await
}

pub async fn receive_forwarded(
    conn: &mut SqliteConnection,
    sender: &str,
    message_id: Uuid,
    f: &ForwardedObservation,
) -> Result<(), ApplyError> {
    let case_id = f.case_id.to_string();
    let owned: Option<Option<String>> = sqlx::query_scalar("SELECT owner FROM cases WHERE id = ?")
        .bind(&case_id)
        .fetch_optional(&mut *conn)
        .await?;
    // The centre this node last took the case over from.
    let previous_owner: Option<String> = sqlx::query_scalar(
        "SELECT peer FROM transfers WHERE case_id = ? AND direction = 'in' AND state = 'completed' ORDER BY updated_at DESC, id DESC LIMIT 1",
    )
    .bind(&case_id)
    .fetch_optional(&mut *conn)
    .await?;
    if !authorised(authority::forwarded_observation(
        sender,
        matches!(owned, Some(None)),
        previous_owner.as_deref(),
    ))? {
        return Ok(());
    }
    insert_observations(
        conn,
        &case_id,
        &[(message_id.to_string(), &f.observation)],
        &format!("self-report via node:{sender}"),
        "patient",
    )
    .await?;
    sqlx::query("UPDATE cases SET revision = revision + 1 WHERE id = ?")
        .bind(&case_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
