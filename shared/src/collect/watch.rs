//! One kube-rs watcher per kind, turned into one stream of [`Change`]s.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    LimitRange, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, ResourceQuota,
    Secret,
};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::change::{Change, Object, ObjectKey, ObjectKind};
use crate::model::helm::HelmSecretLabels;
use crate::model::{HelmReleaseProjection, Labels};

/// Objects per list page. kube-rs holds a whole page decoded while it yields it, so the
/// initial list of a large cluster peaks at one page of full objects (pods with their
/// managedFields): 100 keeps that peak small for a few more list calls.
const LIST_PAGE_SIZE: u32 = 100;

/// Field selector of the Secrets Helm stores releases in.
const HELM_SECRET_SELECTOR: &str = "type=helm.sh/release.v1";

/// All inventory kinds `config` collects, merged. Watch errors are logged and retried with
/// backoff.
pub(super) fn inventory_changes(
    client: Client,
    config: &super::CollectorConfig,
) -> BoxStream<'static, Change> {
    let mut streams = vec![
        kind_stream::<Node>(Api::all(client.clone()), ObjectKind::Node, |o| {
            Object::Node(o.into())
        }),
        kind_stream::<Namespace>(Api::all(client.clone()), ObjectKind::Namespace, |o| {
            Object::Namespace(o.into())
        }),
        kind_stream::<Deployment>(Api::all(client.clone()), ObjectKind::Deployment, |o| {
            Object::Deployment(o.into())
        }),
        kind_stream::<Pod>(Api::all(client.clone()), ObjectKind::Pod, |o| {
            Object::Pod(o.into())
        }),
        kind_stream::<PersistentVolumeClaim>(
            Api::all(client.clone()),
            ObjectKind::PersistentVolumeClaim,
            |o| Object::PersistentVolumeClaim(o.into()),
        ),
        kind_stream::<PersistentVolume>(
            Api::all(client.clone()),
            ObjectKind::PersistentVolume,
            |o| Object::PersistentVolume(o.into()),
        ),
        kind_stream::<StorageClass>(Api::all(client.clone()), ObjectKind::StorageClass, |o| {
            Object::StorageClass(o.into())
        }),
    ];
    streams.extend(
        config
            .workloads
            .iter()
            .chain(&config.quotas)
            .filter_map(|kind| switchable_stream(&client, *kind)),
    );
    if config.helm_releases {
        streams.push(helm_stream(client));
    }
    stream::select_all(streams).boxed()
}

/// The watcher of one kind the configuration can switch off ([`ObjectKind::WORKLOADS`],
/// [`ObjectKind::QUOTAS`]); `None` for any other kind.
fn switchable_stream(client: &Client, kind: ObjectKind) -> Option<BoxStream<'static, Change>> {
    let client = client.clone();
    Some(match kind {
        ObjectKind::StatefulSet => {
            kind_stream::<StatefulSet>(Api::all(client), kind, |o| Object::StatefulSet(o.into()))
        }
        ObjectKind::DaemonSet => {
            kind_stream::<DaemonSet>(Api::all(client), kind, |o| Object::DaemonSet(o.into()))
        }
        ObjectKind::ReplicaSet => {
            kind_stream::<ReplicaSet>(Api::all(client), kind, |o| Object::ReplicaSet(o.into()))
        }
        ObjectKind::Job => kind_stream::<Job>(Api::all(client), kind, |o| Object::Job(o.into())),
        ObjectKind::CronJob => {
            kind_stream::<CronJob>(Api::all(client), kind, |o| Object::CronJob(o.into()))
        }
        ObjectKind::ResourceQuota => kind_stream::<ResourceQuota>(Api::all(client), kind, |o| {
            Object::ResourceQuota(o.into())
        }),
        ObjectKind::LimitRange => {
            kind_stream::<LimitRange>(Api::all(client), kind, |o| Object::LimitRange(o.into()))
        }
        _ => return None,
    })
}

/// The key of a (possibly deleted) object from its metadata.
pub(super) fn key_of<K: Resource>(kind: ObjectKind, obj: &K) -> ObjectKey {
    let meta = obj.meta();
    ObjectKey {
        kind,
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
    }
}

fn kind_stream<K>(
    api: Api<K>,
    kind: ObjectKind,
    project: fn(&K) -> Object,
) -> BoxStream<'static, Change>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    kube::runtime::watcher(api, watcher::Config::default().page_size(LIST_PAGE_SIZE))
        .default_backoff()
        .filter_map(move |event| async move {
            match event {
                Ok(Event::Init) => Some(Change::SnapshotBegin { kinds: vec![kind] }),
                Ok(Event::InitApply(obj) | Event::Apply(obj)) => {
                    Some(Change::Upsert(project(&obj)))
                }
                Ok(Event::InitDone) => Some(Change::SnapshotEnd { kinds: vec![kind] }),
                Ok(Event::Delete(obj)) => Some(Change::Delete(key_of(kind, &obj))),
                Err(err) => {
                    tracing::warn!(?kind, error = %err, "watch failed; retrying");
                    None
                }
            }
        })
        .boxed()
}

/// Helm releases: Secret *metadata* is watched, and a payload is fetched only for a release
/// revision not seen before or whose status label changed — so the collector never holds
/// payloads, and reads secrets only as often as Helm writes them.
fn helm_stream(client: Client) -> BoxStream<'static, Change> {
    // `Api<PartialObjectMeta<_>>` makes kube-rs request metadata only.
    let api: Api<PartialObjectMeta<Secret>> = Api::all(client.clone());
    let config = watcher::Config::default()
        .fields(HELM_SECRET_SELECTOR)
        .page_size(LIST_PAGE_SIZE);
    let seen: Arc<tokio::sync::Mutex<HelmSeen>> = Arc::default();
    kube::runtime::watcher(api, config)
        .default_backoff()
        .then(move |event| {
            let client = client.clone();
            let seen = seen.clone();
            async move { helm_event(&client, &mut *seen.lock().await, event).await }
        })
        .filter_map(|change| async move { change })
        .boxed()
}

type HelmSeen = HashMap<String, (HelmSecretLabels, HelmReleaseProjection)>;

async fn helm_event(
    client: &Client,
    seen: &mut HelmSeen,
    event: watcher::Result<Event<PartialObjectMeta<Secret>>>,
) -> Option<Change> {
    let kind = ObjectKind::HelmRelease;
    match event {
        Ok(Event::Init) => Some(Change::SnapshotBegin { kinds: vec![kind] }),
        Ok(Event::InitDone) => Some(Change::SnapshotEnd { kinds: vec![kind] }),
        Ok(Event::Delete(meta)) => {
            seen.remove(&meta.uid().unwrap_or_default());
            Some(Change::Delete(key_of(kind, &meta)))
        }
        Ok(Event::InitApply(meta) | Event::Apply(meta)) => {
            let uid = meta.uid().unwrap_or_default();
            let labels: Labels = meta.labels().clone().into_iter().collect();
            let current = HelmSecretLabels::from_labels(&labels)?; // not written by Helm
            if let Some((known, projection)) = seen.get(&uid)
                && *known == current
            {
                return Some(Change::Upsert(Object::HelmRelease(projection.clone())));
            }
            let projection = fetch_release(client, &meta).await?;
            seen.insert(uid, (current, projection.clone()));
            Some(Change::Upsert(Object::HelmRelease(projection)))
        }
        Err(err) => {
            tracing::warn!(kind = ?kind, error = %err, "watch failed; retrying");
            None
        }
    }
}

async fn fetch_release(
    client: &Client,
    meta: &PartialObjectMeta<Secret>,
) -> Option<HelmReleaseProjection> {
    let namespace = meta.namespace().unwrap_or_default();
    let name = meta.name_any();
    let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    match api.get_opt(&name).await {
        Ok(Some(secret)) => match HelmReleaseProjection::try_from(&secret) {
            Ok(projection) => Some(projection),
            Err(err) => {
                tracing::warn!(%namespace, %name, error = %err, "unreadable helm release");
                None
            }
        },
        Ok(None) => None, // deleted meanwhile; the delete event follows
        Err(err) => {
            tracing::warn!(%namespace, %name, error = %err, "reading helm release failed");
            None
        }
    }
}
