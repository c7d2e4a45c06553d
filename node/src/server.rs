//! Running a node: open the store, start the command log, serve HTTP until
//! told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::api::AppState;
use crate::auth::throttle::LoginThrottle;
use crate::clock::Clock;
use crate::config::Config;
use crate::federation::Federation;
use crate::log::LocalLog;
use crate::store;

/// A node's state, ready to serve.
pub async fn open(config: Config, clock: Clock) -> anyhow::Result<AppState> {
    open_on(config, clock, None).await
}

/// As [`open`], with QUIC on a UDP socket the caller bound already at the
/// config's `quic_listen` address. A caller that picks free ports itself
/// (`renkei up --port-base 0`, the test harness) keeps each port bound from
/// the moment it is chosen, so no other program can take it in between.
pub async fn open_on(
    config: Config,
    clock: Clock,
    quic: Option<std::net::UdpSocket>,
) -> anyhow::Result<AppState> {
    // Checked before the database is opened, so a mistake here leaves nothing behind.
    if let Some(socket) = &quic {
        let Some(federation) = &config.federation else {
            anyhow::bail!("a QUIC socket was handed over, but the config has no [federation]");
        };
        let bound = socket
            .local_addr()
            .context("reading the QUIC socket's address")?;
        anyhow::ensure!(
            bound == federation.quic_listen,
            "the QUIC socket handed over is bound to {bound}, but federation.quic_listen is {}",
            federation.quic_listen
        );
    }
    let path = config.database_path();
    let pool = store::open(&path).await?;
    let log = LocalLog::start(store::open_writer(&path).await?).await?;
    let federation = match &config.federation {
        Some(f) => Some(
            Federation::start(
                &config.node_id,
                config.kind,
                f,
                quic,
                pool.clone(),
                log.clone(),
                clock.clone(),
            )
            .await?,
        ),
        None => None,
    };
    Ok(AppState {
        pool,
        log,
        config: Arc::new(config),
        throttle: Arc::new(LoginThrottle::default()),
        clock,
        federation,
    })
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = crate::web::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    if let Some(federation) = &state.federation {
        federation.shutdown().await;
    }
    state.pool.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::federation::FederationConfig;

    async fn refusal(config: &Config, socket: std::net::UdpSocket) -> String {
        match open_on(config.clone(), Clock::default(), Some(socket)).await {
            Ok(_) => panic!("a mismatched QUIC socket was accepted"),
            Err(e) => e.to_string(),
        }
    }

    fn federation_at(quic_listen: SocketAddr) -> FederationConfig {
        FederationConfig {
            quic_listen,
            directory: "directory.toml".into(),
            certificate: "node.pem".into(),
            key: "node.key".into(),
            ca: "ca.pem".into(),
            crl: "federation.crl".into(),
            max_backoff: Duration::from_secs(1),
            crl_check_interval: Duration::from_secs(1),
            person_key: None,
            auto_accept_transfers_from: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_quic_socket_that_does_not_match_the_config_is_refused_before_anything_opens() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new("hc-13103");
        config.data_dir = dir.path().join("data");
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let bound = socket.local_addr().unwrap();
        let elsewhere = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        config.federation = Some(federation_at(elsewhere.local_addr().unwrap()));
        let err = refusal(&config, socket.try_clone().unwrap()).await;
        assert!(
            err.contains(&bound.to_string()) && err.contains("federation.quic_listen"),
            "{err}"
        );
        config.federation = None;
        let err = refusal(&config, socket).await;
        assert!(err.contains("no [federation]"), "{err}");
        assert!(
            !config.data_dir.exists(),
            "nothing was created for a refused start"
        );
    }
}
