use std::io::Read as _;

use super::*;

/// The chart is versioned with the hub: `token create` prints `--version` of the hub it runs
/// in, and `Chart.yaml` must say the same (bump both together).
#[test]
fn the_chart_is_versioned_with_the_hub() {
    let metadata: Mapping =
        serde_yaml::from_slice(CHART.get_file("Chart.yaml").unwrap().contents()).unwrap();
    assert_eq!(
        metadata["version"].as_str(),
        Some(kubeworkz_shared::VERSION)
    );
    assert_eq!(
        metadata["appVersion"].as_str(),
        Some(kubeworkz_shared::VERSION)
    );
    let repo = repo().unwrap();
    assert_eq!(repo.version, kubeworkz_shared::VERSION);
    assert_eq!(
        repo.archive_name,
        format!("kubeworkz-agent-{}.tgz", kubeworkz_shared::VERSION)
    );
}

/// The archive is a gzip'd tar that `tar` reads back: every chart file under
/// `kubeworkz-agent/`, with the embedded contents, and the same bytes every time.
#[test]
fn the_archive_holds_every_chart_file_and_is_deterministic() {
    let repo = repo().unwrap();
    let mut read = tar::Archive::new(flate2::read::GzDecoder::new(&repo.archive[..]));
    let mut listed = Vec::new();
    for entry in read.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        assert_eq!(entry.header().mtime().unwrap(), 0);
        assert_eq!(entry.header().mode().unwrap(), 0o644);
        let mut contents = Vec::new();
        entry.read_to_end(&mut contents).unwrap();
        let relative = path
            .strip_prefix("kubeworkz-agent/")
            .expect("under the chart's name");
        assert_eq!(
            CHART.get_file(relative).unwrap().contents(),
            &contents[..],
            "{path}"
        );
        listed.push(path);
    }
    for want in [
        "kubeworkz-agent/Chart.yaml",
        "kubeworkz-agent/values.yaml",
        "kubeworkz-agent/templates/deployment.yaml",
        "kubeworkz-agent/templates/rbac.yaml",
    ] {
        assert!(listed.iter().any(|p| p == want), "{want} in {listed:?}");
    }
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "entries in path order");
    assert_eq!(archive().unwrap(), repo.archive, "same bytes every time");
}

/// `index.yaml` is a Helm repository index naming the archive by a relative URL, with its
/// SHA-256 digest and the chart's own metadata.
#[test]
fn the_index_names_the_archive_with_its_digest() {
    let repo = repo().unwrap();
    let index: Value = serde_yaml::from_str(&repo.index).unwrap();
    assert_eq!(index["apiVersion"].as_str(), Some("v1"));
    let entries = index["entries"]["kubeworkz-agent"].as_sequence().unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry["name"].as_str(), Some("kubeworkz-agent"));
    assert_eq!(entry["apiVersion"].as_str(), Some("v2"));
    assert_eq!(entry["version"].as_str(), Some(repo.version.as_str()));
    assert_eq!(
        entry["appVersion"].as_str(),
        Some(kubeworkz_shared::VERSION)
    );
    assert_eq!(
        entry["digest"].as_str(),
        Some(hex::encode(Sha256::digest(&repo.archive)).as_str())
    );
    assert_eq!(entry["created"].as_str(), Some(FIXED_TIME));
    assert_eq!(
        entry["urls"].as_sequence().unwrap(),
        &vec![Value::from(repo.archive_name.as_str())]
    );
}

#[test]
fn the_repo_url_is_the_public_url_plus_the_charts_path() {
    assert_eq!(
        repo_url("https://hub.example.com"),
        "https://hub.example.com/charts"
    );
    assert_eq!(
        repo_url("https://hub.example.com/"),
        "https://hub.example.com/charts"
    );
}
