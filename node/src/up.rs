//! `renkei up`: one command that starts a health-centre node on this
//! machine for someone trying Renkei, with one user per role. Running it
//! again resumes the same node.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::audit::Actor;
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::{Role, japan_date};
use crate::users::{self, Credentials, NewUserRequest};
use crate::{cli, server};

/// The demo centre: Minato ward's health centre (港区みなと保健所).
pub const DEMO_NODE: &str = "hc-13103";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoUser {
    pub user: String,
    pub role: String,
    pub organisation: Option<String>,
    pub password: String,
    pub totp_secret: String,
}

#[derive(Debug, Serialize)]
struct Ready<'a> {
    nodes: Vec<NodeInfo<'a>>,
    users: &'a [DemoUser],
    credentials_file: String,
}

#[derive(Debug, Serialize)]
struct NodeInfo<'a> {
    id: &'a str,
    kind: &'a str,
    url: String,
}

const DEMO_USERS: &[(&str, Role, Option<&str>)] = &[
    ("staff", Role::Staff, None),
    ("doctor", Role::Medical, Some("minato-clinic")),
    ("contractor", Role::Contractor, Some("follow-up-co")),
    ("hotel", Role::Facility, Some("hotel-shiba")),
];

fn demo_user(c: &Credentials, organisation: Option<&str>) -> DemoUser {
    DemoUser {
        user: c.user.clone(),
        role: c.role.to_string(),
        organisation: organisation.map(Into::into),
        password: c.password.clone(),
        totp_secret: c.totp_secret.clone(),
    }
}

/// Creates the demo node and its users if `dir` holds none yet.
async fn prepare(dir: &Path, http: SocketAddr) -> anyhow::Result<(PathBuf, Vec<DemoUser>)> {
    let config_path = dir.join(DEMO_NODE).join("node.toml");
    let credentials_path = dir.join("credentials.json");
    if config_path.exists() {
        let text = std::fs::read(&credentials_path).with_context(|| {
            format!(
                "{} is missing; remove {} to start afresh",
                credentials_path.display(),
                dir.display()
            )
        })?;
        return Ok((config_path, serde_json::from_slice(&text)?));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let admin = cli::init_node(&config_path, Some(DEMO_NODE), Some(http), "admin").await?;
    let config = Config::load(&config_path)?;
    let state = server::open(config.clone(), Clock::default()).await?;
    let mut demo = vec![demo_user(&admin, None)];
    let now = state.clock.now();
    for (id, role, organisation) in DEMO_USERS {
        let until = role
            .needs_end_date()
            .then(|| japan_date(now) + time::Duration::days(90));
        let request = NewUserRequest {
            id: id.to_string(),
            role: *role,
            organisation: organisation.map(Into::into),
            until,
        };
        let credentials = users::add(
            &state.log,
            &Actor::operator(),
            now,
            config.kind,
            &config.node_id,
            request,
        )
        .await?;
        demo.push(demo_user(&credentials, *organisation));
    }
    state.pool.close().await;
    renkei_ca::keyfile::write_private(&credentials_path, &serde_json::to_vec_pretty(&demo)?)?;
    Ok((config_path, demo))
}

/// Runs until Ctrl-C or SIGTERM.
pub async fn up(dir: &Path, http: SocketAddr, json: bool) -> anyhow::Result<()> {
    let (config_path, demo) = prepare(dir, http).await?;
    let mut config = Config::load(&config_path)?;
    // The address asked for now wins over the one stored at first run.
    config.http.listen = http;
    let listener = tokio::net::TcpListener::bind(http)
        .await
        .with_context(|| format!("binding {http}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    let state = server::open(config, Clock::default()).await?;
    let credentials_file = dir.join("credentials.json").display().to_string();
    if json {
        let ready = Ready {
            nodes: vec![NodeInfo {
                id: DEMO_NODE,
                kind: "health-centre",
                url,
            }],
            users: &demo,
            credentials_file,
        };
        println!("{}", serde_json::to_string(&ready)?);
    } else {
        println!("Renkei is running: health centre {DEMO_NODE} at {url}");
        println!("First-login credentials (each user sets their own password at first login;");
        println!("add the TOTP secret to an authenticator app), also in {credentials_file}:");
        for u in &demo {
            println!(
                "  {:<11} {:<10} password {}  TOTP secret {}",
                u.user, u.role, u.password, u.totp_secret
            );
        }
        println!("API description: {url}/api/v1/openapi.json — stop with Ctrl-C.");
    }
    server::run(listener, state, cli::shutdown_signal()).await
}
