//! `renkei ca …`: the federation CA's commands. The CA is run offline by an
//! operator; see docs/operations.md.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use renkei_ca::authority::{DEFAULT_CRL_DAYS, DEFAULT_DAYS, Issued};
use renkei_ca::{Authority, RevokeTarget, keyfile};

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the federation's root CA in DIR.
    Init {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        name: String,
        /// Seal the CA key with the passphrase in this file (first line, 12+ characters).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Issue a node certificate and key into OUT (node.pem, node.key, ca.pem).
    Issue {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        node_id: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = DEFAULT_DAYS)]
        days: u32,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Issue a fresh certificate and key for a node that already has one.
    Renew {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        node_id: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = DEFAULT_DAYS)]
        days: u32,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Revoke one certificate (--serial) or all of a node's (--node-id).
    Revoke {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, conflicts_with = "node_id", required_unless_present = "node_id")]
        serial: Option<String>,
        #[arg(long)]
        node_id: Option<String>,
    },
    /// Write a CRL signed by the CA.
    Crl {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = DEFAULT_CRL_DAYS)]
        days: u32,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// List issued certificates.
    List {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Check a certificate: chain, validity window, revocation, node SAN.
    Verify {
        #[arg(long)]
        dir: PathBuf,
        cert: PathBuf,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
}

fn passphrase(file: &Option<PathBuf>) -> anyhow::Result<Option<Vec<u8>>> {
    file.as_deref()
        .map(keyfile::read_passphrase)
        .transpose()
        .map_err(Into::into)
}

fn open(dir: &Path, file: &Option<PathBuf>) -> anyhow::Result<Authority> {
    Ok(Authority::open(dir, passphrase(file)?.as_deref())?)
}

/// Checked before issuing, so a refused output directory leaves no
/// certificate in the inventory that nobody received.
fn check_out_free(out: &Path) -> anyhow::Result<()> {
    for name in ["node.pem", "node.key"] {
        let path = out.join(name);
        if path.exists() {
            bail!(
                "{} exists already; give a new --out directory",
                path.display()
            );
        }
    }
    Ok(())
}

fn write_issued(out: &Path, issued: &Issued, root_pem: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let cert = out.join("node.pem");
    keyfile::write_private(&out.join("node.key"), issued.key_pem.as_bytes())?;
    std::fs::write(&cert, &issued.cert_pem)
        .with_context(|| format!("writing {}", cert.display()))?;
    std::fs::write(out.join("ca.pem"), root_pem)
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "issued {} for node {} (valid until {}) in {}",
        issued.record.serial,
        issued.record.node_id,
        issued.record.not_after,
        out.display()
    );
    Ok(())
}

/// `ca issue` and `ca renew`: inputs are checked before the CA records
/// anything, so a refused command leaves no certificate nobody received.
fn issue(
    dir: &Path,
    node_id: &str,
    out: &Path,
    days: u32,
    passphrase_file: &Option<PathBuf>,
    renew: bool,
) -> anyhow::Result<()> {
    let mut ca = open(dir, passphrase_file)?;
    renkei_ca::node_id::validate(node_id)?;
    check_out_free(out)?;
    let issued = if renew {
        ca.renew(node_id, days)?
    } else {
        ca.issue(node_id, days)?
    };
    write_issued(out, &issued, ca.root_pem())
}

pub fn run(command: CaCommand) -> anyhow::Result<()> {
    match command {
        CaCommand::Init {
            dir,
            name,
            passphrase_file,
        } => {
            let ca = Authority::init(&dir, &name, passphrase(&passphrase_file)?.as_deref())?;
            println!("created CA `{}` in {}", ca.name(), dir.display());
        }
        CaCommand::Issue {
            dir,
            node_id,
            out,
            days,
            passphrase_file,
        } => issue(&dir, &node_id, &out, days, &passphrase_file, false)?,
        CaCommand::Renew {
            dir,
            node_id,
            out,
            days,
            passphrase_file,
        } => issue(&dir, &node_id, &out, days, &passphrase_file, true)?,
        CaCommand::Revoke {
            dir,
            serial,
            node_id,
        } => {
            // Revocation touches only the inventory; the key is not needed.
            let mut ca = open_inventory_only(&dir)?;
            let target = match (serial, node_id) {
                (Some(s), _) => RevokeTarget::Serial(s),
                (None, Some(n)) => RevokeTarget::Node(n),
                (None, None) => bail!("give --serial or --node-id"),
            };
            for cert in ca.revoke(&target)? {
                println!(
                    "revoked {} (node {}); publish a new CRL with `renkei ca crl`",
                    cert.serial, cert.node_id
                );
            }
        }
        CaCommand::Crl {
            dir,
            out,
            days,
            passphrase_file,
        } => {
            let mut ca = open(&dir, &passphrase_file)?;
            let pem = ca.crl_pem(days)?;
            std::fs::write(&out, pem).with_context(|| format!("writing {}", out.display()))?;
            println!("wrote CRL to {} (valid {days} days)", out.display());
        }
        CaCommand::List { dir, json } => {
            let ca = open_inventory_only(&dir)?;
            if json {
                println!("{}", serde_json::to_string_pretty(ca.list())?);
            } else {
                println!("{:<34} {:<20} {:<9} not after", "serial", "node", "status");
                for c in ca.list() {
                    println!(
                        "{:<34} {:<20} {:<9} {}",
                        c.serial,
                        c.node_id,
                        format!("{:?}", c.status).to_lowercase(),
                        c.not_after
                    );
                }
            }
        }
        CaCommand::Verify {
            dir,
            cert,
            passphrase_file,
        } => {
            let mut ca = open(&dir, &passphrase_file)?;
            let pem =
                std::fs::read(&cert).with_context(|| format!("reading {}", cert.display()))?;
            match ca.verify(&pem) {
                Ok(node) => println!("valid: node {node}"),
                Err(e) => bail!("{}: {e}", cert.display()),
            }
        }
    }
    Ok(())
}

/// Revoking and listing need no key: a sealed CA can be managed without
/// its passphrase for these.
fn open_inventory_only(dir: &Path) -> anyhow::Result<Authority> {
    Ok(Authority::open_inventory(dir)?)
}
