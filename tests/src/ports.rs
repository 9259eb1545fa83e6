//! Listening ports for test-cluster components, reserved across every test process.
//!
//! A cluster's components bind their ports seconds after the ports are chosen (metrics-server
//! last of all), so "bind port 0, read the port, close" is not enough: nextest runs test
//! binaries in parallel, and another process's cluster could be handed the same port in that
//! gap, and a client socket can take any port of the ephemeral range as its source port. CI
//! once lost a run that way (metrics-server's port served another cluster's plain HTTP).
//!
//! So ports come from below the kernel's ephemeral range, where neither `bind(0)` nor an
//! outgoing connection will pick them, and each is held by an exclusive `flock` on a file in
//! a shared directory for as long as its cluster lives. The kernel drops the lock when the
//! process dies, so a crashed test leaves nothing stale behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::net::TcpListener;
use std::ops::Range;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use rand::Rng;

/// A port this process holds until the reservation is dropped.
#[derive(Debug)]
pub struct PortReservation {
    port: u16,
    _lock: File,
}

impl PortReservation {
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Reserves `n` distinct ports that are free now and that no other test process will be given
/// while the reservations live.
pub fn reserve(n: usize) -> Result<Vec<PortReservation>> {
    let dir = std::env::temp_dir().join("kubeworkz-ports");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let range = candidate_range();
    let mut rng = rand::rng();
    let mut out = Vec::with_capacity(n);
    // Listeners are held until every port is chosen, so this process cannot pick one twice.
    let mut listeners = Vec::with_capacity(n);
    let mut attempts = 0;
    while out.len() < n {
        attempts += 1;
        if attempts > 10_000 {
            bail!("no free port in {range:?} after 10000 attempts");
        }
        let port = rng.random_range(range.clone());
        let Some(lock) = try_lock(dir.join(port.to_string()))? else {
            continue;
        };
        let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) else {
            continue;
        };
        listeners.push(listener);
        out.push(PortReservation { port, _lock: lock });
    }
    Ok(out)
}

/// An exclusive `flock` on `path` (created if missing), held while the returned file lives and
/// dropped by the kernel if this process dies; `None` when another process holds it.
pub fn try_lock(path: PathBuf) -> Result<Option<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// Ports below the ephemeral range (`net.ipv4.ip_local_port_range`), above the well-known and
/// commonly configured service ports.
fn candidate_range() -> Range<u16> {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<u16>().ok())
        })
        .unwrap_or(32768);
    if ephemeral_low > 20_000 {
        // 10000..ephemeral: well clear of PostgreSQL (5432), dev servers and the like.
        10_000..ephemeral_low
    } else {
        // An unusual machine whose ephemeral range starts low: use the space above it.
        61_000..65_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_distinct_and_exclusive() {
        let held = reserve(20).unwrap();
        let mut ports: Vec<u16> = held.iter().map(PortReservation::port).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 20);
        let dir = std::env::temp_dir().join("kubeworkz-ports");
        for p in &ports {
            // A second open file description of the same lock file cannot take the lock.
            assert!(try_lock(dir.join(p.to_string())).unwrap().is_none());
            assert!(candidate_range().contains(p));
        }
        drop(held);
        assert!(try_lock(dir.join(ports[0].to_string())).unwrap().is_some());
    }
}
