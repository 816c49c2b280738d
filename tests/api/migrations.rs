use crate::helpers::TestDb;
use legami_persistence::DbConfig;
use std::time::Duration;

#[tokio::test]
async fn migrations_run_up_down_up_and_are_rerunnable() {
    let test_db = TestDb::new().await;
    let db = legami_persistence::connect(&DbConfig {
        url: test_db.url.clone(),
        max_connections: 2,
        acquire_timeout: Duration::from_secs(5),
    })
    .await
    .unwrap();
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
