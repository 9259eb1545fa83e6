//! `kubeworkz-hub sso …`: an organization's single sign-on settings from the operator's
//! shell, on the same database as `serve`, with the API's checks (`oidc::settings`). The
//! client secret is read from standard input, never from arguments, and never printed.
//! `serve` reads providers from the database on every sign-in, so a change applies at once
//! (a running hub keeps a provider's discovered keys for up to an hour).

use anyhow::Context;
use clap::Subcommand;
use kubeworkz_hub::oidc::settings::{self, ProviderInput};
use kubeworkz_hub::store::{OidcProvider, Store};
use uuid::Uuid;

use super::listing::Listing;
use super::users::read_secret_line;
use super::{Output, StoreArgs};

/// `kubeworkz-hub sso …`
#[derive(Debug, Subcommand)]
pub enum SsoCommand {
    /// List the organization's identity providers and their group mappings.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// `text` or `json`.
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Add an identity provider to `--org`; its client secret is read from standard input.
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// Short name, unique in the organization (lowercase letters, digits, -).
        #[arg(long)]
        name: String,
        /// What the sign-in button names ("Sign in with …").
        #[arg(long)]
        display_name: String,
        /// Issuer URL.
        #[arg(long)]
        issuer: String,
        /// The hub's client id at the provider.
        #[arg(long)]
        client_id: String,
        /// A scope besides `openid` (repeat; default email, profile, offline_access).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// The ID token claim with the groups (default `groups`).
        #[arg(long)]
        groups_claim: Option<String>,
        /// The ID token claim with the email (default `email`).
        #[arg(long)]
        email_claim: Option<String>,
        /// Role of a user in no mapped group (none: such users are refused).
        #[arg(long)]
        default_role: Option<String>,
    },
    /// Remove an identity provider: its users stay, their sign-ins through it end.
    Remove {
        #[command(flatten)]
        store: StoreArgs,
        /// The provider's name.
        #[arg(long)]
        name: String,
    },
    /// Replace a provider's group-to-role mappings (`--group platform=admin`, repeated;
    /// none clears them).
    Map {
        #[command(flatten)]
        store: StoreArgs,
        /// The provider's name.
        #[arg(long)]
        name: String,
        /// GROUP=ROLE.
        #[arg(long = "group")]
        groups: Vec<String>,
    },
    /// Allow (`--disabled false`) or refuse (`--disabled true`) local passwords in `--org`.
    PasswordLogin {
        #[command(flatten)]
        store: StoreArgs,
        /// True: people sign in through the identity providers only.
        #[arg(long, action = clap::ArgAction::Set)]
        disabled: bool,
    },
}

async fn by_name(store: &Store, args: &StoreArgs, name: &str) -> anyhow::Result<OidcProvider> {
    let org = args.org_in(store).await?;
    store
        .oidc_providers(org)
        .await?
        .into_iter()
        .find(|p| p.name == name)
        .with_context(|| format!("no provider {name:?} in organization {:?}", args.org_name()))
}

/// Runs a `sso` command.
pub async fn sso(command: SsoCommand) -> anyhow::Result<()> {
    match command {
        SsoCommand::List {
            store: args,
            output,
        } => {
            let (store, org) = args.open().await?;
            let mut listing = Listing::new(&[
                "name",
                "display_name",
                "issuer",
                "client_id",
                "default_role",
                "groups",
            ]);
            for p in store.oidc_providers(org).await? {
                let groups: Vec<serde_json::Value> = store
                    .oidc_group_roles(org, p.id)
                    .await?
                    .iter()
                    .map(|m| format!("{}={}", m.group, m.role.as_str()).into())
                    .collect();
                listing.row(vec![
                    p.name.into(),
                    p.display_name.into(),
                    p.issuer.into(),
                    p.client_id.into(),
                    p.default_role.map(|r| r.as_str()).into(),
                    groups.into(),
                ]);
            }
            store.close().await;
            listing.print(output);
            Ok(())
        }
        SsoCommand::Add {
            store: args,
            name,
            display_name,
            issuer,
            client_id,
            scopes,
            groups_claim,
            email_claim,
            default_role,
        } => {
            let secret = read_secret_line("client secret")?;
            let (keyring, _) = args.keyring()?;
            let (store, org) = args.open().await?;
            let input = ProviderInput {
                name,
                display_name,
                issuer,
                client_id,
                client_secret: Some(secret),
                scopes: (!scopes.is_empty()).then_some(scopes),
                groups_claim,
                email_claim,
                default_role,
            };
            let provider = settings::provider(input, org, Uuid::now_v7(), &keyring, None)
                .map_err(anyhow::Error::msg)?;
            let created = store.create_oidc_provider(&provider).await;
            store.close().await;
            created?;
            println!(
                "added provider {} ({}) to organization {:?}; its redirect URI is \
                 <public URL>/api/v1/auth/oidc/callback",
                provider.name,
                provider.id,
                args.org_name()
            );
            Ok(())
        }
        SsoCommand::Remove { store: args, name } => {
            let (store, _) = args.open().await?;
            let provider = by_name(&store, &args, &name).await?;
            store
                .delete_oidc_provider(provider.org_id, provider.id)
                .await?;
            store.close().await;
            println!("removed provider {name}");
            Ok(())
        }
        SsoCommand::Map {
            store: args,
            name,
            groups,
        } => {
            let pairs = groups
                .iter()
                .map(|g| {
                    g.split_once('=')
                        .map(|(group, role)| (group.to_owned(), role.to_owned()))
                        .with_context(|| format!("{g:?} is not GROUP=ROLE"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mappings = settings::group_roles(pairs).map_err(anyhow::Error::msg)?;
            let (store, _) = args.open().await?;
            let provider = by_name(&store, &args, &name).await?;
            store
                .set_oidc_group_roles(provider.org_id, provider.id, &mappings)
                .await?;
            store.close().await;
            println!("provider {name} maps {} group(s)", mappings.len());
            Ok(())
        }
        SsoCommand::PasswordLogin {
            store: args,
            disabled,
        } => {
            let (store, org) = args.open().await?;
            store.set_password_login_disabled(org, disabled).await?;
            store.close().await;
            println!(
                "local passwords are {} in organization {:?}",
                if disabled { "refused" } else { "allowed" },
                args.org_name()
            );
            Ok(())
        }
    }
}
