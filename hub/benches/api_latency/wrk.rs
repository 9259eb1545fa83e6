//! The load from `wrk` (`KW_CLIENT=wrk`, Debian package `wrk`) instead of the in-process
//! HTTP client: one wrk thread in its own process holds the connections, so the hub's
//! latencies no longer include a Rust HTTP client's work on the same runtime. Each endpoint
//! gets a Lua script that cycles through pre-drawn random paths with the bearer token.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

/// What wrk measured for one endpoint.
pub struct WrkRun {
    /// p50, p90, p99 in ms.
    pub quantiles_ms: [f64; 3],
    pub requests_per_s: f64,
    pub requests: u64,
    /// Response bytes (headers and bodies) per second.
    pub bytes_per_s: f64,
}

/// Drives `paths` (cycled in order) at `base` from `concurrency` connections: a warm-up run,
/// then `run` measured. Any answer but 2xx stops the bench.
pub fn drive(
    base: &str,
    token: &str,
    paths: &[String],
    concurrency: usize,
    (warmup, run): (Duration, Duration),
) -> WrkRun {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("paths.lua");
    let mut lua = String::from("wrk.headers[\"Authorization\"] = \"Bearer ");
    lua.push_str(token);
    lua.push_str("\"\npaths = {\n");
    for path in paths {
        let _ = writeln!(lua, "  \"{path}\",");
    }
    lua.push_str(
        "}\ni = 0\nrequest = function()\n  i = i % #paths + 1\n  \
         return wrk.format(\"GET\", paths[i])\nend\n",
    );
    std::fs::write(&script, lua).unwrap();
    let wrk = |seconds: Duration| {
        let out = Command::new("wrk")
            .args(["-t1", &format!("-c{concurrency}")])
            .arg(format!("-d{}s", seconds.as_secs().max(1)))
            .args(["--latency", "--timeout", "10s", "-s"])
            .arg(&script)
            .arg(base)
            .output()
            .expect("wrk (apt-get install wrk)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "wrk failed: {text}");
        assert!(!text.contains("Non-2xx"), "non-2xx answers: {text}");
        assert!(!text.contains("Socket errors"), "socket errors: {text}");
        text
    };
    if !warmup.is_zero() {
        wrk(warmup);
    }
    parse(&wrk(run))
}

/// Reads wrk's `--latency` report.
fn parse(text: &str) -> WrkRun {
    let field = |prefix: &str| -> Option<&str> {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    let ms = |value: &str| -> f64 {
        let (n, unit) = number_and_unit(value);
        match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            "m" => n * 60_000.0,
            other => panic!("unknown unit {other:?} in {text}"),
        }
    };
    let quantile = |q: &str| ms(field(q).unwrap_or_else(|| panic!("no {q} in {text}")));
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let bytes_per_s = field("Transfer/sec:").map_or(0.0, |v| {
        let (n, unit) = number_and_unit(v);
        n * match unit {
            "KB" => 1024.0,
            "MB" => 1024.0 * 1024.0,
            "GB" => 1024.0 * 1024.0 * 1024.0,
            _ => 1.0,
        }
    });
    WrkRun {
        quantiles_ms: [quantile("50%"), quantile("90%"), quantile("99%")],
        requests_per_s: field("Requests/sec:").unwrap().parse().unwrap(),
        requests,
        bytes_per_s,
    }
}

/// A quantity as wrk prints it, a number and a unit (`1.25ms`, `3.10MB`), split.
fn number_and_unit(value: &str) -> (f64, &str) {
    let (number, unit) = value.split_at(value.find(|c: char| c.is_alphabetic()).unwrap());
    (number.parse().unwrap(), unit)
}
