//! Opens a fresh, real store of either backend for one test.

use std::sync::Arc;

use kubeworkz_hub::config::DatabaseUrl;
use kubeworkz_hub::store::{self, Store};
use kubeworkz_testkit::postgres::TestDatabase;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What keeps a test's database alive: a temp dir (SQLite) or a PostgreSQL database.
#[derive(Debug)]
#[allow(dead_code)] // held for its Drop
enum Guard {
    Sqlite(tempfile::TempDir),
    Postgres(TestDatabase),
}

/// A connected store plus what it needs to stay alive, and its URL for reopening.
#[derive(Debug)]
pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub url: DatabaseUrl,
    _guard: Guard,
}

impl TestStore {
    pub async fn open(backend: Backend) -> Self {
        let (url, guard) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("kubeworkz.db").display());
                (url, Guard::Sqlite(dir))
            }
            Backend::Postgres => {
                let db = TestDatabase::create().await.expect("test PostgreSQL");
                (db.url().to_owned(), Guard::Postgres(db))
            }
        };
        let url: DatabaseUrl = url.parse().expect("database url");
        let store = store::connect(&url).await.expect("connect store");
        Self {
            store,
            url,
            _guard: guard,
        }
    }

    /// Opens a second store on the same database (as a restarted or second hub would).
    pub async fn reopen(&self) -> Arc<dyn Store> {
        store::connect(&self.url).await.expect("reopen store")
    }
}
