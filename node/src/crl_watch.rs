//! The node's CRL: loaded and checked at start-up, re-read while the node
//! runs, and summarised with its alarm for `GET /api/v1/federation/status`.
//!
//! A CRL file that does not verify against the federation root, or is not
//! newer than the CRL in force, is refused: the node keeps its CRL, logs a
//! warning and shows an alarm until a good CRL is installed or the file is
//! put back. A CRL past its next update stays in force with an alarm (see
//! `renkei_ca::crl` for why that is the safer choice).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use renkei_ca::{CaError, Trust, VerifiedCrl};
use renkei_federation::{CrlReload, Transport};
use serde::Serialize;
use time::OffsetDateTime;

use crate::clock::Clock;
use crate::time_fmt;

/// Reads and checks the CRL at start-up. A node that cannot prove its
/// peers' certificates are not revoked must not start.
pub fn load_trust(root_pem: &[u8], crl_path: &Path) -> anyhow::Result<(Arc<Trust>, Vec<u8>)> {
    let crl = std::fs::read(crl_path)
        .with_context(|| format!("reading the CRL {}", crl_path.display()))?;
    let trust = Trust::new(root_pem, std::slice::from_ref(&crl)).map_err(|e| {
        anyhow::anyhow!(
            "{}; a node cannot verify its peers without a good CRL from the federation CA",
            refusal(crl_path, &e)
        )
    })?;
    Ok((trust, crl))
}

/// "the CRL at <path> was refused: <why>", the alarm's and the log's wording.
fn refusal(path: &Path, error: &CaError) -> String {
    let why = match error {
        CaError::CrlRefused(reason) => reason.to_string(),
        other => other.to_string(),
    };
    format!("the CRL at {} was refused: {why}", path.display())
}

/// The CRL as `GET /api/v1/federation/status` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CrlStatus {
    /// The CRL number in force (decimal; CRL numbers may exceed 64 bits).
    pub installed_number: Option<String>,
    pub this_update: Option<String>,
    pub next_update: Option<String>,
    pub revoked_certificates: usize,
    /// The CRL in force is past its next update: the CA should publish.
    pub stale: bool,
    /// Why the CRL file is not in force, or that the CRL in force is stale;
    /// `null` when all is well.
    pub alarm: Option<String>,
    /// When the current CRL file was refused (node clock).
    pub refused_at: Option<String>,
}

#[derive(Debug)]
struct Refused {
    alarm: String,
    at: OffsetDateTime,
}

/// The watcher's state, shared with the status endpoint.
#[derive(Debug)]
pub struct CrlWatch {
    path: PathBuf,
    transport: Arc<Transport>,
    refused: Mutex<Option<Refused>>,
}

impl CrlWatch {
    pub fn new(path: PathBuf, transport: Arc<Transport>) -> Arc<Self> {
        Arc::new(Self {
            path,
            transport,
            refused: Mutex::new(None),
        })
    }

    fn installed(&self) -> Option<VerifiedCrl> {
        self.transport.trust().installed_crl()
    }

    pub fn status(&self, now: OffsetDateTime) -> CrlStatus {
        let installed = self.installed();
        let stale = installed.as_ref().is_some_and(|c| c.is_stale(now));
        let refused = self.refused.lock().expect("crl lock");
        let alarm = match (&*refused, &installed) {
            (Some(r), _) => Some(r.alarm.clone()),
            (None, Some(crl)) if stale => Some(stale_alarm(crl)),
            _ => None,
        };
        CrlStatus {
            installed_number: installed
                .as_ref()
                .and_then(|c| c.number.as_ref())
                .map(|n| n.to_string()),
            this_update: installed.as_ref().map(|c| time_fmt::instant(c.this_update)),
            next_update: installed
                .as_ref()
                .and_then(|c| c.next_update)
                .map(time_fmt::instant),
            revoked_certificates: installed.as_ref().map_or(0, |c| c.revoked),
            stale,
            alarm,
            refused_at: refused.as_ref().map(|r| time_fmt::instant(r.at)),
        }
    }

    /// One look at the file: installs a newer CRL, refuses a bad one, and
    /// clears the alarm once the file holds a good CRL again.
    fn check(&self, file: Result<Vec<u8>, std::io::Error>, now: OffsetDateTime) {
        let outcome = file
            .map_err(|e| {
                format!(
                    "the CRL at {} cannot be read ({e}); the installed CRL stays in force",
                    self.path.display()
                )
            })
            .and_then(|bytes| {
                self.transport
                    .reload_crls(std::slice::from_ref(&bytes))
                    .map_err(|e| refusal(&self.path, &e))
            });
        let mut refused = self.refused.lock().expect("crl lock");
        match outcome {
            Ok(reload) => {
                if let CrlReload::Installed { closed_connections } = reload {
                    let number = self
                        .installed()
                        .and_then(|c| c.number)
                        .map(|n| n.to_string());
                    tracing::info!(
                        number = number.as_deref(),
                        closed_connections,
                        "installed a new CRL"
                    );
                }
                if refused.take().is_some() {
                    tracing::info!(path = %self.path.display(), "the CRL file is good again; alarm cleared");
                }
            }
            Err(alarm) => {
                // The reason names the path and the check that failed; the
                // file's contents are never logged.
                tracing::warn!(reason = %alarm, "keeping the installed CRL");
                *refused = Some(Refused { alarm, at: now });
            }
        }
    }
}

fn stale_alarm(crl: &VerifiedCrl) -> String {
    format!(
        "the CRL in force is past its next update ({}); it stays in force, but revocations since are unknown: publish a new CRL with `renkei ca crl`",
        crl.next_update.map(time_fmt::instant).unwrap_or_default()
    )
}

/// Re-reads the CRL file every `every`; a changed file is checked and, if
/// good and newer, installed (closing connections of peers now revoked).
/// An unchanged file is not checked again, so a refused file is logged once.
pub async fn watch(watch: Arc<CrlWatch>, last: Vec<u8>, clock: Clock, every: Duration) {
    // `None` after a failed read, so the same error is logged once and the
    // file coming back (even unchanged) is checked again.
    let mut last = Some(last);
    let mut warned_stale = false;
    loop {
        tokio::time::sleep(every).await;
        let file = std::fs::read(&watch.path);
        if file.as_ref().ok() != last.as_ref() {
            last = file.as_ref().ok().cloned();
            watch.check(file, clock.now());
        }
        match watch.installed().filter(|c| c.is_stale(clock.now())) {
            Some(crl) if !warned_stale => {
                tracing::warn!(alarm = %stale_alarm(&crl), "stale CRL");
                warned_stale = true;
            }
            Some(_) => {}
            None => warned_stale = false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_ca::Authority;

    #[test]
    fn a_node_refuses_to_start_without_a_good_crl() {
        let dir = tempfile::tempdir().unwrap();
        let mut ours = Authority::init(&dir.path().join("ca"), "Federation", None).unwrap();
        let mut other = Authority::init(&dir.path().join("other"), "Other", None).unwrap();
        let path = dir.path().join("federation.crl");
        let root = ours.root_pem().as_bytes().to_vec();

        let missing = load_trust(&root, &path).unwrap_err();
        assert!(
            format!("{missing:#}").contains(&path.display().to_string()),
            "{missing:#}"
        );

        std::fs::write(&path, other.crl_pem(7).unwrap()).unwrap();
        let err = load_trust(&root, &path).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("the CRL at {} was refused: ", path.display())),
            "{err}"
        );
        assert!(err.contains("not by the federation root"), "{err}");
        assert!(err.contains("cannot verify its peers"), "{err}");

        std::fs::write(&path, ours.crl_pem(7).unwrap()).unwrap();
        let (trust, bytes) = load_trust(&root, &path).unwrap();
        assert_eq!(bytes, std::fs::read(&path).unwrap());
        assert_eq!(trust.installed_crl().unwrap().number, Some(1u8.into()));
    }
}
