//! "Steady" RSS that is steady: sampled until it stops moving, not read after a fixed pause.
//!
//! A fixed pause reads the agent while it may still be draining its uplink and before its
//! allocator has returned a wave's memory, which overstates it. So each process's VmRSS is
//! sampled every
//! [`SAMPLE_EVERY`]; it is steady once the trailing [`WINDOW`] of samples spans less than
//! [`TOLERANCE`] of their median, and that median is reported. After [`CAP`] the last
//! window's median is reported as not settled.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::procs::Proc;

pub const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// 15 samples: 30 s.
pub const WINDOW: usize = 15;
/// Largest spread (max − min) of a steady window, as a fraction of its median.
pub const TOLERANCE: f64 = 0.02;
pub const CAP: Duration = Duration::from_secs(300);

/// One process's steady RSS.
#[derive(Debug, Clone, Copy)]
pub struct Steady {
    /// Median VmRSS of the window, KiB.
    pub kib: u64,
    /// When the window first met [`TOLERANCE`]; `None` if it never did within [`CAP`].
    pub settled_after: Option<Duration>,
    /// Spread of the window, as a fraction of its median.
    pub spread: f64,
}

/// The trailing window of one process's samples.
#[derive(Default)]
struct Window(VecDeque<u64>);

impl Window {
    fn push(&mut self, kib: u64) {
        self.0.push_back(kib);
        if self.0.len() > WINDOW {
            self.0.pop_front();
        }
    }

    /// `(median, spread)` of what is held.
    fn stats(&self) -> (u64, f64) {
        let mut sorted: Vec<u64> = self.0.iter().copied().collect();
        sorted.sort_unstable();
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0);
        let spread = match (sorted.first(), sorted.last()) {
            (Some(min), Some(max)) if median > 0 => (max - min) as f64 / median as f64,
            _ => f64::INFINITY,
        };
        (median, spread)
    }

    fn is_full(&self) -> bool {
        self.0.len() == WINDOW
    }
}

/// Samples every process in `procs` until each is steady (or [`CAP`]), calling `pause`
/// between samples (the bench keeps draining its collector meanwhile), and prints each
/// result under `point`.
pub async fn measure(
    point: &str,
    procs: &[&Proc],
    mut pause: impl AsyncFnMut(Duration),
) -> Vec<Steady> {
    let started = Instant::now();
    let mut windows: Vec<Window> = procs.iter().map(|_| Window::default()).collect();
    let mut results: Vec<Option<Steady>> = vec![None; procs.len()];
    loop {
        for ((proc, window), result) in procs.iter().zip(&mut windows).zip(&mut results) {
            if result.is_some() {
                continue;
            }
            window.push(proc.rss_kib().0);
            let (kib, spread) = window.stats();
            if window.is_full() && spread < TOLERANCE {
                *result = Some(Steady {
                    kib,
                    settled_after: Some(started.elapsed()),
                    spread,
                });
            }
        }
        if results.iter().all(Option::is_some) || started.elapsed() >= CAP {
            break;
        }
        pause(SAMPLE_EVERY).await;
    }
    let results: Vec<Steady> = results
        .into_iter()
        .zip(&windows)
        .map(|(result, window)| {
            result.unwrap_or_else(|| {
                let (kib, spread) = window.stats();
                Steady {
                    kib,
                    settled_after: None,
                    spread,
                }
            })
        })
        .collect();
    for (proc, steady) in procs.iter().zip(&results) {
        let how = match steady.settled_after {
            Some(after) => format!("steady after {:.0} s", after.as_secs_f64()),
            None => format!("NOT steady within {} s", CAP.as_secs()),
        };
        println!(
            "{point}: {} {:.1} MiB ({:.1} MB), median of {} samples {} s apart spanning {:.1}%: {how}",
            proc.label,
            steady.kib as f64 / 1024.0,
            steady.kib as f64 * 1024.0 / 1e6,
            WINDOW,
            SAMPLE_EVERY.as_secs(),
            steady.spread * 100.0,
        );
    }
    results
}
