//! Real test infrastructure for Kubeworkz: Kubernetes clusters built from the published Go
//! modules (see `kube-tools/`), an OpenID Connect provider (Dex, see `idp-tools/`) and a
//! throwaway PostgreSQL. No mocks: the end-to-end tests of every crate stand on these.

pub mod cargo;
pub mod chart;
pub mod child;
pub mod cluster;
pub mod idp;
pub mod image;
pub mod ports;
pub mod postgres;
pub mod wait;
