//! The node price catalog and pricing modes with the real binary: `prices catalog show`
//! prints the shipped catalog in its file format, `load` refuses a bad file with the line and
//! puts a good one over the shipped prices, `unload` removes it; `prices mode` sets the mode
//! `prices show` reports; `serve` refuses a catalog file it cannot read.

use crate::support::hub::{cli, hub_command};

#[test]
fn the_cli_shows_loads_and_unloads_the_catalog_and_sets_the_mode() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("kubeworkz.db").display());

    let (ok, shipped, err) = cli(&db, &["prices", "catalog", "show"]);
    assert!(ok, "{err}");
    assert!(shipped.starts_with("@date 2024-06-01\n"), "{shipped}");
    assert!(
        shipped.contains("\naws,us-east-1,m5.xlarge,0.192\n"),
        "{shipped}"
    );
    assert!(shipped.contains("\n@spot_discount gcp 0.7\n"), "{shipped}");

    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "@date 2025-01-15\nprovider,region,instance_type,usd_per_hour\nibm,x,y,1\n",
    )
    .unwrap();
    let (ok, _, err) = cli(&db, &["prices", "catalog", "load", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("price catalog line 3: unknown provider \"ibm\": use aws, gcp or azure"),
        "{err}"
    );

    let own = dir.path().join("own.csv");
    std::fs::write(
        &own,
        "@date 2025-01-15\nprovider,region,instance_type,usd_per_hour\naws,us-east-1,m5.large,0.5\n",
    )
    .unwrap();
    let (ok, out, err) = cli(&db, &["prices", "catalog", "load", own.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "price catalog of 2025-01-15 loaded for organization \"default\": 1 prices\n"
    );
    let (ok, loaded, err) = cli(&db, &["prices", "catalog", "show"]);
    assert!(ok, "{err}");
    assert!(loaded.starts_with("@date 2025-01-15\n"), "{loaded}");
    assert!(
        loaded.contains("\naws,us-east-1,m5.large,0.50\n"),
        "{loaded}"
    );
    assert!(
        loaded.contains("\naws,us-east-1,m5.xlarge,0.192\n"),
        "{loaded}"
    );

    let (ok, out, err) = cli(&db, &["prices", "mode", "node"]);
    assert!(ok, "{err}");
    assert_eq!(out, "pricing mode of organization \"default\": node\n");
    let (ok, book, err) = cli(&db, &["prices", "show"]);
    assert!(ok, "{err}");
    assert!(book.contains("\"mode\": \"node\""), "{book}");
    let (ok, _, err) = cli(&db, &["prices", "mode", "unit", "--cluster", "nowhere"]);
    assert!(!ok);
    assert!(err.contains("nowhere"), "{err}");

    let (ok, _, err) = cli(&db, &["prices", "catalog", "unload"]);
    assert!(ok, "{err}");
    let (ok, again, err) = cli(&db, &["prices", "catalog", "show"]);
    assert!(ok, "{err}");
    assert_eq!(again, shipped);
}

#[test]
fn serve_refuses_a_price_catalog_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("kubeworkz.db").display());
    let missing = dir.path().join("missing.csv");
    let out = hub_command(&db)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--quic-listen",
            "127.0.0.1:0",
            "--price-catalog",
            missing.to_str().unwrap(),
        ])
        .env("KUBEWORKZ_MASTER_KEY_FILE", dir.path().join("master.key"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "loading the price catalog (--price-catalog): cannot read the price catalog {}",
            missing.display()
        )),
        "{stderr}"
    );
}
