//! `kubeworkz-hub`: the hub server and its operator CLI.

mod cli;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kubeworkz_hub::api::docs::ApiDoc;
use kubeworkz_hub::config::ServeConfig;
use kubeworkz_hub::shutdown::Shutdown;
use kubeworkz_hub::{server, telemetry};
use utoipa::OpenApi;

/// mimalloc instead of glibc's malloc: an API read allocates per row and per cell from many
/// threads at once (tokio workers, one SQLite worker thread per pooled connection), and
/// glibc's arenas contend on that pattern (`_int_malloc`, `malloc_consolidate` and arena
/// locks show in a loaded hub's profile). The benches that measure the hub in-process use it
/// too (`benches/common`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Kubeworkz hub: one place to see every Kubernetes cluster you run.
#[derive(Debug, Parser)]
#[command(name = "kubeworkz-hub", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the hub: REST API, web UI, agent ingest and pull-mode collectors.
    Serve(ServeConfig),
    /// Register, list and remove clusters.
    #[command(subcommand)]
    Cluster(cli::ClusterCommand),
    /// Create, list and revoke agent enrollment tokens.
    #[command(subcommand)]
    Token(cli::TokenCommand),
    /// Create organizations.
    #[command(subcommand)]
    Org(cli::OrgCommand),
    /// Create, list, change, disable and delete users.
    #[command(subcommand)]
    User(cli::users::UserCommand),
    /// Single sign-on: identity providers, group-to-role mappings, local passwords.
    #[command(subcommand)]
    Sso(cli::sso::SsoCommand),
    /// Master key operations.
    #[command(subcommand)]
    Keys(cli::KeysCommand),
    /// Set and show the prices the cost runs charge.
    #[command(subcommand)]
    Prices(cli::prices::PricesCommand),
    /// Print the API's OpenAPI document (what `/api/v1/docs/openapi.json` serves) as JSON,
    /// for client generators and for checking that a committed copy is current.
    Openapi,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The whole cause chain on one line, without a backtrace: this is for operators.
            eprintln!("kubeworkz-hub: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(config) => {
                telemetry::init(config.log_json);
                let shutdown = Shutdown::new();
                let signals = tokio::spawn(shutdown.clone().trigger_on_signals());
                let result = server::serve(config, shutdown.clone()).await;
                shutdown.trigger();
                signals
                    .await
                    .context("joining the signal handler")?
                    .context("installing signal handlers")?;
                result
            }
            Command::Cluster(command) => cli::cluster(command).await,
            Command::Keys(command) => cli::keys(command).await,
            Command::Prices(command) => cli::prices::prices(command).await,
            Command::Token(command) => cli::token(command).await,
            Command::Org(command) => cli::org(command).await,
            Command::User(command) => cli::users::user(command).await,
            Command::Sso(command) => cli::sso::sso(command).await,
            Command::Openapi => print_openapi(),
        }
    })
}

/// Prints the document the hub serves. Needs no database or key: CI runs it on a bare
/// checkout to check that `hub/ui/openapi.json` is current.
fn print_openapi() -> anyhow::Result<()> {
    let document = ApiDoc::openapi()
        .to_pretty_json()
        .context("printing the OpenAPI document")?;
    println!("{document}");
    Ok(())
}
