//! The federation under test: a CA, certificates, a directory that points at
//! the relays, and one real `renkei` process per node.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use renkei_ca::Authority;
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::relay::{self, Network};
use crate::scenario::Scenario;

/// One node: its config, its process, its HTTP address, its users' sessions.
pub struct Node {
    pub id: String,
    pub national: bool,
    pub config: PathBuf,
    pub database: PathBuf,
    pub http: SocketAddr,
    pub process: Option<Child>,
    pub admin: Option<String>,
    pub staff: Option<String>,
    admin_credentials: Value,
    staff_credentials: Option<Value>,
}

/// How many nodes are set up (databases, first users, first logins) at
/// once: each step hashes a password with argon2 in the node's process.
const SETUP_PARALLELISM: usize = 4;

/// A loopback port for a node, below the kernel's ephemeral range (which
/// starts at 32768), so no relay or client socket can take it while the node
/// is down or starting.
fn node_port(udp: bool, taken: &mut std::collections::HashSet<u16>) -> anyhow::Result<SocketAddr> {
    let base: u16 = if udp { 20_000 } else { 10_000 };
    let offset: u16 = rand::random::<u16>() % 9_000;
    for k in 0..9_000u16 {
        let port = base + (offset + k) % 9_000;
        if taken.contains(&port) {
            continue;
        }
        let free = if udp {
            std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
        } else {
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
        };
        if free {
            taken.insert(port);
            return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
        }
    }
    anyhow::bail!("no free loopback port below the ephemeral range")
}

/// The RFC 6238 code for now (the same algorithm the node checks).
pub fn totp_now(secret: &str, offset_steps: i64) -> anyhow::Result<String> {
    use hmac::{Hmac, Mac};
    let key = data_encoding::BASE32_NOPAD.decode(secret.as_bytes())?;
    let step = time::OffsetDateTime::now_utc()
        .unix_timestamp()
        .div_euclid(30)
        + offset_steps;
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&key)?;
    mac.update(&step.to_be_bytes());
    let d = mac.finalize().into_bytes();
    let o = (d[19] & 0x0f) as usize;
    let n = u32::from_be_bytes([d[o] & 0x7f, d[o + 1], d[o + 2], d[o + 3]]) % 1_000_000;
    Ok(format!("{n:06}"))
}

async fn run(renkei: &Path, args: &[&str]) -> anyhow::Result<Value> {
    let out = Command::new(renkei)
        .args(args)
        .output()
        .await
        .with_context(|| format!("running {}", renkei.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "renkei {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout).unwrap_or(Value::Null))
}

/// A health centre that exists only in the directory and the CA: the
/// benchmark drives its QUIC transport in-process, to load the national node
/// from hundreds of centres without hundreds of processes.
#[derive(Debug, Clone)]
pub struct VirtualCentre {
    pub id: String,
    pub municipality: String,
    pub certificate: PathBuf,
    pub key: PathBuf,
}

pub struct Federation {
    pub renkei: PathBuf,
    pub dir: PathBuf,
    pub nodes: Vec<Node>,
    pub virtual_centres: Vec<VirtualCentre>,
    /// Where the national node really listens for QUIC (not its relay).
    pub national_quic: SocketAddr,
    pub network: Arc<Network>,
    pub http: reqwest::Client,
}

impl Federation {
    /// Creates everything under `dir` and starts every node.
    pub async fn start(renkei: &Path, dir: &Path, scenario: &Scenario) -> anyhow::Result<Self> {
        Self::start_with_virtual(renkei, dir, scenario, 0).await
    }

    /// As [`Federation::start`], plus `virtual_centres` centres in the
    /// directory and the CA with no process of their own.
    pub async fn start_with_virtual(
        renkei: &Path,
        dir: &Path,
        scenario: &Scenario,
        virtual_centres: usize,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut ca = Authority::init(&dir.join("ca"), "Simulation federation", None)?;
        std::fs::write(dir.join("federation.crl"), ca.crl_pem(30)?)?;
        let secret: [u8; 32] = rand::random();
        renkei_ca::keyfile::write_private(
            &dir.join("person.key"),
            data_encoding::HEXLOWER.encode(&secret).as_bytes(),
        )?;
        let network = Arc::new(Network::default());
        let mut directory = String::new();
        let mut taken = std::collections::HashSet::new();
        let mut plan = Vec::new();
        let mut members: Vec<(String, bool, String, String, Option<String>)> = vec![(
            "national".into(),
            true,
            "厚生労働省".into(),
            "Ministry".into(),
            None,
        )];
        members.extend(scenario.all_centres().iter().map(|c| {
            (
                c.id.clone(),
                false,
                c.name_ja.clone(),
                c.name_en.clone(),
                Some(c.municipality.clone()),
            )
        }));
        for (id, national, ja, en, code) in &members {
            let relay_socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
            let relay_addr = relay_socket.local_addr()?;
            let real = node_port(true, &mut taken)?;
            relay::start(network.clone(), id.clone(), relay_socket, real).await?;
            network.register(id, real);
            directory.push_str(&format!(
                "[[node]]\nid = \"{id}\"\nkind = \"{}\"\nname_ja = \"{ja}\"\nname_en = \"{en}\"\nquic = \"{relay_addr}\"\n{}\n",
                if *national { "national" } else { "health-centre" },
                code.as_ref().map(|c| format!("municipalities = [\"{c}\"]\n")).unwrap_or_default()
            ));
            plan.push((id.clone(), *national, real));
        }
        let used: Vec<String> = scenario
            .all_centres()
            .iter()
            .map(|c| c.municipality.clone())
            .collect();
        let mut virtuals = Vec::new();
        for (k, c) in crate::scenario::generate_centres(virtual_centres + used.len())
            .into_iter()
            .filter(|c| !used.contains(&c.municipality))
            .take(virtual_centres)
            .enumerate()
        {
            let id = format!("vc-{k:04}");
            directory.push_str(&format!(
                "[[node]]\nid = \"{id}\"\nkind = \"health-centre\"\nname_ja = \"{id}\"\nname_en = \"{id}\"\nquic = \"127.0.0.1:9\"\nmunicipalities = [\"{}\"]\n\n",
                c.municipality
            ));
            let vdir = dir.join("virtual").join(&id);
            std::fs::create_dir_all(&vdir)?;
            let issued = ca.issue(&id, 30)?;
            std::fs::write(vdir.join("node.pem"), &issued.cert_pem)?;
            renkei_ca::keyfile::write_private(&vdir.join("node.key"), issued.key_pem.as_bytes())?;
            virtuals.push(VirtualCentre {
                id,
                municipality: c.municipality,
                certificate: vdir.join("node.pem"),
                key: vdir.join("node.key"),
            });
        }
        std::fs::write(dir.join("directory.toml"), directory)?;
        let national_quic = plan
            .iter()
            .find(|(_, national, _)| *national)
            .map(|(_, _, real)| *real)
            .context("no national node")?;
        let mut nodes = Vec::new();
        for (id, national, real) in plan {
            let node_dir = dir.join("nodes").join(&id);
            std::fs::create_dir_all(node_dir.join("certs"))?;
            let issued = ca.issue(&id, 30)?;
            std::fs::write(node_dir.join("certs/node.pem"), &issued.cert_pem)?;
            renkei_ca::keyfile::write_private(
                &node_dir.join("certs/node.key"),
                issued.key_pem.as_bytes(),
            )?;
            let http = node_port(false, &mut taken)?;
            let config = node_dir.join("node.toml");
            std::fs::write(
                &config,
                format!(
                    "node_id = \"{id}\"\nkind = \"{}\"\ndata_dir = \"data\"\n[http]\nlisten = \"{http}\"\n[sessions]\nidle_timeout = \"1day\"\nabsolute_lifetime = \"2days\"\n\
                     [federation]\nquic_listen = \"{real}\"\ndirectory = \"../../directory.toml\"\ncertificate = \"certs/node.pem\"\nkey = \"certs/node.key\"\n\
                     ca = \"../../ca/ca.pem\"\ncrl = \"../../federation.crl\"\nmax_backoff = \"2s\"\ncrl_check_interval = \"5s\"\nperson_key = \"../../person.key\"\n",
                    if national {
                        "national"
                    } else {
                        "health-centre"
                    }
                ),
            )?;
            nodes.push(Node {
                id,
                national,
                database: node_dir.join("data/node.db"),
                config,
                http,
                process: None,
                admin: None,
                staff: None,
                admin_credentials: Value::Null,
                staff_credentials: None,
            });
        }
        // Each node's database and first users, a few nodes at a time (every
        // password is hashed with argon2, which is what takes the time).
        let accounts = futures_util::stream::iter(&nodes)
            .map(|node| async move {
                let cfg = node.config.to_str().context("config path")?;
                let admin = run(renkei, &["node", "init", "--config", cfg, "--json"]).await?;
                let staff = if node.national {
                    None
                } else {
                    Some(
                        run(
                            renkei,
                            &[
                                "user",
                                "add",
                                "--config",
                                cfg,
                                "--id",
                                "sim.staff",
                                "--role",
                                "staff",
                                "--json",
                            ],
                        )
                        .await?,
                    )
                };
                anyhow::Ok((admin, staff))
            })
            .buffered(SETUP_PARALLELISM)
            .collect::<Vec<_>>()
            .await;
        for (node, account) in nodes.iter_mut().zip(accounts) {
            let (admin, staff) = account?;
            node.admin_credentials = admin;
            node.staff_credentials = staff;
        }
        let mut federation = Federation {
            renkei: renkei.to_path_buf(),
            dir: dir.to_path_buf(),
            nodes,
            virtual_centres: virtuals,
            national_quic,
            network,
            http: reqwest::Client::new(),
        };
        let all: Vec<usize> = (0..federation.nodes.len()).collect();
        federation.start_nodes(&all).await?;
        let fed = &federation;
        let sessions = futures_util::stream::iter(0..fed.nodes.len())
            .map(|i| async move {
                let admin = fed.enrol(i, &fed.nodes[i].admin_credentials, 0).await?;
                let staff = match &fed.nodes[i].staff_credentials {
                    Some(staff) => Some(fed.enrol(i, staff, 1).await?),
                    None => None,
                };
                anyhow::Ok((admin, staff))
            })
            .buffered(SETUP_PARALLELISM)
            .collect::<Vec<_>>()
            .await;
        for (node, session) in federation.nodes.iter_mut().zip(sessions) {
            let (admin, staff) = session?;
            node.admin = Some(admin);
            node.staff = staff;
        }
        Ok(federation)
    }

    pub fn url(&self, i: usize, path: &str) -> String {
        format!("http://{}{}", self.nodes[i].http, path)
    }

    pub fn index(&self, id: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.id == id)
            .expect("known node")
    }

    /// Starts (or restarts) a node's process and waits until it answers.
    pub async fn start_node(&mut self, i: usize) -> anyhow::Result<()> {
        self.start_nodes(&[i]).await
    }

    /// Starts (or restarts) these nodes' processes together and waits until
    /// every one answers.
    pub async fn start_nodes(&mut self, which: &[usize]) -> anyhow::Result<()> {
        for &i in which {
            let child = Command::new(&self.renkei)
                .args([
                    "node",
                    "run",
                    "--config",
                    self.nodes[i].config.to_str().context("config path")?,
                ])
                .env("RUST_LOG", "error")
                // A fixed mmap threshold makes glibc return argon2's 19 MiB
                // blocks to the system after each password hash, instead of
                // keeping them on the heap (about 100 MiB per node otherwise).
                .env("MALLOC_MMAP_THRESHOLD_", "131072")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()?;
            self.nodes[i].process = Some(child);
        }
        let fed = &*self;
        futures_util::stream::iter(which)
            .map(|&i| fed.wait_ready(i))
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    async fn wait_ready(&self, i: usize) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.http.get(self.url(i, "/healthz")).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{} did not start",
                self.nodes[i].id
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills a node's process without warning, as a power cut would.
    pub async fn kill_node(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].process.take() {
            let _ = child.kill().await;
        }
    }

    /// Stops a node cleanly.
    pub async fn stop_node(&mut self, i: usize) {
        self.stop_nodes(&[i]).await
    }

    /// Stops these nodes cleanly and together: SIGTERM to each, then up to
    /// 15 s for them to finish before they are killed.
    pub async fn stop_nodes(&mut self, which: &[usize]) {
        let mut children: Vec<Child> = which
            .iter()
            .filter_map(|&i| self.nodes[i].process.take())
            .collect();
        let pids: Vec<String> = children
            .iter()
            .filter_map(|c| c.id())
            .map(|pid| pid.to_string())
            .collect();
        if !pids.is_empty() {
            let _ = Command::new("kill").arg("-TERM").args(&pids).status().await;
        }
        futures_util::future::join_all(children.iter_mut().map(|child| async move {
            if tokio::time::timeout(Duration::from_secs(15), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }))
        .await;
    }

    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].process.is_some()
    }

    /// Adds a user with the command line and logs it in; returns its token.
    pub async fn add_user(&self, i: usize, id: &str, role: &str) -> anyhow::Result<String> {
        let credentials = run(
            &self.renkei,
            &[
                "user",
                "add",
                "--config",
                self.nodes[i].config.to_str().unwrap(),
                "--id",
                id,
                "--role",
                role,
                "--json",
            ],
        )
        .await?;
        self.enrol(i, &credentials, 0).await
    }

    /// The operating-system process id of a running node.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].process.as_ref().and_then(|c| c.id())
    }

    /// First login: one-time password and code, then a password of our own.
    async fn enrol(&self, i: usize, credentials: &Value, step: i64) -> anyhow::Result<String> {
        let code = totp_now(
            credentials["totp_secret"].as_str().unwrap_or_default(),
            step,
        )?;
        let body = serde_json::json!({"user": credentials["user"], "password": credentials["password"], "totp": code});
        let r: Value = self
            .http
            .post(self.url(i, "/api/v1/login"))
            .json(&body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = r["token"].as_str().context("no token")?.to_string();
        let change =
            serde_json::json!({"current": credentials["password"], "new": "simulation-password-1"});
        self.http
            .post(self.url(i, "/api/v1/password"))
            .bearer_auth(&token)
            .json(&change)
            .send()
            .await?
            .error_for_status()?;
        Ok(token)
    }

    pub async fn shutdown(&mut self) {
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        self.stop_nodes(&all).await;
    }
}
