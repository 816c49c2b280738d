//! `legami seed synthetic`: the same scale gives the same registry, and it looks like Lombardy.

use crate::helpers::TestDb;
use legami_server::synthetic::{Sizes, seed};
use legami_server::{Settings, open_database};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<Vec<String>> {
    let backend = db.get_database_backend();
    let sql = if backend == sea_orm::DbBackend::Postgres {
        sql.to_owned()
    } else {
        sql.replace("::text", "")
    };
    db.query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (0..)
                .map_while(|i| r.try_get_by_index::<Option<String>>(i).ok())
                .map(Option::unwrap_or_default)
                .collect()
        })
        .collect()
}

/// Everything but ids and timestamps, in a stable order.
async fn dump(db: &DatabaseConnection) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for sql in [
        "SELECT slug, name, kind, description, status, municipality, CAST(lat AS TEXT), CAST(lon AS TEXT) FROM organisations ORDER BY slug",
        "SELECT slug, name, kind, description, status, municipality, CAST(lat AS TEXT), CAST(lon AS TEXT) FROM labs ORDER BY slug",
        "SELECT slug, title, CAST(start_date AS TEXT), CAST(end_date AS TEXT), status FROM projects ORDER BY slug",
        "SELECT n.slug, o.slug FROM networks n JOIN organisations o ON o.id = n.coordinator_id ORDER BY n.slug",
        "SELECT p.slug, o.slug, pp.role FROM project_partners pp JOIN projects p ON p.id = pp.project_id JOIN organisations o ON o.id = pp.organisation_id ORDER BY p.slug, o.slug",
        "SELECT p.slug, m.indicator, m.kind, CAST(m.period_start AS TEXT), CAST(SUM(m.value_milli) AS TEXT), CAST(COUNT(*) AS TEXT) FROM metrics m JOIN projects p ON p.id = m.project_id GROUP BY p.slug, m.indicator, m.kind, m.period_start ORDER BY 1, 2, 3, 4",
    ] {
        all.push(vec![sql.to_owned()]);
        all.extend(rows(db, sql).await);
    }
    all
}

#[tokio::test]
async fn the_same_scale_gives_the_same_realistic_registry() {
    let (a, b) = (TestDb::new().await, TestDb::new().await);
    let (da, db) = (
        open_database(&Settings::for_tests(&a.url)).await.unwrap(),
        open_database(&Settings::for_tests(&b.url)).await.unwrap(),
    );
    let scale = 0.002;
    let sizes = seed(&da, scale).await.unwrap();
    assert_eq!(sizes, Sizes::of(scale));
    seed(&db, scale).await.unwrap();
    let first = dump(&da).await;
    assert_eq!(first, dump(&db).await, "two loads of one scale differ");
    // A second load into the same database is refused, not duplicated.
    assert!(seed(&da, scale).await.is_err());

    let count = |sql: &'static str| {
        let da = da.clone();
        async move { rows(&da, sql).await[0][0].parse::<usize>().unwrap() }
    };
    assert_eq!(
        count("SELECT CAST(COUNT(*) AS TEXT) FROM organisations").await,
        sizes.organisations
    );
    assert_eq!(
        count("SELECT CAST(COUNT(*) AS TEXT) FROM metrics").await,
        sizes.metrics
    );
    // Every place is a municipality of Lombardy and every position lies inside the region.
    assert_eq!(
        count("SELECT CAST(COUNT(*) AS TEXT) FROM labs l JOIN municipalities m ON m.istat_code = l.municipality WHERE m.region_name <> 'Lombardia' OR l.lat NOT BETWEEN 44.68 AND 46.64 OR l.lon NOT BETWEEN 8.49 AND 11.43").await,
        0
    );
    assert_eq!(
        count("SELECT CAST(COUNT(*) AS TEXT) FROM organisations o JOIN municipalities m ON m.istat_code = o.municipality WHERE m.region_name <> 'Lombardia'").await,
        0
    );
    // Descriptions: 40-80 words, Italian with accents.
    let descriptions = rows(&da, "SELECT description FROM organisations").await;
    assert!(descriptions.iter().all(|d| {
        let n = d[0].split_whitespace().count();
        (40..=80).contains(&n)
    }));
    assert!(
        descriptions
            .iter()
            .any(|d| d[0].contains('à') || d[0].contains('è'))
    );
    // Monthly periods within 2019-2026, about one row in ten a target.
    assert_eq!(
        count("SELECT CAST(COUNT(*) AS TEXT) FROM metrics WHERE period_start < '2019-01-01' OR period_end > '2026-12-31'").await,
        0
    );
    let targets = count("SELECT CAST(COUNT(*) AS TEXT) FROM metrics WHERE kind = 'target'").await;
    assert!(
        (sizes.metrics / 20..sizes.metrics / 6).contains(&targets),
        "{targets} targets"
    );
    // Rollups were written with the rows.
    assert_eq!(
        count("SELECT CAST(SUM(n) AS TEXT) FROM metric_rollups").await,
        sizes.metrics
    );
}
