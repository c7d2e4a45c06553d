//! The audit trail: who read or changed which part of which record, when,
//! and whether it was allowed. Entries are hash-chained so that an edited,
//! deleted or reordered entry is detected by [`verify`].
//!
//! **Invariant:** an entry names the part of a record touched, never the data.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use time::OffsetDateTime;

use crate::domain::{Role, WireName};
use crate::time_fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Allowed,
    Denied,
    /// Allowed, but the change could not be made (e.g. the record was locked).
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Refused => "refused",
        }
    }
}

/// Who acted: a user, a patient through a self-report link, or the node itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub role: String,
    pub organisation: Option<String>,
}

impl Actor {
    pub fn user(id: &str, role: Role, organisation: Option<&str>) -> Self {
        Self {
            id: id.into(),
            role: role.wire_name().into(),
            organisation: organisation.map(Into::into),
        }
    }

    /// The command line (`renkei user add`), acting as the operator.
    pub fn operator() -> Self {
        Self {
            id: "operator".into(),
            role: "operator".into(),
            organisation: None,
        }
    }
}

/// An audit entry before it is chained and stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub at: OffsetDateTime,
    pub actor: Actor,
    pub action: String,
    pub case_id: Option<String>,
    pub person_id: Option<String>,
    pub part: Option<String>,
    pub outcome: Outcome,
    pub reason: Option<String>,
}

impl AuditEntry {
    pub fn new(at: OffsetDateTime, actor: &Actor, action: &str, outcome: Outcome) -> Self {
        Self {
            at,
            actor: actor.clone(),
            action: action.into(),
            case_id: None,
            person_id: None,
            part: None,
            outcome,
            reason: None,
        }
    }

    pub fn case(mut self, case_id: &str) -> Self {
        self.case_id = Some(case_id.into());
        self
    }

    pub fn person(mut self, person_id: &str) -> Self {
        self.person_id = Some(person_id.into());
        self
    }

    pub fn part(mut self, part: &str) -> Self {
        self.part = Some(part.into());
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

/// The last link of the chain: the next entry's `prev_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: Vec<u8>,
}

impl ChainHead {
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: vec![0; 32],
        }
    }
}

/// The hash of an entry: SHA-256 over its sequence number, the previous
/// hash and every field, each length-prefixed so fields cannot run together.
fn entry_hash(seq: i64, prev: &[u8], fields: &[Option<&str>]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(b"renkei-audit-v1");
    hasher.update(seq.to_be_bytes());
    hasher.update(prev);
    for field in fields {
        match field {
            None => hasher.update([0u8]),
            Some(text) => {
                hasher.update([1u8]);
                hasher.update((text.len() as u64).to_be_bytes());
                hasher.update(text.as_bytes());
            }
        }
    }
    hasher.finalize().to_vec()
}

fn fields_of<'a>(at: &'a str, e: &'a AuditEntry) -> [Option<&'a str>; 10] {
    [
        Some(at),
        Some(&e.actor.id),
        Some(&e.actor.role),
        e.actor.organisation.as_deref(),
        Some(&e.action),
        e.case_id.as_deref(),
        e.person_id.as_deref(),
        e.part.as_deref(),
        Some(e.outcome.as_str()),
        e.reason.as_deref(),
    ]
}

/// Reads the current head of the chain.
pub async fn load_head(conn: &mut SqliteConnection) -> Result<ChainHead, sqlx::Error> {
    let row = sqlx::query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(row) => ChainHead {
            seq: row.get(0),
            hash: row.get(1),
        },
        None => ChainHead::genesis(),
    })
}

/// Appends entries after `head` in one statement, advancing `head`.
pub async fn append(
    conn: &mut SqliteConnection,
    head: &mut ChainHead,
    entries: &[AuditEntry],
) -> Result<(), sqlx::Error> {
    // SQLite allows 32,766 bound parameters; 13 per row.
    for chunk in entries.chunks(1000) {
        let mut rows = Vec::with_capacity(chunk.len());
        for entry in chunk {
            let at = time_fmt::instant(entry.at);
            let seq = head.seq + 1;
            let hash = entry_hash(seq, &head.hash, &fields_of(&at, entry));
            rows.push((seq, at, entry, head.hash.clone(), hash.clone()));
            *head = ChainHead { seq, hash };
        }
        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO audit (seq, at, actor, role, organisation, action, case_id, person_id, part, outcome, reason, prev_hash, hash) ",
        );
        builder.push_values(rows, |mut b, (seq, at, e, prev, hash)| {
            b.push_bind(seq)
                .push_bind(at)
                .push_bind(e.actor.id.clone())
                .push_bind(e.actor.role.clone())
                .push_bind(e.actor.organisation.clone())
                .push_bind(e.action.clone())
                .push_bind(e.case_id.clone())
                .push_bind(e.person_id.clone())
                .push_bind(e.part.clone())
                .push_bind(e.outcome.as_str())
                .push_bind(e.reason.clone())
                .push_bind(prev)
                .push_bind(hash);
        });
        builder.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Where the chain breaks, if it does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("entry {seq}: its contents do not match its hash (edited)")]
    Edited { seq: i64 },
    #[error("entry {seq}: expected sequence number {expected} (entries deleted or reordered)")]
    Gap { seq: i64, expected: i64 },
    #[error("entry {seq}: does not follow the entry before it (entries deleted or reordered)")]
    Unlinked { seq: i64 },
    #[error(
        "the chain ends at entry {last} but entries up to {recorded} were written (entries deleted at the end)"
    )]
    Truncated { last: i64, recorded: i64 },
}

/// What a successful verification saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub entries: i64,
    pub head_hash: String,
}

/// Walks the whole chain and recomputes every hash.
pub async fn verify(pool: &SqlitePool) -> Result<Result<VerifyReport, ChainBreak>, sqlx::Error> {
    use futures_util::TryStreamExt;
    let mut conn = pool.acquire().await?;
    let mut rows = sqlx::query(
        "SELECT seq, at, actor, role, organisation, action, case_id, person_id, part, outcome, reason, prev_hash, hash \
         FROM audit ORDER BY seq",
    )
    .fetch(&mut *conn);
    let mut head = ChainHead::genesis();
    while let Some(row) = rows.try_next().await? {
        let seq: i64 = row.get(0);
        let strings: Vec<Option<String>> =
            (1..=10).map(|i| row.get::<Option<String>, _>(i)).collect();
        let prev: Vec<u8> = row.get(11);
        let hash: Vec<u8> = row.get(12);
        if seq != head.seq + 1 {
            return Ok(Err(ChainBreak::Gap {
                seq,
                expected: head.seq + 1,
            }));
        }
        if prev != head.hash {
            return Ok(Err(ChainBreak::Unlinked { seq }));
        }
        let fields: Vec<Option<&str>> = strings.iter().map(|s| s.as_deref()).collect();
        if entry_hash(seq, &prev, &fields) != hash {
            return Ok(Err(ChainBreak::Edited { seq }));
        }
        head = ChainHead { seq, hash };
    }
    drop(rows);
    // AUTOINCREMENT keeps the highest sequence number ever used, which
    // reveals entries cut from the end of the chain.
    let recorded: Option<i64> =
        sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'audit'")
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(recorded) = recorded
        && recorded > head.seq
    {
        return Ok(Err(ChainBreak::Truncated {
            last: head.seq,
            recorded,
        }));
    }
    Ok(Ok(VerifyReport {
        entries: head.seq,
        head_hash: data_encoding::HEXLOWER.encode(&head.hash),
    }))
}

/// One stored entry, as the audit API shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StoredEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub role: String,
    pub organisation: Option<String>,
    pub action: String,
    pub case_id: Option<String>,
    pub person_id: Option<String>,
    pub part: Option<String>,
    #[schema(value_type = Outcome)]
    pub outcome: String,
    pub reason: Option<String>,
}

/// Filters for [`query`]; all optional, combined with AND.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub case_id: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<Outcome>,
    /// Only reads of patients by follow-up bodies (contractors, facilities)
    /// that their organisation's assignment does not explain: refused
    /// attempts, and reads of a case not assigned to them that day.
    pub unexplained: Option<bool>,
    /// Only entries with a sequence number below this (for paging backwards).
    pub before: Option<i64>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

pub const MAX_QUERY_LIMIT: u32 = 500;

/// Newest entries first.
pub async fn query(
    pool: &SqlitePool,
    filter: &AuditFilter,
) -> Result<Vec<StoredEntry>, sqlx::Error> {
    let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT seq, at, actor, role, organisation, action, case_id, person_id, part, outcome, reason FROM audit WHERE 1=1",
    );
    if let Some(actor) = &filter.actor {
        builder.push(" AND actor = ").push_bind(actor.clone());
    }
    if let Some(case_id) = &filter.case_id {
        builder.push(" AND case_id = ").push_bind(case_id.clone());
    }
    if let Some(action) = &filter.action {
        builder.push(" AND action = ").push_bind(action.clone());
    }
    if let Some(outcome) = filter.outcome {
        builder.push(" AND outcome = ").push_bind(outcome.as_str());
    }
    if filter.unexplained == Some(true) {
        // The assignment in force when the entry was written (migration
        // 0008 keeps every one; times are fixed-width UTC text, so they
        // compare as text). Assignment dates are Japan dates; the audit time
        // is UTC, so compare with the Japan date of the entry (UTC+9, no
        // summer time).
        builder.push(
            " AND case_id IS NOT NULL AND role IN ('contractor', 'facility') AND (outcome = 'denied' OR NOT EXISTS (\
             SELECT 1 FROM assignment_history a WHERE a.case_id = audit.case_id AND a.organisation = audit.organisation \
             AND a.assigned_at <= audit.at AND (a.replaced_at IS NULL OR a.replaced_at > audit.at) \
             AND a.from_date <= date(audit.at, '+9 hours') \
             AND (a.until_date IS NULL OR a.until_date >= date(audit.at, '+9 hours'))))",
        );
    }
    if let Some(before) = filter.before {
        builder.push(" AND seq < ").push_bind(before);
    }
    let limit = filter.limit.unwrap_or(100).min(MAX_QUERY_LIMIT);
    builder
        .push(" ORDER BY seq DESC LIMIT ")
        .push_bind(limit as i64);
    builder.build_query_as().fetch_all(pool).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_on_every_field_and_the_link() {
        let entry = AuditEntry::new(
            OffsetDateTime::UNIX_EPOCH,
            &Actor::operator(),
            "case.read",
            Outcome::Allowed,
        )
        .case("c1")
        .part("tests");
        let at = time_fmt::instant(entry.at);
        let base = entry_hash(1, &[0; 32], &fields_of(&at, &entry));
        assert_ne!(base, entry_hash(2, &[0; 32], &fields_of(&at, &entry)));
        assert_ne!(base, entry_hash(1, &[1; 32], &fields_of(&at, &entry)));
        let other = entry.clone().part("medical");
        assert_ne!(base, entry_hash(1, &[0; 32], &fields_of(&at, &other)));
        // A field moved into its neighbour is a different entry.
        let mut shifted = entry.clone();
        shifted.case_id = None;
        shifted.person_id = Some("c1".into());
        assert_ne!(base, entry_hash(1, &[0; 32], &fields_of(&at, &shifted)));
    }
}
