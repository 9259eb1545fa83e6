//! Throwaway PostgreSQL for tests.
//!
//! Two ways to get one, both real servers:
//! - `DATABASE_URL` names a PostgreSQL the caller runs (CI's test command starts one for the
//!   whole run with the `testkit-postgres` binary); each [`TestDatabase`] is a fresh database
//!   created in it and dropped afterwards.
//! - Otherwise each [`TestDatabase`] starts its own [`PostgresServer`] (initdb in a temp dir,
//!   random port on 127.0.0.1) and stops it when dropped.
//!
//! PostgreSQL refuses to run as root, and CI runs as root: then the server runs as the
//! `postgres` user that Debian's package creates, via `setpriv` (which execs, so killing the
//! child kills the server).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sqlx::{Connection, PgConnection};

/// A running PostgreSQL server in a temporary directory, stopped and deleted on drop.
#[derive(Debug)]
pub struct PostgresServer {
    child: Child,
    port: u16,
    _port_reservation: crate::ports::PortReservation,
    dir: tempfile::TempDir,
    /// PostgreSQL's programs.
    bin: PathBuf,
    /// The `postgres` user's ids, when running as root.
    run_as: Option<(u32, u32)>,
    /// Whether a commit waits for its WAL to be written ([`PostgresServer::start_durable`]).
    durable: bool,
}

impl PostgresServer {
    /// initdb + start on a free port; returns once the server accepts connections. Tuned for
    /// speed: a commit does not wait for its WAL (`synchronous_commit=off`), so a server
    /// stopped immediately may lose the last commits it acknowledged.
    pub async fn start() -> Result<Self> {
        Self::start_with(false).await
    }

    /// [`Self::start`] where every acknowledged commit survives [`Self::stop_immediately`]
    /// (`synchronous_commit=on`; the WAL reaches the kernel before the answer, which a
    /// process crash does not lose), for tests of what a client sees across a crash.
    pub async fn start_durable() -> Result<Self> {
        Self::start_with(true).await
    }

    async fn start_with(durable: bool) -> Result<Self> {
        let bin = find_bin_dir()?;
        let dir = tempfile::Builder::new().prefix("kw-pg-").tempdir()?;
        let data = dir.path().join("data");
        let run_as = if running_as_root() {
            let (uid, gid) = postgres_user()?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .context("handing the temp dir to the postgres user")?;
            Some((uid, gid))
        } else {
            None
        };
        let out = command(&bin, run_as, "initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ])
            .output()
            .context("running initdb")?;
        if !out.status.success() {
            bail!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }

        let port_reservation = crate::ports::reserve(1)?
            .pop()
            .context("reserving a port")?;
        let port = port_reservation.port();
        let child = spawn_postgres(&bin, run_as, dir.path(), port, durable)?;
        let server = Self {
            child,
            port,
            _port_reservation: port_reservation,
            dir,
            bin,
            run_as,
            durable,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// Stops the server as `pg_ctl stop -m immediate` does (SIGQUIT: every connection cut,
    /// no checkpoint), for tests of a database that goes away; [`Self::restart`] brings it
    /// back on the same port and data.
    pub fn stop_immediately(&mut self) -> Result<()> {
        let status = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -QUIT of postgres failed: {status}");
        }
        self.child.wait()?;
        Ok(())
    }

    /// Starts the server again after [`Self::stop_immediately`] (it recovers from the
    /// immediate stop); returns once it accepts connections.
    pub async fn restart(&mut self) -> Result<()> {
        self.child = spawn_postgres(
            &self.bin,
            self.run_as,
            self.dir.path(),
            self.port,
            self.durable,
        )?;
        self.wait_ready().await
    }

    /// A superuser URL for the `postgres` database.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The directory holding the data and `postgres.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    async fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match PgConnection::connect(&self.admin_url()).await {
                Ok(conn) => {
                    let _ = conn.close().await;
                    return Ok(());
                }
                Err(err) if Instant::now() > deadline => {
                    let log = std::fs::read_to_string(self.dir.path().join("postgres.log"))
                        .unwrap_or_default();
                    bail!("postgres did not become ready: {err}\n{log}");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

/// `program` of PostgreSQL's `bin`, run as the `postgres` user when `run_as` says so.
fn command(bin: &Path, run_as: Option<(u32, u32)>, program: &str) -> Command {
    let path = bin.join(program);
    match run_as {
        Some((uid, gid)) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg("--")
                .arg(path);
            c
        }
        None => Command::new(path),
    }
}

/// The server of the cluster in `dir`'s `data`, on 127.0.0.1:`port`, logging to
/// `dir/postgres.log` (appended, so a restart keeps the log of the first run); `durable`:
/// see [`PostgresServer::start_durable`].
fn spawn_postgres(
    bin: &Path,
    run_as: Option<(u32, u32)>,
    dir: &Path,
    port: u16,
    durable: bool,
) -> Result<Child> {
    let log_path = dir.join("postgres.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;
    if let Some((uid, gid)) = run_as {
        std::os::unix::fs::chown(&log_path, Some(uid), Some(gid))?;
    }
    command(bin, run_as, "postgres")
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-p", &port.to_string(), "-k"])
        .arg(dir)
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            if durable {
                "synchronous_commit=on"
            } else {
                "synchronous_commit=off"
            },
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=300",
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting postgres")
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's "fast shutdown": it ends backends and exits within a moment.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh, empty database for one test; dropped (or its server stopped) afterwards.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    admin_url: String,
    name: String,
    // Declared last: dropped after the database itself is gone.
    server: Option<PostgresServer>,
}

impl TestDatabase {
    /// Creates a database in the server named by `DATABASE_URL`, or in a new throwaway server.
    pub async fn create() -> Result<Self> {
        let (admin_url, server) = match std::env::var("DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => (url, None),
            _ => {
                let server = PostgresServer::start().await?;
                (server.admin_url(), Some(server))
            }
        };
        let name = format!("kw_test_{}", hex::encode(rand::random::<[u8; 8]>()));
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .context("connecting to the test PostgreSQL")?;
        // The name is ours (hex), not input: safe to splice.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .context("creating the test database")?;
        admin.close().await?;
        let url = with_database(&admin_url, &name);
        Ok(Self {
            url,
            admin_url,
            name,
            server,
        })
    }

    /// Connection URL of this test's database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.server.is_some() {
            return; // the whole server goes away with it
        }
        // Drop may run inside a runtime; use a thread with its own to stay out of its way.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let mut admin = PgConnection::connect(&admin_url).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await?;
                admin.close().await
            })?;
            anyhow::Ok(())
        })
        .join();
    }
}

/// Replaces the database (path) part of a PostgreSQL URL, keeping any query string.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{db}?{q}"),
        None => format!("{host_part}/{db}"),
    }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn postgres_user() -> Result<(u32, u32)> {
    let id = |flag: &str| -> Result<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output()?;
        if !out.status.success() {
            bail!("running as root needs a `postgres` user (install Debian's postgresql package)");
        }
        Ok(String::from_utf8(out.stdout)?.trim().parse()?)
    };
    Ok((id("-u")?, id("-g")?))
}

/// Finds initdb/postgres: `KUBEWORKZ_PG_BIN`, Debian's `/usr/lib/postgresql/<newest>/bin`, or PATH.
fn find_bin_dir() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("KUBEWORKZ_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if dir.join("initdb").exists() && dir.join("postgres").exists() {
            return Ok(dir);
        }
    }
    bail!(
        "PostgreSQL server binaries not found: install Debian's postgresql package or set KUBEWORKZ_PG_BIN"
    )
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_names_replace_the_path() {
        assert_eq!(
            with_database("postgres://u:p@h:5/postgres", "x"),
            "postgres://u:p@h:5/x"
        );
        assert_eq!(with_database("postgres://h:5", "x"), "postgres://h:5/x");
        assert_eq!(
            with_database("postgres://h/db?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
    }
}
