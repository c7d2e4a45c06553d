//! The `rogue_centre` fault: a centre's own certificate in an attacker's
//! hands. While the fault is on, a task in the simulator holds that centre's
//! real certificate and key and sends, over real QUIC, forged messages about
//! cases other centres own: claims on their reports with absurd revisions,
//! forged hand-overs, patients' readings, shares, revocations, transfer
//! answers and outcomes, and referrals of contacts living elsewhere. Every one
//! must be refused or held back; an acknowledged forgery is an invariant
//! broken. The real centre's process keeps working meanwhile.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use renkei_ca::{NodeIdentity, Trust};
use renkei_federation::wire::{
    ContactReferral, ForwardedObservation, PROTOCOL_VERSION, ShareData, ShareRevoke,
    StatutoryReport, TestsSummary, TransferAnswer, TransferOutcome, TransferredContact,
    TransferredObservation,
};
use renkei_federation::{Body, Directory, Envelope, Refusal, SendError, Transport};
use sqlx::SqlitePool;
use uuid::Uuid;

use crate::nodes::Federation;

/// What the forger's messages met.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RogueTally {
    pub sent: usize,
    /// Refused for good, naming an authority rule.
    pub refused: usize,
    /// Held back as "not yet" (a claim waits for a hand-over that never comes).
    pub held: usize,
    /// Acknowledged: a forgery was applied. Must stay 0.
    pub acknowledged: usize,
    /// Refused for another reason, or unreachable (a fault elsewhere).
    pub other: usize,
}

impl RogueTally {
    fn add(&mut self, other: RogueTally) {
        self.sent += other.sent;
        self.refused += other.refused;
        self.held += other.held;
        self.acknowledged += other.acknowledged;
        self.other += other.other;
    }
}

/// A running forger.
pub struct Rogue {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<RogueTally>,
}

/// The forgers of a run: those running, and what the stopped ones met.
#[derive(Default)]
pub struct Rogues {
    running: std::collections::HashMap<String, Rogue>,
    pub tally: Option<RogueTally>,
}

impl Rogues {
    /// Starts forging as `node`, with its own certificate.
    pub async fn start(&mut self, fed: &Federation, node: &str, seed: u64) -> anyhow::Result<()> {
        let certs = fed.dir.join("nodes").join(node).join("certs");
        let identity = NodeIdentity::load(&certs.join("node.pem"), &certs.join("node.key"))?;
        let root = std::fs::read(fed.dir.join("ca/ca.pem")).context("reading the CA")?;
        let crl = std::fs::read(fed.dir.join("federation.crl"))?;
        let directory = Arc::new(Directory::load(&fed.dir.join("directory.toml"))?);
        let trust = Trust::new(&root, std::slice::from_ref(&crl))?;
        let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let transport = Transport::bind(socket, &identity, trust, directory.clone())?;
        let national = fed
            .nodes
            .iter()
            .find(|n| n.national)
            .context("no national node")?;
        let reports = read_only(national.database.clone()).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let forger = Forger {
            me: node.to_string(),
            transport,
            directory,
            reports,
            rng: rand::rngs::StdRng::seed_from_u64(seed),
        };
        let task = tokio::spawn(forger.run(stop.clone()));
        self.running.insert(node.to_string(), Rogue { stop, task });
        Ok(())
    }

    /// Stops forging as `node` and adds up what its messages met.
    pub async fn stop(&mut self, node: &str) {
        if let Some(rogue) = self.running.remove(node) {
            rogue.stop.store(true, Ordering::Relaxed);
            let tally = rogue.task.await.unwrap_or_default();
            self.tally
                .get_or_insert_with(RogueTally::default)
                .add(tally);
        }
    }
}

async fn read_only(path: PathBuf) -> anyhow::Result<SqlitePool> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true);
    Ok(sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?)
}

struct Forger {
    me: String,
    transport: Arc<Transport>,
    directory: Arc<Directory>,
    /// The national node's database: where the forger learns other centres'
    /// case ids (standing in for ids a rogue centre learns from shares). It
    /// picks cases that never passed through its own centre, so that none
    /// of its messages could be one the centre may really send.
    reports: SqlitePool,
    rng: rand::rngs::StdRng,
}

impl Forger {
    async fn run(mut self, stop: Arc<AtomicBool>) -> RogueTally {
        let mut tally = RogueTally::default();
        while !stop.load(Ordering::Relaxed) {
            let victim: Option<(String, String, String, i64)> = sqlx::query_as(
                "SELECT case_id, responsible_centre, reporting_centre, revision FROM statutory_reports \
                 WHERE responsible_centre != ?1 AND reporting_centre != ?1 ORDER BY random() LIMIT 1",
            )
            .bind(&self.me)
            .fetch_optional(&self.reports)
            .await
            .ok()
            .flatten();
            if let Some((case_id, owner, reporting, revision)) = victim
                && let Ok(case) = Uuid::parse_str(&case_id)
            {
                for (to, body) in self.forgeries(case, &owner, &reporting, revision) {
                    let envelope = Envelope {
                        version: PROTOCOL_VERSION,
                        message_id: Uuid::now_v7(),
                        sender: self.me.clone(),
                        recipient: to,
                        created_at_ms: 0,
                        body,
                    };
                    tally.sent += 1;
                    match self.transport.send(&envelope).await {
                        Ok(()) => {
                            eprintln!("\na forged {} was acknowledged", envelope.body.name());
                            tally.acknowledged += 1;
                        }
                        Err(SendError::Refused {
                            reason: Refusal::Unauthorised,
                            ..
                        }) => tally.refused += 1,
                        Err(SendError::Refused {
                            reason: Refusal::Unavailable,
                            detail,
                            ..
                        }) if detail.starts_with("not yet") => tally.held += 1,
                        Err(_) => tally.other += 1,
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.transport.shutdown().await;
        tally
    }

    /// Every kind of forgery about one case owned by `owner`.
    fn forgeries(
        &mut self,
        case: Uuid,
        owner: &str,
        reporting: &str,
        revision: i64,
    ) -> Vec<(String, Body)> {
        let others: Vec<String> = self
            .directory
            .nodes()
            .filter(|n| n.kind == renkei_federation::NodeKind::HealthCentre)
            .map(|n| n.id.clone())
            .filter(|id| id != owner && *id != self.me)
            .collect();
        let third = others.choose(&mut self.rng).cloned();
        let elsewhere = third
            .as_deref()
            .and_then(|id| self.directory.node(id))
            .and_then(|n| n.municipalities.first().cloned());
        let claim = |responsible: &str, revision: u32| {
            Body::StatutoryReport(StatutoryReport {
                case_id: case,
                revision,
                disease: "covid-19".into(),
                diagnosis_class: "confirmed".into(),
                sex: "male".into(),
                age: 99,
                municipality_code: "131032".into(),
                reporting_centre: reporting.into(),
                responsible_centre: responsible.into(),
                onset_date: None,
                diagnosis_date: None,
                report_date: 20260101,
                tests: TestsSummary {
                    positive: 0,
                    negative: 9,
                    other: 0,
                    methods: vec![],
                },
                status: "deceased".into(),
                hospitalised: false,
                severe: true,
                deceased: true,
                withdrawn: true,
            })
        };
        let next = u32::try_from(revision + 1).unwrap_or(u32::MAX);
        let revision = if self.rng.gen_bool(0.5) {
            u32::MAX
        } else {
            next
        };
        let mut out = vec![
            ("national".to_string(), claim(&self.me, revision)),
            (
                owner.to_string(),
                Body::ForwardedObservation(ForwardedObservation {
                    case_id: case,
                    observation: TransferredObservation {
                        observed_at: "2026-01-01T00:00:00.000000Z".into(),
                        temperature: Some(39.5),
                        spo2: Some(85),
                        symptoms: vec![],
                    },
                }),
            ),
            (
                owner.to_string(),
                Body::ShareData(Box::new(ShareData {
                    share_id: Uuid::now_v7(),
                    purpose: "follow_up".into(),
                    case_id: case,
                    revision: u32::MAX,
                    name: "偽造".into(),
                    name_kana: "ギゾウ".into(),
                    sex: "male".into(),
                    age: 99,
                    phone: None,
                    municipality_code: "131032".into(),
                    address: None,
                    diagnosis_class: "confirmed".into(),
                    status: "home".into(),
                    medical: None,
                })),
            ),
            (
                owner.to_string(),
                Body::ShareRevoke(ShareRevoke {
                    share_id: Uuid::now_v7(),
                }),
            ),
            (
                owner.to_string(),
                Body::TransferAnswer(TransferAnswer {
                    transfer_id: Uuid::now_v7(),
                    accepted: true,
                    reason: None,
                }),
            ),
            (
                owner.to_string(),
                Body::TransferOutcome(TransferOutcome {
                    transfer_id: Uuid::now_v7(),
                    completed: true,
                }),
            ),
        ];
        if let Some(third) = &third {
            out.push(("national".to_string(), claim(third, revision)));
        }
        if let Some(code) = elsewhere {
            out.push((
                owner.to_string(),
                Body::ContactReferral(ContactReferral {
                    referral_id: Uuid::now_v7(),
                    index_link: "forged".into(),
                    contact: TransferredContact {
                        name: "偽造".into(),
                        name_kana: None,
                        phone: None,
                        municipality_code: Some(code),
                        relation: None,
                        last_exposure_on: None,
                    },
                }),
            ));
        }
        out
    }
}
