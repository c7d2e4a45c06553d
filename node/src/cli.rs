//! The `renkei` command line: `node`, `user`, `audit` and `ca` subcommands.
//! The binary only parses arguments and calls [`main`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use time::Date;

use crate::audit::{self, Actor};
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::Role;
use crate::log::LocalLog;
use crate::users::{self, Credentials, NewUserRequest};
use crate::{server, store, time_fmt};

#[derive(Debug, Parser)]
#[command(
    name = "renkei",
    version,
    about = "Renkei: a federated system for public-health centres"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Top,
}

#[derive(Debug, Subcommand)]
pub enum Top {
    /// Start a health-centre node on this machine with one user per role
    /// (again: resume it). Stop with Ctrl-C.
    Up {
        /// Where the federation (CA, directory, every node) is kept.
        #[arg(long, default_value = ".renkei")]
        data_dir: PathBuf,
        /// HTTP ports from here (national first), QUIC from this minus 680;
        /// 0 picks free ports.
        #[arg(long, default_value_t = 8080)]
        port_base: u16,
        /// Print one JSON object once every node is ready.
        #[arg(long)]
        json: bool,
    },
    /// Create and run a node.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Manage a node's users.
    #[command(subcommand)]
    User(UserCommand),
    /// Check a node's audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Run an outage scenario against a federation of real node processes.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Measure a centre, the federation and the national node.
    Bench {
        /// A tiny run that only proves the harness works.
        #[arg(long)]
        quick: bool,
        /// Also write the figures as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Where the federation under test is kept.
        #[arg(long, default_value = "bench-run")]
        out: PathBuf,
        /// Repeat the whole run and report each figure's median (1–20).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
        runs: u32,
    },
    /// The federation's certificate authority.
    #[command(subcommand)]
    Ca(crate::ca_cli::CaCommand),
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Run SCENARIO.toml; exits non-zero if an invariant fails.
    Run {
        scenario: PathBuf,
        /// Where the federation and the report go.
        #[arg(long, default_value = "sim-report")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Create the database and the first admin (writing a default config if FILE is missing).
    Init {
        #[arg(long)]
        config: PathBuf,
        /// The node's id, when a new config is written.
        #[arg(long)]
        node_id: Option<String>,
        /// The HTTP address, when a new config is written.
        #[arg(long)]
        http: Option<SocketAddr>,
        /// The first admin's user id.
        #[arg(long, default_value = "admin")]
        admin: String,
        #[arg(long)]
        json: bool,
    },
    /// Serve the node's HTTP API.
    Run {
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; prints a one-time password and a TOTP secret.
    Add(UserAddArgs),
    /// Disable a user; their sessions end at once.
    Disable {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    #[arg(long)]
    pub config: PathBuf,
    #[arg(long)]
    pub id: String,
    /// admin, staff, medical, contractor, facility (ministry on the national node).
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    #[arg(long)]
    pub organisation: Option<String>,
    /// The last day the account works (YYYY-MM-DD); required for contractors.
    #[arg(long, value_parser = parse_date)]
    pub until: Option<Date>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain; fails if any entry was edited, deleted or reordered.
    Verify {
        #[arg(long)]
        config: PathBuf,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    use crate::domain::WireName;
    Role::from_wire(s).ok_or_else(|| {
        let names: Vec<_> = Role::ALL.iter().map(|r| r.wire_name()).collect();
        format!("unknown role `{s}`; one of: {}", names.join(", "))
    })
}

fn parse_date(s: &str) -> Result<Date, String> {
    time_fmt::parse_date(s).ok_or_else(|| format!("`{s}` is not a date (YYYY-MM-DD)"))
}

/// Writes a commented default config at `path` unless one exists.
pub fn write_default_config(
    path: &Path,
    node_id: Option<&str>,
    http: Option<SocketAddr>,
) -> anyhow::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    let mut config = Config::new(node_id.unwrap_or("hc-local"));
    renkei_ca::node_id::validate(&config.node_id).context("--node-id")?;
    if let Some(http) = http {
        config.http.listen = http;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, config.commented_toml())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(true)
}

/// `renkei node init`: returns the first admin's credentials.
pub async fn init_node(
    config_path: &Path,
    node_id: Option<&str>,
    http: Option<SocketAddr>,
    admin: &str,
) -> anyhow::Result<Credentials> {
    let written = write_default_config(config_path, node_id, http)?;
    let config = Config::load(config_path)?;
    if !written
        && (node_id.is_some_and(|id| id != config.node_id)
            || http.is_some_and(|h| h != config.http.listen))
    {
        bail!(
            "{} exists already; edit it rather than passing --node-id or --http",
            config_path.display()
        );
    }
    let pool = store::open(&config.database_path()).await?;
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&pool)
        .await?;
    if users > 0 {
        bail!("this node is initialised already; add users with `renkei user add`");
    }
    let log = LocalLog::start(store::open_writer(&config.database_path()).await?).await?;
    let request = NewUserRequest {
        id: admin.to_string(),
        role: Role::Admin,
        organisation: None,
        until: None,
    };
    let now = Clock::default().now();
    let credentials = users::add(
        &log,
        &Actor::operator(),
        now,
        config.kind,
        &config.node_id,
        request,
    )
    .await?;
    pool.close().await;
    Ok(credentials)
}

/// `renkei user add`.
pub async fn add_user(args: &UserAddArgs) -> anyhow::Result<Credentials> {
    let config = Config::load(&args.config)?;
    let path = config.database_path();
    if !path.exists() {
        bail!(
            "no database at {}: run `renkei node init` first",
            path.display()
        );
    }
    let log = LocalLog::start(store::open_writer(&path).await?).await?;
    let request = NewUserRequest {
        id: args.id.clone(),
        role: args.role,
        organisation: args.organisation.clone(),
        until: args.until,
    };
    Ok(users::add(
        &log,
        &Actor::operator(),
        Clock::default().now(),
        config.kind,
        &config.node_id,
        request,
    )
    .await?)
}

fn print_credentials(c: &Credentials, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({ "user": c.user, "password": c.password, "totp_secret": c.totp_secret })
        );
    } else {
        println!("user:          {}", c.user);
        println!("role:          {}", c.role);
        println!(
            "password:      {}   (one-time: set your own at first login)",
            c.password
        );
        println!("TOTP secret:   {}", c.totp_secret);
        println!("TOTP URI:      {}", c.totp_uri);
    }
}

pub async fn main(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Top::Up {
            data_dir,
            port_base,
            json,
        } => crate::up::up(&data_dir, port_base, json).await?,
        Top::Node(NodeCommand::Init {
            config,
            node_id,
            http,
            admin,
            json,
        }) => {
            let credentials = init_node(&config, node_id.as_deref(), http, &admin).await?;
            print_credentials(&credentials, json);
        }
        Top::Node(NodeCommand::Run { config }) => {
            let config = Config::load(&config)?;
            let listener = tokio::net::TcpListener::bind(config.http.listen)
                .await
                .with_context(|| format!("binding {}", config.http.listen))?;
            tracing::info!(node = %config.node_id, addr = %listener.local_addr()?, "serving");
            let state = server::open(config, Clock::default()).await?;
            server::run(listener, state, shutdown_signal()).await?;
        }
        Top::User(UserCommand::Add(args)) => {
            let credentials = add_user(&args).await?;
            print_credentials(&credentials, args.json);
        }
        Top::User(UserCommand::Disable { config, id }) => {
            let config = Config::load(&config)?;
            let log = LocalLog::start(store::open_writer(&config.database_path()).await?).await?;
            users::disable(&log, &Actor::operator(), Clock::default().now(), &id).await?;
            println!("disabled {id}");
        }
        Top::Audit(AuditCommand::Verify { config }) => {
            let config = Config::load(&config)?;
            let path = config.database_path();
            if !path.exists() {
                bail!("no database at {}", path.display());
            }
            let pool = store::open(&path).await?;
            match audit::verify(&pool).await? {
                Ok(report) => println!(
                    "audit chain intact: {} entries, head {}",
                    report.entries, report.head_hash
                ),
                Err(broken) => bail!("audit chain broken: {broken}"),
            }
        }
        Top::Ca(command) => crate::ca_cli::run(command)?,
        Top::Bench {
            quick,
            json,
            out,
            runs,
        } => {
            let renkei = std::env::current_exe().context("finding the renkei binary")?;
            if out.exists() {
                bail!("{} exists; give a new --out directory", out.display());
            }
            let sizes = if quick {
                renkei_simulations::bench::Sizes::quick()
            } else {
                renkei_simulations::bench::Sizes::full()
            };
            let mut all = Vec::new();
            for k in 1..=runs {
                let dir = if runs == 1 {
                    out.clone()
                } else {
                    out.join(format!("run-{k}"))
                };
                let figures = renkei_simulations::bench::run(&renkei, &dir, &sizes).await?;
                if runs > 1 {
                    eprintln!(
                        "run {k} of {runs}:\n{}",
                        renkei_simulations::bench::table(&figures)
                    );
                }
                all.push(figures);
            }
            let figures = renkei_simulations::bench::medians(&all);
            print!("{}", renkei_simulations::bench::table(&figures));
            if let Some(path) = json {
                let body = serde_json::json!({ "median": figures, "runs": all });
                std::fs::write(&path, serde_json::to_vec_pretty(&body)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Top::Sim(SimCommand::Run { scenario, out }) => {
            let renkei = std::env::current_exe().context("finding the renkei binary")?;
            if out.exists() {
                bail!("{} exists; give a new --out directory", out.display());
            }
            let outcome = renkei_simulations::run(&scenario, &renkei, &out).await?;
            println!(
                "{}: {} cases, peak backlog {}, report in {}",
                outcome.scenario,
                outcome.cases,
                outcome.peak_backlog,
                out.join("report.md").display()
            );
            for (name, result) in &outcome.invariants {
                match result {
                    Ok(()) => println!("  ok    {name}"),
                    Err(e) => println!("  FAIL  {name}: {e}"),
                }
            }
            if !outcome.passed() {
                bail!("an invariant failed");
            }
        }
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
