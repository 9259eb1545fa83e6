//! The Kubeworkz agent as a library, so tests can drive it without spawning the binary.
//!
//! The agent stays small on purpose: configuration, the permission check, the hub transport
//! (`transport`), the operations it serves the hub on that connection (`operations`) and its
//! kube client (`kube_client`), where its identity is kept (`credentials`) and the link that drives the
//! transport from `run` (`link`) live here; the collector it runs lives in `kubeworkz-shared`,
//! because the hub's pull mode runs the same code.

pub mod check;
pub mod config;
pub mod credentials;
pub mod kube_client;
pub mod link;
pub mod operations;
pub mod rbac;
pub mod run;
pub mod transport;
