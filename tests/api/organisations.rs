use crate::helpers::{TestApp, assert_fields, json_of};
use serde_json::{Value, json};

#[tokio::test]
async fn create_then_read_by_id_and_slug() {
    let app = TestApp::spawn().await;
    let res = app
        .post(
            "/api/v1/organisations",
            &json!({"name": "Città Solidale", "kind": "aps", "address": {"municipality": "018110"},
                    "themes": ["mutual_help", "culture", "mutual_help"], "status": "published",
                    "location": {"lat": 45.1847, "lon": 9.1582}}),
        )
        .await;
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let created = json_of(res, 201).await;
    assert_eq!(created["slug"], "citta-solidale");
    assert_eq!(created["version"], 1);
    assert_eq!(created["status"], "published");
    assert_eq!(
        created["themes"],
        json!(["culture", "mutual_help"]),
        "deduplicated"
    );
    let id = created["id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    assert_eq!(location, format!("/api/v1/organisations/{id}"));

    let by_id = app.get(&location).await;
    assert_eq!(
        by_id.headers()["etag"].to_str().unwrap(),
        etag,
        "same view, same tag"
    );
    let by_id = json_of(by_id, 200).await;
    let by_slug = json_of(app.get("/api/v1/organisations/citta-solidale").await, 200).await;
    assert_eq!(by_id, created);
    assert_eq!(by_slug, created);

    // Same name again: the derived slug gets a suffix.
    let second = app.create_org("Città Solidale", json!({})).await;
    assert_eq!(second["slug"], "citta-solidale-2");
}

#[tokio::test]
async fn explicit_slug_and_tax_code_must_be_unique() {
    let app = TestApp::spawn().await;
    app.create_org(
        "Uno",
        json!({"slug": "rete-uno", "tax_code": "01234567897"}),
    )
    .await;
    let dup_slug = app
        .post("/api/v1/organisations", &json!({"name": "Due", "kind": "aps", "slug": "rete-uno", "address": {"municipality": "018110"}}))
        .await;
    let p = json_of(dup_slug, 409).await;
    assert_fields(&p, &["/slug"]);
    let dup_tax = app
        .post("/api/v1/organisations", &json!({"name": "Tre", "kind": "aps", "tax_code": "012 3456 7897", "address": {"municipality": "018110"}}))
        .await;
    let p = json_of(dup_tax, 409).await;
    assert_fields(&p, &["/tax_code"]);
}

async fn count(app: &TestApp) -> u64 {
    let v = json_of(
        app.get_auth("/api/v1/organisations?status=draft&status=published&status=archived")
            .await,
        200,
    )
    .await;
    v["page"]["total"].as_u64().unwrap()
}

#[tokio::test]
async fn every_invalid_field_is_reported_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let before = count(&app).await;
    let res = app
        .post(
            "/api/v1/organisations",
            &json!({
                "name": "  ", "kind": "club", "tax_code": "RSSMRA85T10A562X", "vat_number": "01234567890",
                "contact": {"email": "not-an-email", "website": "ftp://example.org", "phone": "abc"},
                "address": {"municipality": "18110", "postcode": "2710"},
                "location": {"lat": 95.0, "lon": 200.0}, "status": "live", "runts_section": "nope",
                "themes": ["Bad Code"], "slug": "Not A Slug"
            }),
        )
        .await;
    let p = json_of(res, 422).await;
    assert_eq!(p["type"], "/problems/validation");
    assert_eq!(p["status"], 422);
    assert_fields(
        &p,
        &[
            "/name",
            "/kind",
            "/tax_code",
            "/vat_number",
            "/contact/email",
            "/contact/website",
            "/contact/phone",
            "/address/municipality",
            "/address/postcode",
            "/location/lat",
            "/location/lon",
            "/status",
            "/runts_section",
            "/themes/0",
            "/slug",
        ],
    );
    assert_eq!(count(&app).await, before);

    // Well-formed references that do not exist.
    let res = app
        .post(
            "/api/v1/organisations",
            &json!({"name": "X", "kind": "aps", "address": {"municipality": "999999"}, "themes": ["culture", "no_such_theme"]}),
        )
        .await;
    let p = json_of(res, 422).await;
    assert_fields(&p, &["/address/municipality", "/themes/1"]);

    // Cross-field rules.
    let res = app
        .post(
            "/api/v1/organisations",
            &json!({"name": "Comune", "kind": "public_body", "runts_section": "odv", "address": {"municipality": "018110"}}),
        )
        .await;
    assert_fields(&json_of(res, 422).await, &["/runts_section"]);

    // Missing required field and wrong type.
    let res = app
        .post(
            "/api/v1/organisations",
            &json!({"kind": "aps", "address": {"municipality": "018110"}}),
        )
        .await;
    assert_fields(&json_of(res, 422).await, &["/name"]);
    let res = app
        .post(
            "/api/v1/organisations",
            &json!({"name": 5, "kind": "aps", "address": {"municipality": "018110"}}),
        )
        .await;
    assert_fields(&json_of(res, 422).await, &["/name"]);
    assert_eq!(count(&app).await, before);
}

#[tokio::test]
async fn valid_tax_identifiers_are_accepted_and_normalised() {
    let app = TestApp::spawn().await;
    let a = app
        .create_org("Persona", json!({"tax_code": "rssmra85t10a562s"}))
        .await;
    assert_eq!(a["tax_code"], "RSSMRA85T10A562S");
    let b = app
        .create_org(
            "Ente",
            json!({"tax_code": "01234567897", "vat_number": "IT01234567897"}),
        )
        .await;
    assert_eq!(b["vat_number"], "01234567897");
    let c = app
        .create_org("Omocodia", json!({"tax_code": "RSSMRA85T10A56NH"}))
        .await;
    assert_eq!(c["tax_code"], "RSSMRA85T10A56NH");
}

#[tokio::test]
async fn drafts_are_hidden_from_anonymous_callers() {
    let app = TestApp::spawn().await;
    let draft = app.create_org("Bozza", json!({"status": "draft"})).await;
    let archived = app
        .create_org("Archivio", json!({"status": "archived"}))
        .await;
    app.create_org("Pubblica", json!({})).await;
    for rec in [&draft, &archived] {
        let path = format!("/api/v1/organisations/{}", rec["id"].as_str().unwrap());
        let p = json_of(app.get(&path).await, 404).await;
        assert_eq!(p["type"], "/problems/not-found");
        json_of(app.get_auth(&path).await, 200).await;
    }
    let public = json_of(app.get("/api/v1/organisations").await, 200).await;
    let names: Vec<&str> = public["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Pubblica"]);
    assert_eq!(public["page"]["total"], 1);
    // Anonymous callers asking for drafts get nothing, not an error.
    let none = json_of(app.get("/api/v1/organisations?status=draft").await, 200).await;
    assert_eq!(none["page"]["total"], 0);
    let all = json_of(
        app.get_auth("/api/v1/organisations?status=draft,archived")
            .await,
        200,
    )
    .await;
    assert_eq!(all["page"]["total"], 2);
}

#[tokio::test]
async fn contact_person_is_private_unless_public() {
    let app = TestApp::spawn().await;
    let private = app
        .create_org(
            "Privata",
            json!({"contact_person": {"name": "Anna Rossi", "email": "anna@example.org"}}),
        )
        .await;
    let public = app
        .create_org("Aperta", json!({"contact_person": {"name": "Maria Piccio", "email": "m.piccio@csvlombardia.it", "public": true}}))
        .await;
    let anon = json_of(
        app.get(&format!(
            "/api/v1/organisations/{}",
            private["id"].as_str().unwrap()
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(anon["contact_person"], Value::Null);
    let authed = json_of(
        app.get_auth(&format!(
            "/api/v1/organisations/{}",
            private["id"].as_str().unwrap()
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(authed["contact_person"]["name"], "Anna Rossi");
    let anon = json_of(
        app.get(&format!(
            "/api/v1/organisations/{}",
            public["id"].as_str().unwrap()
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(anon["contact_person"]["name"], "Maria Piccio");
    // Nor does the private person leak through the list, CSV or GeoJSON.
    for path in [
        "/api/v1/organisations",
        "/api/v1/organisations?format=csv",
        "/api/v1/organisations?format=geojson",
    ] {
        let body = app.get(path).await.text().await.unwrap();
        assert!(
            !body.contains("Anna Rossi") && !body.contains("anna@example.org"),
            "{path} leaks: {body}"
        );
    }
}

#[tokio::test]
async fn etags_give_304_and_stale_if_match_gives_412() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Etag", json!({})).await;
    let path = format!("/api/v1/organisations/{}", org["id"].as_str().unwrap());
    let first = app.get(&path).await;
    assert_eq!(first.headers()["cache-control"], "public, max-age=60");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong tag {etag}"
    );
    let again = app
        .client
        .get(app.url(&path))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.text().await.unwrap().is_empty());

    let authed_etag = app.get_auth(&path).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let ok = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&app.token)
        .header("if-match", &authed_etag)
        .json(&json!({"description": "Prima modifica"}))
        .send()
        .await
        .unwrap();
    let changed = json_of(ok, 200).await;
    assert_eq!(changed["version"], 2);
    assert_eq!(changed["description"], "Prima modifica");

    // The old tag is now stale.
    let stale = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&app.token)
        .header("if-match", &authed_etag)
        .json(&json!({"description": "Seconda modifica"}))
        .send()
        .await
        .unwrap();
    json_of(stale, 412).await;
    let stale_delete = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&app.token)
        .header("if-match", &authed_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(stale_delete.status(), 412);
    let now = json_of(app.get_auth(&path).await, 200).await;
    assert_eq!(now["description"], "Prima modifica");
    assert_eq!(now["version"], 2);

    // A 304 for an unchanged list too.
    let list = app.get("/api/v1/organisations").await;
    let tag = list.headers()["etag"].to_str().unwrap().to_owned();
    let again = app
        .client
        .get(app.url("/api/v1/organisations"))
        .header("if-none-match", tag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
}

#[tokio::test]
async fn merge_patch_semantics() {
    let app = TestApp::spawn().await;
    let org = app
        .create_org("Patch", json!({"description": "Da togliere", "contact": {"email": "a@example.org"}, "themes": ["culture"]}))
        .await;
    let path = format!("/api/v1/organisations/{}", org["id"].as_str().unwrap());
    let patched = json_of(
        app.patch(
            &path,
            &json!({"description": null, "contact": {"phone": "+39 0382 123456"}}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(patched["description"], Value::Null);
    assert_eq!(
        patched["contact"]["email"], "a@example.org",
        "untouched member kept"
    );
    assert_eq!(patched["contact"]["phone"], "+39 0382 123456");
    assert_eq!(patched["themes"], json!(["culture"]));
    assert_eq!(patched["slug"], org["slug"]);

    // Plain application/json is accepted as a merge patch too.
    let res = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&app.token)
        .json(&json!({"name": "Patch 2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(res, 200).await["name"], "Patch 2");

    for (body, field) in [
        (json!({"version": 9}), "/version"),
        (json!({"id": "x"}), "/id"),
        (json!({"nmae": "typo"}), "/nmae"),
    ] {
        let p = json_of(app.patch(&path, &body).await, 400).await;
        assert_fields(&p, &[field]);
    }
    let p = json_of(
        app.patch(&path, &json!({"location": {"lat": -91, "lon": 0}}))
            .await,
        422,
    )
    .await;
    assert_fields(&p, &["/location/lat"]);
    let now = json_of(app.get_auth(&path).await, 200).await;
    assert_eq!(now["version"], 3, "rejected patches changed nothing");
}

#[tokio::test]
async fn delete_is_soft_and_admin_can_restore() {
    let app = TestApp::spawn().await;
    let org = app
        .create_org("Da cancellare", json!({"slug": "da-cancellare"}))
        .await;
    let path = format!("/api/v1/organisations/{}", org["id"].as_str().unwrap());
    let res = app.delete(&path).await;
    assert_eq!(res.status(), 204);
    json_of(app.get_auth(&path).await, 404).await;
    let list = json_of(app.get_auth("/api/v1/organisations").await, 200).await;
    assert_eq!(list["page"]["total"], 0);
    assert_eq!(app.delete(&path).await.status(), 404);
    // The slug stays reserved by the tombstone.
    let res = app
        .post("/api/v1/organisations", &json!({"name": "Altro", "kind": "aps", "slug": "da-cancellare", "address": {"municipality": "018110"}}))
        .await;
    json_of(res, 409).await;
    // Restore needs credentials.
    let anon = app
        .client
        .post(app.url(&format!("{path}/restore")))
        .send()
        .await
        .unwrap();
    json_of(anon, 401).await;
    let restored = json_of(
        app.client
            .post(app.url(&format!("{path}/restore")))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(restored["version"], 3, "create, delete, restore");
    assert_eq!(restored["name"], "Da cancellare");
    json_of(app.get(&path).await, 200).await;
}

#[tokio::test]
async fn writes_need_a_token() {
    let app = TestApp::spawn().await;
    let body = json!({"name": "Anonimo", "kind": "aps", "address": {"municipality": "018110"}});
    let res = app
        .client
        .post(app.url("/api/v1/organisations"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    json_of(res, 401).await;
    let res = app
        .client
        .post(app.url("/api/v1/organisations"))
        .bearer_auth("forged")
        .json(&body)
        .send()
        .await
        .unwrap();
    json_of(res, 401).await;
    // The old development token is just another invalid token.
    let res = app
        .client
        .post(app.url("/api/v1/organisations"))
        .bearer_auth("insecure-dev-token")
        .json(&body)
        .send()
        .await
        .unwrap();
    json_of(res, 401).await;
}

#[tokio::test]
async fn filters_select_exactly_the_matching_records() {
    let app = TestApp::spawn().await;
    app.create_org(
        "Odv Pavia",
        json!({"kind": "odv", "themes": ["green_spaces"]}),
    )
    .await;
    app.create_org(
        "Aps Pavia",
        json!({"kind": "aps", "themes": ["culture", "green_spaces"]}),
    )
    .await;
    app.create_org("Coop Cremona", json!({"kind": "social_cooperative", "themes": ["employment"], "address": {"municipality": "019036"}})).await;
    app.create_org(
        "Comune Lecco",
        json!({"kind": "public_body", "address": {"municipality": "097042"}}),
    )
    .await;
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };
    let cases: &[(&str, &[&str])] = &[
        ("kind=odv", &["Odv Pavia"]),
        ("kind=odv&kind=aps", &["Aps Pavia", "Odv Pavia"]),
        ("theme=green_spaces", &["Aps Pavia", "Odv Pavia"]),
        (
            "theme=culture&theme=employment",
            &["Aps Pavia", "Coop Cremona"],
        ),
        ("municipality=019036", &["Coop Cremona"]),
        ("province=CR&province=lc", &["Comune Lecco", "Coop Cremona"]),
        ("province=PV&kind=aps", &["Aps Pavia"]),
    ];
    for (q, want) in cases {
        let v = json_of(app.get(&format!("/api/v1/organisations?{q}")).await, 200).await;
        assert_eq!(names(&v), *want, "{q}");
        assert_eq!(
            v["page"]["total"].as_u64().unwrap() as usize,
            want.len(),
            "{q}"
        );
    }
    let future = json_of(
        app.get("/api/v1/organisations?updated_since=2999-01-01T00:00:00Z")
            .await,
        200,
    )
    .await;
    assert_eq!(future["page"]["total"], 0);
    let past = json_of(
        app.get("/api/v1/organisations?updated_since=2000-01-01T00:00:00Z")
            .await,
        200,
    )
    .await;
    assert_eq!(past["page"]["total"], 4);

    let bad: &[(&str, &str)] = &[
        ("theme=no_such_theme", "theme"),
        ("municipality=12345", "municipality"),
        ("municipality=999999", "municipality"),
        ("province=ZZ", "province"),
        ("kind=club", "kind"),
        ("status=live", "status"),
        ("updated_since=yesterday", "updated_since"),
        ("sort=colour", "sort"),
        ("fields=name,colour", "fields"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("count=maybe", "count"),
        ("format=xml", "format"),
        ("provence=PV", "provence"),
    ];
    for (q, param) in bad {
        let p = json_of(app.get(&format!("/api/v1/organisations?{q}")).await, 422).await;
        assert_fields(&p, &[param]);
    }
}

#[tokio::test]
async fn sparse_fieldsets() {
    let app = TestApp::spawn().await;
    let org = app
        .create_org("Campi", json!({"location": {"lat": 45.0, "lon": 9.0}}))
        .await;
    let v = json_of(
        app.get(&format!(
            "/api/v1/organisations/{}?fields=name,location",
            org["id"].as_str().unwrap()
        ))
        .await,
        200,
    )
    .await;
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, vec!["id", "location", "name"]);
    let list = json_of(app.get("/api/v1/organisations?fields=slug").await, 200).await;
    let item = list["data"][0].as_object().unwrap();
    assert_eq!(item.len(), 2);
    assert!(item.contains_key("slug") && item.contains_key("id"));
}

#[tokio::test]
async fn csv_and_geojson_exports() {
    let app = TestApp::spawn().await;
    app.create_org("Con posizione", json!({"location": {"lat": 45.1847, "lon": 9.1582}, "themes": ["culture", "youth"], "description": "Testo, con \"virgolette\"\ne a capo"})).await;
    app.create_org("Senza posizione", json!({"kind": "informal_group"}))
        .await;

    for req in [
        app.client.get(app.url("/api/v1/organisations?format=csv")),
        app.client
            .get(app.url("/api/v1/organisations"))
            .header("accept", "text/csv"),
    ] {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let body = res.text().await.unwrap();
        let mut rdr = csv::Reader::from_reader(body.as_bytes());
        let headers = rdr.headers().unwrap().clone();
        assert_eq!(&headers[0], "id");
        let name_col = headers.iter().position(|h| h == "name").unwrap();
        let themes_col = headers.iter().position(|h| h == "themes").unwrap();
        let desc_col = headers.iter().position(|h| h == "description").unwrap();
        let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][name_col], "Con posizione");
        assert_eq!(&rows[0][themes_col], "culture;youth");
        assert_eq!(&rows[0][desc_col], "Testo, con \"virgolette\"\ne a capo");
    }
    let csv_fields = app
        .get("/api/v1/organisations?format=csv&fields=name")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv_fields.lines().next().unwrap(), "id,name");

    for req in [
        app.client
            .get(app.url("/api/v1/organisations?format=geojson")),
        app.client
            .get(app.url("/api/v1/organisations"))
            .header("accept", "application/geo+json"),
    ] {
        let res = req.send().await.unwrap();
        assert_eq!(res.headers()["content-type"], "application/geo+json");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["type"], "FeatureCollection");
        let features = v["features"].as_array().unwrap();
        assert_eq!(features.len(), 1, "records without a location are left out");
        assert_eq!(
            features[0]["geometry"]["coordinates"],
            json!([9.1582, 45.1847])
        );
        assert_eq!(features[0]["properties"]["name"], "Con posizione");
    }
    let res = app
        .client
        .get(app.url("/api/v1/organisations"))
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap();
    json_of(res, 406).await;
    let res = app
        .client
        .get(app.url("/api/v1/organisations"))
        .header("accept", "text/csv;q=0.5, application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn radius_and_box_search_on_organisations() {
    let app = TestApp::spawn().await;
    app.create_org(
        "Vicina",
        json!({"location": {"lat": 45.1850, "lon": 9.1600}}),
    )
    .await;
    app.create_org(
        "Lontana",
        json!({"location": {"lat": 45.4642, "lon": 9.1900}}),
    )
    .await;
    app.create_org("Senza sede", json!({"kind": "informal_group"}))
        .await;
    let v = json_of(
        app.get("/api/v1/organisations?near=45.1847,9.1582&radius_km=50&sort=distance")
            .await,
        200,
    )
    .await;
    let got: Vec<(&str, f64)> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap(),
                o["distance_km"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        vec!["Vicina", "Lontana"]
    );
    let want = crate::helpers::haversine(45.1847, 9.1582, 45.4642, 9.1900);
    assert!(
        (got[1].1 - want).abs() <= want * 0.001,
        "{} vs {want}",
        got[1].1
    );
    let v = json_of(
        app.get("/api/v1/organisations?near=45.1847,9.1582&radius_km=5")
            .await,
        200,
    )
    .await;
    assert_eq!(v["page"]["total"], 1);
    let v = json_of(
        app.get("/api/v1/organisations?bbox=9.0,45.0,9.5,45.3")
            .await,
        200,
    )
    .await;
    assert_eq!(v["page"]["total"], 1);
    assert_eq!(v["data"][0]["name"], "Vicina");
    assert!(v["data"][0].get("distance_km").is_none());
    assert_fields(
        &json_of(app.get("/api/v1/organisations?sort=distance").await, 422).await,
        &["sort"],
    );
}

#[tokio::test]
async fn fifty_concurrent_editors_with_if_match_one_wins_each_round_and_nothing_is_lost() {
    let app =
        std::sync::Arc::new(TestApp::spawn_with(|s| s.db_acquire_timeout_ms = 20_000, None).await);
    let org = app.create_org("Contesa", json!({})).await;
    let path = format!("/api/v1/organisations/{}", org["id"].as_str().unwrap());
    let mut editors = Vec::new();
    for _ in 0..50 {
        editors.push(app.user_token("editor", &[&org]).await);
    }
    for round in 0..4 {
        let current = app.get_auth(&path).await;
        let etag = current.headers()["etag"].to_str().unwrap().to_owned();
        let version = json_of(current, 200).await["version"].as_i64().unwrap();
        let mut tasks = Vec::new();
        for (i, token) in editors.iter().enumerate() {
            let (app, path, etag, token) = (app.clone(), path.clone(), etag.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let res = app
                    .client
                    .patch(app.url(&path))
                    .bearer_auth(&token)
                    .header("if-match", &etag)
                    .header("content-type", "application/merge-patch+json")
                    .body(json!({"description": format!("round {round}, editor {i}")}).to_string())
                    .send()
                    .await
                    .unwrap();
                (i, res.status().as_u16())
            }));
        }
        let mut won = Vec::new();
        for t in tasks {
            let (i, status) = t.await.unwrap();
            match status {
                200 => won.push(i),
                412 => {}
                other => panic!("round {round}: editor {i} got {other}"),
            }
        }
        assert_eq!(
            won.len(),
            1,
            "round {round}: exactly one If-Match write wins"
        );
        let after = json_of(app.get_auth(&path).await, 200).await;
        assert_eq!(after["version"].as_i64().unwrap(), version + 1);
        assert_eq!(
            after["description"],
            format!("round {round}, editor {}", won[0]),
            "the stored record is the winner's"
        );
    }
    // Every winning write is in the audit trail, in order: none was lost or overwritten unseen.
    let audit = json_of(
        app.get_auth(&format!(
            "/api/v1/audit?type=organisation&id={}&limit=100",
            org["id"].as_str().unwrap()
        ))
        .await,
        200,
    )
    .await;
    let updates = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "update")
        .count();
    assert_eq!(updates, 4, "{audit}");
}
