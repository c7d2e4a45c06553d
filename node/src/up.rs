//! `renkei up`: one command that starts a whole federation on this machine:
//! a certificate authority, the national node and three Tokyo health centres
//! talking QUIC with mutual TLS, each with its own SQLite database, users for
//! every role, and a few days of synthetic cases including a transfer and a
//! share. Running it again resumes the same federation; Ctrl-C stops it all.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use renkei_ca::Authority;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::AppState;
use crate::api::extract::SessionUser;
use crate::audit::{Actor, AuditEntry, Outcome};
use crate::clock::Clock;
use crate::command::{Change, Command};
use crate::config::{Config, NodeKind};
use crate::domain::{Role, japan_date};
use crate::federation::FederationConfig;
use crate::users::{self, NewUserRequest};
use crate::{cli, server};

/// The demo's health centres: id, Japanese and English names, municipality.
pub const CENTRES: &[(&str, &str, &str, &str)] = &[
    ("hc-13103", "みなと保健所", "Minato Health Centre", "131032"),
    (
        "hc-13104",
        "新宿区保健所",
        "Shinjuku Health Centre",
        "131041",
    ),
    (
        "hc-13112",
        "世田谷保健所",
        "Setagaya Health Centre",
        "131121",
    ),
];
pub const NATIONAL: &str = "national";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoUser {
    pub node: String,
    pub user: String,
    pub role: String,
    pub organisation: Option<String>,
    pub password: String,
    pub totp_secret: String,
}

#[derive(Debug, Serialize)]
struct NodeInfo {
    id: String,
    kind: &'static str,
    url: String,
}

fn node_ids() -> Vec<&'static str> {
    std::iter::once(NATIONAL)
        .chain(CENTRES.iter().map(|c| c.0))
        .collect()
}

fn config_path(dir: &Path, id: &str) -> PathBuf {
    dir.join("nodes").join(id).join("node.toml")
}

/// One node's HTTP and QUIC sockets, bound on loopback ports of the
/// system's choosing (for `--port-base 0`). They are handed to the node as
/// they are: a port released and bound again later could be taken by
/// another program in between.
struct BoundPorts {
    http: std::net::TcpListener,
    quic: std::net::UdpSocket,
}

impl BoundPorts {
    fn bind() -> anyhow::Result<Self> {
        Ok(Self {
            http: std::net::TcpListener::bind("127.0.0.1:0").context("binding a TCP port")?,
            quic: std::net::UdpSocket::bind("127.0.0.1:0").context("binding a UDP port")?,
        })
    }
}

/// Creates the CA, certificates, directory and node configs, and the first
/// admins. With `port_base` 0 it also returns each node's bound sockets, in
/// the order of [`node_ids`].
async fn create(
    dir: &Path,
    port_base: u16,
) -> anyhow::Result<(Vec<DemoUser>, Option<Vec<BoundPorts>>)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut ca = Authority::init(&dir.join("ca"), "Renkei local federation", None)?;
    let crl = dir.join("federation.crl");
    std::fs::write(&crl, ca.crl_pem(30)?)?;
    let person_key = dir.join("person.key");
    let secret: [u8; 32] = rand::random();
    renkei_ca::keyfile::write_private(
        &person_key,
        data_encoding::HEXLOWER.encode(&secret).as_bytes(),
    )?;
    let ids = node_ids();
    let bound = if port_base == 0 {
        Some(
            ids.iter()
                .map(|_| BoundPorts::bind())
                .collect::<anyhow::Result<Vec<_>>>()?,
        )
    } else {
        None
    };
    let mut ports = Vec::new();
    for (i, _) in ids.iter().enumerate() {
        let (http, quic) = match &bound {
            Some(bound) => (
                bound[i].http.local_addr()?.port(),
                bound[i].quic.local_addr()?.port(),
            ),
            None => (port_base + i as u16, port_base - 680 + i as u16),
        };
        ports.push((http, quic));
    }
    let mut directory = String::from("# The local federation made by `renkei up`.\n\n");
    directory.push_str(&format!(
        "[[node]]\nid = \"{NATIONAL}\"\nkind = \"national\"\nname_ja = \"厚生労働省\"\nname_en = \"Ministry of Health, Labour and Welfare\"\nquic = \"127.0.0.1:{}\"\n\n",
        ports[0].1
    ));
    for (i, (id, ja, en, code)) in CENTRES.iter().enumerate() {
        directory.push_str(&format!(
            "[[node]]\nid = \"{id}\"\nkind = \"health-centre\"\nname_ja = \"{ja}\"\nname_en = \"{en}\"\nquic = \"127.0.0.1:{}\"\nmunicipalities = [\"{code}\"]\n\n",
            ports[i + 1].1
        ));
    }
    std::fs::write(dir.join("directory.toml"), directory)?;
    let mut demo = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let node_dir = dir.join("nodes").join(id);
        let certs = node_dir.join("certs");
        std::fs::create_dir_all(&certs)?;
        let issued = ca.issue(id, 365)?;
        std::fs::write(certs.join("node.pem"), &issued.cert_pem)?;
        renkei_ca::keyfile::write_private(&certs.join("node.key"), issued.key_pem.as_bytes())?;
        let mut config = Config::new(id);
        config.kind = if *id == NATIONAL {
            NodeKind::National
        } else {
            NodeKind::HealthCentre
        };
        config.http.listen = SocketAddr::from(([127, 0, 0, 1], ports[i].0));
        config.federation = Some(FederationConfig {
            quic_listen: SocketAddr::from(([127, 0, 0, 1], ports[i].1)),
            directory: PathBuf::from("../../directory.toml"),
            certificate: PathBuf::from("certs/node.pem"),
            key: PathBuf::from("certs/node.key"),
            ca: PathBuf::from("../../ca/ca.pem"),
            crl: PathBuf::from("../../federation.crl"),
            max_backoff: Duration::from_secs(10),
            crl_check_interval: Duration::from_secs(10),
            person_key: Some(PathBuf::from("../../person.key")),
            auto_accept_transfers_from: Vec::new(),
        });
        std::fs::write(node_dir.join("node.toml"), config.commented_toml())?;
        let admin = cli::init_node(&node_dir.join("node.toml"), None, None, "admin").await?;
        demo.push(DemoUser {
            node: id.to_string(),
            user: admin.user,
            role: "admin".into(),
            organisation: None,
            password: admin.password,
            totp_secret: admin.totp_secret,
        });
    }
    Ok((demo, bound))
}

/// One user of every role on every node.
async fn add_users(states: &[AppState]) -> anyhow::Result<Vec<DemoUser>> {
    let mut demo = Vec::new();
    for state in states {
        let id = state.config.node_id.clone();
        let now = state.clock.now();
        let wanted: Vec<(&str, Role, Option<String>)> = if id == NATIONAL {
            vec![("mhlw", Role::Ministry, None)]
        } else {
            vec![
                ("staff", Role::Staff, None),
                ("doctor", Role::Medical, Some(format!("{id}-clinic"))),
                (
                    "contractor",
                    Role::Contractor,
                    Some(format!("{id}-follow-up")),
                ),
                ("hotel", Role::Facility, Some(format!("{id}-hotel"))),
            ]
        };
        for (user, role, organisation) in wanted {
            let until = role
                .needs_end_date()
                .then(|| japan_date(now) + time::Duration::days(90));
            let request = NewUserRequest {
                id: user.into(),
                role,
                organisation: organisation.clone(),
                until,
            };
            let c = users::add(
                &state.log,
                &Actor::operator(),
                now,
                state.config.kind,
                &id,
                request,
            )
            .await?;
            demo.push(DemoUser {
                node: id.clone(),
                user: c.user,
                role: role.to_string(),
                organisation,
                password: c.password,
                totp_secret: c.totp_secret,
            });
        }
    }
    Ok(demo)
}

const SURNAMES: &[(&str, &str)] = &[
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
];
const GIVEN: &[(&str, &str, &str)] = &[
    ("健", "ケン", "male"),
    ("花子", "ハナコ", "female"),
    ("翔", "ショウ", "male"),
    ("陽菜", "ヒナ", "female"),
    ("大輝", "ダイキ", "male"),
    ("結衣", "ユイ", "female"),
];

/// A few days of synthetic notifications at every centre, a transfer from
/// Minato to Shinjuku and a share from Minato with Setagaya.
async fn seed(states: &[AppState]) -> anyhow::Result<()> {
    let staff = |_: &AppState| SessionUser {
        id: "staff".into(),
        role: Role::Staff,
        organisation: None,
        must_change_password: false,
        token_hash: Vec::new(),
    };
    let centres: Vec<&AppState> = states
        .iter()
        .filter(|s| s.config.node_id != NATIONAL)
        .collect();
    let mut n = 0usize;
    let mut first_minato = None;
    for days_ago in (0..3i64).rev() {
        for state in &centres {
            state.clock.set_offset_seconds(-days_ago * 86_400);
            let code = CENTRES
                .iter()
                .find(|c| c.0 == state.config.node_id)
                .map(|c| c.3)
                .unwrap_or("131032");
            let today = japan_date(state.clock.now());
            for _ in 0..4 + (2 - days_ago as usize) * 2 {
                n += 1;
                let (sn, sk) = SURNAMES[n % SURNAMES.len()];
                let (gn, gk, sex) = GIVEN[(n / SURNAMES.len() + n) % GIVEN.len()];
                let born = time::Date::from_calendar_date(
                    1940 + (n * 7 % 75) as i32,
                    time::Month::try_from((n % 12) as u8 + 1)?,
                    (n % 27) as u8 + 1,
                )?;
                let body = serde_json::json!({
                    "disease": "covid-19", "diagnosis_class": "confirmed",
                    "name": format!("{sn} {gn}"), "name_kana": format!("{sk} {gk}"), "sex": sex,
                    "date_of_birth": born.to_string(),
                    "place_of_stay": {"municipality_code": code, "address": format!("試験用住所 {n}")},
                    "tests": [{"method": if n.is_multiple_of(3) { "antigen_qualitative" } else { "pcr" }, "specimen": "nasopharyngeal_swab",
                               "collected_on": (today - time::Duration::days(1)).to_string(), "result": "positive"}],
                    "phone": format!("090-0000-{:04}", n),
                });
                let id = crate::api::register_notification(state, &staff(state), &body)
                    .await
                    .map_err(|e| anyhow::anyhow!("seeding: {}", e.message))?;
                if state.config.node_id == CENTRES[0].0 && first_minato.is_none() {
                    first_minato = Some(id);
                }
            }
        }
    }
    for state in &centres {
        state.clock.set_offset_seconds(0);
    }
    let (Some(case_id), Some(minato)) = (
        first_minato,
        centres.iter().find(|s| s.config.node_id == CENTRES[0].0),
    ) else {
        return Ok(());
    };
    let now = minato.clock.now();
    let actor = staff(minato).actor();
    let audit =
        |action: &str| vec![AuditEntry::new(now, &actor, action, Outcome::Allowed).case(&case_id)];
    let share = Change::GrantShare {
        share_id: Uuid::now_v7(),
        case_id: case_id.clone(),
        to: CENTRES[2].0.into(),
        purpose: "follow_up".into(),
        me: CENTRES[0].0.into(),
        message_id: Uuid::now_v7(),
    };
    minato
        .submit(Command::new(now, "staff", share), audit("case.share.grant"))
        .await
        .map_err(|e| anyhow::anyhow!("seeding: {}", e.message))?;
    let other =
        sqlx::query_scalar::<_, String>("SELECT id FROM cases WHERE id != ? ORDER BY id LIMIT 1")
            .bind(&case_id)
            .fetch_one(&minato.pool)
            .await?;
    let transfer_id = Uuid::now_v7();
    let offer = Change::OfferTransfer {
        transfer_id,
        case_id: other,
        me: CENTRES[0].0.into(),
        to: CENTRES[1].0.into(),
        reason: Some("自宅療養先が新宿区".into()),
        message_id: Uuid::now_v7(),
    };
    minato
        .submit(
            Command::new(now, "staff", offer),
            audit("case.transfer.offer"),
        )
        .await
        .map_err(|e| anyhow::anyhow!("seeding: {}", e.message))?;
    // Shinjuku accepts once the offer is there.
    let shinjuku = centres
        .iter()
        .find(|s| s.config.node_id == CENTRES[1].0)
        .expect("Shinjuku");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let arrived: Option<String> =
            sqlx::query_scalar("SELECT id FROM transfers WHERE id = ? AND direction = 'in'")
                .bind(transfer_id.to_string())
                .fetch_optional(&shinjuku.pool)
                .await?;
        if arrived.is_some() {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the seeded transfer offer did not reach Shinjuku"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let accept = Change::AnswerTransfer {
        transfer_id: transfer_id.to_string(),
        accepted: true,
        reason: None,
        me: CENTRES[1].0.into(),
        message_id: Uuid::now_v7(),
    };
    shinjuku
        .submit(
            Command::new(shinjuku.clock.now(), "staff", accept),
            Vec::new(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("seeding: {}", e.message))?;
    Ok(())
}

/// Runs until Ctrl-C or SIGTERM.
pub async fn up(dir: &Path, port_base: u16, json: bool) -> anyhow::Result<()> {
    let credentials_path = dir.join("credentials.json");
    let fresh = !credentials_path.exists();
    let (mut demo, bound) = if fresh {
        if config_path(dir, NATIONAL).exists() {
            anyhow::bail!(
                "{} holds an unfinished federation; remove it to start afresh",
                dir.display()
            );
        }
        create(dir, port_base).await?
    } else {
        (
            serde_json::from_slice(&std::fs::read(&credentials_path)?)?,
            None,
        )
    };
    let mut bound = bound.map(Vec::into_iter);
    let mut states = Vec::new();
    let mut listeners = Vec::new();
    for id in node_ids() {
        let config = Config::load(&config_path(dir, id))?;
        let (listener, quic) = match bound.as_mut().and_then(Iterator::next) {
            Some(ports) => {
                ports.http.set_nonblocking(true)?;
                (
                    tokio::net::TcpListener::from_std(ports.http)?,
                    Some(ports.quic),
                )
            }
            None => (
                tokio::net::TcpListener::bind(config.http.listen)
                    .await
                    .with_context(|| format!("binding {} for {id}", config.http.listen))?,
                None,
            ),
        };
        listeners.push(listener);
        states.push(
            server::open_on(config, Clock::default(), quic)
                .await
                .with_context(|| format!("starting {id}"))?,
        );
    }
    if fresh {
        demo.extend(add_users(&states).await?);
        seed(&states).await?;
        renkei_ca::keyfile::write_private(&credentials_path, &serde_json::to_vec_pretty(&demo)?)?;
    }
    let nodes: Vec<NodeInfo> = states
        .iter()
        .zip(&listeners)
        .map(|(s, l)| NodeInfo {
            id: s.config.node_id.clone(),
            kind: if s.config.kind == NodeKind::National {
                "national"
            } else {
                "health-centre"
            },
            url: format!("http://{}", l.local_addr().expect("bound")),
        })
        .collect();
    let credentials_file = credentials_path.display().to_string();
    if json {
        println!(
            "{}",
            serde_json::json!({ "nodes": nodes, "users": demo, "credentials_file": credentials_file })
        );
    } else {
        println!(
            "Renkei is running: a national node and {} health centres, talking QUIC with mutual TLS.",
            CENTRES.len()
        );
        for n in &nodes {
            println!("  {:<9} {:<14} {}", n.id, n.kind, n.url);
        }
        println!(
            "First-login credentials (set your own password at first login; add the TOTP secret"
        );
        println!("to an authenticator app), also in {credentials_file}:");
        for u in &demo {
            println!(
                "  {:<9} {:<11} {:<10} password {}  TOTP {}",
                u.node, u.user, u.role, u.password, u.totp_secret
            );
        }
        println!("Statistics: {}/stats — stop with Ctrl-C.", nodes[0].url);
    }
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut servers = Vec::new();
    for (state, listener) in states.into_iter().zip(listeners) {
        let mut rx = stop.subscribe();
        servers.push(tokio::spawn(server::run(listener, state, async move {
            let _ = rx.recv().await;
        })));
    }
    cli::shutdown_signal().await;
    let _ = stop.send(());
    for server in servers {
        server.await??;
    }
    Ok(())
}
