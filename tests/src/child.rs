//! Child processes that cannot outlive their parent: the test clusters' components and the
//! demo's hub and agents. A test or a demo killed without running destructors (SIGKILL, abort)
//! must not leave a fleet of servers behind.

use std::path::Path;
use std::process::Command;

/// `setpriv --pdeathsig KILL` (util-linux, in every Debian) makes the kernel kill the child
/// when its parent dies. `setpriv` execs, so the child's pid is the program's. The death signal
/// follows the *thread* that spawned it, so spawn from a thread that lives as long as the child
/// (the caller's runtime thread, never a `spawn_blocking` thread that may retire).
fn setpriv() -> Option<&'static Path> {
    ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
}

/// A command for `program` that dies with this process, in a process group of its own (a
/// terminal's Ctrl-C reaches only the parent, which stops its children in its own order), and
/// that reaches nothing beyond loopback through a proxy.
pub fn command_dying_with_parent(program: &Path) -> Command {
    let mut cmd = match setpriv() {
        Some(setpriv) => {
            let mut c = Command::new(setpriv);
            c.arg("--pdeathsig").arg("KILL").arg("--").arg(program);
            c
        }
        None => Command::new(program),
    };
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.env_remove("HTTPS_PROXY")
        .env_remove("HTTP_PROXY")
        .env_remove("https_proxy")
        .env_remove("http_proxy")
        .env("NO_PROXY", "127.0.0.1,localhost");
    cmd
}

/// A process on this machine: its pid and start time (clock ticks after boot), which tell it
/// apart from a later process given the same pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessId {
    pub pid: u32,
    pub started: u64,
}

/// Parent pid, start time and state of a live process, from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(u32, u64, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so cut at the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let parent = fields.get(1)?.parse().ok()?;
    // Field 22 of the whole line, the 20th after the command.
    let started = fields.get(19)?.parse().ok()?;
    Some((parent, started, state))
}

/// Every live descendant of `root` (children, their children, …), `root` excluded.
pub fn descendants(root: u32) -> Vec<ProcessId> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let processes: Vec<(u32, u32, u64)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| stat(pid).map(|(parent, started, _)| (pid, parent, started)))
        .collect();
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid, started) in &processes {
            if ppid == parent {
                found.push(ProcessId { pid, started });
                frontier.push(pid);
            }
        }
    }
    found
}

/// Whether the process still runs (a zombie, exited but not reaped, does not).
pub fn is_running(process: &ProcessId) -> bool {
    stat(process.pid).is_some_and(|(_, started, state)| started == process.started && state != 'Z')
}

/// A process's resident set size in KiB (`VmRSS`), while it runs.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
