//! Building the workspace's binaries from a running test, bench or the demo.
//!
//! Cargo gives a package's tests only that package's binaries, so the hub's tests and the demo
//! ask cargo for the others (`cargo build -p kubeworkz-agent …`) into the target directory and
//! profile they run from; when the binaries are current that build is a no-op.
//!
//! It is a no-op only if the nested cargo sees the environment a cargo started from a shell
//! sees. `cargo run`, `cargo test` and nextest set `CARGO_MANIFEST_DIR`, `CARGO_PKG_*` and more
//! for the process they start, and build scripts that read one of them (ring's reads
//! `CARGO_MANIFEST_DIR`) record its value in their fingerprint: a nested build that inherited
//! them rebuilds ring and everything above it, and the next build from a shell rebuilds it all
//! back. So the nested cargo gets the caller's environment without those variables.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Variables cargo sets for a process it runs (a binary, a test or a build script), which a
/// cargo started from a shell never has.
const SET_BY_CARGO: &[&str] = &[
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];

/// Prefixes of the same, numbered per package or binary.
const SET_BY_CARGO_PREFIXES: &[&str] = &["CARGO_PKG_", "CARGO_BIN_EXE_"];

fn set_by_cargo(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    SET_BY_CARGO.contains(&name)
        || SET_BY_CARGO_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
}

/// Where a running executable was built: its profile directory (`target/release`,
/// `target/debug`) and the cargo profile name for it (`release`, `dev`). `None` when the
/// executable does not sit in a target directory of this workspace (an installed binary).
pub fn profile_of(exe: &Path) -> Option<(PathBuf, String)> {
    // target/<profile>/<binary>, or target/<profile>/deps/<test or bench>.
    let mut dir = exe.parent()?;
    if dir.file_name() == Some(OsStr::new("deps")) {
        dir = dir.parent()?;
    }
    let profile = match dir.file_name()?.to_str()? {
        "debug" => "dev".to_owned(),
        other => other.to_owned(),
    };
    workspace_root()
        .join("Cargo.toml")
        .is_file()
        .then(|| (dir.to_path_buf(), profile))
}

/// The workspace this testkit belongs to.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// `cargo build --quiet --profile PROFILE -p NAME --bin NAME …` for `binaries` (each the
/// binary of the package of the same name) into the target directory above `profile_dir`,
/// run in the workspace with the environment of a shell (see the module docs).
pub fn build_command(profile_dir: &Path, profile: &str, binaries: &[&str]) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut command = Command::new(cargo);
    command.args(["build", "--quiet", "--profile", profile]);
    for binary in binaries {
        command.args(["-p", binary, "--bin", binary]);
    }
    for (name, _) in std::env::vars_os() {
        if set_by_cargo(&name) {
            command.env_remove(name);
        }
    }
    if let Some(target_dir) = profile_dir.parent() {
        command.env("CARGO_TARGET_DIR", target_dir);
    }
    command.current_dir(workspace_root());
    command
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::path::Path;

    use super::{build_command, profile_of, set_by_cargo};

    #[test]
    fn what_cargo_sets_for_a_run_is_recognised_and_the_rest_is_kept() {
        for name in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_BIN_EXE_kubeworkz-hub",
            "OUT_DIR",
        ] {
            assert!(set_by_cargo(OsStr::new(name)), "{name}");
        }
        for name in [
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO",
            "RUSTFLAGS",
            "PATH",
        ] {
            assert!(!set_by_cargo(OsStr::new(name)), "{name}");
        }
    }

    #[test]
    fn tests_binaries_and_benches_find_their_profile() {
        let root = super::workspace_root();
        let release = root.join("target/release/kubeworkz-demo");
        assert_eq!(
            profile_of(&release),
            Some((root.join("target/release"), "release".to_owned()))
        );
        let test = root.join("target/debug/deps/kube_demo-0123456789abcdef");
        assert_eq!(
            profile_of(&test),
            Some((root.join("target/debug"), "dev".to_owned()))
        );
    }

    #[test]
    fn the_build_command_strips_what_cargo_set_for_this_test() {
        // This test runs under cargo or nextest, which set CARGO_MANIFEST_DIR for it.
        let command = build_command(Path::new("/t/release"), "release", &["kubeworkz-agent"]);
        let removed: Vec<_> = command
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_owned())
            .collect();
        assert!(removed.iter().any(|name| name == "CARGO_MANIFEST_DIR"));
        let args: Vec<_> = command.get_args().collect();
        assert_eq!(
            args,
            [
                "build",
                "--quiet",
                "--profile",
                "release",
                "-p",
                "kubeworkz-agent",
                "--bin",
                "kubeworkz-agent"
            ]
        );
        assert!(
            command
                .get_envs()
                .any(|(name, value)| name == "CARGO_TARGET_DIR" && value == Some(OsStr::new("/t")))
        );
    }
}
