//! What the operations benches (`operations`, `log_follows`) and tests share: pods whose
//! container log KWOK serves from a file, and the real hub and agent around a test cluster.

use std::path::Path;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kubeworkz_testkit::cluster::{PodLogs, TestCluster};
use serde_json::json;

use crate::support::hub::{self as hub_support, Hub};
use crate::support::real_agent::{self, Agent};

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// Creates pod `namespace/name` (one container, `app`) whose log KWOK serves from `log`
/// (followed or not); returns its uid.
pub async fn pod_with_log(
    cluster: &TestCluster,
    namespace: &str,
    name: &str,
    log: &Path,
    follow: bool,
) -> Result<String> {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
    }))?;
    let uid = Api::<Pod>::namespaced(cluster.client(), namespace)
        .create(&PostParams::default(), &pod)
        .await?
        .metadata
        .uid
        .context("pod uid")?;
    cluster
        .set_pod_logs(
            namespace,
            name,
            &[PodLogs {
                containers: vec![],
                logs_file: log,
                previous_logs_file: None,
                follow,
            }],
        )
        .await?;
    Ok(uid)
}

/// The real hub (SQLite in `dir`, with an admin) and the real agent installed from the chart
/// on `cluster` with `operations`, and the admin's session.
pub struct Stack {
    pub hub: Hub,
    pub agent: Agent,
    /// The API's base URL.
    pub base: String,
    /// The admin's session cookie.
    pub session: String,
}

impl Stack {
    pub async fn start(cluster: &TestCluster, dir: &Path, operations: &str) -> Result<Self> {
        let db = format!("sqlite://{}", dir.join("kubeworkz.db").display());
        let mut hub = Hub::start_with_admin(&db, ADMIN_EMAIL, ADMIN_PASSWORD);
        let quic = hub.quic_addr()?;
        let base = hub.api_url()?;
        let token = hub_support::token_create(&db, "bench")?["token"]
            .as_str()
            .context("token")?
            .to_owned();
        let (agent, _) =
            real_agent::from_chart(cluster, dir, quic, &token, operations, &[]).await?;
        let session = hub_support::login_session(&base, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
        Ok(Self {
            hub,
            agent,
            base,
            session,
        })
    }
}
