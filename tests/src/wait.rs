//! Waiting for a real system to reach a state: tests poll what they observe instead of
//! sleeping a guessed time, and a timeout names what was awaited and what was seen last.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// Polls `f` until it returns `Ok(Some(_))`; on timeout fails with the last `Err`/observation.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last = String::from("(no observation)");
    loop {
        match f().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = format!("{e:#}"),
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}; last: {last}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
