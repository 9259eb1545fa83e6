//! `kubeworkz-agent`: the in-cluster agent binary.

use std::process::ExitCode;

use kubeworkz_agent::config::Config;

/// `EX_CONFIG`-style exit code for a bad configuration, so a crash-looping pod tells the
/// operator "fix your values" rather than "the agent is broken".
const EXIT_BAD_CONFIG: u8 = 64;

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--version") {
        println!("kubeworkz-agent {}", kubeworkz_shared::VERSION);
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("kubeworkz-agent: bad configuration: {err}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    init_logging(config.json_logs);
    tracing::info!(hub = %config.hub_addr, version = kubeworkz_shared::VERSION, "configuration loaded");
    tracing::error!("collection and the hub connection are not built yet");
    ExitCode::FAILURE
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
