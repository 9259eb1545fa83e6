//! `kubeworkz-hub serve`: open the store, serve the API, stop cleanly on the shutdown signal.

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::ServeConfig;
use crate::shutdown::Shutdown;
use crate::state::AppState;
use crate::{api, store};

/// Runs the hub until `shutdown` fires, then drains in-flight requests and closes the store.
///
/// Separate from `main` so that tests run the real server in-process.
pub async fn serve(config: ServeConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let store = store::connect(&config.database_url)
        .await
        .with_context(|| format!("opening the database {}", config.database_url))?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding the API listener on {}", config.listen))?;
    let local = listener
        .local_addr()
        .context("reading the API listener address")?;
    tracing::info!(
        listen = %local,
        database = %config.database_url,
        version = kubeworkz_shared::VERSION,
        "kubeworkz hub listening"
    );

    let state = AppState {
        store: store.clone(),
    };
    let app = api::router(state);
    let drain = shutdown.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { drain.wait().await })
        .await
        .context("serving the API")?;

    store.close().await;
    tracing::info!("hub stopped cleanly");
    Ok(())
}
