//! Starts one throwaway PostgreSQL for a whole test run (see `tests/run.sh`).
//!
//! Prints `DATABASE_URL=<admin url>` once the server is ready, then runs until SIGTERM/SIGINT
//! or until its standard input closes, and stops the server on the way out.

use anyhow::Result;
use kubeworkz_testkit::postgres::PostgresServer;
use tokio::io::AsyncReadExt;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let server = PostgresServer::start().await?;
    println!("DATABASE_URL={}", server.admin_url());
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    let stdin_closed = async { while stdin.read(&mut buf).await.unwrap_or(0) > 0 {} };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        () = stdin_closed => {}
    }
    drop(server);
    Ok(())
}
