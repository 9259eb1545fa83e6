//! `kubeworkz-hub user …`: accounts from the operator's shell, on the same database as
//! `serve`. Passwords are read from standard input, never from arguments, and nothing printed
//! holds a password or its hash.
//!
//! The store applies the same rules as the API: an organization keeps at least one enabled
//! admin, a demotion lowers the user's API tokens, a new password revokes them and ends the
//! user's sessions, disabling ends the sessions and refuses the tokens. Logins and sessions
//! see a change at once; a running hub (another process) may still accept a token it checked
//! within its token cache's TTL (10 s), as another replica would.
//!
//! An email is unique per organization only: a command naming a user by email finds them in
//! `--org`, or in the one organization that has that email, and refuses to guess among
//! several.

use std::io::{BufRead as _, Read as _};

use anyhow::{Context, bail};
use clap::Subcommand;
use kubeworkz_hub::auth::{self, Secret};
use kubeworkz_hub::server::open_store;
use kubeworkz_hub::store::{Role, Store, User, UserChange};

use super::listing::Listing;
use super::{Output, StoreArgs, organization_id};

/// `kubeworkz-hub user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user in `--org` (default `default`); the password is read from standard
    /// input.
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// Login email.
        #[arg(long)]
        email: String,
        /// viewer, operator or admin.
        #[arg(long, default_value = "viewer")]
        role: String,
    },
    /// Set a user's password (read from standard input): ends their sessions and revokes
    /// their API tokens.
    ResetPassword {
        #[command(flatten)]
        store: StoreArgs,
        /// Login email.
        #[arg(long)]
        email: String,
    },
    /// Change a user's role; a lower role lowers their API tokens to it. The last enabled
    /// admin of an organization cannot be demoted.
    SetRole {
        #[command(flatten)]
        store: StoreArgs,
        /// Login email.
        #[arg(long)]
        email: String,
        /// viewer, operator or admin.
        #[arg(long)]
        role: String,
    },
    /// Disable a user: their sessions end, logins and API tokens are refused until `enable`.
    Disable {
        #[command(flatten)]
        store: StoreArgs,
        /// Login email.
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled user again (their unrevoked API tokens work again).
    Enable {
        #[command(flatten)]
        store: StoreArgs,
        /// Login email.
        #[arg(long)]
        email: String,
    },
    /// Delete a user with their sessions and API tokens.
    Delete {
        #[command(flatten)]
        store: StoreArgs,
        /// Login email.
        #[arg(long)]
        email: String,
    },
    /// List the users of `--org` (default `default`), never their password hashes.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// `text` or `json`.
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

pub async fn user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create {
            store: args,
            email,
            role,
        } => {
            let role = parse_role(&role)?;
            let password = read_password()?;
            let (store, org) = args.open().await?;
            let user = auth::create_user(&store, org, &email, password.expose(), role).await;
            store.close().await;
            let user = user?;
            println!(
                "created {} user {} ({}) in organization {:?}",
                user.role.as_str(),
                user.email,
                user.id,
                args.org_name()
            );
            Ok(())
        }
        UserCommand::ResetPassword { store: args, email } => {
            let password = read_password()?;
            let password_hash = Some(auth::hash_password(password.expose())?);
            let change = UserChange {
                password_hash,
                ..UserChange::default()
            };
            let user = change_user(&args, &email, &change).await?;
            println!(
                "password of {} reset; their sessions were ended and their API tokens revoked",
                user.email
            );
            Ok(())
        }
        UserCommand::SetRole {
            store: args,
            email,
            role,
        } => {
            let change = UserChange {
                role: Some(parse_role(&role)?),
                ..UserChange::default()
            };
            let user = change_user(&args, &email, &change).await?;
            println!(
                "{} is now {} (API tokens above that role were lowered to it)",
                user.email,
                user.role.as_str()
            );
            Ok(())
        }
        UserCommand::Disable { store: args, email } => set_disabled(&args, &email, true).await,
        UserCommand::Enable { store: args, email } => set_disabled(&args, &email, false).await,
        UserCommand::Delete { store: args, email } => {
            let store = open_store(&args.database_url).await?;
            let deleted = async {
                let user = find_user(&store, &args, &email).await?;
                let deleted = store.delete_user(user.org_id, user.id).await;
                Ok::<_, anyhow::Error>((user, deleted.context("deleting the user")?))
            }
            .await;
            store.close().await;
            let (user, deleted) = deleted?;
            if !deleted {
                bail!("user {:?} disappeared meanwhile", user.email);
            }
            println!(
                "deleted {} ({}) with their sessions and API tokens",
                user.email, user.id
            );
            Ok(())
        }
        UserCommand::List {
            store: args,
            output,
        } => {
            let (store, org) = args.open().await?;
            let users = store.users(org).await;
            store.close().await;
            print_users(&users?, output);
            Ok(())
        }
    }
}

fn parse_role(name: &str) -> anyhow::Result<Role> {
    Role::parse(name).with_context(|| {
        let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        format!("unknown role {name:?}: use one of {}", names.join(", "))
    })
}

/// The user with `email`: in `--org` when given, else in the one organization that has it.
async fn find_user(store: &Store, args: &StoreArgs, email: &str) -> anyhow::Result<User> {
    let email = auth::normalize_email(email)?;
    if let Some(name) = &args.org {
        let org = organization_id(store, name).await?;
        let users = store.users(org).await?;
        return users
            .into_iter()
            .find(|u| u.email == email)
            .with_context(|| format!("no user with email {email:?} in organization {name:?}"));
    }
    let mut users = store.users_by_email(&email).await?;
    match users.len() {
        0 => bail!("no user with email {email:?}"),
        1 => Ok(users.remove(0)),
        _ => {
            let mut names = Vec::new();
            for user in &users {
                let org = store.organization(user.org_id).await?;
                names.push(org.map_or_else(|| user.org_id.to_string(), |o| o.name));
            }
            bail!(
                "email {email:?} exists in several organizations ({}): name one with --org",
                names.join(", ")
            )
        }
    }
}

/// Finds the user and applies `change`; the store refuses one that would leave the
/// organization without an enabled admin.
async fn change_user(args: &StoreArgs, email: &str, change: &UserChange) -> anyhow::Result<User> {
    let store = open_store(&args.database_url).await?;
    let changed = async {
        let user = find_user(&store, args, email).await?;
        store
            .update_user(user.org_id, user.id, change)
            .await
            .with_context(|| format!("changing {}", user.email))?
            .with_context(|| format!("user {:?} disappeared meanwhile", user.email))
    }
    .await;
    store.close().await;
    changed
}

/// `user disable|enable`.
async fn set_disabled(args: &StoreArgs, email: &str, disabled: bool) -> anyhow::Result<()> {
    let change = UserChange {
        disabled: Some(disabled),
        ..UserChange::default()
    };
    let user = change_user(args, email, &change).await?;
    if disabled {
        println!(
            "disabled {}: their sessions ended; logins and API tokens are refused",
            user.email
        );
    } else {
        println!("enabled {}", user.email);
    }
    Ok(())
}

fn print_users(users: &[User], output: Output) {
    let mut listing = Listing::new(&[
        "id",
        "email",
        "role",
        "disabled",
        "disabled_at",
        "created_at",
    ]);
    for u in users {
        listing.row(vec![
            u.id.to_string().into(),
            u.email.clone().into(),
            u.role.as_str().into(),
            u.disabled_at.is_some().into(),
            u.disabled_at.map(|at| at.to_rfc3339()).into(),
            u.created_at.to_rfc3339().into(),
        ]);
    }
    listing.print(output);
}

/// The first line of standard input, without its line ending.
fn read_password() -> anyhow::Result<Secret> {
    read_secret_line("password").map(Secret::new)
}

/// The first line of standard input without its line ending: the `what` (a password, a
/// client secret) that must never be an argument.
pub(super) fn read_secret_line(what: &str) -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .take(4096)
        .read_line(&mut line)
        .with_context(|| format!("reading the {what} from standard input"))?;
    let secret = line.trim_end_matches(['\r', '\n']).to_owned();
    if secret.is_empty() {
        bail!("no {what} on standard input");
    }
    Ok(secret)
}
