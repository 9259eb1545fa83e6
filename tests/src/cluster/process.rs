//! One control-plane process of a test cluster: how to start it again, where its log goes, and
//! killing it for sure.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};

/// A component process (etcd, kube-apiserver, …). Its stdout and stderr are appended to
/// `<cluster dir>/logs/<name>.log`, so a restart keeps the earlier output.
#[derive(Debug)]
pub(crate) struct Component {
    pub name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

/// `setpriv --pdeathsig KILL` (util-linux, in every Debian) makes the kernel kill the component
/// if the test process dies without running destructors (SIGKILL, abort). `setpriv` execs, so the
/// child's pid is the component's. The death signal follows the *thread* that spawned it, which
/// is why components are spawned from the caller's (runtime) thread and never from a
/// `spawn_blocking` thread that may retire while the cluster still runs.
fn setpriv() -> Option<&'static Path> {
    ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
}

impl Component {
    pub(crate) fn new(
        name: &'static str,
        program: PathBuf,
        args: Vec<String>,
        log_dir: &Path,
    ) -> Self {
        Component {
            name,
            program,
            args,
            log: log_dir.join(format!("{name}.log")),
            child: None,
        }
    }

    /// Runs `program` from the next start on (a stopped API server comes back as another
    /// build).
    pub(crate) fn set_program(&mut self, program: PathBuf) {
        self.program = program;
    }

    pub(crate) fn log_path(&self) -> &Path {
        &self.log
    }

    /// Starts the process (no-op if it is running).
    pub(crate) fn start(&mut self) -> Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let mut cmd = match setpriv() {
            Some(sp) => {
                let mut c = Command::new(sp);
                c.arg("--pdeathsig")
                    .arg("KILL")
                    .arg("--")
                    .arg(&self.program);
                c
            }
            None => Command::new(&self.program),
        };
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Nothing in a test cluster may reach beyond loopback through a proxy.
            .env_remove("HTTPS_PROXY")
            .env_remove("HTTP_PROXY")
            .env_remove("https_proxy")
            .env_remove("http_proxy")
            .env("NO_PROXY", "127.0.0.1,localhost");
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {} ({})", self.name, self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// True while the process has not exited.
    pub(crate) fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The exit status if the process was started and has exited since.
    pub(crate) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Kills the process (SIGKILL) and reaps it. Idempotent.
    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The pid, while running.
    pub(crate) fn pid(&mut self) -> Option<u32> {
        if self.is_running() {
            self.child.as_ref().map(|c| c.id())
        } else {
            None
        }
    }

    /// The process's resident set size in KiB, from /proc (None if not running).
    pub(crate) fn rss_kib(&mut self) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// The last `max_bytes` of the log, for failure messages.
    pub(crate) fn log_tail(&self, max_bytes: u64) -> String {
        tail(&self.log, max_bytes)
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn tail(path: &Path, max_bytes: u64) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max_bytes)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}
