use crate::helpers::{TestApp, is_postgres, json_of};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn health_and_metrics() {
    let app = TestApp::spawn().await;
    assert_eq!(
        json_of(app.get("/health/live").await, 200).await["status"],
        "ok"
    );
    assert_eq!(
        json_of(app.get("/health/ready").await, 200).await["status"],
        "ok"
    );
    app.get("/api/v1/organisations").await;
    app.get("/api/v1/organisations/nope").await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(text.contains("legami_http_requests_total{endpoint=\"/api/v1/organisations\",method=\"GET\",status=\"200\"}"), "{text}");
    assert!(text.contains("status=\"404\""));
    assert!(text.contains("legami_http_requests_duration_seconds_bucket"));
    assert!(text.contains("legami_db_pool_connections"));
    assert!(text.contains("legami_db_pool_max 5"));
}

/// On SQLite a record read runs in the request's own thread, not through a hand-off to a pooled
/// connection's worker thread; on PostgreSQL every read goes through the pool.
/// `legami_db_inline_reads_total` counts the former.
#[tokio::test]
async fn sqlite_record_reads_run_in_the_requests_thread() {
    let app = TestApp::spawn().await;
    let page = json_of(app.get("/api/v1/organisations?limit=5").await, 200).await;
    assert!(page["page"]["total"].as_u64().is_some());
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let text = app.get("/metrics").await.text().await.unwrap();
    let inline: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("legami_db_inline_reads_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no inline-read counter in {text}"));
    if is_postgres() {
        assert_eq!(inline, 0);
    } else {
        assert!(inline >= 2, "the page and its count read inline: {inline}");
    }
}

#[tokio::test]
async fn demo_data_loads_on_first_start_and_reseeding_is_idempotent() {
    let app = TestApp::spawn_with(|s| s.seed_demo_on_empty = true, None).await;
    let v = json_of(app.get("/api/v1/organisations?limit=100").await, 200).await;
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    for want in [
        "CSV Lombardia Sud",
        "CSV Lombardia",
        "Consorzio Sociale Pavese",
        "Fondazione Cariplo",
        "Regione Lombardia",
        "Comune di Pavia",
        "ATS Brianza",
        "Impresa Sociale Consorzio Girasole",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let total = v["page"]["total"].as_u64().unwrap();
    let csp = json_of(
        app.get("/api/v1/organisations/consorzio-sociale-pavese")
            .await,
        200,
    )
    .await;
    assert_eq!(
        csp["contact"]["email"],
        "farebenecomune@consorziosocialepavese.it"
    );
    assert_eq!(csp["address"]["municipality"], "018110");
    let added = legami_server::demo::seed(&app.db).await.unwrap();
    assert_eq!(added, 0);
    let again = json_of(app.get("/api/v1/organisations?limit=1").await, 200).await;
    assert_eq!(again["page"]["total"].as_u64().unwrap(), total);
    // The whole of the seeds: projects with their figures, networks, areas, example labs.
    let benecomune = json_of(app.get("/api/v1/projects/fare-benecomune").await, 200).await;
    assert_eq!(benecomune["start_date"], "2018-11-01");
    assert_eq!(benecomune["programme"], "Welfare in Azione");
    let results: std::collections::HashMap<String, Value> = benecomune["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["indicator"].as_str().unwrap().to_owned(),
                r["actual"].clone(),
            )
        })
        .collect();
    for (ind, want) in [
        ("families_supported", 159.0),
        ("minors_involved", 700.0),
        ("citizens_reached", 7100.0),
        ("organisations_involved", 116.0),
        ("volunteers", 235.0),
    ] {
        assert_eq!(results[ind].as_f64(), Some(want), "{ind}");
    }
    let legami = json_of(app.get("/api/v1/projects/fare-legami").await, 200).await;
    let targets: std::collections::HashMap<String, Value> = legami["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["indicator"].as_str().unwrap().to_owned(),
                r["target"].clone(),
            )
        })
        .collect();
    for (ind, want) in [
        ("beneficiaries", 500.0),
        ("labs_active", 45.0),
        ("companies_involved", 15.0),
        ("workers_involved", 1000.0),
        ("schools_involved", 10.0),
        ("pupils_involved", 1500.0),
        ("families_supported", 500.0),
        ("public_officials_involved", 100.0),
        ("training_labs", 10.0),
    ] {
        assert_eq!(targets[ind].as_f64(), Some(want), "{ind}");
    }
    assert_eq!(
        legami["municipalities"],
        serde_json::json!(["019021", "019035", "019036"])
    );
    for p in [
        "contatto-trame-riparative",
        "mind-the-gap-azzardo",
        "valoriamo-marketing-sociale",
    ] {
        json_of(app.get(&format!("/api/v1/projects/{p}")).await, 200).await;
    }
    let tavolo = json_of(
        app.get("/api/v1/networks/tavolo-per-la-giustizia-riparativa")
            .await,
        200,
    )
    .await;
    assert_eq!(tavolo["since"], 2012);
    let rete = json_of(
        app.get("/api/v1/networks/rete-dei-laboratori-sociali-pavia")
            .await,
        200,
    )
    .await;
    assert!(rete["members"].as_array().unwrap().len() >= 5);
    let labs = json_of(
        app.get("/api/v1/labs?area=distretto-sociale-pavese").await,
        200,
    )
    .await;
    assert_eq!(labs["page"]["total"], 3);
    let ats = json_of(app.get("/api/v1/areas/ats-brianza-territorio").await, 200).await;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../migrations/data/municipalities.csv"
    );
    let brianza = csv::Reader::from_path(path)
        .unwrap()
        .records()
        .filter(|r| {
            let r = r.as_ref().unwrap();
            &r[7] == "LC" || &r[7] == "MB"
        })
        .count();
    assert_eq!(ats["municipalities"].as_array().unwrap().len(), brianza);
    let summary = json_of(
        app.get(
            "/api/v1/metrics/summary?group_by=province&indicator=families_supported&kind=actual",
        )
        .await,
        200,
    )
    .await;
    assert_eq!(summary["data"][0]["province"], "PV");
    assert_eq!(summary["data"][0]["actual"], 159.0);
    // Invented details are marked as examples.
    let informal = json_of(
        app.get("/api/v1/organisations?kind=informal_group").await,
        200,
    )
    .await;
    assert!(
        informal["data"][0]["description"]
            .as_str()
            .unwrap()
            .contains("esempio")
    );
}

/// Makes the PostgreSQL test database refuse connections, then lets it back.
#[tokio::test]
async fn readiness_fails_while_the_database_is_unreachable_and_recovers() {
    if !is_postgres() {
        eprintln!(
            "note: database outage is simulated on PostgreSQL only (run with LEGAMI_TEST_DATABASE=postgres)"
        );
        return;
    }
    let app = TestApp::spawn_with(|s| s.db_acquire_timeout_ms = 1000, None).await;
    let name = app.test_db.pg_name().unwrap().to_owned();
    let admin = sea_orm::Database::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"
        ))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await
        .unwrap();
    let res = app.get("/health/ready").await;
    let p: Value = json_of(res, 503).await;
    assert_eq!(p["type"], "/problems/unavailable");
    let res = app.get("/api/v1/organisations").await;
    let text = res.text().await.unwrap();
    assert!(text.contains("/problems/unavailable"), "{text}");
    assert!(!text.to_lowercase().contains("select"), "{text}");
    admin
        .execute_unprepared(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    let mut ok = false;
    for _ in 0..20 {
        if app.get("/health/ready").await.status() == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(ok, "server did not recover by itself");
    json_of(app.get("/api/v1/organisations").await, 200).await;
}

/// Every read of the record mechanism and the map runs in the caller's thread on SQLite (one
/// statement each, counted in this test's own thread): a record, a page with its count, a page
/// without, a radius page and the map's two point reads. On PostgreSQL none does.
#[tokio::test]
async fn sqlite_pages_and_map_points_read_in_the_callers_thread() {
    use legami_domain::{Lab, Visibility};
    use legami_persistence::inline::reads_in_this_thread as here;
    use legami_persistence::pagination::{PageRequest, SortSpec};
    let app = TestApp::spawn().await;
    let lab = app
        .create_lab("Laboratorio in linea", 45.18, 9.15, json!({}))
        .await;
    let db = &app.db;
    let vis = Visibility::Public;
    let page = |count| PageRequest {
        limit: 20,
        after: None,
        count,
        sort: SortSpec::parse("name", &["name"]).unwrap(),
    };
    let inline = !is_postgres();
    let before = here();
    let key = legami_domain::IdOrSlug::parse(lab["id"].as_str().unwrap()).unwrap();
    legami_persistence::record::find::<Lab>(db, &key, &vis)
        .await
        .unwrap();
    assert_eq!(here() - before, u64::from(inline), "a record");
    let before = here();
    let filter = legami_persistence::organisations::OrganisationFilter::default();
    let got = legami_persistence::record::page(db, &filter, &vis, &page(true))
        .await
        .unwrap();
    assert!(got.total.is_some());
    assert_eq!(
        here() - before,
        2 * u64::from(inline),
        "a page and its count"
    );
    let before = here();
    let filter = legami_persistence::labs::LabFilter::default();
    let got = legami_persistence::record::page(db, &filter, &vis, &page(false))
        .await
        .unwrap();
    assert_eq!(got.items.len(), 1);
    assert_eq!(here() - before, u64::from(inline), "a page");
    let before = here();
    let near = legami_persistence::geo::Near {
        lat: 45.18,
        lon: 9.15,
        radius_km: 5.0,
    };
    let filter = legami_persistence::labs::LabFilter {
        near: Some(near),
        ..Default::default()
    };
    let got = legami_persistence::record::page(db, &filter, &vis, &page(false))
        .await
        .unwrap();
    assert_eq!(got.items.len(), 1);
    let inlined = here() - before;
    assert!(
        inlined >= 1 && inline || inlined == 0 && !inline,
        "a radius page: {inlined}"
    );
    let before = here();
    let map = legami_persistence::map::MapFilter {
        labs: true,
        organisations: true,
        ..Default::default()
    };
    let points = legami_persistence::map::list(db, &map, 100).await.unwrap();
    assert_eq!(points.len(), 1);
    assert_eq!(here() - before, 2 * u64::from(inline), "the map's points");
    // A search: every match (light), then what the page shows of it.
    let before = here();
    let q = legami_persistence::search::SearchQuery::parse("linea").unwrap();
    let hits = legami_persistence::search::search(db, &q, &Default::default(), &vis)
        .await
        .unwrap();
    let labs: Vec<_> = hits.iter().filter(|h| h.entity == "lab").collect();
    assert_eq!(labs.len(), 1, "{hits:?}");
    let shown = legami_persistence::search::shown(db, &labs).await.unwrap();
    assert_eq!(
        shown[0].as_ref().map(|s| s.title.as_str()),
        Some("Laboratorio in linea")
    );
    assert_eq!(
        here() - before,
        2 * u64::from(inline),
        "a search and its page"
    );
    // An account with its organisations, as every authenticated request reads it.
    let org = app.create_org("Ente in linea", json!({})).await;
    let org_id = uuid::Uuid::parse_str(org["id"].as_str().unwrap()).unwrap();
    let actor = legami_persistence::audit::Actor::system();
    let email = "in-linea@legami.test";
    let made = legami_persistence::accounts::create_user(
        db,
        email,
        "In linea",
        "hash",
        "editor",
        &[org_id],
        &actor,
    )
    .await
    .unwrap();
    let before = here();
    let read = legami_persistence::accounts::user_by_id(db, made.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(here() - before, u64::from(inline), "an account");
    assert_eq!(read, made);
    assert_eq!(read.organisation_ids, vec![org_id]);
    assert!(!read.disabled);
}

/// On PostgreSQL every session of the pool prices random page reads as `LEGAMI_PG_RANDOM_PAGE_COST`
/// says (1.1 unless set; empty leaves the database's own); a value that is not a positive number
/// stops the server at startup instead of being ignored.
#[tokio::test]
async fn postgres_sessions_take_the_configured_random_page_cost() {
    // The session's value, and where it came from (`client`: the connection's startup options).
    let show = |db: sea_orm::DatabaseConnection| async move {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT setting, source FROM pg_settings WHERE name = 'random_page_cost'",
            ))
            .await
            .unwrap()
            .unwrap();
        (
            row.try_get::<String>("", "setting").unwrap(),
            row.try_get::<String>("", "source").unwrap(),
        )
    };
    let bad = crate::helpers::TestDb::new().await;
    let mut settings = legami_server::Settings::for_tests(&bad.url);
    settings.pg_random_page_cost = "cheap".into();
    let err = legami_server::startup::Application::build_with(&settings, None)
        .await
        .err()
        .expect("a cost that is not a number is refused");
    assert!(
        format!("{err:#}").contains("LEGAMI_PG_RANDOM_PAGE_COST"),
        "{err:#}"
    );
    if !is_postgres() {
        return;
    }
    let app = TestApp::spawn().await;
    assert_eq!(show(app.db.clone()).await, ("1.1".into(), "client".into()));
    let own = TestApp::spawn_with(|s| s.pg_random_page_cost = String::new(), None).await;
    assert_ne!(show(own.db.clone()).await.1, "client");
}
