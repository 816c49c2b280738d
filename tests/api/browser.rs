//! The map example page in a real browser (headless Chromium, Debian's package).

use crate::helpers::{TestApp, json_of};
use actix_web::{HttpResponse, web};
use std::path::{Path, PathBuf};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/map")
}

/// Serves `examples/map/` next to the API, as a partner site would host the page.
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
    cfg.route("/examples/map/{path:.*}", web::get().to(file));
}

fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

#[tokio::test]
async fn the_map_page_shows_every_marker_in_headless_chromium() {
    let vendored = examples_dir().join("vendor/leaflet/leaflet.js").exists();
    let Some(browser) = chromium().filter(|_| vendored) else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install chromium and vendor Leaflet (cd examples/map && npm ci && npm run build)"
        );
        eprintln!(
            "note: browser test not run here: install Debian's chromium and run `npm ci && npm run build` in examples/map"
        );
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
    let url = format!("{}/examples/map/index.html?tiles=off", app.address);
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
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("data-loaded=\"true\""),
        "page did not load the map: {dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let markers = dom.matches("leaflet-marker-icon").count();
    assert_eq!(markers, expected, "one marker per feature");
    assert!(dom.contains(&format!("data-count=\"{expected}\"")));
}
