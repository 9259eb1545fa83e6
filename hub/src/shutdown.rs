//! One shutdown signal for the whole hub.
//!
//! Every long-running task (HTTP server, QUIC endpoint, workers) holds a clone of [`Shutdown`]
//! and stops when it fires, so SIGTERM drains everything in one place instead of each task
//! growing its own signal handling.

use tokio_util::sync::CancellationToken;

/// A cloneable handle to the hub's single shutdown signal.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(CancellationToken);

impl Shutdown {
    /// A fresh signal that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fires the signal; every waiter wakes.
    pub fn trigger(&self) {
        self.0.cancel();
    }

    /// Whether the signal has fired.
    pub fn is_triggered(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Completes once the signal fires.
    pub async fn wait(&self) {
        self.0.cancelled().await;
    }

    /// Fires the signal on SIGTERM or SIGINT (Ctrl-C). Runs until one arrives.
    pub async fn trigger_on_signals(self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
            () = self.wait() => return Ok(()),
        };
        tracing::info!(signal = name, "shutting down");
        self.trigger();
        Ok(())
    }
}
