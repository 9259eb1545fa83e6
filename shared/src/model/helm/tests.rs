//! Tests for Helm release decoding, on payloads built the way Helm's storage driver writes them.

use std::io::Write;

use base64::Engine;
use flate2::Compression;
use flate2::write::GzEncoder;

use super::*;

/// A release as `json.Marshal(release.Release)` writes it, with the bulky parts kept so that
/// the decoder proves it skips them.
const RELEASE_JSON: &str = r#"{
  "name": "ingress-nginx",
  "info": {
    "first_deployed": "2024-04-02T08:00:00.123456789Z",
    "last_deployed": "2024-05-01T10:00:00.5+02:00",
    "deleted": "",
    "description": "Upgrade complete",
    "status": "deployed",
    "notes": "The ingress-nginx controller has been installed."
  },
  "chart": {
    "metadata": {
      "name": "ingress-nginx", "home": "https://github.com/kubernetes/ingress-nginx",
      "version": "4.10.1", "description": "Ingress controller for Kubernetes",
      "keywords": ["ingress", "nginx"], "apiVersion": "v2", "appVersion": "1.10.1",
      "kubeVersion": ">=1.21.0-0"
    },
    "lock": null,
    "templates": [{"name": "templates/deployment.yaml", "data": "YXBpVmVyc2lvbjogYXBwcy92MQ=="}],
    "values": {"controller": {"replicaCount": 2, "service": {"type": "LoadBalancer"}}},
    "schema": null,
    "files": []
  },
  "config": {"controller": {"replicaCount": 3}},
  "manifest": "---\n# Source: ingress-nginx/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\n",
  "hooks": [{"name": "ingress-nginx-admission-create", "kind": "Job", "path": "templates/job.yaml",
             "manifest": "apiVersion: batch/v1", "events": ["pre-install", "pre-upgrade"],
             "last_run": {"started_at": "", "completed_at": "", "phase": ""}}],
  "version": 7,
  "namespace": "ingress-nginx"
}"#;

/// Helm's `encodeRelease`: gzip at best compression, then standard base64.
fn helm_encode(json: &[u8]) -> Vec<u8> {
    let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
    gzip.write_all(json).unwrap();
    BASE64.encode(gzip.finish().unwrap()).into_bytes()
}

fn release_secret(payload_as_api_json: &str, secret_type: &str) -> Secret {
    serde_json::from_str(&format!(
        r#"{{"apiVersion": "v1", "kind": "Secret", "type": "{secret_type}",
            "metadata": {{"name": "sh.helm.release.v1.ingress-nginx.v7", "namespace": "ingress-nginx",
              "uid": "6c2f8e0a-4b1d-4f3e-9a7c-1d2e3f4a5b6c",
              "labels": {{"name": "ingress-nginx", "owner": "helm", "status": "deployed", "version": "7"}}}},
            "data": {{"release": "{payload_as_api_json}"}}}}"#
    ))
    .unwrap()
}

fn expected() -> HelmReleaseProjection {
    HelmReleaseProjection {
        name: "ingress-nginx".into(),
        namespace: "ingress-nginx".into(),
        uid: String::new(),
        revision: 7,
        status: HelmReleaseStatus::Deployed,
        chart_name: "ingress-nginx".into(),
        chart_version: "4.10.1".into(),
        app_version: Some("1.10.1".into()),
        updated: UnixMillis::parse_rfc3339("2024-05-01T08:00:00.5Z"),
    }
}

#[test]
fn payload_written_like_helm_decodes_to_the_projection() {
    let payload = helm_encode(RELEASE_JSON.as_bytes());
    assert_eq!(decode_release(&payload).unwrap(), expected());
}

#[test]
fn secret_from_the_api_decodes_through_both_base64_layers() {
    // The API serves Secret data base64-encoded: base64(base64(gzip(json))).
    let api_value = BASE64.encode(helm_encode(RELEASE_JSON.as_bytes()));
    let secret = release_secret(&api_value, HELM_SECRET_TYPE);
    let release = HelmReleaseProjection::try_from(&secret).unwrap();
    assert_eq!(release.uid, "6c2f8e0a-4b1d-4f3e-9a7c-1d2e3f4a5b6c");
    assert_eq!(release.secret_name(), "sh.helm.release.v1.ingress-nginx.v7");
    assert_eq!(
        HelmReleaseProjection {
            uid: String::new(),
            ..release
        },
        expected()
    );
}

#[test]
fn undecoded_api_text_is_accepted_too() {
    let api_value = BASE64.encode(helm_encode(RELEASE_JSON.as_bytes()));
    assert_eq!(decode_release(api_value.as_bytes()).unwrap(), expected());
}

#[test]
fn releases_stored_before_compression_decode() {
    let payload = BASE64.encode(RELEASE_JSON.as_bytes());
    assert_eq!(decode_release(payload.as_bytes()).unwrap(), expected());
}

#[test]
fn statuses_map_from_helm_strings() {
    let cases = [
        ("deployed", HelmReleaseStatus::Deployed),
        ("superseded", HelmReleaseStatus::Superseded),
        ("failed", HelmReleaseStatus::Failed),
        ("uninstalled", HelmReleaseStatus::Uninstalled),
        ("uninstalling", HelmReleaseStatus::Uninstalling),
        ("pending-install", HelmReleaseStatus::PendingInstall),
        ("pending-upgrade", HelmReleaseStatus::PendingUpgrade),
        ("pending-rollback", HelmReleaseStatus::PendingRollback),
        ("unknown", HelmReleaseStatus::Unknown),
        ("Deployed", HelmReleaseStatus::Unknown),
    ];
    for (text, want) in cases {
        let json =
            RELEASE_JSON.replace(r#""status": "deployed""#, &format!(r#""status": "{text}""#));
        assert_eq!(
            decode_release(&helm_encode(json.as_bytes()))
                .unwrap()
                .status,
            want,
            "{text}"
        );
    }
}

#[test]
fn minimal_release_without_app_version_or_dates() {
    let json = r#"{"name": "plain", "namespace": "default", "version": 1,
                   "info": {"status": "failed"}, "chart": {"metadata": {"name": "plain", "version": "0.1.0"}}}"#;
    let release = decode_release(&helm_encode(json.as_bytes())).unwrap();
    assert_eq!(release.app_version, None);
    assert_eq!(release.updated, None);
    assert_eq!(release.status, HelmReleaseStatus::Failed);
}

#[test]
fn corrupt_payloads_are_clear_errors() {
    let gzip = {
        let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
        gzip.write_all(RELEASE_JSON.as_bytes()).unwrap();
        gzip.finish().unwrap()
    };
    let truncated_gzip = BASE64.encode(&gzip[..gzip.len() / 2]);
    let gzip_of_text = helm_encode(b"not json at all");
    let no_name = helm_encode(br#"{"version": 3, "info": {"status": "deployed"}}"#);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "not base64",
            b"%%% definitely not base64 %%%".to_vec(),
            "not base64",
        ),
        ("empty", Vec::new(), "not release json"),
        (
            "truncated gzip",
            truncated_gzip.into_bytes(),
            "not valid gzip",
        ),
        ("gzip of text", gzip_of_text, "not release json"),
        ("json without name", no_name, "no release name"),
        (
            "json array",
            BASE64.encode(b"[1, 2]").into_bytes(),
            "not release json",
        ),
    ];
    for (what, payload, message) in cases {
        let err = decode_release(&payload).unwrap_err();
        assert!(err.to_string().contains(message), "{what}: {err}");
    }
}

#[test]
fn oversized_decompressed_payloads_are_refused() {
    let payload = helm_encode(RELEASE_JSON.as_bytes());
    let limit = RELEASE_JSON.len() as u64 - 1;
    assert!(matches!(
        decode_release_limited(&payload, limit),
        Err(HelmDecodeError::TooLarge)
    ));
    assert!(decode_release_limited(&payload, limit + 1).is_ok());
}

#[test]
fn secrets_of_other_types_or_without_payload_are_refused() {
    let opaque = release_secret("e30=", "Opaque");
    assert!(matches!(
        HelmReleaseProjection::try_from(&opaque),
        Err(HelmDecodeError::NotAReleaseSecret(Some(t))) if t == "Opaque"
    ));
    let mut empty = release_secret("e30=", HELM_SECRET_TYPE);
    empty.data = None;
    assert!(matches!(
        HelmReleaseProjection::try_from(&empty),
        Err(HelmDecodeError::MissingPayload)
    ));
}

#[test]
fn secret_labels_identify_revision_without_the_payload() {
    let secret = release_secret("e30=", HELM_SECRET_TYPE);
    let labels = secret.metadata.labels.unwrap();
    assert_eq!(
        HelmSecretLabels::from_labels(&labels),
        Some(HelmSecretLabels {
            name: "ingress-nginx".into(),
            revision: 7,
            status: HelmReleaseStatus::Deployed
        })
    );
    let mut not_helm = labels.clone();
    not_helm.insert("owner".into(), "flux".into());
    assert_eq!(HelmSecretLabels::from_labels(&not_helm), None);
    let mut bad_version = labels;
    bad_version.insert("version".into(), "seven".into());
    assert_eq!(HelmSecretLabels::from_labels(&bad_version), None);
}
