//! The command log: the one way changes and audit entries reach the
//! database.
//!
//! [`CommandLog`] is the seam a replicated log (openraft) will fill later.
//! [`LocalLog`] is the single-node implementation: one writer task that owns
//! the write connection and group-commits whatever is queued — commands with
//! their audit entries, and the audit entries of reads — in one transaction,
//! so a burst of requests shares one fsync. A submission is acknowledged only
//! after its transaction is durable.

use std::future::Future;

use sqlx::{Acquire, Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use crate::audit::{self, AuditEntry, ChainHead, Outcome};
use crate::command::{self, ApplyError, Command};
use crate::time_fmt;

/// A command (or none, for a read) with the audit entries that describe it.
#[derive(Debug, Clone)]
pub struct Submission {
    pub command: Option<Command>,
    pub audit: Vec<AuditEntry>,
}

impl Submission {
    pub fn command(command: Command, audit: Vec<AuditEntry>) -> Self {
        Self {
            command: Some(command),
            audit,
        }
    }

    pub fn audit_only(audit: Vec<AuditEntry>) -> Self {
        Self {
            command: None,
            audit,
        }
    }
}

/// Why a submission did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The command was refused by `apply`; its audit entries were recorded
    /// with outcome `refused`.
    #[error(transparent)]
    Refused(ApplyError),
    /// The log could not make the submission durable; nothing was written.
    /// Retrying later may succeed.
    #[error("the node cannot write right now: {0}")]
    Unavailable(String),
}

/// Where the submission landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The command's position in the command log, if there was a command.
    pub command_seq: Option<i64>,
}

/// Appends submissions durably and in order.
pub trait CommandLog: Send + Sync {
    fn submit(
        &self,
        submission: Submission,
    ) -> impl Future<Output = Result<Receipt, SubmitError>> + Send;
}

struct Job {
    submission: Submission,
    reply: oneshot::Sender<Result<Receipt, SubmitError>>,
}

/// The single-node command log.
#[derive(Clone)]
pub struct LocalLog {
    jobs: mpsc::Sender<Job>,
}

/// How many submissions one transaction takes at most.
const MAX_BATCH: usize = 512;

impl LocalLog {
    /// Starts the writer task on its own connection.
    pub async fn start(conn: SqliteConnection) -> Result<Self, sqlx::Error> {
        let (jobs, rx) = mpsc::channel(4096);
        tokio::spawn(writer(conn, rx));
        Ok(Self { jobs })
    }
}

impl CommandLog for LocalLog {
    async fn submit(&self, submission: Submission) -> Result<Receipt, SubmitError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { submission, reply })
            .await
            .map_err(|_| SubmitError::Unavailable("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| SubmitError::Unavailable("the writer has stopped".into()))?
    }
}

async fn writer(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        match write_batch(&mut conn, &batch).await {
            Ok(results) => {
                for (job, result) in batch.drain(..).zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(error) => {
                tracing::error!(%error, jobs = batch.len(), "command log transaction failed");
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(SubmitError::Unavailable(
                        "the database write failed".into(),
                    )));
                }
            }
        }
    }
}

async fn write_batch(
    conn: &mut SqliteConnection,
    batch: &[Job],
) -> Result<Vec<Result<Receipt, SubmitError>>, sqlx::Error> {
    // Take the write lock first, then read the chain head inside the
    // transaction: another process (`renkei user add`) may have appended.
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let mut head = audit::load_head(&mut tx).await?;
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        // Each submission gets a savepoint: one refused command does not undo
        // the others in the batch.
        let mut sp = tx.begin().await?;
        let mut tentative = head.clone();
        match apply_one(&mut sp, &mut tentative, &job.submission).await {
            Ok(receipt) => {
                sp.commit().await?;
                head = tentative;
                results.push(Ok(receipt));
            }
            // A fault of the database itself (I/O, a full disk) fails the
            // whole batch; a constraint violation is this command's problem.
            Err(ApplyError::Database(error)) if !matches!(error, sqlx::Error::Database(_)) => {
                sp.rollback().await?;
                return Err(error);
            }
            Err(refusal) => {
                sp.rollback().await?;
                let reason = refusal.to_string();
                let refused: Vec<AuditEntry> = job
                    .submission
                    .audit
                    .iter()
                    .map(|e| {
                        let mut e = e.clone();
                        e.outcome = Outcome::Refused;
                        e.reason = Some(reason.clone());
                        e
                    })
                    .collect();
                audit::append(&mut tx, &mut head, &refused).await?;
                results.push(Err(SubmitError::Refused(refusal)));
            }
        }
    }
    tx.commit().await?;
    Ok(results)
}

async fn apply_one(
    conn: &mut SqliteConnection,
    head: &mut ChainHead,
    submission: &Submission,
) -> Result<Receipt, ApplyError> {
    let mut command_seq = None;
    if let Some(cmd) = &submission.command {
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO command_log (at, actor, kind, body) VALUES (?, ?, ?, ?) RETURNING seq",
        )
        .bind(time_fmt::instant(cmd.at))
        .bind(&cmd.actor)
        .bind(cmd.change.name())
        .bind(serde_json::to_string(cmd).expect("commands serialise"))
        .fetch_one(&mut *conn)
        .await?;
        command::apply(conn, cmd).await?;
        command_seq = Some(seq);
    }
    audit::append(conn, head, &submission.audit).await?;
    Ok(Receipt { command_seq })
}
