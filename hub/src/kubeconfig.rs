//! Validating kubeconfigs for pull-mode registration.
//!
//! The hub only stores a kubeconfig it can use safely and unattended, so [`validate`] refuses
//! what would need something outside the file — credential plugins (`exec`,
//! `auth-provider`), certificate or token files on the uploader's machine — and keeps only the
//! chosen context, its cluster and its user: less secret material sealed at rest. Errors say
//! what is wrong and where, never what the file contained: YAML errors give a position, not
//! the offending text, because that text may be a token.

use std::fmt;

use kube::config::{KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext};

/// Largest kubeconfig accepted, in bytes; real ones are a few KiB.
pub const MAX_KUBECONFIG_BYTES: usize = 512 * 1024;

/// Why a kubeconfig cannot be registered. Messages are safe to show and to log.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KubeconfigError {
    /// Over [`MAX_KUBECONFIG_BYTES`].
    #[error("kubeconfig is larger than {max} bytes")]
    TooLarge { max: usize },
    /// Not YAML, or not shaped like a kubeconfig.
    #[error("kubeconfig is not valid YAML{location}")]
    Syntax { location: String },
    /// No context to use.
    #[error("{0}")]
    NoContext(String),
    /// The context names a cluster or user the file does not define.
    #[error("context {context:?} refers to {what} {name:?}, which the kubeconfig does not define")]
    Dangling {
        context: String,
        what: &'static str,
        name: String,
    },
    /// The cluster entry has no server URL, or not an https one.
    #[error("cluster {0:?} has no https server URL")]
    NoServer(String),
    /// Credentials that need a program on the uploader's machine.
    #[error(
        "user {user:?} authenticates with {kind}, which runs a program the hub cannot run \
         safely; install the Kubeworkz agent in that cluster instead (agent mode needs no \
         credentials on the hub)"
    )]
    CredentialPlugin { user: String, kind: &'static str },
    /// A path to a file the hub does not have.
    #[error(
        "{field} of {entry:?} is a file path; embed the data instead \
         (kubectl config view --raw --flatten --minify)"
    )]
    FilePath { entry: String, field: &'static str },
    /// Basic auth, removed from Kubernetes in 1.19.
    #[error("user {0:?} uses basic auth (username/password), which Kubernetes no longer supports")]
    BasicAuth(String),
    /// No credentials at all.
    #[error("user {0:?} has no credentials (a token or a client certificate and key)")]
    NoCredentials(String),
    /// A proxy the hub would not use: it connects to API servers itself, under its egress
    /// policy.
    #[error(
        "cluster {0:?} sets proxy-url, which the hub does not use; remove it (the hub must \
         reach the API server directly)"
    )]
    Proxy(String),
    /// kube refused the kubeconfig's TLS data or credentials (messages name the field, not
    /// its content).
    #[error("kubeconfig cannot be used: {0}")]
    Unusable(String),
    /// The cluster could not be reached or refused the credentials.
    #[error("connection test failed: {0}")]
    Connection(#[from] ProbeError),
}

/// A kubeconfig that passed [`validate`]: one context, its cluster and its user, inline.
#[derive(Clone)]
pub struct ValidatedKubeconfig {
    /// Name of the context kept.
    pub context: String,
    /// The API server URL (not secret; shown in the UI).
    pub server: String,
    /// Things worth telling the operator that do not block registration.
    pub warnings: Vec<String>,
    minified: Kubeconfig,
}

impl fmt::Debug for ValidatedKubeconfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidatedKubeconfig")
            .field("context", &self.context)
            .field("server", &self.server)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

impl ValidatedKubeconfig {
    /// The minified kubeconfig as YAML: the plaintext to seal. Handle with care.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(&self.minified).expect("a parsed kubeconfig serializes")
    }

    /// A kube client configuration for this kubeconfig; private, so that every connection
    /// goes through [`Self::pull_client`] and its egress policy.
    async fn client_config(&self) -> Result<kube::Config, KubeconfigError> {
        let options = KubeConfigOptions {
            context: Some(self.context.clone()),
            ..KubeConfigOptions::default()
        };
        kube::Config::from_custom_kubeconfig(self.minified.clone(), &options)
            .await
            .map_err(|e| KubeconfigError::Unusable(e.to_string()))
    }

    /// The pull-mode client for this kubeconfig under `policy` — the one way registration
    /// and collectors connect, so both pass the same checks. `connect_timeout` replaces the
    /// kubeconfig default (30 s) per address tried.
    pub async fn pull_client(
        &self,
        policy: std::sync::Arc<crate::pull::egress::EgressPolicy>,
        connect_timeout: Option<std::time::Duration>,
    ) -> Result<crate::pull::connector::PullClient, KubeconfigError> {
        let mut config = self.client_config().await?;
        if connect_timeout.is_some() {
            config.connect_timeout = connect_timeout;
        }
        crate::pull::connector::client(config, policy)
            .map_err(|e| KubeconfigError::Unusable(e.to_string()))
    }
}

/// Parses and checks a kubeconfig, choosing `context` or else the current context (or the
/// only one). Pure: no file or network access.
pub fn validate(yaml: &str, context: Option<&str>) -> Result<ValidatedKubeconfig, KubeconfigError> {
    if yaml.len() > MAX_KUBECONFIG_BYTES {
        return Err(KubeconfigError::TooLarge {
            max: MAX_KUBECONFIG_BYTES,
        });
    }
    let config: Kubeconfig = serde_yaml::from_str(yaml).map_err(|e| KubeconfigError::Syntax {
        location: e
            .location()
            .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
            .unwrap_or_default(),
    })?;

    let context_name = match (context, config.current_context.as_deref()) {
        (Some(name), _) => name.to_owned(),
        (None, Some(current)) if !current.is_empty() => current.to_owned(),
        (None, _) => match config.contexts.as_slice() {
            [only] => only.name.clone(),
            [] => {
                return Err(KubeconfigError::NoContext(
                    "kubeconfig has no contexts".into(),
                ));
            }
            _ => {
                return Err(KubeconfigError::NoContext(
                    "kubeconfig has several contexts and no current-context: choose one".into(),
                ));
            }
        },
    };
    let named_context = config
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .ok_or_else(|| {
            let known: Vec<&str> = config.contexts.iter().map(|c| c.name.as_str()).collect();
            KubeconfigError::NoContext(format!(
                "context {context_name:?} not found; the kubeconfig has {known:?}"
            ))
        })?;
    let ctx = named_context
        .context
        .as_ref()
        .ok_or_else(|| KubeconfigError::NoContext(format!("context {context_name:?} is empty")))?;
    let cluster =
        find(&config.clusters, |c: &NamedCluster| &c.name, &ctx.cluster).ok_or_else(|| {
            KubeconfigError::Dangling {
                context: context_name.clone(),
                what: "cluster",
                name: ctx.cluster.clone(),
            }
        })?;
    let user_name = ctx.user.clone().ok_or_else(|| {
        KubeconfigError::NoContext(format!("context {context_name:?} names no user"))
    })?;
    let user =
        find(&config.auth_infos, |u: &NamedAuthInfo| &u.name, &user_name).ok_or_else(|| {
            KubeconfigError::Dangling {
                context: context_name.clone(),
                what: "user",
                name: user_name.clone(),
            }
        })?;

    let mut warnings = Vec::new();
    let server = check_cluster(cluster, &mut warnings)?;
    check_user(user)?;

    let minified = Kubeconfig {
        current_context: Some(context_name.clone()),
        contexts: vec![NamedContext {
            name: context_name.clone(),
            ..named_context.clone()
        }],
        clusters: vec![cluster.clone()],
        auth_infos: vec![user.clone()],
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        ..Kubeconfig::default()
    };
    Ok(ValidatedKubeconfig {
        context: context_name,
        server,
        warnings,
        minified,
    })
}

fn find<'a, T>(items: &'a [T], name: impl Fn(&T) -> &String, wanted: &str) -> Option<&'a T> {
    items.iter().find(|item| name(item) == wanted)
}

fn check_cluster(
    named: &NamedCluster,
    warnings: &mut Vec<String>,
) -> Result<String, KubeconfigError> {
    let no_server = || KubeconfigError::NoServer(named.name.clone());
    let cluster = named.cluster.as_ref().ok_or_else(no_server)?;
    let server = cluster.server.clone().ok_or_else(no_server)?;
    if !server.starts_with("https://") {
        return Err(no_server());
    }
    if cluster.proxy_url.is_some() {
        return Err(KubeconfigError::Proxy(named.name.clone()));
    }
    if cluster.certificate_authority.is_some() {
        return Err(KubeconfigError::FilePath {
            entry: named.name.clone(),
            field: "certificate-authority",
        });
    }
    if cluster.insecure_skip_tls_verify == Some(true) {
        warnings.push(format!(
            "cluster {:?} skips TLS verification: the hub cannot tell the real API server from an impostor",
            named.name
        ));
    } else if cluster.certificate_authority_data.is_none() {
        warnings.push(format!(
            "cluster {:?} has no certificate-authority-data: the server must present a publicly trusted certificate",
            named.name
        ));
    }
    Ok(server)
}

fn check_user(named: &NamedAuthInfo) -> Result<(), KubeconfigError> {
    let user = named
        .auth_info
        .as_ref()
        .ok_or_else(|| KubeconfigError::NoCredentials(named.name.clone()))?;
    let plugin = |kind| KubeconfigError::CredentialPlugin {
        user: named.name.clone(),
        kind,
    };
    if user.exec.is_some() {
        return Err(plugin("an exec credential plugin"));
    }
    if user.auth_provider.is_some() {
        return Err(plugin("an auth-provider plugin"));
    }
    let file = |field| KubeconfigError::FilePath {
        entry: named.name.clone(),
        field,
    };
    if user.token_file.is_some() {
        return Err(file("tokenFile"));
    }
    if user.client_certificate.is_some() {
        return Err(file("client-certificate"));
    }
    if user.client_key.is_some() {
        return Err(file("client-key"));
    }
    if user.username.is_some() || user.password.is_some() {
        return Err(KubeconfigError::BasicAuth(named.name.clone()));
    }
    let has_cert = user.client_certificate_data.is_some() && user.client_key_data.is_some();
    if user.token.is_none() && !has_cert {
        return Err(KubeconfigError::NoCredentials(named.name.clone()));
    }
    Ok(())
}

mod probe;

pub use probe::{ProbeError, ProbeRequest, ServerProbe, probe};

#[cfg(test)]
mod tests;
