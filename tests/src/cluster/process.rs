//! One control-plane process of a test cluster: how to start it again, where its log goes, and
//! killing it for sure.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

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
        let mut cmd = crate::child::command_dying_with_parent(&self.program);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
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
        crate::child::rss_kib(self.child.as_ref()?.id())
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
