//! What the hub's test suites and benches share, kept in this one place: the real hub binary
//! (`hub`), the UI's browser walks (`browser`), the real hub and agent around a cluster with
//! pods whose logs KWOK serves (`operations`), a fresh store of either backend (`harness`) with realistic projections and
//! clusters (`fixtures`), the real agent binary (`real_agent`), a TLS server that answers like
//! a Kubernetes API server (`fake_apiserver`), a browser's part in single sign-on
//! (`sso_browser`), and [`backend_cases!`], which runs every case of
//! a suite on SQLite and on PostgreSQL.
//!
//! A top-level test file declares it as `mod support;`; a suite in its own folder and a
//! bench reach it with `#[path]` to this file, and never into another suite's folder.

// Each test binary uses part of what is here.
#![allow(dead_code, unused_imports, unused_macros)]

pub mod browser;
pub mod fake_apiserver;
pub mod fixtures;
pub mod harness;
pub mod hub;
pub mod operations;
pub mod quotas;
pub mod real_agent;
pub mod sso_browser;
pub mod workloads;

/// Generates `sqlite::<case>` and `postgres::<case>` tests for each listed case: every case
/// is an `async fn(Fixture)` in a module of the suite, and `$open` (an absolute path, such
/// as `crate::harness::TestStore::open`) builds its fixture for a
/// [`harness::Backend`]. So a behaviour cannot be tested on one backend only.
macro_rules! backend_cases {
    ($open:path => $($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let fixture = $open($crate::support::harness::Backend::Sqlite).await;
                    super::$module::$case(fixture).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let fixture = $open($crate::support::harness::Backend::Postgres).await;
                    super::$module::$case(fixture).await;
                }
            )*
        }
    };
}

pub(crate) use backend_cases;
