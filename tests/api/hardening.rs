//! What outside testing found (issue "Hardening"): each test failed on the code before its fix.

use crate::helpers::{TestApp, json_of};
use serde_json::{Value, json};

async fn send_if_match(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    etag: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut req = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&app.token)
        .header("if-match", etag);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/merge-patch+json")
            .body(b.to_string());
    }
    req.send().await.unwrap()
}

fn etag(res: &reqwest::Response) -> String {
    res.headers()["etag"].to_str().unwrap().to_owned()
}

/// The ETag of a detail read (with its computed parts, or a sparse fieldset) is accepted by
/// `If-Match`; it still changes when a computed part changes.
#[tokio::test]
async fn detail_etags_are_accepted_by_if_match() {
    let app = TestApp::spawn().await;
    let lead = app.create_org("Capofila ETag", json!({})).await;
    let p = json_of(
        app.post(
            "/api/v1/projects",
            &json!({"title": "Progetto ETag", "lead_organisation_id": lead["id"], "status": "published"}),
        )
        .await,
        201,
    )
    .await;
    let path = format!("/api/v1/projects/{}", p["id"].as_str().unwrap());
    let full = app.get_auth(&path).await;
    let tag = etag(&full);
    let sparse = etag(&app.get_auth(&format!("{path}?fields=title")).await);
    assert_ne!(tag, sparse, "a sparse answer has its own tag");
    let ok = send_if_match(
        &app,
        reqwest::Method::PATCH,
        &path,
        &tag,
        Some(&json!({"summary": "Con If-Match"})),
    )
    .await;
    json_of(ok, 200).await;
    // Stale now: both the full and the sparse tag are of version 1.
    let stale = send_if_match(&app, reqwest::Method::DELETE, &path, &sparse, None).await;
    assert_eq!(stale.status(), 412);
    let fresh = etag(&app.get_auth(&format!("{path}?fields=title")).await);
    let gone = send_if_match(&app, reqwest::Method::DELETE, &path, &fresh, None).await;
    assert_eq!(gone.status(), 204);

    // Every detail view: its own tag is a valid precondition.
    let lab = app.create_lab("Lab ETag", 45.18, 9.15, json!({})).await;
    let org = app.create_org("Ente ETag", json!({})).await;
    for path in [
        format!("/api/v1/labs/{}", lab["id"].as_str().unwrap()),
        format!("/api/v1/organisations/{}", org["id"].as_str().unwrap()),
    ] {
        let tag = etag(&app.get_auth(&format!("{path}?fields=name")).await);
        let res = send_if_match(
            &app,
            reqwest::Method::PATCH,
            &path,
            &tag,
            Some(&json!({"description": "Cambiata"})),
        )
        .await;
        json_of(res, 200).await;
    }
}

/// Only successful writes move the response cache on: an unknown route, a `4xx` and a `401`
/// leave cached answers in place (a row changed behind the server's back stays unseen until the
/// TTL), a successful write to labs drops it (which writes drop which answers: `cache.rs`).
#[tokio::test]
async fn failed_writes_do_not_empty_the_response_cache() {
    let app = TestApp::spawn_with(|s| s.response_cache_ttl_ms = 60_000, None).await;
    let lab = app
        .create_lab("Laboratorio in cache", 45.18, 9.15, json!({}))
        .await;
    let id = lab["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/labs/{id}");
    json_of(app.get(&path).await, 200).await;
    let sql = format!("UPDATE labs SET name = 'Cambiato dietro' WHERE id = '{id}'");
    crate::helpers::write_unheard(&app.db, &sql).await;
    assert_eq!(app.post("/api/v1/nowhere", &json!({})).await.status(), 404);
    assert_eq!(
        app.post("/api/v1/labs", &json!({"name": 1})).await.status(),
        422
    );
    let anonymous = app
        .client
        .post(app.url("/api/v1/labs"))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        json_of(app.get(&path).await, 200).await["name"],
        "Laboratorio in cache",
        "no failed write emptied the cache"
    );
    app.create_lab("Un laboratorio qualsiasi", 45.2, 9.1, json!({}))
        .await;
    assert_eq!(
        json_of(app.get(&path).await, 200).await["name"],
        "Cambiato dietro",
        "a successful write to labs drops it"
    );
}

/// Follows `page.next_cursor` from `first` to the end; returns every item's `key`.
async fn walk(app: &TestApp, first: &str, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut url = first.to_owned();
    loop {
        let page = json_of(app.get_auth(&url).await, 200).await;
        assert!(page["page"]["limit"].is_u64(), "envelope of {url}: {page}");
        for item in page["data"].as_array().unwrap() {
            out.push(item[key].as_str().unwrap().to_owned());
        }
        match page["page"]["next_cursor"].as_str() {
            Some(c) => {
                let sep = if first.contains('?') { '&' } else { '?' };
                url = format!("{}{sep}cursor={c}", first);
            }
            None => break,
        }
    }
    out
}

/// Every collection answers `{"data": [...], "page": {...}}` and honours `limit` and `cursor`.
#[tokio::test]
async fn every_collection_has_the_collection_envelope() {
    let app = TestApp::spawn().await;
    app.user_token("viewer", &[]).await;
    app.user_token("editor", &[]).await;
    let org = app.create_org("Ente dei client", json!({})).await;
    for name in ["Primo", "Secondo"] {
        let body = json!({"name": name, "organisation_ids": [org["id"]], "scopes": ["read"]});
        let res = app.post("/api/v1/clients", &body).await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }
    for (path, key) in [
        ("/api/v1/indicators", "code"),
        ("/api/v1/themes", "code"),
        ("/api/v1/users", "email"),
        ("/api/v1/clients", "id"),
    ] {
        let whole = json_of(app.get_auth(&format!("{path}?limit=100")).await, 200).await;
        let total = whole["page"]["total"].as_u64().unwrap();
        assert!(total >= 2, "{path}: {whole}");
        assert_eq!(whole["data"].as_array().unwrap().len() as u64, total);
        let paged = walk(&app, &format!("{path}?limit=1"), key).await;
        let all: Vec<String> = whole["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i[key].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            paged, all,
            "{path}: one page at a time reads the same items"
        );
        json_of(app.get_auth(&format!("{path}?limit=0")).await, 422).await;
        json_of(app.get_auth(&format!("{path}?cursor=nonsense")).await, 400).await;
    }
}

/// Over-long credentials are a `422` naming each field, before any throttling or hashing.
#[tokio::test]
async fn over_long_credentials_are_refused_before_throttling() {
    let app = TestApp::spawn().await;
    let long = format!("{}@example.org", "a".repeat(2000));
    let res = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"grant_type": "password", "email": long, "password": "x".repeat(5000)}))
        .send()
        .await
        .unwrap();
    crate::helpers::assert_fields(&json_of(res, 422).await, &["/email", "/password"]);
    let res = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"grant_type": "client_credentials", "client_id": "c".repeat(3000), "client_secret": "s"}))
        .send()
        .await
        .unwrap();
    crate::helpers::assert_fields(&json_of(res, 422).await, &["/client_id"]);
}

/// Thousands of distinct failed logins: the throttle keeps at most its cap of keys, each of a
/// fixed size, and forgets aged-out ones when pruned.
#[test]
fn the_login_throttle_stays_bounded() {
    use legami_http::limits::{LoginThrottle, ThrottleKey, ThrottleScope};
    use std::time::Duration;
    let throttle = LoginThrottle::with_cap(5, Duration::from_secs(900), 1000);
    for i in 0..20_000 {
        let email = format!("{}{i}@example.org", "x".repeat(200));
        let keys = [
            ThrottleKey::new(ThrottleScope::Account, &["account", &email, "10.0.0.1"]),
            ThrottleKey::new(
                ThrottleScope::Address,
                &[&format!("10.1.{}.{}", i / 256, i % 256)],
            ),
        ];
        throttle.check(&keys).unwrap();
        throttle.fail(&keys);
        assert!(throttle.len() <= 1000, "{} keys after {i}", throttle.len());
    }
    // A key under attack right now is still throttled after the churn.
    let hot = [ThrottleKey::new(
        ThrottleScope::Account,
        &["account", "hot@example.org", "10.0.0.9"],
    )];
    for _ in 0..5 {
        throttle.fail(&hot);
    }
    assert!(throttle.check(&hot).is_err());
    let short = LoginThrottle::with_cap(5, Duration::from_millis(20), 1000);
    for i in 0..500 {
        short.fail(&[ThrottleKey::new(ThrottleScope::Address, &[&i.to_string()])]);
    }
    assert_eq!(short.len(), 500);
    std::thread::sleep(Duration::from_millis(50));
    short.prune();
    assert!(short.is_empty());
}

/// Five wrong passwords from one address do not stop the right password from another (the
/// per-address limit still stops the first address).
#[tokio::test]
async fn nobody_can_lock_another_user_out() {
    let app = TestApp::spawn().await;
    let email = format!("vittima-{}@legami.test", uuid::Uuid::now_v7().simple());
    let hash = legami_http::auth::hash_password(crate::helpers::PASSWORD).unwrap();
    legami_persistence::accounts::create_user(
        &app.db,
        &email,
        "Vittima",
        &hash,
        "viewer",
        &[],
        &legami_persistence::audit::Actor::system(),
    )
    .await
    .unwrap();
    let attacker = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let login = |client: reqwest::Client, password: &'static str| {
        let url = app.url("/api/v1/auth/token");
        let email = email.clone();
        async move {
            client
                .post(url)
                .json(&json!({"grant_type": "password", "email": email, "password": password}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for _ in 0..5 {
        assert_eq!(login(attacker.clone(), "sbagliata sbagliata").await, 401);
    }
    assert_eq!(login(attacker.clone(), "sbagliata sbagliata").await, 429);
    assert_eq!(
        login(app.client.clone(), crate::helpers::PASSWORD).await,
        200,
        "the owner logs in from another address"
    );
}

/// Production refuses the development cursor secret (and a short one); with its own secret and
/// signing key it starts.
#[tokio::test]
async fn production_refuses_development_secrets() {
    use base64::Engine;
    let db = crate::helpers::TestDb::new().await;
    let key = legami_persistence::accounts::generate_key().unwrap();
    let mut settings = legami_server::Settings::for_tests(&db.url);
    settings.env = "production".into();
    settings.jwt_private_key =
        Some(base64::engine::general_purpose::STANDARD.encode(&key.private_pkcs8));
    for weak in [legami_server::settings::DEVELOPMENT_CURSOR_SECRET, "short"] {
        settings.cursor_secret = weak.into();
        let err = legami_server::Application::build(&settings)
            .await
            .err()
            .expect("must refuse a development or short cursor secret");
        assert!(
            format!("{err:#}").contains("LEGAMI_CURSOR_SECRET"),
            "{err:#}"
        );
    }
    settings.cursor_secret = "a production secret of more than thirty-two bytes".into();
    let app = legami_server::Application::build(&settings)
        .await
        .expect("starts with its own secrets");
    drop(app);
}

/// Demo records cite their real public sources, never a path of our own tree.
#[tokio::test]
async fn demo_records_cite_their_public_sources() {
    let app = TestApp::spawn().await;
    legami_server::demo::seed(&app.db).await.unwrap();
    let mut text = String::new();
    for collection in ["organisations", "labs", "areas", "networks", "projects"] {
        let ids = walk(&app, &format!("/api/v1/{collection}?limit=100"), "id").await;
        assert!(!ids.is_empty(), "{collection}");
        for id in ids {
            let path = format!("/api/v1/{collection}/{id}");
            text.push_str(&json_of(app.get_auth(&path).await, 200).await.to_string());
        }
    }
    let mut url = "/api/v1/metrics?limit=100".to_owned();
    loop {
        let page = json_of(app.get_auth(&url).await, 200).await;
        text.push_str(&page["data"].to_string());
        match page["page"]["next_cursor"].as_str() {
            Some(c) => url = format!("/api/v1/metrics?limit=100&cursor={c}"),
            None => break,
        }
    }
    for path in ["shared/", "seeds/"] {
        assert!(!text.contains(path), "a demo record cites {path}");
    }
    for source in [
        "CSV Lombardia, «Per il territorio»",
        "CSV Lombardia Sud, «E' nata la Mappa dei laboratori Sociali Fare#Bene Comune», luglio 2020",
        "Fondazione Cariplo, Welfare in Azione, «Fare Legami»",
        "Ambito di Lecco, «Piano di Zona»",
    ] {
        assert!(text.contains(source), "no record cites {source}");
    }
}

/// Summaries grouped by project, lab or area carry the group's slug and name (JSON and CSV);
/// a draft area never appears in an anonymous summary grouped by area.
#[tokio::test]
async fn summaries_label_their_groups() {
    let app = TestApp::spawn().await;
    legami_server::demo::seed(&app.db).await.unwrap();
    let project = json_of(app.get("/api/v1/projects/fare-benecomune").await, 200).await;
    let lab_id = project["lab_ids"][0].as_str().unwrap().to_owned();
    let url = format!(
        "/api/v1/projects/{}/metrics",
        project["id"].as_str().unwrap()
    );
    let obs = json!([{"indicator": "families_supported", "kind": "actual", "value": 3,
        "period_start": "2021-01-01", "period_end": "2021-01-31", "lab_id": lab_id,
        "municipality": "018110"}]);
    json_of(app.post(&url, &obs).await, 201).await;
    // A draft area holding Pavia: invisible to anonymous summaries.
    json_of(
        app.post(
            "/api/v1/areas",
            &json!({"name": "Area in bozza", "status": "draft", "municipalities": ["018110"]}),
        )
        .await,
        201,
    )
    .await;
    for (group, collection, title) in [
        ("project", "projects", "title"),
        ("lab", "labs", "name"),
        ("area", "areas", "name"),
    ] {
        let v = json_of(
            app.get(&format!("/api/v1/metrics/summary?group_by={group}"))
                .await,
            200,
        )
        .await;
        let rows = v["data"].as_array().unwrap();
        assert!(!rows.is_empty(), "{group}: {v}");
        let mut labelled = 0;
        for row in rows {
            let Some(key) = row[group].as_str() else {
                continue;
            };
            let record = json_of(app.get(&format!("/api/v1/{collection}/{key}")).await, 200).await;
            assert_eq!(
                row[format!("{group}_slug")],
                record["slug"],
                "{group}: {row}"
            );
            assert_eq!(
                row[format!("{group}_{title}")],
                record[title],
                "{group}: {row}"
            );
            assert_ne!(row[format!("{group}_slug")], "area-in-bozza");
            labelled += 1;
        }
        assert!(labelled > 0, "{group}: {v}");
    }
    let csv = app
        .get("/api/v1/metrics/summary?group_by=project&format=csv")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        "indicator,project,project_slug,project_title,actual,target,attainment"
    );
    assert!(csv.contains(",fare-benecomune,"), "{csv}");
}

/// A list parameter with thousands of unknown names gives a small 422: deduplicated, capped,
/// the known names stated once.
#[tokio::test]
async fn error_bodies_stay_small() {
    let app = TestApp::spawn().await;
    let mut names: Vec<String> = (0..1500).map(|i| format!("nope{i}")).collect();
    names.extend((0..500).map(|_| "again".to_owned()));
    for path in ["organisations", "labs", "projects", "areas", "networks"] {
        let res = app
            .get(&format!("/api/v1/{path}?fields={}", names.join(",")))
            .await;
        let body = res.bytes().await.unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["status"], 422, "{path}: {v}");
        assert!(body.len() < 16 * 1024, "{path}: {} bytes", body.len());
        let errors = v["errors"].as_array().unwrap();
        assert!(errors.len() <= 51, "{path}: {} entries", errors.len());
        let again = errors
            .iter()
            .filter(|e| e["message"].as_str().unwrap().contains("'again'"))
            .count();
        assert!(again <= 1, "{path}: 'again' listed {again} times");
        let text = v.to_string();
        assert_eq!(text.matches("known:").count(), 1, "{path}: {v}");
        assert!(
            v["detail"].as_str().unwrap().contains("1501"),
            "the detail counts every distinct problem: {v}"
        );
    }
    // Other list parameters are capped the same way.
    let many: Vec<String> = (0..3000).map(|i| format!("t{i}")).collect();
    let res = app
        .get(&format!("/api/v1/labs?theme={}", many.join(",")))
        .await;
    let body = res.bytes().await.unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["status"], 422, "{v}");
    assert!(body.len() < 16 * 1024, "{} bytes", body.len());
}

/// CORS: an origin not configured for writes is offered only the read methods in any preflight
/// answer, and a non-GET request carrying an unlisted `Origin` is refused, whatever else it
/// carries.
#[tokio::test]
async fn cors_offers_writes_only_to_listed_origins() {
    let app =
        TestApp::spawn_with(|s| s.cors_origins = "https://partner.example".into(), None).await;
    let methods = |res: &reqwest::Response| -> Vec<String> {
        res.headers()
            .get("access-control-allow-methods")
            .map(|v| {
                v.to_str()
                    .unwrap()
                    .split(',')
                    .map(|m| m.trim().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    for method in ["GET", "HEAD"] {
        let res = app
            .client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/organisations"))
            .header("origin", "https://anyone.example")
            .header("access-control-request-method", method)
            .send()
            .await
            .unwrap();
        let mut got = methods(&res);
        got.sort();
        assert_eq!(got, ["GET", "HEAD", "OPTIONS"], "{method}");
    }
    let res = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/organisations"))
        .header("origin", "https://partner.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(methods(&res).contains(&"POST".to_owned()));
    // A write from an unlisted origin is refused before it runs, even when it claims to be a
    // read in a preflight header.
    let before = json_of(app.get_auth("/api/v1/organisations?count=true").await, 200).await;
    for extra in [None, Some("GET")] {
        let mut req = app
            .client
            .post(app.url("/api/v1/organisations"))
            .bearer_auth(&app.token)
            .header("origin", "https://anyone.example")
            .json(&json!({"name": "Da un'origine estranea", "kind": "aps", "address": {"municipality": "018110"}}));
        if let Some(m) = extra {
            req = req.header("access-control-request-method", m);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 403, "{extra:?}");
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{extra:?}"
        );
    }
    let after = json_of(app.get_auth("/api/v1/organisations?count=true").await, 200).await;
    assert_eq!(before["page"]["total"], after["page"]["total"]);
    // The listed origin may write.
    let res = app
        .client
        .post(app.url("/api/v1/organisations"))
        .bearer_auth(&app.token)
        .header("origin", "https://partner.example")
        .json(&json!({"name": "Dal partner", "kind": "aps", "address": {"municipality": "018110"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

/// An editor may name as a project's lead, or as a lab's manager, only an organisation it is a
/// member of; partners may be others. Refused writes change nothing.
#[tokio::test]
async fn editors_lead_and_manage_only_for_their_organisations() {
    let app = TestApp::spawn().await;
    let a = app.create_org("Ente A", json!({})).await;
    let b = app.create_org("Ente B", json!({})).await;
    let editor = app.user_token("editor", &[&b]).await;
    let send = |method: reqwest::Method, path: String, body: Value| {
        let mut req = app
            .client
            .request(method.clone(), app.url(&path))
            .bearer_auth(&editor);
        req = if method == reqwest::Method::PATCH {
            req.header("content-type", "application/merge-patch+json")
                .body(body.to_string())
        } else {
            req.json(&body)
        };
        req.send()
    };
    let project = |lead: &Value, partner: &Value| {
        json!({"title": format!("Guidato da {}", lead["name"].as_str().unwrap()), "lead_organisation_id": lead["id"],
            "phase": "active", "status": "published", "municipalities": ["018110"],
            "partners": [{"organisation_id": partner["id"], "role": "partner"}]})
    };
    let projects_before = json_of(app.get_auth("/api/v1/projects").await, 200).await;
    let res = send(
        reqwest::Method::POST,
        "/api/v1/projects".into(),
        project(&a, &b),
    )
    .await
    .unwrap();
    json_of(res, 403).await;
    let projects_after = json_of(app.get_auth("/api/v1/projects").await, 200).await;
    assert_eq!(
        projects_before["page"]["total"],
        projects_after["page"]["total"]
    );
    let own = json_of(
        send(
            reqwest::Method::POST,
            "/api/v1/projects".into(),
            project(&b, &a),
        )
        .await
        .unwrap(),
        201,
    )
    .await;
    let path = format!("/api/v1/projects/{}", own["id"].as_str().unwrap());
    let res = send(
        reqwest::Method::PATCH,
        path.clone(),
        json!({"lead_organisation_id": a["id"], "partners": [{"organisation_id": b["id"], "role": "partner"}]}),
    )
    .await
    .unwrap();
    json_of(res, 403).await;
    assert_eq!(
        json_of(app.get_auth(&path).await, 200).await["lead_organisation_id"],
        b["id"]
    );
    // Labs: the manager is the editor's own organisation; a partner may be another.
    let lab = |manager: &Value, partner: &Value| {
        json!({"name": format!("Gestito da {}", manager["name"].as_str().unwrap()), "kind": "social_lab",
            "status": "published", "address": {"municipality": "018110"},
            "location": {"lat": 45.18, "lon": 9.15},
            "operators": [{"organisation_id": manager["id"], "role": "manager"},
                          {"organisation_id": partner["id"], "role": "partner"}]})
    };
    let res = send(reqwest::Method::POST, "/api/v1/labs".into(), lab(&a, &b))
        .await
        .unwrap();
    json_of(res, 403).await;
    let own = json_of(
        send(reqwest::Method::POST, "/api/v1/labs".into(), lab(&b, &a))
            .await
            .unwrap(),
        201,
    )
    .await;
    let path = format!("/api/v1/labs/{}", own["id"].as_str().unwrap());
    let res = send(
        reqwest::Method::PATCH,
        path.clone(),
        json!({"operators": [{"organisation_id": b["id"], "role": "manager"},
                             {"organisation_id": a["id"], "role": "manager"}]}),
    )
    .await
    .unwrap();
    json_of(res, 403).await;
    assert_eq!(
        json_of(app.get_auth(&path).await, 200).await["operators"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Unchanged references stay: an administrator named A lead with B as partner; B's editor
    // may still edit the project without touching the lead.
    let shared = json_of(app.post("/api/v1/projects", &project(&a, &b)).await, 201).await;
    let res = send(
        reqwest::Method::PATCH,
        format!("/api/v1/projects/{}", shared["id"].as_str().unwrap()),
        json!({"summary": "Aggiornato dal partner"}),
    )
    .await
    .unwrap();
    json_of(res, 200).await;
}

/// No client input reaches a 500: control characters in any text parameter are a 422 naming
/// it, and an area of some 1,100 municipalities works as a filter everywhere.
#[tokio::test]
async fn no_client_input_reaches_a_500() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/v1/municipalities?q=Pa%00via",
        "/api/v1/organisations?q=a%00b",
        "/api/v1/labs?q=%01",
        "/api/v1/projects?q=x%00",
        "/api/v1/areas?q=%00",
        "/api/v1/networks?q=%00",
        "/api/v1/search?q=%00",
        "/api/v1/organisations?sort=na%00me",
        "/api/v1/metrics?indicator=a%00",
        "/api/v1/changes?cursor=%00",
        "/api/v1/map?bbox=%00",
    ] {
        let res = app.get(path).await;
        let v = json_of(res, 422).await;
        let field = v["errors"][0]["field"].as_str().unwrap().to_owned();
        assert!(path.contains(&format!("?{field}=")), "{path}: {v}");
    }
    // Path parameters: a NUL is an unknown record, never a 500.
    for path in [
        "/api/v1/municipalities/01%0010",
        "/api/v1/themes/a%00b",
        "/api/v1/indicators/a%00b",
        "/api/v1/areas/a%00b",
        "/api/v1/labs/a%00b",
        "/api/v1/organisations/a%00b",
        "/api/v1/projects/a%00b",
        "/api/v1/networks/a%00b",
        "/api/v1/users/a%00b",
        "/api/v1/clients/a%00b",
    ] {
        let status = app.get_auth(path).await.status().as_u16();
        assert!([404, 422].contains(&status), "{path}: {status}");
    }
    // An area as large as a province or more.
    let csv = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../migrations/data/municipalities.csv"
    ))
    .unwrap();
    let codes: Vec<&str> = csv
        .lines()
        .skip(1)
        .take(1100)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(codes.len(), 1100);
    app.create_lab("Nel grande ambito", 45.18, 9.15, json!({}))
        .await;
    json_of(
        app.post(
            "/api/v1/areas",
            &json!({"name": "Grande ambito", "municipalities": codes}),
        )
        .await,
        201,
    )
    .await;
    for path in [
        "/api/v1/organisations?area=grande-ambito",
        "/api/v1/labs?area=grande-ambito",
        "/api/v1/projects?area=grande-ambito",
        "/api/v1/metrics?area=grande-ambito",
        "/api/v1/metrics/summary?area=grande-ambito",
        "/api/v1/search?q=ambito&area=grande-ambito",
        "/api/v1/map?area=grande-ambito",
        "/api/v1/municipalities?area=grande-ambito&limit=100",
        "/api/v1/labs?area=grande-ambito&municipality=018110",
    ] {
        json_of(app.get(path).await, 200).await;
        json_of(app.get_auth(path).await, 200).await;
    }
    // A long set still filters exactly: the lab in Pavia is found through an area of 101.
    let mut with_pavia: Vec<&str> = codes[..100].to_vec();
    with_pavia.push("018110");
    json_of(
        app.post(
            "/api/v1/areas",
            &json!({"name": "Ambito con Pavia", "municipalities": with_pavia}),
        )
        .await,
        201,
    )
    .await;
    for (path, want) in [
        ("/api/v1/labs?area=ambito-con-pavia", 1),
        ("/api/v1/labs?area=grande-ambito", 0),
        ("/api/v1/organisations?area=ambito-con-pavia", 1),
        ("/api/v1/projects?area=ambito-con-pavia", 0),
    ] {
        let v = json_of(app.get(path).await, 200).await;
        assert_eq!(v["data"].as_array().unwrap().len(), want, "{path}: {v}");
    }
    let map = json_of(app.get("/api/v1/map?area=ambito-con-pavia").await, 200).await;
    assert!(!map["features"].as_array().unwrap().is_empty(), "{map}");
    // The same area named many times, and an explicit list as long: never one bind per element.
    let repeated = vec!["grande-ambito"; 40].join(",");
    let listed = codes.join(",");
    for collection in [
        "organisations",
        "labs",
        "projects",
        "metrics",
        "map",
        "municipalities",
    ] {
        json_of(
            app.get(&format!("/api/v1/{collection}?area={repeated}"))
                .await,
            200,
        )
        .await;
        if collection != "municipalities" {
            json_of(
                app.get(&format!("/api/v1/{collection}?municipality={listed}"))
                    .await,
                200,
            )
            .await;
        }
    }
    let all = json_of(
        app.get("/api/v1/municipalities?area=grande-ambito&limit=1&count=true")
            .await,
        200,
    )
    .await;
    assert_eq!(all["page"]["total"], 1100);
}

/// Drafts stay invisible: a draft area answers as an unknown one in every filter, and a
/// published network's member list shows no draft lab (or organisation) to those who may not
/// see it, while its ETag still works for conditional writes.
#[tokio::test]
async fn drafts_stay_invisible_in_filters_and_member_lists() {
    let app = TestApp::spawn().await;
    json_of(
        app.post(
            "/api/v1/areas",
            &json!({"name": "Bozza riservata", "status": "draft", "municipalities": ["018110"]}),
        )
        .await,
        201,
    )
    .await;
    for collection in [
        "organisations",
        "labs",
        "projects",
        "metrics",
        "map",
        "municipalities",
    ] {
        let draft = json_of(
            app.get(&format!("/api/v1/{collection}?area=bozza-riservata"))
                .await,
            422,
        )
        .await;
        let unknown = json_of(
            app.get(&format!("/api/v1/{collection}?area=mai-esistita"))
                .await,
            422,
        )
        .await;
        let msg = |v: &Value| v["errors"][0]["message"].as_str().unwrap().to_owned();
        assert_eq!(
            msg(&draft).replace("bozza-riservata", "X"),
            msg(&unknown).replace("mai-esistita", "X"),
            "{collection}"
        );
        // An administrator still filters by it.
        json_of(
            app.get_auth(&format!("/api/v1/{collection}?area=bozza-riservata"))
                .await,
            200,
        )
        .await;
    }
    let public = app.create_lab("Pubblico", 45.18, 9.15, json!({})).await;
    let hidden = app
        .create_lab("Nascosto", 45.18, 9.15, json!({"status": "draft"}))
        .await;
    let draft_org = app
        .create_org("Ente in bozza", json!({"status": "draft"}))
        .await;
    let net = json_of(
        app.post(
            "/api/v1/networks",
            &json!({"name": "Rete mista", "status": "published", "members": [
                {"lab_id": public["id"]}, {"lab_id": hidden["id"]},
                {"organisation_id": draft_org["id"]}]}),
        )
        .await,
        201,
    )
    .await;
    let path = format!("/api/v1/networks/{}", net["slug"].as_str().unwrap());
    let anon = json_of(app.get(&path).await, 200).await;
    assert_eq!(
        anon["members"],
        json!([{"organisation_id": null, "lab_id": public["id"], "joined": null}]),
        "{anon}"
    );
    let listed = json_of(app.get("/api/v1/networks?limit=100").await, 200).await;
    let item = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == net["id"])
        .unwrap()
        .clone();
    assert_eq!(item["members"], anon["members"]);
    let text = app
        .get("/api/v1/networks?format=csv")
        .await
        .text()
        .await
        .unwrap();
    assert!(!text.contains(hidden["id"].as_str().unwrap()), "{text}");
    // The administrator sees every member, and the tag of its read works for If-Match.
    let res = app.get_auth(&path).await;
    let tag = etag(&res);
    let full = json_of(res, 200).await;
    assert_eq!(full["members"].as_array().unwrap().len(), 3);
    let res = send_if_match(
        &app,
        reqwest::Method::PATCH,
        &path,
        &tag,
        Some(&json!({"description": "Aggiornata"})),
    )
    .await;
    let after = json_of(res, 200).await;
    assert_eq!(after["members"].as_array().unwrap().len(), 3);
}

/// Refresh-token rotation is atomic: two concurrent uses of one token, raced many times, give at
/// most one success, and after the reuse revokes the family no token of it works.
#[tokio::test]
async fn refresh_rotation_is_atomic() {
    let app = TestApp::spawn().await;
    let user = legami_persistence::accounts::create_user(
        &app.db,
        "rotazione@legami.test",
        "Rotazione",
        "not-a-usable-hash",
        "viewer",
        &[],
        &legami_persistence::audit::Actor::system(),
    )
    .await
    .unwrap();
    let refresh = |t: String| {
        app.client
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({"grant_type": "refresh_token", "refresh_token": t}))
            .send()
    };
    let mut survived = Vec::new();
    for round in 0..40 {
        let r1 = legami_persistence::accounts::issue_refresh(&app.db, user.id, None)
            .await
            .unwrap();
        let (a, b) = tokio::join!(refresh(r1.clone()), refresh(r1.clone()));
        let mut winners = Vec::new();
        for res in [a.unwrap(), b.unwrap()] {
            match res.status().as_u16() {
                200 => winners.push(
                    res.json::<Value>().await.unwrap()["refresh_token"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                ),
                401 => {}
                s => panic!("round {round}: status {s}"),
            }
        }
        assert!(winners.len() <= 1, "round {round}: both uses succeeded");
        // Whatever the order, the second use was a reuse: the family is revoked.
        for t in winners {
            let res = refresh(t).await.unwrap();
            if res.status() != 401 {
                survived.push(round);
            }
        }
        assert_eq!(refresh(r1).await.unwrap().status(), 401);
    }
    assert!(
        survived.is_empty(),
        "the winner's new token survived the revocation in rounds {survived:?}"
    );
}

/// Signing keys: a configured private key is never written to the database, a retired key's
/// private material is wiped, and a retired key verifies (and stays in the JWKS) only for the
/// access-token lifetime after its retirement.
#[tokio::test]
async fn signing_keys_keep_no_private_material_they_do_not_need() {
    use base64::Engine;
    use sea_orm::ConnectionTrait;
    let test_db = crate::helpers::TestDb::new().await;
    let mut settings = legami_server::Settings::for_tests(&test_db.url);
    let db = legami_server::open_database(&settings).await.unwrap();
    let user = legami_persistence::accounts::create_user(
        &db,
        "chiavi@legami.test",
        "Chiavi",
        "not-a-usable-hash",
        "viewer",
        &[],
        &legami_persistence::audit::Actor::system(),
    )
    .await
    .unwrap();
    // Development: a key generated and kept in the database signs.
    let dev = legami_server::startup::signing_keys(&db, &settings)
        .await
        .unwrap();
    let (dev_token, _) = dev.issue(&user).unwrap();
    // Production: the operator's key.
    let configured = legami_persistence::accounts::generate_key().unwrap();
    let der_b64 = base64::engine::general_purpose::STANDARD.encode(&configured.private_pkcs8);
    settings.jwt_private_key = Some(der_b64.clone());
    let keys = legami_server::startup::signing_keys(&db, &settings)
        .await
        .unwrap();
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT kid, private_pkcs8 FROM signing_keys",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        let kid: String = r.try_get_by_index(0).unwrap();
        let private: String = r.try_get_by_index(1).unwrap();
        assert!(
            private.is_empty(),
            "{kid} keeps private material in the database"
        );
        assert_ne!(private, der_b64);
    }
    let (token, _) = keys.issue(&user).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(configured.kid.as_str()));
    assert!(keys.verify(&token).is_some());
    // Just retired: the development key still verifies its tokens and is in the JWKS.
    assert!(keys.verify(&dev_token).is_some());
    assert_eq!(keys.jwks()["keys"].as_array().unwrap().len(), 2);
    // Retired longer ago than an access token lives: gone.
    let long_ago = chrono::Utc::now() - chrono::Duration::minutes(16);
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        db.get_database_backend(),
        if crate::helpers::is_postgres() {
            "UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NOT NULL"
        } else {
            "UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NOT NULL"
        },
        [long_ago.into()],
    ))
    .await
    .unwrap();
    let keys = legami_server::startup::signing_keys(&db, &settings)
        .await
        .unwrap();
    assert!(keys.verify(&dev_token).is_none());
    let jwks = keys.jwks();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [configured.kid.as_str()]);
    assert!(keys.verify(&token).is_some());
    db.close().await.unwrap();
}

/// Secrets are never replayed: an answer carrying a secret (or `no-store`) is not kept by the
/// idempotency layer, replays are for the same authenticated caller only, never for anonymous
/// callers or 4xx answers, and a disabled caller gets 401, not a replay.
#[tokio::test]
async fn idempotent_replays_hold_no_secrets_and_follow_authentication() {
    let app = TestApp::spawn().await;
    let post = |token: Option<&str>, path: &str, key: &str, body: &Value| {
        let mut req = app
            .client
            .post(app.url(path))
            .header("idempotency-key", key.to_owned())
            .json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t.to_owned());
        }
        req.send()
    };
    let replayed = |res: &reqwest::Response| res.headers().contains_key("idempotent-replayed");
    // POST /clients: the secret is shown once, never replayed, and no second client is made.
    let org = app.create_org("Ente con client", json!({})).await;
    let body = json!({"name": "Sito partner", "organisation_ids": [org["id"]], "scopes": ["read"]});
    let first = post(Some(&app.token), "/api/v1/clients", "client-1", &body)
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let location = first.headers()["location"].to_str().unwrap().to_owned();
    let created = first.json::<Value>().await.unwrap();
    assert!(created["client_secret"].is_string());
    let again = post(Some(&app.token), "/api/v1/clients", "client-1", &body)
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    assert_eq!(again.headers()["location"].to_str().unwrap(), location);
    let text = again.text().await.unwrap();
    assert!(
        !text.contains(created["client_secret"].as_str().unwrap()),
        "{text}"
    );
    let clients = json_of(app.get_auth("/api/v1/clients?limit=100").await, 200).await;
    assert_eq!(clients["page"]["total"], 1, "{clients}");
    // Anonymous callers: never stored, never replayed.
    let org_body = json!({"name": "Anonimo", "kind": "aps", "address": {"municipality": "018110"}});
    for _ in 0..2 {
        let res = post(None, "/api/v1/organisations", "anon-1", &org_body)
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert!(!replayed(&res));
    }
    // A 4xx is not kept: the same key may then carry a corrected body.
    let bad = json!({"name": "", "kind": "aps"});
    for _ in 0..2 {
        let res = post(Some(&app.token), "/api/v1/organisations", "fix-1", &bad)
            .await
            .unwrap();
        assert_eq!(res.status(), 422);
        assert!(!replayed(&res));
    }
    let res = post(
        Some(&app.token),
        "/api/v1/organisations",
        "fix-1",
        &org_body,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 201);
    // Another caller with the same key and body is not answered with the first one's answer.
    let editor_org = app.create_org("Ente dell'editor", json!({})).await;
    let editor = app.user_token("editor", &[&editor_org]).await;
    let draft = json!({"name": "Bozza idempotente", "kind": "aps",
        "address": {"municipality": "018110"}, "status": "draft"});
    let a = post(
        Some(&app.token),
        "/api/v1/organisations",
        "shared-1",
        &draft,
    )
    .await
    .unwrap();
    assert_eq!(a.status(), 201);
    let b = post(Some(&editor), "/api/v1/organisations", "shared-1", &draft)
        .await
        .unwrap();
    assert!(!replayed(&b));
    assert_eq!(b.status(), 201);
    // A disabled caller: 401, not a replay of its earlier answer.
    let c = post(Some(&editor), "/api/v1/organisations", "mine-1", &draft)
        .await
        .unwrap();
    assert_eq!(c.status(), 201);
    sea_orm::ConnectionTrait::execute_unprepared(
        &app.db,
        "UPDATE users SET disabled = true WHERE role = 'editor'",
    )
    .await
    .unwrap();
    let d = post(Some(&editor), "/api/v1/organisations", "mine-1", &draft)
        .await
        .unwrap();
    assert_eq!(d.status(), 401);
    assert!(!replayed(&d));
}

/// Every request body has a deadline: a client that declares 1 MiB and sends one byte gets a
/// 408 and its connection closed, with or without an `Idempotency-Key`.
#[tokio::test]
async fn every_request_body_has_a_deadline() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(|s| s.body_timeout_secs = 2, None).await;
    let lab = app.create_lab("Lento", 45.18, 9.15, json!({})).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let cases = [
        (
            "POST",
            "/api/v1/organisations".to_owned(),
            "application/json",
            None,
        ),
        (
            "PATCH",
            format!("/api/v1/labs/{}", lab["id"].as_str().unwrap()),
            "application/merge-patch+json",
            None,
        ),
        (
            "POST",
            "/api/v1/organisations".to_owned(),
            "application/json",
            Some("slow-1"),
        ),
        (
            "POST",
            "/api/v1/auth/token".to_owned(),
            "application/json",
            None,
        ),
    ];
    for (method, path, ct, key) in cases {
        let mut s = tokio::net::TcpStream::connect(&host).await.unwrap();
        let key = key.map_or(String::new(), |k| format!("Idempotency-Key: {k}\r\n"));
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: {ct}\r\n{key}Content-Length: 1000000\r\n\r\n{{",
            app.token,
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(30),
            s.read_to_end(&mut answer),
        )
        .await
        .unwrap_or_else(|_| {
            panic!("{method} {path} {key}: no answer, or the connection stayed open")
        })
        .unwrap();
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.starts_with("HTTP/1.1 408"),
            "{method} {path} {key}: {text}"
        );
        assert!(text.contains("application/problem+json"), "{text}");
    }
}

fn fields_of(v: &Value) -> Vec<String> {
    let mut f: Vec<String> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    f.sort();
    f.dedup();
    f
}

/// Nested objects are objects: an array where the schema says object is a 422 naming the field
/// (never `[lon, lat]` stored as `lat, lon`), and a 422 names every invalid field at once, in
/// bodies and in queries.
#[tokio::test]
async fn bodies_have_their_shape_and_every_error_is_named() {
    let app = TestApp::spawn().await;
    let lab = app.create_lab("Forma", 45.18, 9.15, json!({})).await;
    let manager = lab["operators"][0]["organisation_id"].clone();
    let lab_body = |extra: Value| {
        let mut b = json!({"name": "Geo", "kind": "social_lab", "status": "published",
            "address": {"municipality": "018110"}, "location": {"lat": 45.18, "lon": 9.15},
            "operators": [{"organisation_id": manager, "role": "manager"}]});
        json_patch::merge(&mut b, &extra);
        b
    };
    let labs_before = json_of(app.get_auth("/api/v1/labs?limit=1").await, 200).await;
    for (extra, field) in [
        (json!({"location": [9.15, 45.18]}), "/location"),
        (json!({"address": ["018110"]}), "/address"),
        (
            json!({"operators": {"organisation_id": manager}}),
            "/operators",
        ),
        (json!({"operators": [[manager, "manager"]]}), "/operators/0"),
        (json!({"name": ["Geo"]}), "/name"),
    ] {
        let v = json_of(
            app.post("/api/v1/labs", &lab_body(extra.clone())).await,
            422,
        )
        .await;
        assert_eq!(fields_of(&v), [field], "{extra}: {v}");
    }
    let labs_after = json_of(app.get_auth("/api/v1/labs?limit=1").await, 200).await;
    assert_eq!(labs_before["page"]["total"], labs_after["page"]["total"]);
    // A merge patch is checked the same way, and leaves the record as it was.
    let path = format!("/api/v1/labs/{}", lab["id"].as_str().unwrap());
    let v = json_of(
        app.patch(&path, &json!({"location": [9.15, 45.18]})).await,
        422,
    )
    .await;
    assert_eq!(fields_of(&v), ["/location"]);
    let stored = json_of(app.get_auth(&path).await, 200).await;
    assert_eq!(stored["location"], lab["location"]);
    // Organisations: address and contact are objects; every missing field at once.
    for (extra, field) in [
        (json!({"address": [1, 2]}), "/address"),
        (json!({"contact": ["a@b.it"]}), "/contact"),
    ] {
        let mut body =
            json!({"name": "Ente", "kind": "aps", "address": {"municipality": "018110"}});
        json_patch::merge(&mut body, &extra);
        let v = json_of(app.post("/api/v1/organisations", &body).await, 422).await;
        assert_eq!(fields_of(&v), [field], "{v}");
    }
    let v = json_of(app.post("/api/v1/organisations", &json!({})).await, 422).await;
    let f = fields_of(&v);
    assert!(
        f.contains(&"/name".to_owned()) && f.contains(&"/kind".to_owned()),
        "{v}"
    );
    let v = json_of(
        app.post("/api/v1/projects", &json!({"municipalities": "018110"}))
            .await,
        422,
    )
    .await;
    let f = fields_of(&v);
    for want in ["/title", "/lead_organisation_id", "/municipalities"] {
        assert!(f.contains(&want.to_owned()), "{want}: {v}");
    }
    // Metric rows: dimensions are an object.
    let p = json_of(
        app.post(
            "/api/v1/projects",
            &json!({"title": "Forme", "lead_organisation_id": manager, "phase": "active",
                "status": "published", "municipalities": ["018110"]}),
        )
        .await,
        201,
    )
    .await;
    let url = format!("/api/v1/projects/{}/metrics", p["id"].as_str().unwrap());
    let rows = json!([
        {"indicator": "families_supported", "kind": "actual", "value": 1,
         "period_start": "2024-01-01", "period_end": "2024-01-31", "dimensions": ["0-5"]},
        {"indicator": "families_supported"}
    ]);
    let v = json_of(app.post(&url, &rows).await, 422).await;
    let f = fields_of(&v);
    for want in [
        "/0/dimensions",
        "/1/kind",
        "/1/value",
        "/1/period_start",
        "/1/period_end",
    ] {
        assert!(f.contains(&want.to_owned()), "{want}: {v}");
    }
    // Queries: a bad near and a missing radius_km are both named.
    let v = json_of(app.get("/api/v1/labs?near=north").await, 422).await;
    assert_eq!(fields_of(&v), ["near", "radius_km"], "{v}");
    let v = json_of(app.get("/api/v1/labs?radius_km=-3").await, 422).await;
    assert_eq!(fields_of(&v), ["near", "radius_km"], "{v}");
}
