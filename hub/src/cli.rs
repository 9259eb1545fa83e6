//! The operator CLI beside `serve`: one-off commands against the hub's database.

pub mod listing;
pub mod prices;
pub mod sso;
pub mod users;

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use kubeworkz_hub::auth::enrollment::{self, TokenRequest};
use kubeworkz_hub::config::DatabaseUrl;
use kubeworkz_hub::keys::{self, KeyConfig};
use kubeworkz_hub::pull::egress::EgressArgs;
use kubeworkz_hub::pull::{self, ProbeSettings, Registration};
use kubeworkz_hub::server::open_store;
use kubeworkz_hub::store::{AuditEntry, Cluster, Environment, OperationSwitches, Store};
use kubeworkz_shared::ids::OrgId;

use listing::Listing;
pub use listing::Output;

/// Where the database and the master key are: the same options and environment as `serve`.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Database: `sqlite://PATH` or `postgres://…`.
    #[arg(
        long,
        env = "KUBEWORKZ_DATABASE_URL",
        default_value = "sqlite://kubeworkz.db",
        hide_env_values = true
    )]
    database_url: DatabaseUrl,

    #[command(flatten)]
    keys: KeyConfig,

    /// Organization, by name (default: `default`). `user` commands that name a user by
    /// email need it only when that email exists in several organizations.
    #[arg(long)]
    org: Option<String>,
}

impl StoreArgs {
    /// The organization named with `--org`, or `default`.
    fn org_name(&self) -> &str {
        self.org
            .as_deref()
            .unwrap_or(kubeworkz_hub::store::DEFAULT_ORG)
    }

    async fn open(&self) -> anyhow::Result<(Store, OrgId)> {
        let store = open_store(&self.database_url).await?;
        let org = organization_id(&store, self.org_name()).await?;
        Ok((store, org))
    }

    /// The organization of `--org` in an open store.
    async fn org_in(&self, store: &Store) -> anyhow::Result<OrgId> {
        organization_id(store, self.org_name()).await
    }

    /// The master keyring, as `serve` loads it.
    fn keyring(&self) -> anyhow::Result<(kubeworkz_hub::seal::Keyring, keys::KeySource)> {
        Ok(self.keys.load(&self.database_url)?)
    }
}

/// The id of the organization named `name`.
async fn organization_id(store: &Store, name: &str) -> anyhow::Result<OrgId> {
    Ok(store
        .organization_by_name(name)
        .await
        .context("looking up the organization")?
        .with_context(|| format!("organization {name:?} does not exist"))?
        .id)
}

/// `kubeworkz-hub cluster …`
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Register a cluster by kubeconfig (pull mode). The kubeconfig is validated, the
    /// connection tested, and the file stored sealed; it is never shown again.
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// Name, unique in the organization.
        #[arg(long)]
        name: String,
        /// production, staging or development.
        #[arg(long = "env", default_value = "production")]
        environment: String,
        /// A tag; repeat for several.
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Free text.
        #[arg(long, default_value = "")]
        description: String,
        /// The kubeconfig file, or `-` for standard input.
        #[arg(long)]
        kubeconfig: PathBuf,
        /// The context to use (default: the current context).
        #[arg(long)]
        context: Option<String>,
        /// Where the connection test may connect: the same flags and environment as `serve`.
        #[command(flatten)]
        egress: EgressArgs,
    },
    /// List the organization's clusters.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// `text` or `json`.
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Remove a cluster (by name or id) and everything collected from it.
    Remove {
        #[command(flatten)]
        store: StoreArgs,
        /// Name or id.
        cluster: String,
    },
    /// Disable a cluster (by name or id): it is no longer collected, its agent's live
    /// connection is closed by a running hub within seconds, and its next connection and
    /// certificate renewal are refused. Nothing collected is deleted.
    Disable {
        #[command(flatten)]
        store: StoreArgs,
        /// Name or id.
        cluster: String,
    },
    /// Enable a disabled cluster again (by name or id); its agent reconnects on its own.
    Enable {
        #[command(flatten)]
        store: StoreArgs,
        /// Name or id.
        cluster: String,
    },
}

/// `kubeworkz-hub token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an enrollment token for one cluster and print the agent install command. The
    /// token is shown once, here; the hub keeps only a hash of its secret.
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// Name of the cluster the agent will speak for (created on enrollment).
        #[arg(long)]
        name: String,
        /// production, staging or development.
        #[arg(long = "env", default_value = "production")]
        environment: String,
        /// A tag; repeat for several.
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// How long the token may be redeemed: `30m`, `1h`, `7d`, or seconds.
        #[arg(long, default_value = "1h", value_parser = parse_ttl)]
        ttl: Duration,
        /// Allow more than one enrollment with this token (e.g. reinstalls).
        #[arg(long)]
        reusable: bool,
        /// The `HOST:PORT` agents reach the hub's QUIC endpoint at.
        #[arg(
            long,
            env = "KUBEWORKZ_PUBLIC_ADDRESS",
            default_value = "localhost:7443"
        )]
        hub_address: String,
        /// The URL people and Helm reach the hub's HTTP side at
        /// (`https://kubeworkz.example.com`): the install line's chart repository is
        /// `<URL>/charts`. Unset: `http://` and the address `serve` listens on (`--listen`).
        #[arg(long, env = "KUBEWORKZ_PUBLIC_URL")]
        public_url: Option<kubeworkz_hub::public_url::PublicUrl>,
        /// The address `serve` listens on, for the repository URL when `--public-url` is
        /// not set.
        #[arg(long, env = "KUBEWORKZ_LISTEN", default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// `text` or `json`.
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// List the organization's enrollment tokens (never their secrets).
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// `text` or `json`.
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Revoke an enrollment token by its id.
    Revoke {
        #[command(flatten)]
        store: StoreArgs,
        /// The token's public id (the `ID` column of `token list`).
        id: String,
    },
}

/// `kubeworkz-hub org …`
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization (nothing happens if it exists).
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// Its unique name.
        name: String,
    },
    /// Show or set what the organization's roles may do on clusters beyond their rank
    /// (recorded in the audit log as actor `cli`).
    Operations {
        #[command(flatten)]
        store: StoreArgs,
        /// Whether viewers read pods' logs and objects' events.
        #[arg(long)]
        viewers_read_logs: Option<bool>,
        /// Whether operators may open a terminal in a container.
        #[arg(long)]
        operators_exec: Option<bool>,
    },
}

/// `kubeworkz-hub keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Seal everything under a new master key (with a key file, a new key is added and the
    /// old ones kept for opening; with `KUBEWORKZ_MASTER_KEY`, the current key is used).
    Rotate {
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub async fn cluster(command: ClusterCommand) -> anyhow::Result<()> {
    match command {
        ClusterCommand::Add {
            store: args,
            name,
            environment,
            tags,
            description,
            kubeconfig,
            context,
            egress,
        } => {
            let environment: Environment = environment.parse()?;
            let yaml = read_kubeconfig(&kubeconfig)?;
            let (store, org_id) = args.open().await?;
            let (keyring, _) = args.keys.load(&args.database_url)?;
            let request = Registration {
                org_id,
                name,
                description,
                environment,
                tags,
                kubeconfig: yaml,
                context,
                created_by: Some("cli".into()),
            };
            let (cluster, warnings) = pull::register(
                &store,
                &keyring,
                request,
                &ProbeSettings::new(egress.policy()),
            )
            .await?;
            println!(
                "registered {} ({}): {}, {}, server {}",
                cluster.name,
                cluster.id,
                cluster.provider.as_deref().unwrap_or("unknown provider"),
                cluster.version.as_deref().unwrap_or("unknown version"),
                cluster.api_server_url.as_deref().unwrap_or("-"),
            );
            for warning in warnings {
                println!("warning: {warning}");
            }
            println!("a running hub starts collecting it within its pull refresh interval");
            store.close().await;
            Ok(())
        }
        ClusterCommand::List {
            store: args,
            output,
        } => {
            let (store, org) = args.open().await?;
            let clusters = store.list_clusters(org).await?;
            cluster_listing(&clusters).print(output);
            store.close().await;
            Ok(())
        }
        ClusterCommand::Remove {
            store: args,
            cluster,
        } => {
            let (store, org) = args.open().await?;
            let found = find_cluster(&store, org, &args, &cluster).await?;
            store.delete_cluster(org, found.id).await?;
            println!("removed {} ({})", found.name, found.id);
            store.close().await;
            Ok(())
        }
        ClusterCommand::Disable {
            store: args,
            cluster,
        } => set_enabled(&args, &cluster, false).await,
        ClusterCommand::Enable {
            store: args,
            cluster,
        } => set_enabled(&args, &cluster, true).await,
    }
}

/// The organization's cluster named `cluster` (or with that id).
pub(crate) async fn find_cluster(
    store: &Store,
    org: OrgId,
    args: &StoreArgs,
    cluster: &str,
) -> anyhow::Result<Cluster> {
    let clusters = store.list_clusters(org).await?;
    clusters
        .into_iter()
        .find(|c| c.name == cluster || c.id.to_string() == cluster)
        .with_context(|| {
            format!(
                "no cluster named {cluster:?} in organization {:?}",
                args.org_name()
            )
        })
}

/// `cluster disable|enable`: flips the flag in the store; running hubs (this host's or
/// another replica's) notice on their next enabled check.
async fn set_enabled(args: &StoreArgs, cluster: &str, enabled: bool) -> anyhow::Result<()> {
    let (store, org) = args.open().await?;
    let found = find_cluster(&store, org, args, cluster).await?;
    let changed = store.set_cluster_enabled(org, found.id, enabled).await?;
    store.close().await;
    if !changed {
        bail!("cluster {cluster:?} disappeared meanwhile");
    }
    let verb = if enabled { "enabled" } else { "disabled" };
    println!("{verb} {} ({})", found.name, found.id);
    Ok(())
}

pub async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Rotate { store: args } => {
            let (store, _) = args.open().await?;
            let report = keys::rotate(&args.keys, &args.database_url, &store).await?;
            println!(
                "sealed with key {}: {} kubeconfig(s) re-sealed, {} identity provider secret(s) re-sealed",
                report.current_key, report.kubeconfigs_resealed, report.client_secrets_resealed
            );
            store.close().await;
            Ok(())
        }
    }
}

pub async fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            store: args,
            name,
            environment,
            tags,
            ttl,
            reusable,
            hub_address,
            public_url,
            listen,
            output,
        } => {
            let environment: Environment = environment.parse()?;
            let (store, org_id) = args.open().await?;
            let (keyring, _) = args.keys.load(&args.database_url)?;
            let issued = enrollment::issue_token(
                &store,
                &keyring,
                TokenRequest {
                    org_id,
                    cluster_name: name,
                    environment,
                    tags,
                    ttl,
                    reusable,
                    created_by: "cli".into(),
                },
            )
            .await
            .context("issuing the enrollment token")?;
            store.close().await;
            let info = issued.info;
            let exposed = issued.token.expose();
            let public_url = public_url.unwrap_or_else(|| {
                eprintln!(
                    "warning: --public-url (KUBEWORKZ_PUBLIC_URL) is not set: the chart repository is assumed at http://{listen}; set it to the hub's public (https) URL in production"
                );
                kubeworkz_hub::public_url::PublicUrl::from_listen(listen)
            });
            let helm = enrollment::helm_command(&public_url, &hub_address, &issued.token);
            match output {
                Output::Json => println!(
                    "{}",
                    serde_json::json!({
                        "id": info.id,
                        "token": exposed,
                        "cluster_name": info.cluster_name,
                        "environment": info.environment.as_str(),
                        "reusable": info.reusable,
                        "expires_at": info.expires_at.to_rfc3339(),
                        "hub_address": hub_address,
                        "chart_repository": kubeworkz_hub::charts::repo_url(public_url.as_str()),
                        "helm": helm,
                    })
                ),
                Output::Text => {
                    println!(
                        "enrollment token {} for cluster {} ({}), expires {}{}",
                        info.id,
                        info.cluster_name,
                        info.environment,
                        info.expires_at.format("%Y-%m-%d %H:%M:%S UTC"),
                        if info.reusable {
                            ", reusable"
                        } else {
                            ", single use"
                        }
                    );
                    println!("token (shown only now): {exposed}");
                    println!("install the agent with:");
                    println!("  {helm}");
                }
            }
            Ok(())
        }
        TokenCommand::List {
            store: args,
            output,
        } => {
            let (store, org) = args.open().await?;
            let tokens = store.enrollment_tokens(org).await?;
            store.close().await;
            let mut listing = Listing::new(&[
                "id",
                "cluster_name",
                "environment",
                "expires_at",
                "reusable",
                "uses",
                "revoked_at",
            ]);
            for t in tokens {
                listing.row(vec![
                    t.id.into(),
                    t.cluster_name.into(),
                    t.environment.as_str().into(),
                    t.expires_at.to_rfc3339().into(),
                    t.reusable.into(),
                    t.uses.into(),
                    t.revoked_at.map(|at| at.to_rfc3339()).into(),
                ]);
            }
            listing.print(output);
            Ok(())
        }
        TokenCommand::Revoke { store: args, id } => {
            let (store, org) = args.open().await?;
            let revoked = store.revoke_enrollment_token(org, &id).await?;
            store.close().await;
            if !revoked {
                bail!(
                    "no unrevoked enrollment token {id:?} in organization {:?}",
                    args.org_name()
                );
            }
            println!("revoked enrollment token {id}");
            Ok(())
        }
    }
}

pub async fn org(command: OrgCommand) -> anyhow::Result<()> {
    match command {
        OrgCommand::Create { store: args, name } => {
            if name.is_empty() || name.len() > 63 {
                bail!("organization name must be 1 to 63 characters");
            }
            let store = open_store(&args.database_url).await?;
            let org = store.ensure_organization(&name).await?;
            store.close().await;
            println!("organization {} ({})", org.name, org.id);
            Ok(())
        }
        OrgCommand::Operations {
            store: args,
            viewers_read_logs,
            operators_exec,
        } => {
            let (store, org) = args.open().await?;
            let before = store.operation_switches(org).await?;
            let after = OperationSwitches {
                viewers_read_logs: viewers_read_logs.unwrap_or(before.viewers_read_logs),
                operators_exec: operators_exec.unwrap_or(before.operators_exec),
            };
            if after != before {
                store.set_operation_switches(org, after).await?;
                let entry = AuditEntry {
                    id: uuid::Uuid::now_v7(),
                    org_id: org,
                    at: chrono::Utc::now(),
                    actor: "cli".into(),
                    action: "organization.operations".into(),
                    target: "organization".into(),
                    result: "success".into(),
                    source_ip: None,
                    request_id: None,
                    detail: Some(after.change_from(before)),
                };
                store.record_audit(&entry).await?;
            }
            store.close().await;
            println!(
                "viewers_read_logs={} operators_exec={}",
                after.viewers_read_logs, after.operators_exec
            );
            Ok(())
        }
    }
}

/// `30s`, `15m`, `1h`, `7d`, or a number of seconds (the API's duration syntax).
fn parse_ttl(text: &str) -> Result<Duration, String> {
    kubeworkz_hub::api::parse_duration(text)
}

/// Reads the kubeconfig file (or stdin), refusing an oversized one before reading it all.
fn read_kubeconfig(path: &PathBuf) -> anyhow::Result<String> {
    let limit = kubeworkz_hub::kubeconfig::MAX_KUBECONFIG_BYTES as u64 + 1;
    let mut text = String::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin().take(limit).read_to_string(&mut text)
    } else {
        std::fs::File::open(path)
            .with_context(|| format!("opening {}", path.display()))?
            .take(limit)
            .read_to_string(&mut text)
    };
    read.with_context(|| format!("reading {} (is it a text file?)", path.display()))?;
    Ok(text)
}

/// The cluster listing; the health is the verdict's name, `unknown` before the first probe.
fn cluster_listing(clusters: &[Cluster]) -> Listing {
    let mut listing = Listing::new(&[
        "id",
        "name",
        "environment",
        "mode",
        "provider",
        "health",
        "last_sync_at",
        "last_error",
    ]);
    for c in clusters {
        let health = c.health.as_ref().map_or("unknown".to_owned(), |h| {
            format!("{:?}", h.status).to_lowercase()
        });
        listing.row(vec![
            c.id.to_string().into(),
            c.name.clone().into(),
            c.environment.to_string().into(),
            c.mode.as_str().into(),
            c.provider.clone().into(),
            health.into(),
            c.last_sync_at.map(|t| t.to_rfc3339()).into(),
            c.last_error.clone().into(),
        ]);
    }
    listing
}
