//! Test harness: real nodes on port 0 in temporary directories, driven over
//! real HTTP.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};

use renkei_node::api::AppState;
use renkei_node::audit::Actor;
use renkei_node::auth::totp;
use renkei_node::clock::Clock;
use renkei_node::config::Config;
use renkei_node::domain::Role;
use renkei_node::users::{self, Credentials, NewUserRequest};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::{Date, OffsetDateTime};

/// The password every test user sets after first login.
pub const PASSWORD: &str = "synthetic-test-password";

pub mod browser;
pub mod federation;

/// How far every test node's clock runs ahead of (or behind) real time:
/// it starts at 12:00 in Japan on the day the test run began. Days in Japan
/// turn at 15:00 UTC; a test that started before that and asked a node for
/// "today" after it would see two different days, and ages and statistics
/// windows would shift with it. From midday the next day is twelve hours of
/// running away, and every node of the run (and the test) sees the same day.
/// The offset is chosen once per run, so all nodes' clocks agree.
fn midday_offset_seconds() -> i64 {
    static OFFSET: OnceLock<i64> = OnceLock::new();
    *OFFSET.get_or_init(|| {
        let now = OffsetDateTime::now_utc();
        let midday = renkei_node::domain::japan_date(now)
            .with_time(time::macros::time!(12:00))
            .assume_offset(renkei_node::domain::JAPAN);
        (midday - now).whole_seconds()
    })
}

/// A clock for a test node: midday in Japan today (see
/// [`midday_offset_seconds`]), moving on in real time from there.
pub fn midday_clock() -> Clock {
    let clock = Clock::default();
    clock.set_offset_seconds(midday_offset_seconds());
    clock
}

/// A running node.
pub struct TestNode {
    pub dir: tempfile::TempDir,
    pub config_path: std::path::PathBuf,
    pub addr: SocketAddr,
    pub state: AppState,
    pub clock: Clock,
    pub admin: Credentials,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    /// The highest TOTP step each user has used, so each login uses a fresh code.
    totp_steps: Mutex<HashMap<String, i64>>,
    /// A copy of the QUIC socket, kept so that the port stays reserved for
    /// this node while it is stopped.
    quic: Option<std::net::UdpSocket>,
}

impl TestNode {
    /// Starts a health-centre node.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start_on(adjust, None).await
    }

    /// Starts a node whose QUIC runs on `quic`, a socket bound already at the
    /// config's `federation.quic_listen`. The node keeps a copy of it while
    /// stopped, so the port stays its own for a restart.
    pub async fn start_on(
        adjust: impl FnOnce(&mut Config),
        quic: Option<std::net::UdpSocket>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("node.toml");
        let mut config = Config::new("hc-13103");
        config.http.listen = "127.0.0.1:0".parse().unwrap();
        adjust(&mut config);
        std::fs::write(&config_path, config.commented_toml()).unwrap();
        let admin = renkei_node::cli::init_node(&config_path, None, None, "admin")
            .await
            .expect("init");
        Self::launch(dir, admin, midday_clock(), quic).await
    }

    /// Starts a node again on the directory (config and database) of one
    /// that was stopped with [`TestNode::stop_keeping_data`].
    pub async fn restart(stopped: StoppedNode) -> Self {
        Self::launch(stopped.dir, stopped.admin, stopped.clock, stopped.quic).await
    }

    async fn launch(
        dir: tempfile::TempDir,
        admin: Credentials,
        clock: Clock,
        quic: Option<std::net::UdpSocket>,
    ) -> Self {
        let config_path = dir.path().join("node.toml");
        let config = Config::load(&config_path).unwrap();
        let listener = tokio::net::TcpListener::bind(config.http.listen)
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let for_node = quic
            .as_ref()
            .map(|s| s.try_clone().expect("a copy of the QUIC socket"));
        let state = renkei_node::server::open_on(config, clock.clone(), for_node)
            .await
            .expect("open node");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn({
            let state = state.clone();
            async move {
                renkei_node::server::run(listener, state, async {
                    let _ = rx.await;
                })
                .await
                .expect("server");
            }
        });
        Self {
            dir,
            config_path,
            addr,
            state,
            clock,
            admin,
            shutdown: Some(tx),
            server: Some(server),
            totp_steps: Mutex::new(HashMap::new()),
            quic,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn database_path(&self) -> std::path::PathBuf {
        self.dir.path().join("data").join("node.db")
    }

    /// A fresh TOTP code this user has not used yet; moves the node's clock
    /// on by a step when the codes around now are used up.
    pub fn next_totp(&self, user: &str, secret: &str) -> String {
        let mut steps = self.totp_steps.lock().unwrap();
        let last = steps.get(user).copied().unwrap_or(0);
        let mut now = self.clock.now().unix_timestamp();
        let mut step = totp::step_at(now);
        if step <= last {
            if last < step + 1 {
                step = last + 1;
            } else {
                self.clock.advance(std::time::Duration::from_secs(30));
                now = self.clock.now().unix_timestamp();
                step = totp::step_at(now).max(last + 1);
            }
        }
        steps.insert(user.to_string(), step);
        let secret = totp::decode_secret(secret).unwrap();
        totp::code_for_step(&secret, step)
    }

    /// Adds a user as the operator would.
    pub async fn add_user(
        &self,
        id: &str,
        role: Role,
        organisation: Option<&str>,
        until: Option<Date>,
    ) -> Credentials {
        let request = NewUserRequest {
            id: id.into(),
            role,
            organisation: organisation.map(Into::into),
            until,
        };
        users::add(
            &self.state.log,
            &Actor::operator(),
            self.clock.now(),
            self.state.config.kind,
            "test",
            request,
        )
        .await
        .expect("add user")
    }

    /// Logs in with the one-time password, sets [`PASSWORD`], returns a client.
    pub async fn enrol(&self, credentials: &Credentials) -> Client {
        let client = Client::new(self);
        let code = self.next_totp(&credentials.user, &credentials.totp_secret);
        let (status, body) = client
            .send(Method::POST, "/api/v1/login", Some(json!({"user": credentials.user, "password": credentials.password, "totp": code})))
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "first login of {}: {body}",
            credentials.user
        );
        assert_eq!(body["must_change_password"], true);
        let client = client.with_token(body["token"].as_str().unwrap());
        let (status, body) = client
            .send(
                Method::POST,
                "/api/v1/password",
                Some(json!({"current": credentials.password, "new": PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "password change: {body}");
        client
    }

    /// A user of `role`, enrolled and logged in.
    pub async fn user(
        &self,
        id: &str,
        role: Role,
        organisation: Option<&str>,
    ) -> (Credentials, Client) {
        let until = (role == Role::Contractor)
            .then(|| renkei_node::domain::japan_date(self.clock.now()) + time::Duration::days(90));
        let credentials = self.add_user(id, role, organisation, until).await;
        let client = self.enrol(&credentials).await;
        (credentials, client)
    }

    /// Logs in an enrolled user again (new session).
    pub async fn login(&self, credentials: &Credentials) -> (StatusCode, Value) {
        let code = self.next_totp(&credentials.user, &credentials.totp_secret);
        Client::new(self)
            .send(
                Method::POST,
                "/api/v1/login",
                Some(json!({"user": credentials.user, "password": PASSWORD, "totp": code})),
            )
            .await
    }

    /// Stops the server and waits for it.
    pub async fn stop(self) {
        self.stop_keeping_data().await;
    }

    /// Stops the node (HTTP, QUIC, database) but keeps its directory.
    pub async fn stop_keeping_data(mut self) -> StoppedNode {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        StoppedNode {
            dir,
            admin: self.admin.clone(),
            clock: self.clock.clone(),
            quic: self.quic.take(),
        }
    }
}

impl StoppedNode {
    pub fn database_path(&self) -> std::path::PathBuf {
        self.dir.path().join("data").join("node.db")
    }
}

/// A stopped node's data, to start it again.
pub struct StoppedNode {
    dir: tempfile::TempDir,
    admin: Credentials,
    pub(crate) clock: Clock,
    quic: Option<std::net::UdpSocket>,
}

/// Waits until `check` returns `Some`, polling; fails after 30 s with `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// An HTTP client bound to one node, optionally with a session token.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    pub token: Option<String>,
}

impl Client {
    pub fn new(node: &TestNode) -> Self {
        Self {
            base: node.url(""),
            http: reqwest::Client::new(),
            token: None,
        }
    }

    /// The same session, at a node's current address (after a restart).
    pub fn at(&self, node: &TestNode) -> Self {
        Self {
            base: node.url(""),
            ..self.clone()
        }
    }

    pub fn with_token(&self, token: &str) -> Self {
        Self {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    /// Sends JSON (or nothing) and returns the status and the JSON body
    /// (`Value::Null` if the body is empty or not JSON).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Sends raw bytes with a content type.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::PUT, path, Some(body)).await
    }
}

/// The minimum notification, with synthetic identity.
pub fn notification() -> Value {
    json!({
        "disease": "covid-19", "diagnosis_class": "confirmed",
        "name": "山田 太郎", "name_kana": "ヤマダ タロウ", "sex": "male", "date_of_birth": "1980-04-01",
        "place_of_stay": {"municipality_code": "131032", "address": "東京都港区芝公園1-1"},
        "tests": [{"method": "pcr", "specimen": "nasopharyngeal_swab", "collected_on": "2026-11-20", "result": "positive"}]
    })
}

/// A notification with a date a few days before the node's today.
pub fn notification_for(node: &TestNode, name: &str, kana: &str) -> Value {
    let today = renkei_node::domain::japan_date(node.clock.now());
    let mut n = notification();
    n["name"] = json!(name);
    n["name_kana"] = json!(kana);
    n["tests"][0]["collected_on"] = json!((today - time::Duration::days(2)).to_string());
    n
}

/// Counts rows in a table of the node's database.
pub async fn count(node: &TestNode, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&node.state.pool)
        .await
        .unwrap()
}
