use crate::helpers::TestDb;
use legami_persistence::DbConfig;
use std::time::Duration;

/// A small pool on a test database, not yet migrated.
async fn pool(test_db: &TestDb) -> legami_persistence::DatabaseConnection {
    legami_persistence::connect(&DbConfig {
        url: test_db.url.clone(),
        max_connections: 2,
        acquire_timeout: Duration::from_secs(5),
        pg_random_page_cost: None,
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn migrations_run_up_down_up_and_are_rerunnable() {
    let test_db = TestDb::new().await;
    let db = pool(&test_db).await;
    legami_persistence::migrate(&db).await.unwrap();
    let applied = legami_persistence::applied_migrations(&db).await.unwrap();
    assert!(applied.len() >= 2);
    legami_persistence::migrate(&db).await.unwrap();
    assert_eq!(
        legami_persistence::applied_migrations(&db).await.unwrap(),
        applied
    );
    legami_persistence::migrate_down_all(&db).await.unwrap();
    assert!(
        legami_persistence::applied_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
    legami_persistence::migrate(&db).await.unwrap();
    assert_eq!(
        legami_persistence::applied_migrations(&db).await.unwrap(),
        applied
    );
    db.close().await.unwrap();
}

/// Migration 12 gives labs and organisations their theme codes for the map (`theme_codes`):
/// rolled back and applied again over demo data, it fills every row with its link rows' codes,
/// sorted and comma-separated, and the map answers the same points as before.
#[tokio::test]
async fn the_map_themes_migration_fills_existing_rows_from_their_links() {
    use legami_migration::{Migrator, MigratorTrait};
    use sea_orm::{ConnectionTrait, Statement};
    let test_db = TestDb::new().await;
    let db = pool(&test_db).await;
    legami_persistence::migrate(&db).await.unwrap();
    legami_server::demo::seed(&db).await.unwrap();
    let filter = legami_persistence::map::MapFilter {
        labs: true,
        organisations: true,
        ..Default::default()
    };
    let before = legami_persistence::map::list(&db, &filter, 5000)
        .await
        .unwrap();
    assert!(before.iter().any(|p| p.themes.len() > 1));
    // Back to before migration 12 (and whatever came after it), then forward again.
    let applied = legami_persistence::applied_migrations(&db).await.unwrap();
    let twelfth = applied
        .iter()
        .position(|m| m == "m20261207_000012_map_themes")
        .expect("migration 12 is applied");
    let steps = u32::try_from(applied.len() - twelfth).unwrap();
    Migrator::down(&db, Some(steps)).await.unwrap();
    assert_eq!(
        legami_persistence::applied_migrations(&db)
            .await
            .unwrap()
            .len(),
        twelfth
    );
    Migrator::up(&db, None).await.unwrap();
    let backend = db.get_database_backend();
    for (table, link, owner) in [
        ("labs", "lab_themes", "lab_id"),
        ("organisations", "organisation_themes", "organisation_id"),
    ] {
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                format!("SELECT id, theme_codes FROM {table}"),
            ))
            .await
            .unwrap();
        assert!(!rows.is_empty());
        for row in rows {
            let id: String = row.try_get_by_index(0).unwrap();
            let codes: String = row.try_get_by_index(1).unwrap();
            let links = db
                .query_all_raw(Statement::from_string(
                    backend,
                    format!("SELECT theme_code FROM {link} WHERE {owner} = '{id}'"),
                ))
                .await
                .unwrap();
            let mut want: Vec<String> = links
                .iter()
                .map(|r| r.try_get_by_index(0).unwrap())
                .collect();
            want.sort();
            assert_eq!(codes, want.join(","), "{table} {id}");
        }
    }
    let after = legami_persistence::map::list(&db, &filter, 5000)
        .await
        .unwrap();
    assert_eq!(after, before);
    db.close().await.unwrap();
}
