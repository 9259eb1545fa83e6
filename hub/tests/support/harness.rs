//! Opens a fresh, real store of either backend for one test.

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
    pub store: Store,
    pub url: DatabaseUrl,
    _guard: Guard,
}

impl TestStore {
    /// A fresh store of `backend` with the hub's default pools.
    pub async fn open(backend: Backend) -> Self {
        Self::open_with(backend, store::PoolOptions::default()).await
    }

    /// A fresh store of `backend` with pools sized by `pools` (the benches size them as
    /// `--database-read-connections` does).
    pub async fn open_with(backend: Backend, pools: store::PoolOptions) -> Self {
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
        let store = store::connect_with(&url, pools)
            .await
            .expect("connect store");
        Self {
            store,
            url,
            _guard: guard,
        }
    }

    /// Runs statements on the database directly, behind the store's back (e.g. a trigger that
    /// makes the database refuse a write): `sqlite` on SQLite, `postgres` on PostgreSQL.
    pub async fn execute_raw(&self, sqlite: &[&str], postgres: &[&str]) {
        async fn run<C: sqlx::Connection>(url: &str, statements: &[&str])
        where
            for<'c> &'c mut C: sqlx::Executor<'c>,
        {
            let mut conn = C::connect(url).await.expect("raw connection");
            for statement in statements {
                sqlx::raw_sql(sqlx::AssertSqlSafe(*statement))
                    .execute(&mut conn)
                    .await
                    .expect("raw statement");
            }
            conn.close().await.expect("close raw connection");
        }
        match self.store.backend() {
            store::Backend::Sqlite => {
                run::<sqlx::SqliteConnection>(self.url.expose(), sqlite).await
            }
            store::Backend::Postgres => {
                run::<sqlx::PgConnection>(self.url.expose(), postgres).await
            }
        }
    }

    /// Opens a second store on the same database (as a restarted or second hub would).
    pub async fn reopen(&self) -> Store {
        store::connect(&self.url).await.expect("reopen store")
    }
}
