//! The node's side of the federation: starting the QUIC transport, the
//! inbox that applies received messages as commands, one delivery worker per
//! peer draining the outbox in order, and starting the CRL watcher.
//!
//! **Invariant:** an outbox row is marked delivered only after the peer's
//! ack, which the peer sends only after its own commit; a crash anywhere
//! leaves the row pending and it is sent again (the peer de-duplicates).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use renkei_ca::NodeIdentity;
use renkei_federation::authority::{self, Verdict};
use renkei_federation::transport::InboxError;
use renkei_federation::{Body, Directory, Envelope, Inbox, NodeKind, Transport};
use serde::{Deserialize, Serialize};
use sqlx::{Row, SqlitePool};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::audit::{Actor, AuditEntry, Outcome};
use crate::between;
use crate::clock::Clock;
use crate::command::{ApplyError, Change, Command};
use crate::crl_watch::{CrlStatus, CrlWatch};
use crate::log::{CommandLog, LocalLog, Submission, SubmitError};
use crate::reports::{self, ReportTicket};
use crate::time_fmt;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationConfig {
    /// The UDP address QUIC listens on (the directory's entry for this node).
    pub quic_listen: SocketAddr,
    /// The directory of nodes (TOML). Relative paths are relative to the config file.
    pub directory: PathBuf,
    /// This node's certificate and key, from `renkei ca issue`.
    pub certificate: PathBuf,
    pub key: PathBuf,
    /// The federation root certificate.
    pub ca: PathBuf,
    /// The current CRL; re-read while running.
    pub crl: PathBuf,
    /// The longest wait between delivery attempts to an unreachable peer.
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
    /// How often the CRL file is checked for a new version.
    #[serde(default = "default_crl_check", with = "humantime_serde")]
    pub crl_check_interval: Duration,
    /// The federation-wide secret for person keys (duplicate warnings), one
    /// line of hex; without it no duplicate warnings are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_key: Option<PathBuf>,
    /// Centres whose transfer offers this node accepts without asking staff.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auto_accept_transfers_from: Vec<String>,
}

fn default_max_backoff() -> Duration {
    Duration::from_secs(30)
}

fn default_crl_check() -> Duration {
    Duration::from_secs(30)
}

impl FederationConfig {
    pub fn resolve_paths(&mut self, base: &Path) {
        for path in [
            &mut self.directory,
            &mut self.certificate,
            &mut self.key,
            &mut self.ca,
            &mut self.crl,
        ]
        .into_iter()
        .chain(self.person_key.as_mut())
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }
}

/// The wait before delivery attempt `attempts + 1`: exponential from 200 ms,
/// capped, with ±20 % jitter so many senders do not retry in step. `jitter`
/// is a number in [0, 1) supplied by the caller.
pub fn backoff(attempts: u32, max: Duration, jitter: f64) -> Duration {
    let base = Duration::from_millis(200).saturating_mul(1u32 << attempts.min(16));
    let capped = base.min(max);
    capped.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0))
}

/// A running federation.
pub struct Federation {
    pub node_id: String,
    pub kind: NodeKind,
    pub transport: Arc<Transport>,
    pub directory: Arc<Directory>,
    outbox_changed: Arc<Notify>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    person_secret: Option<Vec<u8>>,
    crl: Arc<CrlWatch>,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

/// A verdict reached on receipt, before anything is submitted: only a
/// refusal stops the message here.
fn refused(verdict: Verdict) -> Result<(), InboxError> {
    match verdict {
        Verdict::Refuse(r) => Err(InboxError::Unauthorised(r.to_string())),
        Verdict::NotYet(r) => Err(InboxError::Unavailable(format!("not yet: {r}"))),
        Verdict::Apply | Verdict::NoChange => Ok(()),
    }
}

/// Applies received messages as commands.
struct NodeInbox {
    log: LocalLog,
    clock: Clock,
    pool: SqlitePool,
    me: String,
    national: Option<String>,
    auto_accept: Vec<String>,
    directory: Arc<Directory>,
}

impl NodeInbox {
    async fn case_of(&self, sql: &str, id: Uuid) -> Option<String> {
        sqlx::query_scalar(sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .ok()
            .flatten()
    }
}

impl Inbox for NodeInbox {
    async fn receive(&self, envelope: Envelope) -> Result<(), InboxError> {
        // A message id seen before from this sender is acknowledged and not
        // submitted again, whatever its body says now: the command log keeps
        // only what was applied. (`apply` checks again inside its
        // transaction, for two copies arriving at once.)
        let seen: Result<bool, sqlx::Error> = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM inbox_seen WHERE sender = ? AND message_id = ?)",
        )
        .bind(&envelope.sender)
        .bind(envelope.message_id.to_string())
        .fetch_one(&self.pool)
        .await;
        match seen {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => {
                return Err(InboxError::Unavailable(format!(
                    "cannot read the inbox: {e}"
                )));
            }
        }
        let now = self.clock.now();
        let sender = envelope.sender.clone();
        let message_id = envelope.message_id;
        let node = Actor {
            id: format!("node:{sender}"),
            role: "node".into(),
            organisation: Some(sender.clone()),
        };
        let entry = |action: &str, case_id: Option<&str>, part: &str| {
            let e = AuditEntry::new(now, &node, action, Outcome::Allowed).part(part);
            match case_id {
                Some(c) => e.case(c),
                None => e,
            }
        };
        let me = self.me.clone();
        let mut reports = Vec::new();
        let (change, audit) = match envelope.body {
            Body::StatutoryReport(report) => {
                reports::check_received(&report).map_err(InboxError::Invalid)?;
                let names_a_centre = self
                    .directory
                    .node(&report.responsible_centre)
                    .is_some_and(|n| n.kind == NodeKind::HealthCentre);
                refused(authority::report_names_a_centre(&report, names_a_centre))?;
                (
                    Change::ReceiveReport {
                        sender,
                        message_id,
                        sent_at_ms: envelope.created_at_ms,
                        report,
                    },
                    Vec::new(),
                )
            }
            Body::TransferOffer(offer) => {
                between::check_offer(&offer.case).map_err(InboxError::Invalid)?;
                let case_id = offer.case.case_id.to_string();
                let auto_answer = self.auto_accept.contains(&sender).then(Uuid::now_v7);
                let audit = vec![entry(
                    "case.transfer.offer_received",
                    Some(&case_id),
                    "transfer_offer",
                )];
                (
                    Change::ReceiveTransferOffer {
                        sender,
                        message_id,
                        me,
                        offer,
                        auto_answer,
                    },
                    audit,
                )
            }
            Body::TransferAnswer(answer) => {
                let case_id = self
                    .case_of(
                        "SELECT case_id FROM transfers WHERE id = ? AND direction = 'out'",
                        answer.transfer_id,
                    )
                    .await;
                if let (true, Some(case_id), Some(national)) =
                    (answer.accepted, &case_id, &self.national)
                {
                    // An acceptance completes the transfer here: the report
                    // that follows names the new owner, the hand-over the
                    // national node needs before it takes the new owner's.
                    reports.push(ReportTicket {
                        message_id: Uuid::now_v7(),
                        case_id: case_id.clone(),
                        sender: me.clone(),
                        recipient: national.clone(),
                    });
                }
                let part = if answer.accepted {
                    "transfer_accepted"
                } else {
                    "transfer_rejected"
                };
                let audit = vec![entry(
                    "case.transfer.answer_received",
                    case_id.as_deref(),
                    part,
                )];
                (
                    Change::ReceiveTransferAnswer {
                        sender,
                        message_id,
                        me,
                        answer,
                        outcome_message: Uuid::now_v7(),
                    },
                    audit,
                )
            }
            Body::TransferOutcome(outcome) => {
                let case_id = self
                    .case_of(
                        "SELECT case_id FROM transfers WHERE id = ? AND direction = 'in'",
                        outcome.transfer_id,
                    )
                    .await;
                if let (true, Some(case_id), Some(national)) =
                    (outcome.completed, &case_id, &self.national)
                {
                    // From now on this node reports the case.
                    reports.push(ReportTicket {
                        message_id: Uuid::now_v7(),
                        case_id: case_id.clone(),
                        sender: me.clone(),
                        recipient: national.clone(),
                    });
                }
                let part = if outcome.completed {
                    "transfer_completed"
                } else {
                    "transfer_withdrawn"
                };
                let audit = vec![entry(
                    "case.transfer.outcome_received",
                    case_id.as_deref(),
                    part,
                )];
                (
                    Change::ReceiveTransferOutcome {
                        sender,
                        message_id,
                        me,
                        outcome,
                        person_id: Uuid::now_v7().to_string(),
                    },
                    audit,
                )
            }
            Body::ForwardedObservation(forwarded) => {
                between::check_observation(&forwarded.observation).map_err(InboxError::Invalid)?;
                let case_id = forwarded.case_id.to_string();
                let audit = vec![entry(
                    "case.observation.add",
                    Some(&case_id),
                    "observations",
                )];
                (
                    Change::ReceiveForwardedObservation {
                        sender,
                        message_id,
                        forwarded,
                    },
                    audit,
                )
            }
            Body::ContactReferral(referral) => {
                between::check_contact(&referral.contact).map_err(InboxError::Invalid)?;
                let code = referral.contact.municipality_code.as_deref();
                let served_here = code
                    .and_then(|c| self.directory.centre_for(c))
                    .is_some_and(|n| n.id == self.me);
                refused(authority::contact_referral(code, served_here))?;
                let audit = vec![entry("contact.referral_received", None, "referred_contact")];
                (
                    Change::ReceiveContactReferral {
                        sender,
                        message_id,
                        referral,
                    },
                    audit,
                )
            }
            Body::ShareData(data) => {
                let audit = vec![entry(
                    "case.share.received",
                    Some(&data.case_id.to_string()),
                    &format!("shared:{}", data.purpose),
                )];
                (
                    Change::ReceiveShareData {
                        sender,
                        message_id,
                        data,
                    },
                    audit,
                )
            }
            Body::ShareRevoke(revoke) => {
                let audit = vec![entry("case.share.revoked", None, "shared_copy_deleted")];
                (
                    Change::ReceiveShareRevoke {
                        sender,
                        message_id,
                        revoke,
                    },
                    audit,
                )
            }
            Body::ShareViewed(viewed) => {
                // The owner's own audit trail records who at the related centre looked.
                let case_id = self
                    .case_of(
                        "SELECT case_id FROM shares WHERE id = ? AND direction = 'out'",
                        viewed.share_id,
                    )
                    .await;
                let viewer = Actor {
                    id: format!("{}@{sender}", viewed.viewer),
                    role: viewed.viewer_role.clone(),
                    organisation: Some(sender.clone()),
                };
                let mut e =
                    AuditEntry::new(now, &viewer, "case.shared_copy.read", Outcome::Allowed)
                        .part("shared_copy");
                if let Some(c) = &case_id {
                    e = e.case(c);
                }
                (
                    Change::ReceiveShareViewed {
                        sender,
                        message_id,
                        viewed,
                    },
                    vec![e],
                )
            }
        };
        let mut command = Command::new(now, &format!("node:{}", envelope.sender), change);
        command.reports = reports;
        match self.log.submit(Submission::command(command, audit)).await {
            Ok(_) => Ok(()),
            Err(SubmitError::Refused(ApplyError::Unauthorised(r))) => {
                Err(InboxError::Unauthorised(r.to_string()))
            }
            Err(SubmitError::Refused(ApplyError::NotYet(r))) => {
                Err(InboxError::Unavailable(format!("not yet: {r}")))
            }
            Err(SubmitError::Refused(e)) => Err(InboxError::Invalid(e.to_string())),
            Err(SubmitError::Unavailable(e)) => Err(InboxError::Unavailable(e)),
        }
    }
}

impl Federation {
    /// Starts the transport, the inbox, the delivery workers and the CRL
    /// watcher. QUIC runs on `socket` when one is given (bound by the caller
    /// at `quic_listen`), otherwise on a socket bound here.
    pub async fn start(
        node_id: &str,
        kind: NodeKind,
        config: &FederationConfig,
        socket: Option<std::net::UdpSocket>,
        pool: SqlitePool,
        log: LocalLog,
        clock: Clock,
    ) -> anyhow::Result<Arc<Self>> {
        let directory = Arc::new(Directory::load(&config.directory)?);
        let me = directory.node(node_id).with_context(|| {
            format!(
                "node `{node_id}` is not in the directory {}",
                config.directory.display()
            )
        })?;
        if me.kind != kind {
            anyhow::bail!(
                "this node is configured as {kind:?} but the directory lists `{node_id}` as {:?}",
                me.kind
            );
        }
        let identity = NodeIdentity::load(&config.certificate, &config.key)?;
        if identity.node_id != node_id {
            anyhow::bail!(
                "the certificate is for `{}`, but this node is `{node_id}`",
                identity.node_id
            );
        }
        let root = std::fs::read(&config.ca)
            .with_context(|| format!("reading {}", config.ca.display()))?;
        let (trust, crl) = crate::crl_watch::load_trust(&root, &config.crl)?;
        let socket = match socket {
            Some(socket) => socket,
            None => std::net::UdpSocket::bind(config.quic_listen)
                .with_context(|| format!("binding QUIC on {}", config.quic_listen))?,
        };
        let transport = Transport::bind(socket, &identity, trust, directory.clone())?;
        let person_secret = match &config.person_key {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let secret = data_encoding::HEXLOWER_PERMISSIVE
                    .decode(text.trim().as_bytes())
                    .with_context(|| format!("{}: the person key must be hex", path.display()))?;
                anyhow::ensure!(
                    secret.len() >= 16,
                    "{}: the person key must be at least 16 bytes",
                    path.display()
                );
                Some(secret)
            }
            None => None,
        };
        transport.serve(Arc::new(NodeInbox {
            log,
            clock: clock.clone(),
            pool: pool.clone(),
            me: node_id.to_string(),
            national: directory.national().map(|n| n.id.clone()),
            auto_accept: config.auto_accept_transfers_from.clone(),
            directory: directory.clone(),
        }));
        let crl_watch = CrlWatch::new(config.crl.clone(), transport.clone());
        let federation = Arc::new(Self {
            node_id: node_id.to_string(),
            kind: me.kind,
            crl: crl_watch.clone(),
            transport,
            directory: directory.clone(),
            outbox_changed: Arc::new(Notify::new()),
            tasks: Mutex::new(Vec::new()),
            person_secret,
        });
        let tasks = vec![
            tokio::spawn(dispatch(
                federation.clone(),
                pool.clone(),
                clock.clone(),
                config.max_backoff,
            )),
            tokio::spawn(log_status(federation.clone(), pool.clone(), clock.clone())),
            tokio::spawn(crate::crl_watch::watch(
                crl_watch,
                crl,
                clock.clone(),
                config.crl_check_interval,
            )),
        ];
        *federation.tasks.lock().expect("tasks lock") = tasks;
        tracing::info!(node = node_id, quic = %config.quic_listen, "federation started");
        Ok(federation)
    }

    /// Tickets for the statutory reports a change sends (health centres only).
    pub fn report_tickets(&self, change: &Change) -> Vec<ReportTicket> {
        let Some(national) = self
            .directory
            .national()
            .filter(|_| self.kind == NodeKind::HealthCentre)
        else {
            return Vec::new();
        };
        change
            .reported_cases()
            .into_iter()
            .map(|case_id| ReportTicket {
                message_id: uuid::Uuid::now_v7(),
                case_id: case_id.to_string(),
                sender: self.node_id.clone(),
                recipient: national.id.clone(),
            })
            .collect()
    }

    /// The keyed hash that lets centres recognise the same person without
    /// exchanging names: HMAC-SHA256 of kana without spaces, birth date, sex.
    pub fn person_key(&self, name_kana: &str, date_of_birth: &str, sex: &str) -> Option<Vec<u8>> {
        use hmac::{Hmac, Mac};
        let secret = self.person_secret.as_ref()?;
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
        let kana: String = name_kana.chars().filter(|c| !c.is_whitespace()).collect();
        mac.update(format!("{kana}|{date_of_birth}|{sex}").as_bytes());
        Some(mac.finalize().into_bytes().to_vec())
    }

    /// Whether a node is another health centre in the directory.
    pub fn is_centre(&self, id: &str) -> bool {
        id != self.node_id
            && self
                .directory
                .node(id)
                .is_some_and(|n| n.kind == NodeKind::HealthCentre)
    }

    /// Wakes the delivery workers after a commit that queued messages.
    pub fn outbox_changed(&self) {
        self.outbox_changed.notify_waiters();
    }

    pub async fn status(
        &self,
        pool: &SqlitePool,
        clock: &Clock,
    ) -> Result<Vec<PeerStatus>, sqlx::Error> {
        let now = clock.now();
        // One grouped query for all peers: a national node has hundreds.
        let rows = sqlx::query(
            "SELECT recipient, COUNT(*) FILTER (WHERE state = 'pending'), MIN(created_at) FILTER (WHERE state = 'pending'), \
             COUNT(*) FILTER (WHERE state = 'delivered'), COUNT(*) FILTER (WHERE state = 'rejected'), \
             (SELECT last_error FROM outbox o WHERE o.recipient = outbox.recipient AND o.last_error IS NOT NULL ORDER BY o.seq DESC LIMIT 1) \
             FROM outbox GROUP BY recipient",
        )
        .fetch_all(pool)
        .await?;
        let mut by_peer: std::collections::HashMap<String, sqlx::sqlite::SqliteRow> = rows
            .into_iter()
            .map(|r| (r.get::<String, _>(0), r))
            .collect();
        let mut peers = Vec::new();
        for node in self.directory.nodes().filter(|n| n.id != self.node_id) {
            let row = by_peer.remove(&node.id);
            let get = |i: usize| row.as_ref().map(|r| r.get::<i64, _>(i)).unwrap_or(0);
            let oldest: Option<String> = row.as_ref().and_then(|r| r.get(2));
            peers.push(PeerStatus {
                peer: node.id.clone(),
                kind: node.kind.wire_name(),
                connected: self.transport.is_connected(&node.id),
                outbox_depth: get(1),
                oldest_pending_age_seconds: oldest
                    .and_then(|t| time_fmt::parse_instant(&t))
                    .map(|t| (now - t).whole_seconds().max(0)),
                delivered: get(3),
                rejected: get(4),
                last_error: row.as_ref().and_then(|r| r.get(5)),
            });
        }
        Ok(peers)
    }

    /// The CRL in force and its alarm, judged at `now`.
    pub fn crl_status(&self, now: time::OffsetDateTime) -> CrlStatus {
        self.crl.status(now)
    }

    pub async fn shutdown(&self) {
        for task in self.tasks.lock().expect("tasks lock").drain(..) {
            task.abort();
        }
        self.transport.shutdown().await;
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PeerStatus {
    pub peer: String,
    #[schema(value_type = String)]
    pub kind: &'static str,
    pub connected: bool,
    pub outbox_depth: i64,
    pub oldest_pending_age_seconds: Option<i64>,
    pub delivered: i64,
    pub rejected: i64,
    pub last_error: Option<String>,
}

/// Sends one peer's outbox in order, one message at a time.
/// The dispatcher's workers; they stop when it stops (a dropped `JoinHandle`
/// would leave its task running, holding the endpoint).
#[derive(Default)]
struct Workers(std::collections::HashMap<String, JoinHandle<()>>);

impl Drop for Workers {
    fn drop(&mut self) {
        for worker in self.0.values() {
            worker.abort();
        }
    }
}

/// Starts a delivery worker for every peer that has messages waiting and no
/// worker yet. A node with hundreds of peers runs workers only for those it
/// is talking to.
async fn dispatch(
    federation: Arc<Federation>,
    pool: SqlitePool,
    clock: Clock,
    max_backoff: Duration,
) {
    let mut workers = Workers::default();
    loop {
        workers.0.retain(|_, w| !w.is_finished());
        match sqlx::query_scalar::<_, String>(
            "SELECT DISTINCT recipient FROM outbox WHERE state = 'pending'",
        )
        .fetch_all(&pool)
        .await
        {
            Ok(peers) => {
                for peer in peers {
                    if workers.0.contains_key(&peer) || federation.directory.node(&peer).is_none() {
                        continue;
                    }
                    let span =
                        tracing::info_span!("deliver", node = %federation.node_id, peer = %peer);
                    let worker = deliver(
                        federation.clone(),
                        pool.clone(),
                        clock.clone(),
                        peer.clone(),
                        max_backoff,
                    );
                    workers.0.insert(
                        peer,
                        tokio::spawn(tracing::Instrument::instrument(worker, span)),
                    );
                }
            }
            Err(error) => tracing::error!(%error, "cannot read the outbox"),
        }
        wait(&federation, Duration::from_millis(500)).await;
    }
}

/// How many statutory reports a worker has in flight to one peer at once
/// (each on its own stream; the receiver group-commits them together).
pub const DELIVERY_WINDOW: usize = 64;

/// What happened to one message of a window.
enum Delivered {
    Ok,
    Retry(String),
    Rejected(String),
}

async fn deliver(
    federation: Arc<Federation>,
    pool: SqlitePool,
    clock: Clock,
    peer: String,
    max_backoff: Duration,
) {
    // Start with one message: a peer that is down costs one connection
    // attempt, not a window of them. Widen once a message gets through.
    let mut width = 1;
    loop {
        let next = sqlx::query("SELECT seq, envelope, attempts, next_attempt_at FROM outbox WHERE recipient = ? AND state = 'pending' ORDER BY seq LIMIT ?")
            .bind(&peer)
            .bind(width as i64)
            .fetch_all(&pool)
            .await;
        let rows = match next {
            // Nothing waiting for this peer: the worker ends; the dispatcher
            // starts a new one when something is queued again.
            Ok(rows) if rows.is_empty() => return,
            Ok(rows) => rows,
            Err(error) => {
                tracing::error!(%peer, %error, "cannot read the outbox");
                wait(&federation, Duration::from_secs(1)).await;
                continue;
            }
        };
        let now = clock.now();
        let due =
            |row: &sqlx::sqlite::SqliteRow| time_fmt::parse_instant(row.get(3)).unwrap_or(now);
        let first_due = due(&rows[0]);
        if first_due > now {
            let wait_for = (first_due - now)
                .try_into()
                .unwrap_or(Duration::from_millis(100));
            tokio::time::sleep(wait_for.min(Duration::from_millis(500))).await;
            continue;
        }
        // The window: statutory reports are independent of each other (the
        // national node keeps the highest revision per case), so a run of
        // them goes out at once; any other message goes alone, in order.
        let mut window = Vec::new();
        for row in &rows {
            let seq: i64 = row.get(0);
            let attempts: i64 = row.get(2);
            let envelope = Envelope::decode(row.get::<&[u8], _>(1));
            let is_report =
                matches!(&envelope, Ok(e) if matches!(e.body, Body::StatutoryReport(_)));
            if !window.is_empty() && (!is_report || due(row) > now) {
                break;
            }
            window.push((seq, attempts, envelope));
            if !is_report {
                break;
            }
        }
        let outcomes = futures_util::future::join_all(window.into_iter().map(|(seq, attempts, envelope)| {
            let federation = federation.clone();
            let peer = peer.clone();
            async move {
                let outcome = match envelope {
                    Ok(envelope) => federation.transport.send(&envelope).await,
                    Err(e) => Err(renkei_federation::SendError::Protocol {
                        peer: peer.clone(),
                        detail: format!("stored envelope: {e}"),
                    }),
                };
                let delivered = match outcome {
                    Ok(()) => {
                        if attempts > 0 {
                            tracing::info!(%peer, attempts = attempts + 1, "delivered after retrying");
                        }
                        Delivered::Ok
                    }
                    Err(e) if e.is_retryable() => {
                        tracing::debug!(%peer, error = %e, "delivery failed; will retry");
                        Delivered::Retry(e.to_string())
                    }
                    Err(e) => {
                        tracing::warn!(%peer, error = %e, "message refused for good; moved aside");
                        Delivered::Rejected(e.to_string())
                    }
                };
                (seq, attempts, delivered)
            }
        }))
        .await;
        width = if outcomes
            .iter()
            .any(|(_, _, d)| matches!(d, Delivered::Retry(_)))
        {
            1
        } else {
            DELIVERY_WINDOW
        };
        if let Err(error) = record_outcomes(&pool, &clock, &outcomes, max_backoff).await {
            tracing::error!(%peer, %error, "cannot record delivery outcomes");
            wait(&federation, Duration::from_secs(1)).await;
        }
    }
}

/// Records a window's outcomes in one transaction: the delivered in one
/// statement, retries with their backoff, refusals set aside.
async fn record_outcomes(
    pool: &SqlitePool,
    clock: &Clock,
    outcomes: &[(i64, i64, Delivered)],
    max_backoff: Duration,
) -> Result<(), sqlx::Error> {
    let now_text = time_fmt::instant(clock.now());
    let mut tx = pool.begin().await?;
    let delivered: Vec<i64> = outcomes
        .iter()
        .filter(|(_, _, d)| matches!(d, Delivered::Ok))
        .map(|(seq, _, _)| *seq)
        .collect();
    if !delivered.is_empty() {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "UPDATE outbox SET state = 'delivered', delivered_at = ",
        );
        q.push_bind(&now_text)
            .push(", attempts = attempts + 1, last_error = NULL WHERE seq IN (");
        let mut sep = q.separated(", ");
        for seq in &delivered {
            sep.push_bind(*seq);
        }
        q.push(")");
        q.build().execute(&mut *tx).await?;
    }
    for (seq, attempts, outcome) in outcomes {
        match outcome {
            Delivered::Ok => {}
            Delivered::Retry(error) => {
                let delay = backoff(*attempts as u32, max_backoff, rand::random::<f64>());
                let due =
                    clock.now() + time::Duration::try_from(delay).unwrap_or(time::Duration::SECOND);
                sqlx::query("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE seq = ?")
                    .bind(time_fmt::instant(due))
                    .bind(error)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
            }
            Delivered::Rejected(error) => {
                sqlx::query("UPDATE outbox SET state = 'rejected', attempts = attempts + 1, last_error = ? WHERE seq = ?")
                    .bind(error)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await
}

async fn wait(federation: &Federation, at_most: Duration) {
    let _ = tokio::time::timeout(at_most, federation.outbox_changed.notified()).await;
}

/// Puts the status figures in the log once a minute: loudly while messages
/// wait, quietly otherwise.
async fn log_status(federation: Arc<Federation>, pool: SqlitePool, clock: Clock) {
    loop {
        tokio::time::sleep(Duration::from_secs(60)).await;
        let Ok(peers) = federation.status(&pool, &clock).await else {
            continue;
        };
        for p in peers {
            if p.outbox_depth > 0 {
                tracing::info!(peer = %p.peer, connected = p.connected, outbox_depth = p.outbox_depth,
                    oldest_pending_age_seconds = p.oldest_pending_age_seconds, last_error = p.last_error.as_deref(), "federation backlog");
            } else {
                tracing::debug!(peer = %p.peer, connected = p.connected, delivered = p.delivered, "federation idle");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let max = Duration::from_secs(30);
        assert_eq!(backoff(0, max, 0.5), Duration::from_millis(200));
        assert_eq!(backoff(3, max, 0.5), Duration::from_millis(1600));
        assert_eq!(backoff(20, max, 0.5), max);
        assert_eq!(backoff(20, max, 0.0), max.mul_f64(0.8));
        assert!(backoff(20, max, 0.999) < max.mul_f64(1.2));
    }
}
