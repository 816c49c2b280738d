//! Permissions, API clients, the audit log and abuse limits, with the OWASP API Security Top 10
//! (2023) risks that apply: BOLA (API1), broken authentication (API2), broken object property
//! level authorization (API3), unrestricted resource consumption (API4) and broken function level
//! authorization (API5). `every_route_has_a_policy_and_keeps_it` is the (caller, route, status)
//! table over every operation of the OpenAPI document: an operation missing from the table fails.

use crate::helpers::{TestApp, json_of};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Sends a request as `token` (None: anonymous).
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut r = app.client.request(method, app.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    r.send().await.unwrap()
}

fn lab_body(name: &str, org: &Value, status: &str) -> Value {
    json!({"name": name, "kind": "social_lab", "status": status,
        "address": {"municipality": "018110"}, "location": {"lat": 45.18, "lon": 9.15},
        "operators": [{"organisation_id": org["id"], "role": "manager"}]})
}

async fn metric(app: &TestApp, project: &Value, token: &str) -> reqwest::Response {
    let body = json!({"indicator": "volunteers", "kind": "actual", "value": 3,
        "period_start": "2025-01-01", "period_end": "2025-12-31"});
    let path = format!(
        "/api/v1/projects/{}/metrics",
        project["id"].as_str().unwrap()
    );
    call(app, Method::POST, &path, Some(token), Some(&body)).await
}

#[tokio::test]
async fn editors_change_only_their_organisations_records_and_viewers_read_their_drafts() {
    let app = TestApp::spawn().await;
    let a = app.create_org("Ente A", json!({})).await;
    let b = app.create_org("Ente B", json!({})).await;
    let editor = app.user_token("editor", &[&a]).await;
    let viewer = app.user_token("viewer", &[&a]).await;
    let labs = "/api/v1/labs";
    // Creating for another organisation is refused (BOLA on create).
    let res = call(
        &app,
        Method::POST,
        labs,
        Some(&editor),
        Some(&lab_body("Di B", &b, "draft")),
    )
    .await;
    json_of(res, 403).await;
    let mine = json_of(
        call(
            &app,
            Method::POST,
            labs,
            Some(&editor),
            Some(&lab_body("Di A", &a, "draft")),
        )
        .await,
        201,
    )
    .await;
    let mine_path = format!("{labs}/{}", mine["id"].as_str().unwrap());
    let theirs = app
        .create_lab(
            "Di B pubblicato",
            45.1,
            9.1,
            json!({"operators": [{"organisation_id": b["id"], "role": "manager"}]}),
        )
        .await;
    let theirs_path = format!("{labs}/{}", theirs["id"].as_str().unwrap());
    let their_draft = json_of(
        app.post(labs, &lab_body("Bozza di B", &b, "draft")).await,
        201,
    )
    .await;
    let their_draft_path = format!("{labs}/{}", their_draft["id"].as_str().unwrap());
    // A guessed id of another organisation's record: 403 when visible, 404 when not.
    let patch = json!({"name": "Preso"});
    json_of(
        call(
            &app,
            Method::PATCH,
            &theirs_path,
            Some(&editor),
            Some(&patch),
        )
        .await,
        403,
    )
    .await;
    json_of(
        call(
            &app,
            Method::PATCH,
            &their_draft_path,
            Some(&editor),
            Some(&patch),
        )
        .await,
        404,
    )
    .await;
    json_of(
        call(&app, Method::DELETE, &theirs_path, Some(&editor), None).await,
        403,
    )
    .await;
    assert_eq!(
        json_of(app.get(&theirs_path).await, 200).await["name"],
        "Di B pubblicato"
    );
    // Handing an own record to another organisation is refused, and nothing changes.
    let handover = json!({"operators": [{"organisation_id": b["id"], "role": "manager"}]});
    json_of(
        call(
            &app,
            Method::PATCH,
            &mine_path,
            Some(&editor),
            Some(&handover),
        )
        .await,
        403,
    )
    .await;
    // Drafts: visible to the organisation's viewer and editor, not to strangers or anonymous.
    assert_eq!(
        json_of(
            call(&app, Method::GET, &mine_path, Some(&viewer), None).await,
            200
        )
        .await["version"],
        1
    );
    json_of(app.get(&mine_path).await, 404).await;
    json_of(
        call(&app, Method::GET, &their_draft_path, Some(&viewer), None).await,
        404,
    )
    .await;
    let listed = json_of(
        call(
            &app,
            Method::GET,
            "/api/v1/labs?status=draft",
            Some(&viewer),
            None,
        )
        .await,
        200,
    )
    .await;
    let names: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Di A"]);
    // Viewers read but never write.
    json_of(
        call(&app, Method::PATCH, &mine_path, Some(&viewer), Some(&patch)).await,
        403,
    )
    .await;
    // The editor publishes and changes its own lab.
    let published = json_of(
        call(
            &app,
            Method::PATCH,
            &mine_path,
            Some(&editor),
            Some(&json!({"status": "published"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(published["status"], "published");
    // Metrics only for the organisation's projects.
    let own_project = json_of(
        app.post(
            "/api/v1/projects",
            &json!({"title": "Progetto A", "lead_organisation_id": a["id"], "status": "published"}),
        )
        .await,
        201,
    )
    .await;
    let other_project = json_of(
        app.post(
            "/api/v1/projects",
            &json!({"title": "Progetto B", "lead_organisation_id": b["id"], "status": "published"}),
        )
        .await,
        201,
    )
    .await;
    json_of(metric(&app, &own_project, &editor).await, 201).await;
    json_of(metric(&app, &other_project, &editor).await, 403).await;
    json_of(metric(&app, &own_project, &viewer).await, 403).await;
    // Organisations: an editor changes its own, not another; publishes new ones only as admin.
    let a_path = format!("/api/v1/organisations/{}", a["id"].as_str().unwrap());
    let b_path = format!("/api/v1/organisations/{}", b["id"].as_str().unwrap());
    json_of(
        call(
            &app,
            Method::PATCH,
            &a_path,
            Some(&editor),
            Some(&json!({"description": "Nostra"})),
        )
        .await,
        200,
    )
    .await;
    json_of(
        call(
            &app,
            Method::PATCH,
            &b_path,
            Some(&editor),
            Some(&json!({"description": "Loro"})),
        )
        .await,
        403,
    )
    .await;
    // Restore is for administrators.
    assert_eq!(
        call(&app, Method::DELETE, &mine_path, Some(&editor), None)
            .await
            .status(),
        204
    );
    json_of(
        call(
            &app,
            Method::POST,
            &format!("{mine_path}/restore"),
            Some(&editor),
            None,
        )
        .await,
        403,
    )
    .await;
    json_of(
        call(
            &app,
            Method::POST,
            &format!("{mine_path}/restore"),
            Some(&app.token),
            None,
        )
        .await,
        200,
    )
    .await;
}

#[tokio::test]
async fn private_data_never_leaks_to_who_may_not_see_it() {
    let app = TestApp::spawn().await;
    let org = app
        .create_org("Con referente", json!({"contact_person": {"name": "Maria Rossi", "email": "maria@example.org", "public": false}}))
        .await;
    let other = app.create_org("Altro", json!({})).await;
    let member = app.user_token("viewer", &[&org]).await;
    let stranger = app.user_token("viewer", &[&other]).await;
    let path = format!("/api/v1/organisations/{}", org["id"].as_str().unwrap());
    for (token, sees) in [
        (None, false),
        (Some(stranger.as_str()), false),
        (Some(member.as_str()), true),
        (Some(app.token.as_str()), true),
    ] {
        let v = json_of(call(&app, Method::GET, &path, token, None).await, 200).await;
        assert_eq!(
            v.to_string().contains("Maria Rossi"),
            sees,
            "{token:?}: {v}"
        );
        let csv = call(
            &app,
            Method::GET,
            "/api/v1/organisations?format=csv",
            token,
            None,
        )
        .await
        .text()
        .await
        .unwrap();
        assert_eq!(csv.contains("Maria Rossi"), sees, "csv for {token:?}");
    }
    // No password hash or client secret is ever serialised after creation.
    let users = json_of(
        call(&app, Method::GET, "/api/v1/users", Some(&app.token), None).await,
        200,
    )
    .await
    .to_string();
    assert!(
        !users.contains("argon2") && !users.contains("password"),
        "{users}"
    );
    let created = json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/clients",
            Some(&app.token),
            Some(&json!({"name": "Sito partner", "scopes": ["read"]})),
        )
        .await,
        201,
    )
    .await;
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    for path in [
        "/api/v1/clients".to_owned(),
        format!("/api/v1/clients/{}", created["id"].as_str().unwrap()),
    ] {
        let text = json_of(
            call(&app, Method::GET, &path, Some(&app.token), None).await,
            200,
        )
        .await
        .to_string();
        assert!(
            !text.contains(&secret) && !text.contains("secret"),
            "{text}"
        );
    }
    let audit = json_of(
        call(
            &app,
            Method::GET,
            "/api/v1/audit?type=client",
            Some(&app.token),
            None,
        )
        .await,
        200,
    )
    .await
    .to_string();
    assert!(!audit.contains(&secret), "{audit}");
    // Mass assignment: read-only fields and unknown fields are refused, never applied.
    json_of(
        call(
            &app,
            Method::PATCH,
            &path,
            Some(&app.token),
            Some(&json!({"version": 99})),
        )
        .await,
        400,
    )
    .await;
    json_of(
        call(
            &app,
            Method::PATCH,
            &path,
            Some(&app.token),
            Some(&json!({"is_admin": true})),
        )
        .await,
        400,
    )
    .await;
    json_of(call(&app, Method::POST, "/api/v1/users", Some(&app.token), Some(&json!({"email": "x@example.org", "password": "una passphrase lunga", "name": "X", "role": "editor", "password_hash": "x"}))).await, 400).await;
}

#[tokio::test]
async fn api_clients_use_client_credentials_with_scopes_and_stop_when_disabled() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Comune", json!({})).await;
    let project = json_of(app.post("/api/v1/projects", &json!({"title": "Cruscotto", "lead_organisation_id": org["id"], "status": "published"})).await, 201).await;
    let draft = json_of(
        app.post("/api/v1/labs", &lab_body("Bozza del Comune", &org, "draft"))
            .await,
        201,
    )
    .await;
    let draft_path = format!("/api/v1/labs/{}", draft["id"].as_str().unwrap());
    let mk = |scopes: Value| json!({"name": "Cruscotto comunale", "scopes": scopes, "organisation_ids": [org["id"]]});
    let c = json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/clients",
            Some(&app.token),
            Some(&mk(json!(["read", "metrics:write"]))),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(c["client_id"], c["id"]);
    // Bad bodies: unknown scope, no scope.
    json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/clients",
            Some(&app.token),
            Some(&mk(json!(["root"]))),
        )
        .await,
        422,
    )
    .await;
    json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/clients",
            Some(&app.token),
            Some(&mk(json!([]))),
        )
        .await,
        422,
    )
    .await;
    let grant = |secret: &str| json!({"grant_type": "client_credentials", "client_id": c["client_id"], "client_secret": secret});
    let wrong = json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(&grant("lgm_wrong")),
        )
        .await,
        401,
    )
    .await;
    assert_eq!(wrong["detail"], "wrong client_id or client_secret");
    let t = json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(&grant(c["client_secret"].as_str().unwrap())),
        )
        .await,
        200,
    )
    .await;
    assert!(t.get("refresh_token").is_none(), "{t}");
    assert_eq!(t["scope"], "read metrics:write");
    let token = t["access_token"].as_str().unwrap().to_owned();
    let me = json_of(
        call(&app, Method::GET, "/api/v1/me", Some(&token), None).await,
        200,
    )
    .await;
    assert_eq!(me["type"], "client");
    assert_eq!(me["organisation_ids"], json!([org["id"]]));
    // metrics:write posts metrics of its organisation's projects, nothing else.
    json_of(metric(&app, &project, &token).await, 201).await;
    json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/labs",
            Some(&token),
            Some(&lab_body("No", &org, "draft")),
        )
        .await,
        403,
    )
    .await;
    // Without read:drafts, its organisation's drafts are invisible.
    json_of(
        call(&app, Method::GET, &draft_path, Some(&token), None).await,
        404,
    )
    .await;
    let client_path = format!("/api/v1/clients/{}", c["id"].as_str().unwrap());
    let patched = json_of(
        call(
            &app,
            Method::PATCH,
            &client_path,
            Some(&app.token),
            Some(&json!({"scopes": ["read", "read:drafts", "write"]})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(patched["scopes"], json!(["read", "read:drafts", "write"]));
    json_of(
        call(&app, Method::GET, &draft_path, Some(&token), None).await,
        200,
    )
    .await;
    json_of(
        call(
            &app,
            Method::PATCH,
            &draft_path,
            Some(&token),
            Some(&json!({"name": "Rinominata"})),
        )
        .await,
        200,
    )
    .await;
    // Clients never administer.
    json_of(
        call(&app, Method::GET, "/api/v1/users", Some(&token), None).await,
        403,
    )
    .await;
    // Disabling stops its tokens at once, and it gets no new ones.
    json_of(
        call(
            &app,
            Method::PATCH,
            &client_path,
            Some(&app.token),
            Some(&json!({"disabled": true})),
        )
        .await,
        200,
    )
    .await;
    json_of(
        call(&app, Method::GET, "/api/v1/me", Some(&token), None).await,
        401,
    )
    .await;
    json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(&grant(c["client_secret"].as_str().unwrap())),
        )
        .await,
        401,
    )
    .await;
}

#[tokio::test]
async fn the_audit_log_records_every_change_with_before_and_after() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Prima", json!({})).await;
    let id = org["id"].as_str().unwrap();
    let path = format!("/api/v1/organisations/{id}");
    json_of(app.patch(&path, &json!({"name": "Dopo"})).await, 200).await;
    assert_eq!(app.delete(&path).await.status(), 204);
    json_of(
        call(
            &app,
            Method::POST,
            &format!("{path}/restore"),
            Some(&app.token),
            None,
        )
        .await,
        200,
    )
    .await;
    let me = json_of(
        call(&app, Method::GET, "/api/v1/me", Some(&app.token), None).await,
        200,
    )
    .await;
    let log = json_of(
        call(
            &app,
            Method::GET,
            &format!("/api/v1/audit?type=organisation&id={id}"),
            Some(&app.token),
            None,
        )
        .await,
        200,
    )
    .await;
    let entries = log["data"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["restore", "delete", "update", "create"]);
    for e in entries {
        assert_eq!(e["actor"], json!({"type": "user", "id": me["id"]}));
        assert_eq!(e["id"], id);
    }
    assert_eq!(
        entries[2]["changes"],
        json!({"name": {"before": "Prima", "after": "Dopo"}})
    );
    assert_eq!(
        entries[3]["changes"]["name"],
        json!({"before": null, "after": "Prima"})
    );
    assert_eq!(
        entries[1]["changes"]["name"],
        json!({"before": "Dopo", "after": null})
    );
    // Filters and paging.
    let by_actor = json_of(
        call(
            &app,
            Method::GET,
            &format!("/api/v1/audit?actor={}&limit=2", me["id"].as_str().unwrap()),
            Some(&app.token),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(by_actor["data"].as_array().unwrap().len(), 2);
    let next = by_actor["page"]["next_cursor"].as_str().unwrap();
    let rest = json_of(
        call(
            &app,
            Method::GET,
            &format!("/api/v1/audit?limit=100&cursor={next}"),
            Some(&app.token),
            None,
        )
        .await,
        200,
    )
    .await;
    assert!(rest["data"].as_array().unwrap().len() >= 2);
    json_of(
        call(
            &app,
            Method::GET,
            "/api/v1/audit?cursor=forged",
            Some(&app.token),
            None,
        )
        .await,
        400,
    )
    .await;
    // A failed write leaves no entry: the change and its entry share a transaction.
    json_of(app.patch(&path, &json!({"kind": "nonsense"})).await, 422).await;
    let again = json_of(
        call(
            &app,
            Method::GET,
            &format!("/api/v1/audit?type=organisation&id={id}"),
            Some(&app.token),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(again["data"].as_array().unwrap().len(), 4);
    let editor = app.user_token("editor", &[&org]).await;
    json_of(
        call(&app, Method::GET, "/api/v1/audit", Some(&editor), None).await,
        403,
    )
    .await;
    json_of(
        call(&app, Method::GET, "/api/v1/audit", None, None).await,
        401,
    )
    .await;
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_answer_and_refuse_another_body() {
    let app = TestApp::spawn().await;
    let send = |key: &'static str, body: Value| {
        app.client
            .post(app.url("/api/v1/organisations"))
            .bearer_auth(&app.token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let body =
        json!({"name": "Una volta sola", "kind": "aps", "address": {"municipality": "018110"}});
    let first = send("k-1", body.clone()).await.unwrap();
    assert_eq!(first.status(), 201);
    let location = first.headers()["location"].clone();
    let first = first.json::<Value>().await.unwrap();
    let replay = send("k-1", body.clone()).await.unwrap();
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.headers()["location"], location);
    assert_eq!(replay.json::<Value>().await.unwrap()["id"], first["id"]);
    let list = json_of(app.get("/api/v1/organisations?status=draft").await, 200).await;
    assert_eq!(list["page"]["total"], 0, "anonymous sees no draft");
    let list = json_of(
        call(
            &app,
            Method::GET,
            "/api/v1/organisations?status=draft",
            Some(&app.token),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(list["page"]["total"], 1, "created once");
    let other = send(
        "k-1",
        json!({"name": "Altro", "kind": "aps", "address": {"municipality": "018110"}}),
    )
    .await
    .unwrap();
    json_of(other, 409).await;
    // Keys belong to their caller: another caller's same key is a different request.
    let second_admin = app.user_token("admin", &[]).await;
    let res = app
        .client
        .post(app.url("/api/v1/organisations"))
        .bearer_auth(&second_admin)
        .header("Idempotency-Key", "k-1")
        .json(&json!({"name": "Di un altro", "kind": "aps", "address": {"municipality": "018110"}}))
        .send()
        .await
        .unwrap();
    json_of(res, 201).await;
    let bad = app
        .client
        .post(app.url("/api/v1/organisations"))
        .bearer_auth(&app.token)
        .header("Idempotency-Key", "")
        .json(&body)
        .send()
        .await
        .unwrap();
    json_of(bad, 422).await;
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_and_ratelimit_headers() {
    let app = TestApp::spawn_with(
        |s| {
            s.rate_limit_anonymous = 3;
            s.rate_limit_authenticated = 5;
        },
        None,
    )
    .await;
    // The test app's own login already spent one of the address's 3 requests.
    let mut remaining = Vec::new();
    for _ in 0..2 {
        let res = app.get("/api/v1/themes").await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["ratelimit-limit"], "3");
        assert!(res.headers().contains_key("ratelimit-reset"));
        assert!(res.headers().contains_key("ratelimit-policy"));
        remaining.push(
            res.headers()["ratelimit-remaining"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(remaining, ["1", "0"]);
    let res = app.get("/api/v1/themes").await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(res.headers()["ratelimit-remaining"], "0");
    json_of(res, 429).await;
    // Authenticated callers have their own, per-subject budget; health checks are not limited.
    let res = app.get_auth("/api/v1/themes").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["ratelimit-limit"], "5");
    assert_eq!(app.get("/health/live").await.status(), 200);
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled_per_account() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Ente", json!({})).await;
    app.user_token("editor", &[&org]).await;
    let email = json_of(
        call(&app, Method::GET, "/api/v1/users", Some(&app.token), None).await,
        200,
    )
    .await["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["role"] == "editor")
        .unwrap()["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let login =
        |password: &str| json!({"grant_type": "password", "email": email, "password": password});
    for _ in 0..5 {
        json_of(
            call(
                &app,
                Method::POST,
                "/api/v1/auth/token",
                None,
                Some(&login("sbagliata!!")),
            )
            .await,
            401,
        )
        .await;
    }
    // Now even the right password waits.
    let res = call(
        &app,
        Method::POST,
        "/api/v1/auth/token",
        None,
        Some(&login(crate::helpers::PASSWORD)),
    )
    .await;
    assert!(res.headers().contains_key("retry-after"));
    json_of(res, 429).await;
    // Other accounts are not locked out by it.
    let other = json!({"grant_type": "password", "email": "nessuno@example.org", "password": "x"});
    json_of(
        call(&app, Method::POST, "/api/v1/auth/token", None, Some(&other)).await,
        401,
    )
    .await;
}

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
enum Policy {
    /// Anyone; anonymous callers see published data only.
    Public,
    /// The token endpoints: anyone, credentials in the body.
    Credentials,
    /// Any authenticated caller.
    Authenticated,
    /// Editors (and `write` clients) on their organisations' records; admins on all.
    Owner,
    /// Administrators only.
    Admin,
}

/// Every operation of the API and its policy. Adding a route without a row here fails
/// `every_route_has_a_policy_and_keeps_it`.
const POLICIES: &[(&str, &str, Policy)] = {
    use Policy::*;
    &[
        ("GET", "/health/live", Public),
        ("GET", "/health/ready", Public),
        ("GET", "/.well-known/jwks.json", Public),
        ("GET", "/api/v1", Public),
        ("GET", "/api/v1/organisations", Public),
        ("POST", "/api/v1/organisations", Owner),
        ("GET", "/api/v1/organisations/{id}", Public),
        ("PATCH", "/api/v1/organisations/{id}", Owner),
        ("DELETE", "/api/v1/organisations/{id}", Owner),
        ("POST", "/api/v1/organisations/{id}/restore", Admin),
        ("GET", "/api/v1/labs", Public),
        ("POST", "/api/v1/labs", Owner),
        ("GET", "/api/v1/labs/{id}", Public),
        ("PATCH", "/api/v1/labs/{id}", Owner),
        ("DELETE", "/api/v1/labs/{id}", Owner),
        ("POST", "/api/v1/labs/{id}/restore", Admin),
        ("GET", "/api/v1/projects", Public),
        ("POST", "/api/v1/projects", Owner),
        ("GET", "/api/v1/projects/{id}", Public),
        ("PATCH", "/api/v1/projects/{id}", Owner),
        ("DELETE", "/api/v1/projects/{id}", Owner),
        ("POST", "/api/v1/projects/{id}/restore", Admin),
        ("POST", "/api/v1/projects/{id}/metrics", Owner),
        ("GET", "/api/v1/metrics", Public),
        ("GET", "/api/v1/metrics/summary", Public),
        ("POST", "/api/v1/auth/token", Credentials),
        ("POST", "/api/v1/auth/revoke", Credentials),
        ("GET", "/api/v1/me", Authenticated),
        ("GET", "/api/v1/users", Admin),
        ("POST", "/api/v1/users", Admin),
        ("GET", "/api/v1/users/{id}", Admin),
        ("PATCH", "/api/v1/users/{id}", Admin),
        ("GET", "/api/v1/clients", Admin),
        ("POST", "/api/v1/clients", Admin),
        ("GET", "/api/v1/clients/{id}", Admin),
        ("PATCH", "/api/v1/clients/{id}", Admin),
        ("GET", "/api/v1/audit", Admin),
        ("GET", "/api/v1/search", Public),
        ("GET", "/api/v1/changes", Public),
        ("GET", "/api/v1/map", Public),
        ("GET", "/api/v1/networks", Public),
        ("POST", "/api/v1/networks", Owner),
        ("GET", "/api/v1/networks/{id}", Public),
        ("PATCH", "/api/v1/networks/{id}", Owner),
        ("DELETE", "/api/v1/networks/{id}", Owner),
        ("POST", "/api/v1/networks/{id}/restore", Admin),
        ("GET", "/api/v1/areas", Public),
        ("POST", "/api/v1/areas", Admin),
        ("GET", "/api/v1/areas/{id}", Public),
        ("PATCH", "/api/v1/areas/{id}", Admin),
        ("DELETE", "/api/v1/areas/{id}", Admin),
        ("POST", "/api/v1/areas/{id}/restore", Admin),
        ("GET", "/api/v1/indicators", Public),
        ("POST", "/api/v1/indicators", Admin),
        ("GET", "/api/v1/indicators/{code}", Public),
        ("GET", "/api/v1/municipalities", Public),
        ("GET", "/api/v1/municipalities/{istat_code}", Public),
        ("GET", "/api/v1/themes", Public),
        ("POST", "/api/v1/themes", Admin),
        ("GET", "/api/v1/themes/{code}", Public),
    ]
};

/// The operations the document describes, as (METHOD, path).
fn documented_operations() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(legami_http::openapi()).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "patch", "put", "delete"].contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn every_documented_operation_declares_its_policy_and_security() {
    let documented = documented_operations();
    let declared: BTreeSet<(String, String)> = POLICIES
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let missing: Vec<_> = documented.difference(&declared).collect();
    assert!(
        missing.is_empty(),
        "routes with no declared policy: {missing:?}"
    );
    let stale: Vec<_> = declared.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "policies of routes that do not exist: {stale:?}"
    );
    // The document tells generated clients which calls need a token.
    let doc = serde_json::to_value(legami_http::openapi()).unwrap();
    for (m, p, policy) in POLICIES {
        let op = &doc["paths"][*p][m.to_lowercase()];
        let security = op["security"].to_string();
        match policy {
            Policy::Owner | Policy::Admin | Policy::Authenticated => {
                assert_eq!(
                    op["security"],
                    json!([{"bearer": []}]),
                    "{m} {p} must require a bearer token"
                );
            }
            Policy::Public => assert!(
                security.contains("bearer") && security.contains("{}"),
                "{m} {p}: a public read takes an optional token: {security}"
            ),
            // The token and revoke calls take no token at all: `[]`, which generators read
            // as "no credentials" (`[{}]` made openapi-python-client ask for one).
            Policy::Credentials => assert_eq!(op["security"], json!([]), "{m} {p}"),
        }
    }
}

#[tokio::test]
async fn every_route_has_a_policy_and_keeps_it() {
    let app = TestApp::spawn().await;
    // A world with two organisations and records of each kind.
    let ours = app.create_org("Nostra", json!({})).await;
    let theirs = app.create_org("Loro", json!({})).await;
    let lab = app
        .create_lab(
            "Lab loro",
            45.1,
            9.1,
            json!({"operators": [{"organisation_id": theirs["id"], "role": "manager"}]}),
        )
        .await;
    let project = json_of(app.post("/api/v1/projects", &json!({"title": "Progetto loro", "lead_organisation_id": theirs["id"], "status": "published"})).await, 201).await;
    let network = json_of(
        app.post(
            "/api/v1/networks",
            &json!({"name": "Rete loro", "coordinator_id": theirs["id"], "status": "published"}),
        )
        .await,
        201,
    )
    .await;
    let area = json_of(
        app.post(
            "/api/v1/areas",
            &json!({"name": "Ambito", "kind": "ambito", "municipalities": ["018110"]}),
        )
        .await,
        201,
    )
    .await;
    let user = json_of(app.post("/api/v1/users", &json!({"email": "u@example.org", "password": "una passphrase lunga", "name": "U", "role": "viewer"})).await, 201).await;
    let client = json_of(
        app.post("/api/v1/clients", &json!({"name": "C", "scopes": ["read"]}))
            .await,
        201,
    )
    .await;
    let viewer: &'static str = app.user_token("viewer", &[&ours]).await.leak();
    let stranger: &'static str = app.user_token("editor", &[&ours]).await.leak();
    let admin: &'static str = app.token.clone().leak();
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let concrete = |path: &str| -> String {
        let record = if path.contains("/organisations/") {
            id(&theirs)
        } else if path.contains("/labs/") {
            id(&lab)
        } else if path.contains("/projects/") {
            id(&project)
        } else if path.contains("/networks/") {
            id(&network)
        } else if path.contains("/areas/") {
            id(&area)
        } else if path.contains("/users/") {
            id(&user)
        } else if path.contains("/clients/") {
            id(&client)
        } else {
            String::new()
        };
        path.replace("{id}", &record)
            .replace("{code}", "volunteers")
            .replace("{istat_code}", "018110")
            .replace("/themes/volunteers", "/themes/volunteering")
    };
    let body_for = |m: &str, p: &str| -> Option<Value> {
        match (m, p) {
            ("GET" | "DELETE", _) => None,
            (_, p) if p.ends_with("/restore") => None,
            (_, "/api/v1/auth/token") => Some(
                json!({"grant_type": "password", "email": "nessuno@example.org", "password": "x"}),
            ),
            (_, "/api/v1/auth/revoke") => Some(json!({"token": "unknown"})),
            (_, p) if p.ends_with("/metrics") => Some(
                json!({"indicator": "volunteers", "kind": "actual", "value": 1, "period_start": "2025-01-01", "period_end": "2025-01-31"}),
            ),
            ("PATCH", _) => Some(json!({})),
            ("POST", "/api/v1/labs") => Some(lab_body("Nuovo per loro", &theirs, "draft")),
            ("POST", "/api/v1/projects") => {
                Some(json!({"title": "Nuovo per loro", "lead_organisation_id": theirs["id"]}))
            }
            ("POST", "/api/v1/networks") => {
                Some(json!({"name": "Nuova per loro", "coordinator_id": theirs["id"]}))
            }
            ("POST", "/api/v1/organisations") => Some(
                json!({"name": "Pubblicata", "kind": "aps", "address": {"municipality": "018110"}, "status": "published"}),
            ),
            _ => Some(json!({})),
        }
    };
    for (m, p, policy) in POLICIES {
        let path = concrete(p);
        let method = Method::from_bytes(m.as_bytes()).unwrap();
        let body = body_for(m, p);
        let status = |token: Option<&'static str>| {
            let (method, path, body) = (method.clone(), path.clone(), body.clone());
            let app = &app;
            async move {
                call(app, method, &path, token, body.as_ref())
                    .await
                    .status()
                    .as_u16()
            }
        };
        let (anon, as_viewer, as_stranger) = (
            status(None).await,
            status(Some(viewer)).await,
            status(Some(stranger)).await,
        );
        let row = format!("{m} {p} ({policy:?})");
        match policy {
            Policy::Public => {
                for (who, s) in [
                    ("anonymous", anon),
                    ("viewer", as_viewer),
                    ("editor", as_stranger),
                ] {
                    assert!(s < 400 || s == 422, "{row}: {who} got {s}");
                }
            }
            Policy::Credentials => {
                assert!([204, 401].contains(&anon), "{row}: anonymous got {anon}");
            }
            Policy::Authenticated => {
                assert_eq!(anon, 401, "{row}: anonymous");
                assert_eq!(as_viewer, 200, "{row}: viewer");
            }
            Policy::Owner => {
                // BOLA and function level: nobody but the owners and admins writes.
                assert_eq!(anon, 401, "{row}: anonymous");
                assert_eq!(as_viewer, 403, "{row}: viewer");
                assert_eq!(as_stranger, 403, "{row}: editor of another organisation");
            }
            Policy::Admin => {
                assert_eq!(anon, 401, "{row}: anonymous");
                assert_eq!(as_viewer, 403, "{row}: viewer");
                assert_eq!(as_stranger, 403, "{row}: editor");
            }
        }
        // Administrators may call everything (the answer is never an authorization failure).
        if !matches!(policy, Policy::Credentials) && *m != "DELETE" {
            let s = status(Some(admin)).await;
            assert!(![401, 403].contains(&s) && s < 500, "{row}: admin got {s}");
        }
    }
    // Deletes last, as admin, so the rows above saw live records.
    for (m, p, _) in POLICIES.iter().filter(|(m, _, _)| *m == "DELETE") {
        let s = call(&app, Method::DELETE, &concrete(p), Some(&app.token), None)
            .await
            .status()
            .as_u16();
        assert!([204, 409].contains(&s), "{m} {p}: admin got {s}");
    }
}
