//! The container images of `manifests/images/build.sh`, checked the way a runtime sees them:
//! assembled from the binary cargo just built, every blob checked against its digest, the
//! layers unpacked into a directory and the image's own binary run from there, chrooted, as
//! the image's user. Shared by the hub's and the agent's image tests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The image's user and group: the chart's `runAsUser`/`runAsGroup`.
pub const USER: &str = "65532:65532";
/// Directories the image's user owns (its home and the hub's data volume).
const OWNED_DIRS: [&str; 2] = ["./home/nonroot/", "./var/lib/kubeworkz/"];

/// `manifests/images/build.sh`.
fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../manifests/images/build.sh")
}

/// Builds the image of `which` (`hub` or `agent`) from `binary` into the OCI layout `out`;
/// returns the manifest's digest the script printed.
pub fn build(which: &str, binary: &Path, out: &Path) -> Result<String> {
    let output = Command::new("bash")
        .arg(script())
        .arg(which)
        .arg("--binary")
        .arg(binary)
        .arg("--out")
        .arg(out)
        .output()
        .context("running manifests/images/build.sh")?;
    let text = succeeded("build.sh", &output)?;
    let digest = text.lines().last().unwrap_or_default().trim().to_owned();
    ensure!(digest.starts_with("sha256:"), "build.sh printed {text:?}");
    Ok(digest)
}

/// Stdout of a finished command, or an error with its output.
fn succeeded(what: &str, output: &Output) -> Result<String> {
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout.clone())?)
}

/// The blob `digest` of the layout, refused unless its content hashes to that digest.
fn blob(layout: &Path, digest: &str) -> Result<(PathBuf, Vec<u8>)> {
    let hex = digest
        .strip_prefix("sha256:")
        .with_context(|| format!("not a sha256 digest: {digest}"))?;
    let path = layout.join("blobs/sha256").join(hex);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        hex::encode(Sha256::digest(&bytes)) == hex,
        "blob {digest} does not match its content"
    );
    Ok((path, bytes))
}

/// An image as a runtime finds it: its config and its unpacked root filesystem.
#[derive(Debug)]
pub struct Unpacked {
    /// The image config's `config` object (User, Entrypoint, Cmd, …).
    pub config: Value,
    /// The owner (`uid/gid`) of every entry of the layers, by path (`./etc/passwd`).
    pub owners: Vec<(String, String)>,
}

/// Unpacks the image `digest` of `layout` into `rootfs`, checking every blob on the way.
pub fn unpack(layout: &Path, digest: &str, rootfs: &Path) -> Result<Unpacked> {
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json"))?)?;
    ensure!(
        index["manifests"][0]["digest"] == digest,
        "index.json names {} instead of {digest}",
        index["manifests"][0]["digest"]
    );
    let manifest: Value = serde_json::from_slice(&blob(layout, digest)?.1)?;
    let config_digest = manifest["config"]["digest"].as_str().context("no config")?;
    let config: Value = serde_json::from_slice(&blob(layout, config_digest)?.1)?;
    let mut owners = Vec::new();
    for layer in manifest["layers"].as_array().context("no layers")? {
        let (path, _) = blob(layout, layer["digest"].as_str().context("layer digest")?)?;
        let listing = Command::new("tar")
            .arg("--numeric-owner")
            .arg("-tvzf")
            .arg(&path)
            .output()
            .context("running tar -t")?;
        for line in succeeded("tar -t", &listing)?.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            ensure!(fields.len() >= 6, "unexpected tar listing line {line:?}");
            owners.push((fields[5].to_owned(), fields[1].to_owned()));
        }
        let unpacked = Command::new("tar")
            .arg("-xzf")
            .arg(&path)
            .arg("-C")
            .arg(rootfs)
            .output()
            .context("running tar -x")?;
        succeeded("tar -x", &unpacked)?;
    }
    Ok(Unpacked {
        config: config["config"].clone(),
        owners,
    })
}

/// A command running `program` (a path inside `rootfs`) chrooted into `rootfs` as the image's
/// user; without root, in a user namespace where this user is root. It dies with the test.
fn chrooted(rootfs: &Path, program: &str) -> Result<Command> {
    let uid = Command::new("id").arg("-u").output()?;
    let mut command = if succeeded("id -u", &uid)?.trim() == "0" {
        let mut chroot = crate::child::command_dying_with_parent(Path::new("chroot"));
        chroot.arg(format!("--userspec={USER}"));
        chroot
    } else {
        let mut unshare = crate::child::command_dying_with_parent(Path::new("unshare"));
        unshare.args(["--map-root-user", "chroot"]);
        unshare
    };
    command.arg(rootfs).arg(program);
    Ok(command)
}

/// Runs `program` with `args` chrooted into `rootfs` as the image's user.
pub fn run_in(rootfs: &Path, program: &str, args: &[&str]) -> Result<Output> {
    chrooted(rootfs, program)?
        .args(args)
        .output()
        .with_context(|| format!("running {program} chrooted"))
}

/// An image that passed [`check`]: its unpacked root filesystem and config, kept until dropped.
#[derive(Debug)]
pub struct Checked {
    _work: tempfile::TempDir,
    /// The unpacked layers.
    pub rootfs: PathBuf,
    /// The image config's `config` object.
    pub config: Value,
}

/// Starts the hub image's entrypoint as the image's user with the image's environment, its
/// default command (`serve`) on loopback ports, and waits for `/readyz`: the image holds all
/// the hub needs to open its SQLite file on the declared volume and serve.
pub fn serve_hub(image: &Checked) -> Result<()> {
    let ports = crate::ports::reserve(2)?;
    let (http, quic) = (ports[0].port(), ports[1].port());
    let entrypoint = image.config["Entrypoint"][0]
        .as_str()
        .context("no entrypoint")?;
    let mut command = chrooted(&image.rootfs, entrypoint)?;
    for variable in image.config["Env"].as_array().context("no Env")? {
        let (key, value) = variable
            .as_str()
            .and_then(|v| v.split_once('='))
            .context("malformed Env entry")?;
        // PATH is for inside the image; chroot itself is found on the host's.
        if key != "PATH" {
            command.env(key, value);
        }
    }
    for argument in image.config["Cmd"].as_array().context("no Cmd")? {
        command.arg(argument.as_str().context("Cmd entry")?);
    }
    let log_path = image.rootfs.with_file_name("hub.log");
    let log = std::fs::File::create(&log_path)?;
    let mut hub = command
        .args(["--listen", &format!("127.0.0.1:{http}")])
        .args(["--quic-listen", &format!("127.0.0.1:{quic}")])
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting the hub in the image")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let ready = loop {
        if let Some(status) = hub.try_wait()? {
            break Err(anyhow::anyhow!("the hub exited with {status}"));
        }
        match readyz(http) {
            Ok(answer) if answer.starts_with("HTTP/1.1 200") && answer.contains("ready") => {
                break Ok(());
            }
            _ if std::time::Instant::now() > deadline => {
                break Err(anyhow::anyhow!("/readyz did not answer 200 in 90 s"));
            }
            _ => std::thread::sleep(std::time::Duration::from_millis(300)),
        }
    };
    let _ = hub.kill();
    let _ = hub.wait();
    ready.with_context(|| std::fs::read_to_string(&log_path).unwrap_or_default())?;
    let database = image.rootfs.join("var/lib/kubeworkz/kubeworkz.db");
    ensure!(database.exists(), "no database at {}", database.display());
    Ok(())
}

/// One plain HTTP/1.1 `GET /readyz` on loopback: its whole answer.
fn readyz(port: u16) -> Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

/// Every check of an image of `which` built from `binary`: reproducible (two builds, one
/// digest), blobs matching their digests, the non-root user and the entrypoint in the config,
/// nothing in the root filesystem but the binary, its libraries, CA certificates and the user
/// database (so no shell), and the binary answering `--version` from the unpacked filesystem.
pub fn check(which: &str, binary: &Path, cmd: &str) -> Result<Checked> {
    let name = format!("kubeworkz-{which}");
    let work = tempfile::tempdir()?;
    let (first, second) = (work.path().join("first"), work.path().join("second"));
    let digest = build(which, binary, &first)?;
    ensure!(
        build(which, binary, &second)? == digest,
        "two builds of one binary differ"
    );

    let rootfs = work.path().join("rootfs");
    std::fs::create_dir(&rootfs)?;
    let image = unpack(&first, &digest, &rootfs)?;
    let entrypoint = format!("/usr/local/bin/{name}");
    ensure!(
        image.config["User"] == USER,
        "user: {}",
        image.config["User"]
    );
    ensure!(
        image.config["Entrypoint"] == serde_json::json!([entrypoint]),
        "entrypoint: {}",
        image.config["Entrypoint"]
    );
    ensure!(
        image.config["Cmd"] == serde_json::json!([cmd]),
        "cmd: {}",
        image.config["Cmd"]
    );

    let allowed: BTreeSet<String> = [
        format!(".{entrypoint}"),
        "./etc/passwd".to_owned(),
        "./etc/group".to_owned(),
        "./etc/ssl/certs/ca-certificates.crt".to_owned(),
    ]
    .into();
    for (path, owner) in &image.owners {
        let library =
            path.contains(".so") && (path.starts_with("./lib") || path.starts_with("./usr/lib"));
        let directory = path.ends_with('/');
        ensure!(
            directory || library || allowed.contains(path),
            "unexpected file in the image: {path}"
        );
        let expected = if OWNED_DIRS.contains(&path.as_str()) {
            USER.replace(':', "/")
        } else {
            "0/0".to_owned()
        };
        ensure!(
            *owner == expected,
            "{path} is owned by {owner}, not {expected}"
        );
    }
    for shell in ["bin/sh", "bin/bash", "usr/bin/sh", "bin/busybox"] {
        ensure!(
            !rootfs.join(shell).exists(),
            "the image has a shell: /{shell}"
        );
    }

    let output = run_in(&rootfs, &entrypoint, &["--version"])?;
    let version = succeeded(&format!("{entrypoint} --version in the image"), &output)?;
    ensure!(
        version.trim() == format!("{name} {}", env!("CARGO_PKG_VERSION")),
        "--version printed {version:?}"
    );
    Ok(Checked {
        _work: work,
        rootfs,
        config: image.config,
    })
}
