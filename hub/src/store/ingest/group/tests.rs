use kubeworkz_shared::change::ObjectKind;
use sqlx::Connection;

use super::unindexed_update_columns;
use crate::store::schema::table;

/// SQLite's migrations, as the hub embeds them.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// The upsert of an unchanged live row sets no column that an index covers or that a
/// partial index's predicate reads: checked against the migrated schema, so a new index
/// on a column the fast upsert sets fails here, not only in a benchmark.
#[tokio::test]
async fn the_fast_upsert_sets_no_indexed_column() {
    let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
        .await
        .unwrap();
    MIGRATOR.run(&mut conn).await.unwrap();
    for kind in ObjectKind::ALL {
        let table = table(kind);
        let set = unindexed_update_columns(&table);
        assert!(set.contains(&"data"), "{}: {set:?}", table.name);
        let indexes: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1",
        )
        .bind(table.name)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert!(!indexes.is_empty(), "{}", table.name);
        for (index, sql) in indexes {
            let columns: Vec<(String,)> = sqlx::query_as("SELECT name FROM pragma_index_info(?1)")
                .bind(&index)
                .fetch_all(&mut conn)
                .await
                .unwrap();
            for (column,) in columns {
                assert!(
                    !set.contains(&column.as_str()),
                    "{index} covers {column}, which the fast upsert sets"
                );
            }
            let predicate = sql
                .as_deref()
                .and_then(|sql| sql.split_once(" WHERE "))
                .map(|(_, p)| p.trim().to_owned());
            for column in &set {
                assert!(
                    predicate.as_deref().is_none_or(|p| !p.contains(column)),
                    "{index}'s predicate reads {column}, which the fast upsert sets"
                );
            }
        }
    }
}
