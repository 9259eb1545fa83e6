//! The store conformance suite: every case runs against SQLite and PostgreSQL.
//!
//! Add a case as an `async fn(TestStore)` in a domain module and list it in `conformance!`;
//! the macro generates one test per backend, so a behaviour cannot be tested on one only.

mod harness;
mod organizations;

use harness::TestStore;

/// Generates `sqlite::<case>` and `postgres::<case>` tests for each listed case.
macro_rules! conformance {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let store = super::TestStore::open(super::harness::Backend::Sqlite).await;
                    super::$module::$case(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let store = super::TestStore::open(super::harness::Backend::Postgres).await;
                    super::$module::$case(store).await;
                }
            )*
        }
    };
}

conformance! {
    organizations::a_new_database_has_the_default_organization,
    organizations::ensuring_an_organization_is_idempotent,
    organizations::reopening_keeps_data_and_migrations_are_idempotent,
    organizations::the_store_answers_pings,
}
