//! What must hold after every scenario, checked on the nodes' own databases.

use std::collections::HashMap;
use std::path::Path;

use futures_util::StreamExt;
use renkei_federation::{Body, Envelope, StatutoryReport};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};

use crate::nodes::Federation;

async fn open(path: &Path) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::new().filename(path).read_only(true);
    Ok(SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?)
}

/// Read-only connections to every node's database, kept open while a
/// scenario runs, to watch outboxes and transfers without loading the nodes'
/// APIs (a restarted node keeps its file, so a connection outlives it).
pub struct Watch {
    pools: Vec<SqlitePool>,
}

/// What the watch sees at one node.
#[derive(Debug, Default, Clone, Copy)]
pub struct Seen {
    /// Messages waiting in the outbox.
    pub pending: i64,
    /// Transfers offered or being accepted, not yet settled.
    pub open_transfers: i64,
    /// Offers received and not yet answered.
    pub offers_in: i64,
}

impl Watch {
    pub async fn open(fed: &Federation) -> anyhow::Result<Self> {
        let mut pools = Vec::with_capacity(fed.nodes.len());
        for node in &fed.nodes {
            pools.push(open(&node.database).await?);
        }
        Ok(Watch { pools })
    }

    /// Every node's figures, in node order (zero where a read fails).
    pub async fn look(&self) -> Vec<Seen> {
        futures_util::stream::iter(&self.pools)
            .map(|pool| async move {
                // One statement per node and look: 471 nodes every 2.4 s.
                let (pending, open_transfers, offers_in): (i64, i64, i64) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM outbox WHERE state = 'pending'), \
                     COUNT(*), COUNT(*) FILTER (WHERE direction = 'in' AND state = 'offered') \
                     FROM transfers WHERE state IN ('offered', 'accepting')",
                )
                .fetch_one(pool)
                .await
                .unwrap_or((0, 0, 0));
                Seen {
                    pending,
                    open_transfers,
                    offers_in,
                }
            })
            .buffered(16)
            .collect()
            .await
    }

    pub async fn close(self) {
        for pool in self.pools {
            pool.close().await;
        }
    }
}

fn seconds(text: &str) -> Option<f64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

/// Each report's lag (seconds) with the simulated time it was received.
pub async fn lags(
    fed: &Federation,
    compression: f64,
    started: time::OffsetDateTime,
) -> anyhow::Result<Vec<(f64, f64)>> {
    let national = fed
        .nodes
        .iter()
        .find(|n| n.national)
        .expect("a national node");
    let pool = open(&national.database).await?;
    let rows = sqlx::query("SELECT first_received_at, first_sent_at FROM statutory_reports WHERE first_sent_at IS NOT NULL").fetch_all(&pool).await?;
    pool.close().await;
    let start = started.unix_timestamp_nanos() as f64 / 1e9;
    let mut out: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| {
            let received = seconds(r.get(0))?;
            let sent = seconds(r.get(1))?;
            Some((
                (received - start).max(0.0) * compression,
                (received - sent).max(0.0),
            ))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(out)
}

/// Every invariant, by name, with what broke it.
pub async fn check(fed: &Federation) -> Vec<(String, Result<(), String>)> {
    vec![
        (
            "every case is held by the national node exactly once, at its latest revision, as its owner reported it".into(),
            national_holds_every_case(fed).await,
        ),
        (
            "every transfer ended with exactly one owner".into(),
            one_owner(fed).await,
        ),
        ("every outbox is empty".into(), outboxes_empty(fed).await),
        (
            "no identity reached the national node".into(),
            no_identity_at_national(fed),
        ),
        ("every audit chain verifies".into(), audit_chains(fed).await),
    ]
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

async fn national_holds_every_case(fed: &Federation) -> Result<(), String> {
    let mut owners: HashMap<String, String> = HashMap::new();
    let mut latest: HashMap<String, StatutoryReport> = HashMap::new();
    for node in fed.nodes.iter().filter(|n| !n.national) {
        let pool = open(&node.database).await.map_err(err)?;
        for id in sqlx::query_scalar::<_, String>("SELECT id FROM cases WHERE owner IS NULL")
            .fetch_all(&pool)
            .await
            .map_err(err)?
        {
            if let Some(other) = owners.insert(id.clone(), node.id.clone()) {
                return Err(format!(
                    "case {id} is owned by both {other} and {}",
                    node.id
                ));
            }
        }
        let sent = sqlx::query(
            "SELECT case_id, envelope FROM outbox WHERE kind = 'statutory_report' ORDER BY seq",
        )
        .fetch_all(&pool)
        .await
        .map_err(err)?;
        for row in sent {
            let case: String = row.get(0);
            if owners.get(&case) != Some(&node.id) {
                continue;
            }
            if let Ok(Envelope {
                body: Body::StatutoryReport(r),
                ..
            }) = Envelope::decode(row.get::<&[u8], _>(1))
                && latest.get(&case).is_none_or(|l| r.revision >= l.revision)
            {
                latest.insert(case, r);
            }
        }
        pool.close().await;
    }
    let national = fed.nodes.iter().find(|n| n.national).expect("national");
    let pool = open(&national.database).await.map_err(err)?;
    // What the national statistics are made of, per case.
    type Held = (i64, String, bool, String, String, bool);
    let held: HashMap<String, Held> = sqlx::query_as::<_, (String, i64, String, bool, String, String, bool)>(
        "SELECT case_id, revision, responsible_centre, withdrawn, diagnosis_class, status, deceased FROM statutory_reports",
    )
    .fetch_all(&pool)
    .await
    .map_err(err)?
    .into_iter()
    .map(|(case, revision, owner, withdrawn, class, status, deceased)| {
        (case, (revision, owner, withdrawn, class, status, deceased))
    })
    .collect();
    pool.close().await;
    let mut problems = Vec::new();
    for (case, owner) in &owners {
        match (held.get(case), latest.get(case)) {
            (None, _) => problems.push(format!("{case} ({owner}) is missing at the national node")),
            (Some(h), Some(l)) if h.0 != l.revision as i64 => problems.push(format!(
                "{case}: national revision {}, latest sent {}",
                h.0, l.revision
            )),
            (Some(h), Some(l))
                if (&h.1, h.2, &h.3, &h.4, h.5)
                    != (
                        &l.responsible_centre,
                        l.withdrawn,
                        &l.diagnosis_class,
                        &l.status,
                        l.deceased,
                    ) =>
            {
                problems.push(format!(
                    "{case}: the national node holds {h:?}, its owner {owner} reported {}",
                    l.responsible_centre
                ))
            }
            _ => {}
        }
    }
    for case in held.keys() {
        if !owners.contains_key(case) {
            problems.push(format!("{case} is held nationally but owned by no centre"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} problems, e.g. {}",
            problems.len(),
            problems[..problems.len().min(3)].join("; ")
        ))
    }
}

async fn one_owner(fed: &Federation) -> Result<(), String> {
    let mut held: HashMap<String, Vec<(String, Option<String>)>> = HashMap::new();
    for node in fed.nodes.iter().filter(|n| !n.national) {
        let pool = open(&node.database).await.map_err(err)?;
        let open_transfers: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM transfers WHERE state IN ('offered', 'accepting')",
        )
        .fetch_one(&pool)
        .await
        .map_err(err)?;
        if open_transfers > 0 {
            return Err(format!(
                "{} has {open_transfers} transfers still open",
                node.id
            ));
        }
        for (id, owner) in
            sqlx::query_as::<_, (String, Option<String>)>("SELECT id, owner FROM cases")
                .fetch_all(&pool)
                .await
                .map_err(err)?
        {
            held.entry(id).or_default().push((node.id.clone(), owner));
        }
        pool.close().await;
    }
    for (case, copies) in held {
        let owners: Vec<&String> = copies
            .iter()
            .filter(|(_, o)| o.is_none())
            .map(|(n, _)| n)
            .collect();
        if owners.len() != 1 {
            return Err(format!(
                "case {case} has {} owners: {owners:?}",
                owners.len()
            ));
        }
        for (node, pointer) in copies.iter().filter(|(_, o)| o.is_some()) {
            if pointer.as_ref() != Some(owners[0]) {
                return Err(format!(
                    "{node}'s record of {case} points to {pointer:?}, but {} owns it",
                    owners[0]
                ));
            }
        }
    }
    Ok(())
}

async fn outboxes_empty(fed: &Federation) -> Result<(), String> {
    for node in &fed.nodes {
        let pool = open(&node.database).await.map_err(err)?;
        let (pending, rejected): (i64, i64) = sqlx::query_as("SELECT COUNT(*) FILTER (WHERE state = 'pending'), COUNT(*) FILTER (WHERE state = 'rejected') FROM outbox")
            .fetch_one(&pool)
            .await
            .map_err(err)?;
        pool.close().await;
        if pending > 0 || rejected > 0 {
            return Err(format!(
                "{}: {pending} pending, {rejected} refused for good",
                node.id
            ));
        }
    }
    Ok(())
}

fn no_identity_at_national(fed: &Federation) -> Result<(), String> {
    let national = fed.nodes.iter().find(|n| n.national).expect("national");
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", national.database.display());
        let bytes = std::fs::read(&path).unwrap_or_default();
        // The names and addresses the simulation planted all carry these.
        for needle in ["模擬", "モギ"] {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                return Err(format!("`{needle}` found in {path}"));
            }
        }
    }
    Ok(())
}

async fn audit_chains(fed: &Federation) -> Result<(), String> {
    for node in &fed.nodes {
        let out = tokio::process::Command::new(&fed.renkei)
            .args(["audit", "verify", "--config", node.config.to_str().unwrap()])
            .output()
            .await
            .map_err(err)?;
        if !out.status.success() {
            return Err(format!(
                "{}: {}",
                node.id,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(())
}
