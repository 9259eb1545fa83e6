//! Pull mode: clusters registered by kubeconfig and collected by the hub itself.
//!
//! [`register`] is the one registration path (the CLI now, the REST API later): validate the
//! kubeconfig, test the connection, detect the provider, seal the kubeconfig bound to the new
//! cluster's id, store. [`supervisor`] then runs the same collector code as the agent, one task
//! per cluster. The kubeconfig is opened only inside that task and never returned, logged or
//! put in an error.

pub mod connector;
pub mod egress;
pub mod shard;
pub mod supervisor;

use std::sync::Arc;
use std::time::Duration;

use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::provider::detect_provider;

use crate::keys::kubeconfig_context;
use crate::kubeconfig::{self, KubeconfigError};
use crate::seal::Keyring;
use crate::store::{
    Cluster, ClusterMode, Environment, NewCluster, SealedKubeconfig, Store, StoreError,
};

pub use egress::EgressPolicy;
pub use supervisor::{PullConfig, PullSupervisor};

/// How long registration waits for the cluster to answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// How registration tests a kubeconfig's connection: how long it waits, and where the hub
/// may connect (the same policy the collectors run under).
#[derive(Debug, Clone)]
pub struct ProbeSettings {
    /// How long the test waits for the cluster to answer.
    pub timeout: Duration,
    /// Which addresses may be contacted.
    pub egress: Arc<EgressPolicy>,
}

impl ProbeSettings {
    /// [`PROBE_TIMEOUT`] under `egress`.
    pub fn new(egress: EgressPolicy) -> Self {
        Self {
            timeout: PROBE_TIMEOUT,
            egress: Arc::new(egress),
        }
    }
}

/// A request to register a cluster by kubeconfig.
#[derive(Clone)]
pub struct Registration {
    /// Organization.
    pub org_id: OrgId,
    /// Name, unique within the organization.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Environment.
    pub environment: Environment,
    /// Tags.
    pub tags: Vec<String>,
    /// The kubeconfig YAML (secret).
    pub kubeconfig: String,
    /// The context to use; the current one when `None`.
    pub context: Option<String>,
    /// Who registers it.
    pub created_by: Option<String>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("org_id", &self.org_id)
            .field("name", &self.name)
            .field("environment", &self.environment)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// Why a registration failed. Messages are safe to show: they never contain the kubeconfig.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The name is empty or too long.
    #[error("cluster name must be 1 to 63 characters")]
    InvalidName,
    /// The kubeconfig cannot be used, or the cluster did not answer.
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    /// The store refused (a taken name is [`StoreError::Conflict`]).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The stored name of a detected provider ([`kubeworkz_shared::model::Provider::name`]).
pub fn provider_name(provider: kubeworkz_shared::model::Provider) -> String {
    provider.name().to_owned()
}

/// Registers a cluster by kubeconfig; see the module docs.
#[tracing::instrument(skip_all, fields(cluster = %request.name))]
pub async fn register(
    store: &Store,
    keyring: &Keyring,
    request: Registration,
    probe: &ProbeSettings,
) -> Result<(Cluster, Vec<String>), RegisterError> {
    if request.name.is_empty() || request.name.len() > 63 {
        return Err(RegisterError::InvalidName);
    }
    let id = ClusterId::new();
    let prepared = prepare(
        keyring,
        id,
        &request.kubeconfig,
        request.context.as_deref(),
        probe,
    )
    .await?;
    let cluster = store
        .create_cluster(&NewCluster {
            id,
            org_id: request.org_id,
            name: request.name,
            description: request.description,
            environment: request.environment,
            tags: request.tags,
            mode: ClusterMode::Kubeconfig,
            api_server_url: Some(prepared.server),
            provider: Some(prepared.provider.clone()),
            version: Some(prepared.version),
            kubeconfig: Some(prepared.sealed),
            created_by: request.created_by,
        })
        .await?;
    tracing::info!(
        cluster_id = %cluster.id,
        provider = %prepared.provider,
        evidence = %prepared.evidence,
        "cluster registered by kubeconfig"
    );
    Ok((cluster, prepared.warnings))
}

/// A kubeconfig that passed validation and the connection test, sealed for its cluster.
struct Prepared {
    sealed: SealedKubeconfig,
    server: String,
    provider: String,
    evidence: String,
    version: String,
    warnings: Vec<String>,
}

/// Validate → probe → detect provider → seal bound to `id`: what registering and replacing
/// a kubeconfig share.
async fn prepare(
    keyring: &Keyring,
    id: ClusterId,
    yaml: &str,
    context: Option<&str>,
    settings: &ProbeSettings,
) -> Result<Prepared, KubeconfigError> {
    let validated = kubeconfig::validate(yaml, context)?;
    let probe = kubeconfig::probe(&validated, settings.egress.clone(), settings.timeout).await?;
    let detection = detect_provider(Some(&probe.git_version), &probe.nodes);
    Ok(Prepared {
        sealed: SealedKubeconfig {
            blob: keyring.seal(validated.to_yaml().as_bytes(), &kubeconfig_context(&id)),
            key_id: keyring.current_id().to_string(),
        },
        server: validated.server.clone(),
        provider: provider_name(detection.provider),
        evidence: detection.evidence,
        version: probe.git_version,
        warnings: validated.warnings,
    })
}

/// Replaces the kubeconfig of an existing pull-mode cluster after the same checks as
/// [`register`]; the running collector picks it up at the supervisor's next refresh.
/// `Ok(None)` when the cluster is not the organization's.
#[tracing::instrument(skip_all, fields(cluster_id = %id))]
pub async fn replace_kubeconfig(
    store: &Store,
    keyring: &Keyring,
    org: OrgId,
    id: ClusterId,
    yaml: &str,
    context: Option<&str>,
    probe: &ProbeSettings,
) -> Result<Option<Vec<String>>, RegisterError> {
    let prepared = prepare(keyring, id, yaml, context, probe).await?;
    if !store
        .replace_kubeconfig(org, id, &prepared.sealed, Some(&prepared.server))
        .await?
    {
        return Ok(None);
    }
    store
        .record_identity(org, id, Some(&prepared.provider), Some(&prepared.version))
        .await?;
    tracing::info!("kubeconfig replaced");
    Ok(Some(prepared.warnings))
}
