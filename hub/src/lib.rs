//! The Kubeworkz hub as a library: the binary in `main.rs` is a thin CLI over it, and the
//! integration tests drive the same entry points.

pub mod alerts;
pub mod api;
pub mod auth;
pub mod charts;
pub mod cluster_info;
pub mod config;
pub mod cost;
pub mod error;
pub mod http_server;
pub mod keys;
pub mod kubeconfig;
pub mod oidc;
pub mod pki;
pub mod public_url;
pub mod pull;
pub mod replica;
pub mod seal;
pub mod search;
pub mod server;
pub mod shutdown;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod transport;
pub mod ui;
pub mod workers;
