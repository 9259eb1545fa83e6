//! The demo directory: the hub's SQLite database and master key, the agents' credentials, the
//! Helm chart and every process's log. Kept with `--keep`, it makes the next start the same
//! fleet to the hub (same database, same agent identities); clusters are new processes
//! each time.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};

/// Marks a directory as the demo's, and is locked while a demo runs in it.
const MARKER: &str = ".kubeworkz-demo";

/// Agent credentials older than this are replaced by a new enrollment: the hub's client
/// certificates last 7 days and an agent renews at 70% of that, so an identity left unused
/// for longer may have expired.
const CREDENTIALS_MAX_AGE: Duration = Duration::from_secs(6 * 24 * 3600);

/// An open demo directory, locked against a second demo.
#[derive(Debug)]
pub struct DemoDir {
    path: PathBuf,
    reused: bool,
    _lock: File,
}

/// `$XDG_DATA_HOME/kubeworkz/demo`, else `~/.local/share/kubeworkz/demo`, else
/// `./kubeworkz-demo`.
pub fn default_path() -> PathBuf {
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/share")));
    match data_home {
        Some(data) => data.join("kubeworkz").join("demo"),
        None => PathBuf::from("kubeworkz-demo"),
    }
}

impl DemoDir {
    /// Opens (creating) `path`. A directory with other content is refused, since the demo
    /// deletes its directory on exit.
    pub fn open(path: PathBuf) -> Result<Self> {
        if path.is_dir() && !path.join(MARKER).exists() && path.read_dir()?.next().is_some() {
            bail!(
                "{} is not empty and not a kubeworkz-demo directory; choose another --dir",
                path.display()
            );
        }
        for sub in ["logs", "agents"] {
            std::fs::create_dir_all(path.join(sub))
                .with_context(|| format!("creating {}", path.join(sub).display()))?;
        }
        let Some(lock) = kubeworkz_testkit::ports::try_lock(path.join(MARKER))? else {
            bail!("another kubeworkz-demo is running in {}", path.display())
        };
        let dir = Self {
            reused: false,
            _lock: lock,
            path,
        };
        let reused = dir.database().exists();
        if !reused {
            // Identities of clusters a new database does not know would be refused forever.
            let agents = dir.path.join("agents");
            std::fs::remove_dir_all(&agents)
                .and_then(|()| std::fs::create_dir_all(&agents))
                .with_context(|| format!("emptying {}", agents.display()))?;
        }
        Ok(Self { reused, ..dir })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether an earlier demo left its data here.
    pub fn reused(&self) -> bool {
        self.reused
    }

    /// The hub's SQLite file (its master key file is created beside it).
    pub fn database(&self) -> PathBuf {
        self.path.join("kubeworkz.db")
    }

    /// The log file of `name`.
    pub fn log(&self, name: &str) -> PathBuf {
        self.path.join("logs").join(format!("{name}.log"))
    }

    /// Where the agent of `cluster` keeps its identity.
    pub fn agent_credentials(&self, cluster: &str) -> PathBuf {
        self.path
            .join("agents")
            .join(format!("{cluster}.credentials"))
    }

    /// Whether the agent of `cluster` has an identity that is still good. A stale one is
    /// removed, so the agent enrolls again (the hub gives it back its cluster by name).
    pub fn agent_enrolled(&self, cluster: &str) -> Result<bool> {
        let path = self.agent_credentials(cluster);
        let Ok(meta) = std::fs::metadata(&path) else {
            return Ok(false);
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|at| SystemTime::now().duration_since(at).ok())
            .unwrap_or_default();
        if age > CREDENTIALS_MAX_AGE {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            return Ok(false);
        }
        Ok(true)
    }

    /// Deletes the directory (its lock goes with it).
    pub fn remove(self) -> Result<()> {
        std::fs::remove_dir_all(&self.path)
            .with_context(|| format!("removing {}", self.path.display()))
    }
}
