//! The operator side of accounts with the real binary: first start creates the admin and
//! prints its generated password once (never in a log line); `org create`, `user create` and
//! `user reset-password` read passwords from stdin.

use std::time::{Duration, Instant};

use kubeworkz_hub::auth;
use kubeworkz_hub::config::DatabaseUrl;
use kubeworkz_hub::store;

use serde_json::json;

use crate::client::{PASSWORD, TestHub};
use crate::support::hub::{Hub, cli, cli_with_stdin};

fn with_stdin(db: &str, args: &[&str], input: &str) -> (bool, String) {
    let (ok, stdout, stderr) = cli_with_stdin(db, args, input);
    (ok, stdout + &stderr)
}

#[tokio::test]
async fn first_start_creates_an_admin_and_the_cli_manages_users() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("kubeworkz.db").display());
    let hub = Hub::start(&db, &["--quic-listen", "127.0.0.1:0"], "info");
    let started = Instant::now();
    while !hub.log().contains("first start: created admin") {
        assert!(started.elapsed() < Duration::from_secs(60), "{}", hub.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = hub.stop().unwrap();
    let line = log.lines().find(|l| l.starts_with("first start")).unwrap();
    let password = line
        .split("with password ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert!(line.contains("admin@localhost"), "{line}");
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal: {log:?}"
    );
    assert!(password.len() >= 24, "{password}");
    assert_eq!(
        log.matches(password.as_str()).count(),
        1,
        "printed once, never logged"
    );

    let (ok, text, _) = cli(&db, &["org", "create", "acme"]);
    assert!(ok, "{text}");
    let (ok, text) = with_stdin(
        &db,
        &[
            "user",
            "create",
            "--org",
            "acme",
            "--email",
            "Ann@Acme.io",
            "--role",
            "admin",
        ],
        "first-password-123\n",
    );
    assert!(ok, "{text}");
    assert!(!text.contains("first-password-123"));
    let (ok, text) = with_stdin(
        &db,
        &["user", "create", "--org", "acme", "--email", "x@acme.io"],
        "short\n",
    );
    assert!(!ok && text.contains("at least 12"), "{text}");
    let (ok, text) = with_stdin(
        &db,
        &["user", "reset-password", "--email", "ann@acme.io"],
        "second-password-456\n",
    );
    assert!(ok, "{text}");
    let (ok, text) = with_stdin(
        &db,
        &["user", "reset-password", "--email", "nobody@acme.io"],
        "second-password-456\n",
    );
    assert!(!ok && text.contains("no user"), "{text}");

    let url: DatabaseUrl = db.parse().unwrap();
    let store = store::connect(&url).await.unwrap();
    let credentials = |email: &'static str| {
        let store = store.clone();
        async move {
            let mut found = store.login_candidates(email, None, 8).await.unwrap();
            assert_eq!(found.len(), 1, "{email}");
            found.remove(0)
        }
    };
    let admin = credentials("admin@localhost").await;
    assert!(auth::verify_password(&password, &admin.password_hash));
    let ann = credentials("ann@acme.io").await;
    assert!(auth::verify_password(
        "second-password-456",
        &ann.password_hash
    ));
    assert!(!auth::verify_password(
        "first-password-123",
        &ann.password_hash
    ));
    let acme = store.organization_by_name("acme").await.unwrap().unwrap();
    assert_eq!(ann.user.org_id, acme.id);
    assert_eq!(store.user_count().await.unwrap(), 2);
    store.close().await;

    // A second start finds users and creates nobody.
    let hub = Hub::start(&db, &["--quic-listen", "127.0.0.1:0"], "info");
    let started = Instant::now();
    while !hub.log().contains("kubeworkz hub listening") {
        assert!(started.elapsed() < Duration::from_secs(60), "{}", hub.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = hub.stop().unwrap();
    assert!(!log.contains("first start"), "{log}");
}

#[tokio::test]
async fn prices_are_set_per_scope_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("kubeworkz.db").display());
    let (ok, out, err) = cli(&db, &["prices", "set", "--cpu-core-hour", "0.05"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("organization \"default\""), "{out}");
    let (ok, out, err) = cli(
        &db,
        &[
            "prices",
            "set",
            "--instance-type",
            "m5.xlarge",
            "--cpu-core-hour",
            "$0.1",
            "--memory-gib-hour",
            "0.01",
        ],
    );
    assert!(ok, "{out}{err}");
    let (ok, out, err) = cli(
        &db,
        &["prices", "set", "--cluster", "nope", "--cpu-core-hour", "1"],
    );
    assert!(
        !ok && err.contains("no cluster named \"nope\""),
        "{out}{err}"
    );
    let (ok, out, err) = cli(&db, &["prices", "set", "--cpu-core-hour", "cheap"]);
    assert!(
        !ok && err.contains("invalid amount \"cheap\""),
        "{out}{err}"
    );

    let (ok, out, err) = cli(&db, &["prices", "show"]);
    assert!(ok, "{out}{err}");
    let book: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(book["organization"]["cpu_core_hour"], 50_000_000, "{book}");
    assert_eq!(
        book["organization"]["memory_gib_hour"],
        serde_json::Value::Null
    );
    let m5 = &book["instance_types"]["m5.xlarge"];
    assert_eq!(m5["cpu_core_hour"], 100_000_000, "{book}");
    assert_eq!(m5["memory_gib_hour"], 10_000_000, "{book}");
    assert_eq!(book["defaults"]["cpu_core_hour"], 40_000_000, "{book}");
}

/// The `user` commands against the database a running API serves (SQLite or PostgreSQL):
/// roles, disabling, deletion, listing, the last-admin guard, and emails that exist in
/// several organizations.
pub async fn user_commands_keep_an_admin_and_resolve_emails(hub: TestHub) {
    let db = hub.db.url.expose().to_owned();
    // A command line (words split on spaces), with `stdin` as standard input: (success,
    // stdout and stderr).
    let run_with = |line: &str, stdin: &str| {
        let args: Vec<&str> = line.split_whitespace().collect();
        let (ok, out, err) = cli_with_stdin(&db, &args, stdin);
        (ok, out + &err)
    };
    let run = |line: &str| run_with(line, "");
    let password = format!("{PASSWORD}\n");
    let (ok, text) = run("org create acme");
    assert!(ok, "{text}");
    for (email, role) in [("ann@acme.io", "admin"), ("bob@acme.io", "viewer")] {
        let line = format!("user create --org acme --email {email} --role {role}");
        let (ok, text) = run_with(&line, &password);
        assert!(ok, "{text}");
    }
    for line in [
        "user set-role --email bob@acme.io --role admin",
        "user set-role --email ann@acme.io --role viewer",
    ] {
        let (ok, text) = run(line);
        assert!(ok, "{line}: {text}");
    }
    // Bob is acme's last admin now.
    for line in [
        "user set-role --email bob@acme.io --role viewer",
        "user disable --email bob@acme.io",
        "user delete --email bob@acme.io",
    ] {
        let (ok, text) = run(line);
        assert!(!ok, "{line}: {text}");
        assert!(
            text.contains("at least one enabled admin"),
            "{line}: {text}"
        );
    }
    let (ok, text) = run("user set-role --email bob@acme.io --role owner");
    assert!(!ok && text.contains("unknown role"), "{text}");

    // The same email in a second organization: a separate user, named with --org.
    let (ok, text) = run_with("user create --org default --email bob@acme.io", &password);
    assert!(ok, "{text}");
    let (ok, text) = run("user disable --email bob@acme.io");
    assert!(!ok, "{text}");
    assert!(
        text.contains("several organizations") && text.contains("--org"),
        "{text}"
    );
    let (ok, text) = run("user disable --org default --email bob@acme.io");
    assert!(ok, "{text}");
    let bob = hub.login("bob@acme.io", PASSWORD).await;
    assert_eq!(
        bob.get("/api/v1/auth/me").await.json["org"],
        "acme",
        "the disabled one cannot log in, so the password opens acme's"
    );
    let (ok, text) = run("user list --org default --output json");
    assert!(ok, "{text}");
    assert!(!text.contains("$argon2"), "{text}");
    let listed: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "bob@acme.io")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(row["role"], "viewer", "{row}");
    assert_eq!(row["disabled"], true, "{row}");
    let (ok, text) = run("user list --org acme");
    assert!(ok, "{text}");
    assert!(
        text.contains("ann@acme.io") && text.contains("bob@acme.io"),
        "{text}"
    );
    assert!(!text.contains("$argon2"), "{text}");
    for line in [
        "user enable --org default --email bob@acme.io",
        "user delete --org default --email bob@acme.io",
    ] {
        let (ok, text) = run(line);
        assert!(ok, "{line}: {text}");
    }
    let (ok, text) = run("user delete --email nobody@acme.io");
    assert!(!ok && text.contains("no user"), "{text}");

    // A password reset from the CLI ends the user's sessions and revokes their tokens.
    let r = bob
        .post(
            "/api/v1/auth/tokens",
            json!({"name": "bob-bot", "role": "admin"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let bob_bot = hub.bearer(r.json["token"].as_str().unwrap());
    let line = "user reset-password --email bob@acme.io";
    let (ok, text) = run_with(line, "a-third-long-password\n");
    assert!(ok, "{text}");
    assert!(!text.contains("a-third-long-password"), "{text}");
    assert_eq!(bob.get("/api/v1/auth/me").await.status, 401);
    assert_eq!(bob_bot.get("/api/v1/auth/me").await.status, 401);
}
