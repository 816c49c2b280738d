use crate::helpers::{TestApp, assert_fields, json_of};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

async fn drain(app: &TestApp, authed: bool, mut cursor: Option<String>) -> (Vec<Value>, String) {
    let mut out = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/changes?limit=7&since={c}"),
            None => "/api/v1/changes?limit=7".to_owned(),
        };
        let res = if authed {
            app.get_auth(&path).await
        } else {
            app.get(&path).await
        };
        let v = json_of(res, 200).await;
        let next = v["next_cursor"].as_str().unwrap().to_owned();
        let done = cursor.as_deref() == Some(next.as_str());
        out.extend(v["data"].as_array().unwrap().iter().cloned());
        cursor = Some(next);
        if done {
            return (out, cursor.unwrap());
        }
    }
}

#[tokio::test]
async fn the_feed_has_every_change_with_tombstones_and_hides_drafts_from_the_public() {
    let app = TestApp::spawn().await;
    let public = app.create_org("Pubblica", json!({})).await;
    let draft = app.create_org("Bozza", json!({"status": "draft"})).await;
    let pid = public["id"].as_str().unwrap();
    let did = draft["id"].as_str().unwrap();
    json_of(
        app.patch(
            &format!("/api/v1/organisations/{pid}"),
            &json!({"status": "archived"}),
        )
        .await,
        200,
    )
    .await;
    json_of(
        app.patch(
            &format!("/api/v1/organisations/{pid}"),
            &json!({"status": "published"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        app.delete(&format!("/api/v1/organisations/{pid}"))
            .await
            .status(),
        204
    );
    assert_eq!(
        app.delete(&format!("/api/v1/organisations/{did}"))
            .await
            .status(),
        204
    );

    let (all, _) = drain(&app, true, None).await;
    let ops: Vec<(&str, &str)> = all
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["op"].as_str().unwrap()))
        .collect();
    assert_eq!(
        ops,
        vec![
            (pid, "upsert"),
            (did, "upsert"),
            (pid, "upsert"),
            (pid, "upsert"),
            (pid, "delete"),
            (did, "delete")
        ]
    );
    let seqs: Vec<i64> = all.iter().map(|c| c["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    assert!(all.iter().all(|c| c["type"] == "organisation"));

    let (anon, cursor) = drain(&app, false, None).await;
    let ops: Vec<(&str, &str)> = anon
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["op"].as_str().unwrap()))
        .collect();
    assert_eq!(
        ops,
        vec![
            (pid, "upsert"),
            (pid, "delete"),
            (pid, "upsert"),
            (pid, "delete")
        ],
        "drafts never appear"
    );

    // Resuming from the last cursor yields only what is new.
    let later = app.create_org("Dopo", json!({})).await;
    let (fresh, _) = drain(&app, false, Some(cursor)).await;
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0]["id"], later["id"]);
    json_of(app.get("/api/v1/changes?since=forged").await, 400).await;
    assert_fields(
        &json_of(app.get("/api/v1/changes?limit=5000").await, 422).await,
        &["limit"],
    );
}

#[tokio::test]
async fn concurrent_writers_leave_no_gaps_and_no_duplicates() {
    let app = std::sync::Arc::new(TestApp::spawn_with(|s| s.db_max_connections = 8, None).await);
    let mut writers = Vec::new();
    for w in 0..6 {
        let app = app.clone();
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..12 {
                let o = app
                    .create_org(&format!("Scrittore {w} record {i}"), json!({}))
                    .await;
                ids.push(o["id"].as_str().unwrap().to_owned());
            }
            ids
        }));
    }
    // Read while the writers write, resuming from each cursor.
    let mut seen: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut finished = false;
    while !finished {
        finished = writers.iter().all(tokio::task::JoinHandle::is_finished);
        let (batch, next) = drain(&app, true, cursor.clone()).await;
        seen.extend(batch);
        cursor = Some(next);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (rest, _) = drain(&app, true, cursor).await;
    seen.extend(rest);
    let mut created = HashSet::new();
    for w in writers {
        created.extend(w.await.unwrap());
    }
    assert_eq!(created.len(), 72);
    let mut count: HashMap<&str, usize> = HashMap::new();
    for c in &seen {
        *count.entry(c["id"].as_str().unwrap()).or_default() += 1;
    }
    assert_eq!(count.len(), 72, "every write reached the feed");
    assert!(count.values().all(|n| *n == 1), "no duplicates");
    let seqs: Vec<i64> = seen.iter().map(|c| c["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "commit order");
}

#[tokio::test]
async fn the_map_shows_published_labs_and_located_organisations() {
    let app = TestApp::spawn().await;
    let lab = app
        .create_lab(
            "Orto di quartiere",
            45.19,
            9.14,
            json!({"themes": ["green_spaces"], "kind": "green_space"}),
        )
        .await;
    app.create_lab("Lontano", 45.85, 9.39, json!({})).await;
    let draft_org = app
        .create_org(
            "Bozza con posizione",
            json!({"status": "draft", "location": {"lat": 45.2, "lon": 9.2}}),
        )
        .await;
    let located = app
        .create_org("Con sede", json!({"location": {"lat": 45.18, "lon": 9.16}}))
        .await;
    let v: Value = json_of(app.get("/api/v1/map").await, 200).await;
    assert_eq!(v["type"], "FeatureCollection");
    let names: HashSet<&str> = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains("Orto di quartiere")
            && names.contains("Con sede")
            && names.contains("Lontano")
    );
    assert!(
        !names.contains("Bozza con posizione")
            && !names.contains(draft_org["name"].as_str().unwrap())
    );
    // Organisations without a location (the ones created for the labs' operators) are left out.
    assert!(!names.iter().any(|n| n.starts_with("Ente di")));
    let boxed: Value = json_of(
        app.get("/api/v1/map?bbox=9.0,45.1,9.3,45.3&types=lab")
            .await,
        200,
    )
    .await;
    let f = &boxed["features"].as_array().unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["geometry"]["coordinates"], json!([9.14, 45.19]));
    let props = f[0]["properties"].as_object().unwrap();
    let mut keys: Vec<&str> = props.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        vec!["id", "kind", "name", "slug", "themes", "type", "url"]
    );
    assert_eq!(
        props["url"],
        format!("/api/v1/labs/{}", lab["slug"].as_str().unwrap())
    );
    let themed: Value = json_of(app.get("/api/v1/map?theme=green_spaces").await, 200).await;
    assert_eq!(themed["features"].as_array().unwrap().len(), 1);
    let orgs: Value = json_of(app.get("/api/v1/map?types=organisation").await, 200).await;
    assert_eq!(orgs["features"][0]["properties"]["name"], located["name"]);
    assert_fields(
        &json_of(app.get("/api/v1/map?types=project").await, 422).await,
        &["types"],
    );
    assert_fields(
        &json_of(app.get("/api/v1/map?bbox=1,2").await, 422).await,
        &["bbox"],
    );
    let res = app.get("/api/v1/map").await;
    assert_eq!(res.headers()["content-type"], "application/geo+json");
    let tag = res.headers()["etag"].to_str().unwrap().to_owned();
    let again = app
        .client
        .get(app.url("/api/v1/map"))
        .header("if-none-match", tag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
}

/// A map point carries its record's themes (sorted by code) and follows every change to them.
#[tokio::test]
async fn map_points_follow_their_records_themes() {
    let app = TestApp::spawn().await;
    let themes_on_map = |v: &Value, id: &Value| {
        v["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["properties"]["id"] == *id)
            .map(|f| f["properties"]["themes"].clone())
    };
    let lab = app
        .create_lab(
            "Laboratorio dei temi",
            45.3,
            9.4,
            json!({"themes": ["school_support", "green_spaces"]}),
        )
        .await;
    let org = app
        .create_org(
            "Ente dei temi",
            json!({"themes": ["parenting", "housing"], "location": {"lat": 45.31, "lon": 9.41}}),
        )
        .await;
    let map = json_of(app.get("/api/v1/map").await, 200).await;
    assert_eq!(
        themes_on_map(&map, &lab["id"]),
        Some(json!(["green_spaces", "school_support"]))
    );
    assert_eq!(
        themes_on_map(&map, &org["id"]),
        Some(json!(["housing", "parenting"]))
    );
    let lab_url = format!("/api/v1/labs/{}", lab["id"].as_str().unwrap());
    json_of(
        app.patch(&lab_url, &json!({"themes": ["parenting"]})).await,
        200,
    )
    .await;
    let org_url = format!("/api/v1/organisations/{}", org["id"].as_str().unwrap());
    json_of(app.patch(&org_url, &json!({"themes": []})).await, 200).await;
    let map = json_of(app.get("/api/v1/map").await, 200).await;
    assert_eq!(themes_on_map(&map, &lab["id"]), Some(json!(["parenting"])));
    assert_eq!(themes_on_map(&map, &org["id"]), Some(json!([])));
    let themed = json_of(app.get("/api/v1/map?theme=parenting").await, 200).await;
    assert!(themes_on_map(&themed, &lab["id"]).is_some());
    assert!(themes_on_map(&themed, &org["id"]).is_none());
}
