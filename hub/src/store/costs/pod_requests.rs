//! The part of a stored pod's `data` that right-sizing and the workload usage rollup read:
//! its creation time, its template hash and each running container's requests.
//!
//! Both read every pod of a namespace or cluster (200k at the right-sizing bench's size), and
//! decoding the whole [`PodProjection`](kubeworkz_shared::model::PodProjection) allocated
//! every string of every pod (statuses, images, labels, claims) to keep four fields. Here
//! serde skips what is not named, container names are borrowed from the text where they need
//! no unescaping, and of the labels only `pod-template-hash` is kept.

use std::borrow::Cow;
use std::fmt;

use kubeworkz_shared::model::ContainerKind;
use kubeworkz_shared::model::pod::POD_TEMPLATE_HASH_LABEL;
use kubeworkz_shared::time::UnixMillis;
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, Visitor};

use super::decode;
use crate::store::StoreError;

/// A stored pod as right-sizing sees it.
#[derive(Debug, Deserialize)]
pub(super) struct PodRequests<'a> {
    /// Creation time: the newest live pod runs the workload's current template.
    pub created: Option<UnixMillis>,
    /// Init containers, then app containers (see [`PodRequests::running`]).
    #[serde(borrow)]
    containers: Vec<ContainerRequests<'a>>,
    /// The `pod-template-hash` label.
    #[serde(default, rename = "labels", deserialize_with = "template_hash")]
    pub template: Option<String>,
}

/// One container's requests.
#[derive(Debug, Deserialize)]
pub(super) struct ContainerRequests<'a> {
    /// The container's name (borrowed unless it holds an escape).
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    kind: ContainerKind,
    requests: Requests,
}

#[derive(Debug, Deserialize)]
struct Requests {
    cpu_millis: Option<u64>,
    memory_bytes: Option<u64>,
}

impl ContainerRequests<'_> {
    /// The CPU request in millicores, if set.
    pub fn cpu_millis(&self) -> Option<u64> {
        self.requests.cpu_millis
    }

    /// The memory request in bytes, if set.
    pub fn memory_bytes(&self) -> Option<u64> {
        self.requests.memory_bytes
    }
}

impl<'a> PodRequests<'a> {
    /// Decodes a pod row's `data`.
    pub fn parse(data: &'a str) -> Result<Self, StoreError> {
        serde_json::from_str(data).map_err(decode)
    }

    /// The containers that run beside the app for the pod's life (app and sidecar): init
    /// containers finish before it and have no usage to right-size.
    pub fn running(&self) -> impl Iterator<Item = &ContainerRequests<'a>> {
        self.containers
            .iter()
            .filter(|c| c.kind != ContainerKind::Init)
    }
}

/// Keeps the template hash of a label map and skips the other labels.
fn template_hash<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct Labels;
    impl<'de> Visitor<'de> for Labels {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of labels")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut hash = None;
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                if key == POD_TEMPLATE_HASH_LABEL {
                    hash = Some(map.next_value::<String>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(hash)
        }
    }
    d.deserialize_map(Labels)
}

#[cfg(test)]
mod tests {
    use kubeworkz_shared::model::pod::{ContainerProjection, PodPhase, QosClass};
    use kubeworkz_shared::model::{PodProjection, ResourceAmounts};

    use super::*;

    /// A container as the collector stores it, requesting `cpu` and 64 MiB.
    fn container(name: &str, kind: &str, cpu: Option<u64>) -> ContainerProjection {
        serde_json::from_value(serde_json::json!({
            "name": name, "kind": kind, "restarts": 0, "ready": true, "image": "app:1",
            "requests": {"cpu_millis": cpu, "memory_bytes": 64 << 20}, "limits": {},
        }))
        .expect("a container")
    }

    #[test]
    fn reads_what_the_full_projection_says_of_requests_and_template() {
        let pod = PodProjection {
            name: "web-1".into(),
            namespace: "web".into(),
            uid: "0b0e6c2a-5d1e-4c1e-9a53-3c2b8c0d9e10".into(),
            node: Some("node-a".into()),
            phase: PodPhase::Running,
            owner: None,
            containers: vec![
                container("setup", "Init", Some(2000)),
                container("app \"main\"", "App", Some(250)),
                container("proxy", "Sidecar", None),
            ],
            overhead: ResourceAmounts::default(),
            ready: true,
            start_time: None,
            qos_class: QosClass::Burstable,
            pvc_claims: vec!["data".into()],
            created: Some(UnixMillis(1_700_000_000_000)),
            deleted: None,
            labels: [
                ("app".to_owned(), "web".to_owned()),
                (POD_TEMPLATE_HASH_LABEL.to_owned(), "abc".to_owned()),
                ("tier".to_owned(), "front".to_owned()),
            ]
            .into(),
            reason: None,
        };
        let text = serde_json::to_string(&pod).unwrap();
        let read = PodRequests::parse(&text).unwrap();
        assert_eq!(read.created, Some(UnixMillis(1_700_000_000_000)));
        assert_eq!(read.template.as_deref(), Some("abc"));
        let running: Vec<_> = read
            .running()
            .map(|c| (c.name.as_ref(), c.cpu_millis(), c.memory_bytes()))
            .collect();
        assert_eq!(
            running,
            [
                ("app \"main\"", Some(250), Some(64 << 20)),
                ("proxy", None, Some(64 << 20))
            ]
        );
        // A pod stored before labels were kept has no template; junk is a decode error.
        let mut old: serde_json::Value = serde_json::from_str(&text).unwrap();
        old.as_object_mut().unwrap().remove("labels");
        let old = old.to_string();
        assert_eq!(PodRequests::parse(&old).unwrap().template, None);
        assert!(PodRequests::parse("{\"containers\": 3}").is_err());
    }
}
