use crate::helpers::{TestApp, assert_fields, json_of};
use serde_json::json;

#[tokio::test]
async fn areas_group_municipalities_and_filter_every_collection() {
    let app = TestApp::spawn().await;
    let area = json_of(
        app.post("/api/v1/areas", &json!({"name": "Distretto sociale pavese", "kind": "district", "municipalities": ["018110", "018177", "018110"]})).await,
        201,
    )
    .await;
    assert_eq!(area["slug"], "distretto-sociale-pavese");
    assert_eq!(area["municipalities"], json!(["018110", "018177"]));
    assert_eq!(area["status"], "published", "areas default to published");
    let anon = app
        .client
        .post(app.url("/api/v1/areas"))
        .json(&json!({"name": "X", "municipalities": ["018110"]}))
        .send()
        .await
        .unwrap();
    json_of(anon, 401).await;
    let p = json_of(
        app.post(
            "/api/v1/areas",
            &json!({"name": "Vuota", "municipalities": []}),
        )
        .await,
        422,
    )
    .await;
    assert_fields(&p, &["/municipalities"]);
    let p = json_of(
        app.post(
            "/api/v1/areas",
            &json!({"name": "Rotta", "kind": "region", "municipalities": ["999999", "12"]}),
        )
        .await,
        422,
    )
    .await;
    assert_fields(&p, &["/kind", "/municipalities/1"]);

    app.create_org("In Pavia", json!({})).await;
    app.create_org("A Cremona", json!({"address": {"municipality": "019036"}}))
        .await;
    app.create_lab("Lab a Pavia", 45.18, 9.15, json!({})).await;
    app.create_lab(
        "Lab a Cremona",
        45.13,
        10.02,
        json!({"address": {"municipality": "019036"}}),
    )
    .await;
    let orgs = json_of(
        app.get("/api/v1/organisations?area=distretto-sociale-pavese")
            .await,
        200,
    )
    .await;
    let names: Vec<&str> = orgs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"In Pavia") && !names.contains(&"A Cremona"),
        "{names:?}"
    );
    let labs = json_of(
        app.get(&format!(
            "/api/v1/labs?area={}",
            area["id"].as_str().unwrap()
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(labs["page"]["total"], 1);
    assert_eq!(labs["data"][0]["name"], "Lab a Pavia");
    assert_fields(
        &json_of(app.get("/api/v1/organisations?area=nowhere").await, 422).await,
        &["area"],
    );

    let ms = json_of(
        app.get("/api/v1/municipalities?area=distretto-sociale-pavese")
            .await,
        200,
    )
    .await;
    let names: Vec<&str> = ms["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"Pavia"), "{names:?}");
    let found = json_of(app.get("/api/v1/areas?q=distretti%20pavesi").await, 200).await;
    assert_eq!(found["page"]["total"], 1, "q on areas: stemmed and folded");
    let none = json_of(app.get("/api/v1/search?q=distretto").await, 200).await;
    assert_eq!(none["page"]["total"], 0, "areas are not /search types");
    let by_m = json_of(app.get("/api/v1/areas?municipality=018177").await, 200).await;
    assert_eq!(by_m["page"]["total"], 1);
    let path = format!("/api/v1/areas/{}", area["slug"].as_str().unwrap());
    let changed = json_of(
        app.patch(&path, &json!({"municipalities": ["019036"]}))
            .await,
        200,
    )
    .await;
    assert_eq!(changed["municipalities"], json!(["019036"]));
    let labs = json_of(
        app.get("/api/v1/labs?area=distretto-sociale-pavese").await,
        200,
    )
    .await;
    assert_eq!(labs["data"][0]["name"], "Lab a Cremona");
    assert_eq!(app.delete(&path).await.status(), 204);
    json_of(app.get(&path).await, 404).await;
}

#[tokio::test]
async fn indicators_catalogue() {
    let app = TestApp::spawn().await;
    let v = json_of(app.get("/api/v1/indicators").await, 200).await;
    let codes: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    for c in [
        "beneficiaries",
        "families_supported",
        "minors_involved",
        "citizens_reached",
        "volunteers",
        "organisations_involved",
        "companies_involved",
        "workers_involved",
        "schools_involved",
        "pupils_involved",
        "labs_active",
        "events_held",
        "attendees",
        "operators_trained",
    ] {
        assert!(codes.contains(&c), "{c}");
    }
    let fam = json_of(app.get("/api/v1/indicators/families_supported").await, 200).await;
    assert_eq!(fam["unit"], "households");
    assert_eq!(fam["name"]["it"], "Nuclei familiari sostenuti");
    let new = json!({"code": "meals_served", "name": {"it": "Pasti distribuiti", "en": "Meals served"}, "unit": "count", "aggregation": "sum"});
    json_of(
        app.client
            .post(app.url("/api/v1/indicators"))
            .json(&new)
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    json_of(app.post("/api/v1/indicators", &new).await, 201).await;
    json_of(app.post("/api/v1/indicators", &new).await, 409).await;
    let p = json_of(app.post("/api/v1/indicators", &json!({"code": "x y", "name": {"it": "a", "en": "b"}, "unit": "kg", "aggregation": "avg"})).await, 422).await;
    assert_fields(&p, &["/code", "/unit", "/aggregation"]);
    json_of(app.get("/api/v1/indicators/meals_served").await, 200).await;
    json_of(app.get("/api/v1/indicators/nope").await, 404).await;
}

#[tokio::test]
async fn networks_with_members() {
    let app = TestApp::spawn().await;
    let csv = app.create_org("CSV Lombardia Sud", json!({})).await;
    let lab = app.create_lab("Laboratorio", 45.18, 9.15, json!({})).await;
    let net = json_of(
        app.post(
            "/api/v1/networks",
            &json!({"name": "Rete dei Laboratori Sociali", "since": 2019, "coordinator_id": csv["id"], "status": "published",
                    "members": [{"organisation_id": csv["id"], "joined": "2019-01-01"}, {"lab_id": lab["id"]}]}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(net["members"].as_array().unwrap().len(), 2);
    assert_eq!(net["since"], 2019);
    let by_member = json_of(
        app.get(&format!(
            "/api/v1/networks?member={}",
            lab["id"].as_str().unwrap()
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(by_member["page"]["total"], 1);
    let p = json_of(
        app.post(
            "/api/v1/networks",
            &json!({"name": "Rotta", "since": 1500, "members": [{"organisation_id": csv["id"], "lab_id": lab["id"]}, {"lab_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b"}, {"organisation_id": csv["id"], "joined": "2019-13-01"}]}),
        )
        .await,
        422,
    )
    .await;
    assert_fields(&p, &["/since", "/members/0", "/members/2/joined"]);
    let p = json_of(app.post("/api/v1/networks", &json!({"name": "Fantasma", "members": [{"lab_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b"}]})).await, 422).await;
    assert_fields(&p, &["/members/0"]);
    let path = format!("/api/v1/networks/{}", net["slug"].as_str().unwrap());
    let changed = json_of(app.patch(&path, &json!({"members": []})).await, 200).await;
    assert_eq!(changed["members"], json!([]));
}
