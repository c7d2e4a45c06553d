//! The national node under load from many centres at once, over real QUIC
//! with mutual TLS: each virtual centre (see [`VirtualCentre`]) has its own
//! certificate and endpoint in this process and sends statutory reports the
//! way a centre's delivery worker does, a window at a time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use renkei_ca::{NodeIdentity, Trust};
use renkei_federation::{Body, Directory, Envelope, Transport};
use uuid::Uuid;

use crate::nodes::{Federation, VirtualCentre};

/// Reports each virtual centre keeps in flight (its delivery window).
pub const WINDOW: usize = 64;

pub struct Senders {
    pub centres: Vec<(VirtualCentre, Arc<Transport>)>,
}

/// Endpoints for every virtual centre, pointed straight at the national
/// node's QUIC port.
pub fn senders(fed: &Federation) -> anyhow::Result<Senders> {
    let root = std::fs::read(fed.dir.join("ca/ca.pem")).context("reading the CA")?;
    let crl = std::fs::read(fed.dir.join("federation.crl"))?;
    let text = std::fs::read_to_string(fed.dir.join("directory.toml"))?;
    // The same directory, but the national node at its own port (no relay).
    let mut direct = String::new();
    let mut in_national = false;
    for line in text.lines() {
        if line.starts_with("id = ") {
            in_national = line == "id = \"national\"";
        }
        if in_national && line.starts_with("quic = ") {
            direct.push_str(&format!("quic = \"{}\"\n", fed.national_quic));
        } else {
            direct.push_str(line);
            direct.push('\n');
        }
    }
    let directory = Arc::new(Directory::parse(&direct)?);
    let mut centres = Vec::new();
    for vc in &fed.virtual_centres {
        let identity = NodeIdentity::load(&vc.certificate, &vc.key)?;
        let trust = Trust::new(&root, std::slice::from_ref(&crl))?;
        let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let transport = Transport::bind(socket, &identity, trust, directory.clone())?;
        centres.push((vc.clone(), transport));
    }
    Ok(Senders { centres })
}

/// A report from `vc` about a new case, made from a real one.
fn report(template: &Envelope, vc: &VirtualCentre) -> Envelope {
    let mut e = template.clone();
    e.message_id = Uuid::now_v7();
    e.sender = vc.id.clone();
    e.created_at_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    if let Body::StatutoryReport(r) = &mut e.body {
        r.case_id = Uuid::now_v7();
        r.municipality_code = vc.municipality.clone();
        r.reporting_centre = vc.id.clone();
        r.responsible_centre = vc.id.clone();
    }
    e
}

/// Sends `total` reports spread over every centre; returns (accepted, seconds).
pub async fn ingest(s: &Senders, template: &Envelope, total: usize) -> (usize, f64) {
    let n = s.centres.len().max(1);
    let started = Instant::now();
    let accepted: usize = futures_util::stream::iter(s.centres.iter().enumerate())
        .map(|(k, (vc, transport))| {
            let share = total / n + usize::from(k < total % n);
            async move {
                futures_util::stream::iter(0..share)
                    .map(|_| async move {
                        // As a delivery worker does: retry what may succeed later.
                        let envelope = report(template, vc);
                        for _ in 0..20 {
                            match transport.send(&envelope).await {
                                Ok(()) => return true,
                                Err(e) if e.is_retryable() => {
                                    tokio::time::sleep(Duration::from_millis(200)).await
                                }
                                Err(_) => return false,
                            }
                        }
                        false
                    })
                    .buffer_unordered(WINDOW)
                    .filter(|ok| std::future::ready(*ok))
                    .count()
                    .await
            }
        })
        .buffer_unordered(n)
        .fold(0, |a, b| async move { a + b })
        .await;
    (accepted, started.elapsed().as_secs_f64())
}

/// After a restart of the national node: how long until every centre has
/// delivered a report again (each retries every 100 ms, as a worker whose
/// backoff is short would).
pub async fn reconnect(s: &Senders, template: &Envelope) -> anyhow::Result<f64> {
    let started = Instant::now();
    let deadline = Duration::from_secs(120);
    let results = futures_util::stream::iter(s.centres.iter())
        .map(|(vc, transport)| async move {
            let envelope = report(template, vc);
            loop {
                match transport.send(&envelope).await {
                    Ok(()) => return Ok(started.elapsed().as_secs_f64()),
                    Err(e) if e.is_retryable() && started.elapsed() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await
                    }
                    Err(e) => return Err(anyhow::anyhow!("{}: {e}", vc.id)),
                }
            }
        })
        .buffer_unordered(s.centres.len().max(1))
        .collect::<Vec<anyhow::Result<f64>>>()
        .await;
    let mut last = 0.0f64;
    for r in results {
        last = last.max(r?);
    }
    Ok(last)
}
