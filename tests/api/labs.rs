use crate::helpers::{TestApp, assert_fields, haversine, json_of};
use serde_json::{Value, json};

#[tokio::test]
async fn lab_crud_with_operators_hours_and_activities() {
    let app = TestApp::spawn().await;
    let lab = app
        .create_lab(
            "Laboratorio Sociale Città Giardino",
            45.19,
            9.16,
            json!({
                "themes": ["school_support", "parenting"], "activities": ["doposcuola", "sportello famiglie"],
                "neighbourhood": "Città Giardino",
                "opening_hours": [{"day": "mon", "opens": "16:00", "closes": "19:00"}, {"day": "sat", "opens": "09:30", "closes": "12:00"}],
                "address": {"street": "Via di esempio 1", "postcode": "27100", "municipality": "018110"}
            }),
        )
        .await;
    assert_eq!(lab["slug"], "laboratorio-sociale-citta-giardino");
    assert_eq!(lab["opening_hours"][1]["opens"], "09:30");
    assert_eq!(
        lab["activities"],
        json!(["doposcuola", "sportello famiglie"])
    );
    assert_eq!(lab["operators"][0]["role"], "manager");
    let path = format!("/api/v1/labs/{}", lab["slug"].as_str().unwrap());
    let got = json_of(app.get(&path).await, 200).await;
    assert_eq!(got, lab);
    let patched = json_of(
        app.patch(
            &path,
            &json!({"activities": ["orto condiviso"], "neighbourhood": null}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(patched["activities"], json!(["orto condiviso"]));
    assert_eq!(patched["neighbourhood"], Value::Null);
    assert_eq!(patched["version"], 2);
    assert_eq!(app.delete(&path).await.status(), 204);
    json_of(app.get(&path).await, 404).await;
    let restored = app
        .client
        .post(app.url(&format!("{path}/restore")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(restored, 200).await["version"], 4);
}

#[tokio::test]
async fn lab_rules_are_enforced() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Gestore", json!({})).await;
    let base = json!({"name": "L", "kind": "social_lab", "address": {"municipality": "018110"}, "location": {"lat": 45.0, "lon": 9.0}});
    // Publishing needs a manager.
    let mut b = base.clone();
    json_patch::merge(
        &mut b,
        &json!({"status": "published", "operators": [{"organisation_id": org["id"], "role": "partner"}]}),
    );
    assert_fields(
        &json_of(app.post("/api/v1/labs", &b).await, 422).await,
        &["/operators"],
    );
    // Hours: order, format, day.
    let mut b = base.clone();
    json_patch::merge(
        &mut b,
        &json!({"opening_hours": [
            {"day": "mon", "opens": "12:00", "closes": "09:00"},
            {"day": "funday", "opens": "9", "closes": "25:00"}
        ]}),
    );
    assert_fields(
        &json_of(app.post("/api/v1/labs", &b).await, 422).await,
        &[
            "/opening_hours/0/closes",
            "/opening_hours/1/day",
            "/opening_hours/1/opens",
            "/opening_hours/1/closes",
        ],
    );
    // Location and address are required; unknown operator; bad kind.
    let p = json_of(
        app.post(
            "/api/v1/labs",
            &json!({"name": "L", "kind": "social_lab", "address": {"municipality": "018110"}}),
        )
        .await,
        422,
    )
    .await;
    assert_fields(&p, &["/location"]);
    let mut b = base.clone();
    json_patch::merge(
        &mut b,
        &json!({"kind": "bar", "operators": [{"organisation_id": "not-a-uuid", "role": "boss"}]}),
    );
    assert_fields(
        &json_of(app.post("/api/v1/labs", &b).await, 422).await,
        &["/kind", "/operators/0/organisation_id", "/operators/0/role"],
    );
    let mut b = base.clone();
    json_patch::merge(
        &mut b,
        &json!({"operators": [{"organisation_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b", "role": "manager"}]}),
    );
    assert_fields(
        &json_of(app.post("/api/v1/labs", &b).await, 422).await,
        &["/operators/0/organisation_id"],
    );
    let list = json_of(
        app.get_auth("/api/v1/labs?status=draft,published").await,
        200,
    )
    .await;
    assert_eq!(list["page"]["total"], 0, "nothing was stored");
}

#[tokio::test]
async fn radius_search_matches_an_independent_haversine() {
    let app = TestApp::spawn().await;
    let points = [
        ("Centro", 45.1847, 9.1582),
        ("Ticino", 45.1790, 9.1550),
        ("Vallone", 45.2000, 9.1300),
        ("Certosa", 45.2566, 9.1417),
        ("Milano", 45.4642, 9.1900),
        ("Lecco", 45.8566, 9.3977),
    ];
    for (n, lat, lon) in points {
        app.create_lab(n, lat, lon, json!({})).await;
    }
    let (clat, clon) = (45.1850, 9.1560);
    for radius in [1.0, 5.0, 10.0, 40.0, 120.0] {
        let v = json_of(
            app.get(&format!(
                "/api/v1/labs?near={clat},{clon}&radius_km={radius}&sort=distance&limit=100"
            ))
            .await,
            200,
        )
        .await;
        let mut want: Vec<(&str, f64)> = points
            .iter()
            .map(|(n, la, lo)| (*n, haversine(clat, clon, *la, *lo)))
            .filter(|(_, d)| *d <= radius)
            .collect();
        want.sort_by(|a, b| a.1.total_cmp(&b.1));
        let got: Vec<(&str, f64)> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["name"].as_str().unwrap(),
                    l["distance_km"].as_f64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            want.iter().map(|w| w.0).collect::<Vec<_>>(),
            "radius {radius}"
        );
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g.1 - w.1).abs() <= w.1 * 0.001 + 0.001,
                "{}: {} vs {}",
                g.0,
                g.1,
                w.1
            );
        }
        assert_eq!(v["page"]["total"].as_u64().unwrap() as usize, want.len());
    }
    // Paging through a radius search by distance gives every hit once, in order.
    let mut names = Vec::new();
    let mut path = format!("/api/v1/labs?near={clat},{clon}&radius_km=200&sort=distance&limit=2");
    loop {
        let v = json_of(app.get(&path).await, 200).await;
        names.extend(
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["name"].as_str().unwrap().to_owned()),
        );
        match v["page"]["next_cursor"].as_str() {
            Some(c) => {
                path = format!(
                    "/api/v1/labs?near={clat},{clon}&radius_km=200&sort=distance&limit=2&cursor={c}"
                )
            }
            None => break,
        }
    }
    assert_eq!(
        names,
        vec!["Centro", "Ticino", "Vallone", "Certosa", "Milano", "Lecco"]
    );
    // Box search.
    let v = json_of(app.get("/api/v1/labs?bbox=9.0,45.1,9.2,45.3").await, 200).await;
    assert_eq!(v["page"]["total"], 4);
    for (q, param) in [
        ("near=45,9", "radius_km"),
        ("radius_km=5", "near"),
        ("near=95,9&radius_km=5", "near"),
        ("near=45,9&radius_km=0", "radius_km"),
        ("bbox=9,45,8,46", "bbox"),
        ("bbox=1,2,3", "bbox"),
        ("sort=distance", "sort"),
        ("area=no-such-area", "area"),
        ("organisation=no-such-org", "organisation"),
    ] {
        assert_fields(
            &json_of(app.get(&format!("/api/v1/labs?{q}")).await, 422).await,
            &[param],
        );
    }
}

#[tokio::test]
async fn lab_filters_and_formats() {
    let app = TestApp::spawn().await;
    let a = app
        .create_lab(
            "Orto",
            45.18,
            9.15,
            json!({"kind": "green_space", "themes": ["green_spaces"]}),
        )
        .await;
    app.create_lab(
        "Centro civico",
        45.13,
        10.02,
        json!({"kind": "civic_centre", "address": {"municipality": "019036"}}),
    )
    .await;
    let op = a["operators"][0]["organisation_id"].as_str().unwrap();
    let v = json_of(
        app.get(&format!("/api/v1/labs?organisation={op}")).await,
        200,
    )
    .await;
    assert_eq!(v["page"]["total"], 1);
    let v = json_of(app.get("/api/v1/labs?province=CR").await, 200).await;
    assert_eq!(v["data"][0]["name"], "Centro civico");
    let v = json_of(
        app.get("/api/v1/labs?theme=green_spaces&kind=green_space")
            .await,
        200,
    )
    .await;
    assert_eq!(v["page"]["total"], 1);
    let geo: Value = app
        .get("/api/v1/labs?format=geojson")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(geo["features"].as_array().unwrap().len(), 2);
    let csv = app
        .get("/api/v1/labs?format=csv&fields=name,location")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        "id,name,location.lat,location.lon"
    );
    assert_eq!(csv.lines().count(), 3);
}
