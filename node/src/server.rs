//! Running a node: open the store, start the command log, serve HTTP until
//! told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

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
    let path = config.database_path();
    let pool = store::open(&path).await?;
    let log = LocalLog::start(store::open_writer(&path).await?).await?;
    let federation = match &config.federation {
        Some(f) => Some(
            Federation::start(
                &config.node_id,
                config.kind,
                f,
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
