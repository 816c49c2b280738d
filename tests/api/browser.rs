//! The example pages (a partner site's map, a municipal dashboard) in a real browser: headless
//! Chromium, Debian's package, against a live server.

use crate::helpers::{TestApp, json_of};
use actix_web::{HttpResponse, web};
use std::path::{Path, PathBuf};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Serves `examples/` next to the API, as a partner site would host the pages.
fn serve_example(cfg: &mut web::ServiceConfig) {
    async fn file(path: web::Path<String>) -> HttpResponse {
        let rel = path.into_inner();
        if rel.contains("..") {
            return HttpResponse::NotFound().finish();
        }
        let full = examples_dir().join(&rel);
        let ct = match full.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript",
            Some("css") => "text/css",
            Some("png") => "image/png",
            _ => "application/octet-stream",
        };
        match std::fs::read(&full) {
            Ok(bytes) => HttpResponse::Ok().content_type(ct).body(bytes),
            Err(_) => HttpResponse::NotFound().finish(),
        }
    }
    cfg.route("/examples/{path:.*}", web::get().to(file));
}

fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

/// Whether the browser and the vendored library of an example are there; `None` skips (only
/// outside CI).
fn browser_for(vendored: &str) -> Option<&'static str> {
    let vendored = examples_dir().join(vendored).exists();
    let found = chromium().filter(|_| vendored);
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install chromium and vendor the examples' libraries (npm ci && npm run build in examples/map and examples/dashboard)"
        );
        eprintln!(
            "note: browser test not run here: install Debian's chromium and run `npm ci && npm run build` in the example"
        );
    }
    found
}

/// Loads a page in headless Chromium and returns its DOM once the page's work is done.
async fn render(browser: &'static str, url: String) -> String {
    let profile = tempfile::tempdir().unwrap();
    let args = vec![
        "--headless".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        format!("--user-data-dir={}", profile.path().display()),
        "--virtual-time-budget=20000".into(),
        "--dump-dom".into(),
        url,
    ];
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(browser).args(&args).output()
    })
    .await
    .unwrap()
    .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("data-loaded=\"true\""),
        "the page did not finish: {dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

#[tokio::test]
async fn the_map_page_shows_every_marker_and_lists_every_lab_in_headless_chromium() {
    let Some(browser) = browser_for("map/vendor/leaflet/leaflet.js") else {
        return;
    };
    let app = TestApp::spawn_with(|s| s.seed_demo_on_empty = true, Some(serve_example)).await;
    let expected = json_of(app.get("/api/v1/map").await, 200).await["features"]
        .as_array()
        .unwrap()
        .len();
    assert!(
        expected >= 5,
        "the demo data has labs and located organisations"
    );
    let labs = json_of(app.get("/api/v1/labs?count=true").await, 200).await["page"]["total"]
        .as_u64()
        .unwrap();
    assert!(labs >= 2);
    let dom = render(
        browser,
        format!("{}/examples/map/index.html?tiles=off", app.address),
    )
    .await;
    let markers = dom.matches("leaflet-marker-icon").count();
    assert_eq!(markers, expected, "one marker per feature");
    assert!(dom.contains(&format!("data-count=\"{expected}\"")));
    assert!(dom.contains(&format!("data-labs=\"{labs}\"")), "{dom}");
    assert_eq!(dom.matches("class=\"lab\"").count() as u64, labs);
}

#[tokio::test]
async fn the_dashboard_draws_the_summary_and_its_csv_agrees_in_headless_chromium() {
    let Some(browser) = browser_for("dashboard/vendor/chart.js/chart.umd.js") else {
        return;
    };
    let app = TestApp::spawn_with(|s| s.seed_demo_on_empty = true, Some(serve_example)).await;
    let summary = json_of(
        app.get("/api/v1/metrics/summary?group_by=indicator,year")
            .await,
        200,
    )
    .await;
    let rows = summary["data"].as_array().unwrap();
    assert!(rows.len() >= 3, "the demo data has participation figures");
    let total: f64 = rows.iter().filter_map(|r| r["actual"].as_f64()).sum();
    let bars = rows.iter().filter(|r| r["actual"].is_number()).count();
    let dom = render(
        browser,
        format!("{}/examples/dashboard/index.html", app.address),
    )
    .await;
    let n = rows.len();
    assert!(dom.contains(&format!("data-rows=\"{n}\"")), "{dom}");
    assert!(dom.contains(&format!("data-csv-rows=\"{n}\"")), "{dom}");
    assert!(dom.contains(&format!("data-bars=\"{bars}\"")), "{dom}");
    assert!(dom.contains(&format!("data-total=\"{total}\"")), "{dom}");
    // The CSV table: a header and one line per summary row.
    assert_eq!(dom.matches("<tr>").count(), n + 1, "{dom}");
}
