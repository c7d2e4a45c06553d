//! Applying a statutory report received by the national node.

use sqlx::SqliteConnection;
use time::OffsetDateTime;

use super::{ApplyError, Cx};
use crate::time_fmt;

pub(super) async fn receive_report(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    sender: &str,
    message_id: &uuid::Uuid,
    sent_at_ms: &i64,
    report: &renkei_federation::StatutoryReport,
) -> Result<(), ApplyError> {
    let at = cx.at.as_str();
    let sent_at = OffsetDateTime::from_unix_timestamp_nanos(*sent_at_ms as i128 * 1_000_000)
        .map(time_fmt::instant)
        .unwrap_or_else(|_| at.to_string());
    crate::reports::store_received(conn, sender, *message_id, report, at, &sent_at).await?;
    Ok(())
}
