use crate::helpers::{TestApp, assert_fields, json_of};
use serde_json::{Value, json};

/// Rows of the shipped ISTAT file, read independently of the server.
fn istat_rows() -> Vec<csv::StringRecord> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../migrations/data/municipalities.csv"
    );
    let mut rdr = csv::Reader::from_path(path).unwrap();
    rdr.records().map(Result::unwrap).collect()
}

#[tokio::test]
async fn municipalities_match_the_istat_file() {
    let app = TestApp::spawn().await;
    let rows = istat_rows();
    let all = json_of(app.get("/api/v1/municipalities?limit=1").await, 200).await;
    assert_eq!(all["page"]["total"].as_u64().unwrap() as usize, rows.len());
    let pv = rows.iter().filter(|r| &r[7] == "PV").count();
    let v = json_of(
        app.get("/api/v1/municipalities?province=PV&limit=100")
            .await,
        200,
    )
    .await;
    assert_eq!(v["page"]["total"].as_u64().unwrap() as usize, pv);
    let lombardy = rows.iter().filter(|r| &r[3] == "03").count();
    for q in ["region=03", "region=Lombardia"] {
        let v = json_of(
            app.get(&format!("/api/v1/municipalities?{q}&count=true"))
                .await,
            200,
        )
        .await;
        assert_eq!(
            v["page"]["total"].as_u64().unwrap() as usize,
            lombardy,
            "{q}"
        );
    }
    let pavia = json_of(app.get("/api/v1/municipalities/018110").await, 200).await;
    assert_eq!(pavia["name"], "Pavia");
    assert_eq!(pavia["province"]["abbr"], "PV");
    assert_eq!(pavia["region"]["name"], "Lombardia");
    assert_eq!(pavia["is_province_capital"], true);
    json_of(app.get("/api/v1/municipalities/999999").await, 404).await;
    json_of(app.get("/api/v1/municipalities/abc").await, 404).await;
}

#[tokio::test]
async fn municipality_search_ignores_case_and_accents() {
    let app = TestApp::spawn().await;
    let rows = istat_rows();
    let want = rows
        .iter()
        .filter(|r| r[1].to_lowercase().contains("forlì") || r[1].to_lowercase().contains("forli"))
        .count();
    assert!(want > 0);
    for q in ["FORLI", "forlì"] {
        let v = json_of(
            app.get(&format!("/api/v1/municipalities?q={q}&limit=100"))
                .await,
            200,
        )
        .await;
        assert_eq!(v["page"]["total"].as_u64().unwrap() as usize, want, "{q}");
    }
    let v = json_of(
        app.get("/api/v1/municipalities?q=pavia&province=PV").await,
        200,
    )
    .await;
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Pavia"));
    let csv = app
        .get("/api/v1/municipalities?province=PV&format=csv")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        csv.lines().count(),
        rows.iter().filter(|r| &r[7] == "PV").count() + 1
    );
    assert_fields(
        &json_of(app.get("/api/v1/municipalities?province=Pavia").await, 422).await,
        &["province"],
    );
}

#[tokio::test]
async fn municipality_pages_cover_a_province_exactly() {
    let app = TestApp::spawn().await;
    let mut seen = Vec::new();
    let mut path = "/api/v1/municipalities?province=CR&limit=37&sort=name".to_owned();
    loop {
        let v = json_of(app.get(&path).await, 200).await;
        seen.extend(
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["name"].as_str().unwrap().to_owned()),
        );
        match v["page"]["next_cursor"].as_str() {
            Some(c) => {
                path = format!("/api/v1/municipalities?province=CR&limit=37&sort=name&cursor={c}")
            }
            None => break,
        }
    }
    let mut want: Vec<String> = istat_rows()
        .iter()
        .filter(|r| &r[7] == "CR")
        .map(|r| r[1].to_owned())
        .collect();
    want.sort();
    let mut got = seen.clone();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(seen.len(), want.len());
}

const CONTRACT_THEMES: &[&str] = &[
    "mutual_help",
    "school_support",
    "parenting",
    "green_spaces",
    "culture",
    "health_prevention",
    "social_inclusion",
    "employment",
    "housing",
    "restorative_justice",
    "gambling_prevention",
    "youth",
    "elderly",
    "disability",
    "migrants",
    "poverty",
    "volunteering",
    "civic_participation",
    "fundraising",
    "corporate_engagement",
];

#[tokio::test]
async fn themes_catalogue_and_admin_additions() {
    let app = TestApp::spawn().await;
    let v = json_of(app.get("/api/v1/themes?limit=100").await, 200).await;
    let codes: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["code"].as_str().unwrap())
        .collect();
    for c in CONTRACT_THEMES {
        assert!(codes.contains(c), "{c} missing");
    }
    let green = json_of(app.get("/api/v1/themes/green_spaces").await, 200).await;
    assert_eq!(green["name"]["it"], "Cura del verde");
    json_of(app.get("/api/v1/themes/no_such").await, 404).await;
    // Pages of the catalogue.
    let p1 = json_of(app.get("/api/v1/themes?limit=15").await, 200).await;
    let cursor = p1["page"]["next_cursor"].as_str().unwrap();
    let p2 = json_of(
        app.get(&format!("/api/v1/themes?limit=15&cursor={cursor}"))
            .await,
        200,
    )
    .await;
    assert_eq!(
        p1["data"].as_array().unwrap().len() + p2["data"].as_array().unwrap().len(),
        CONTRACT_THEMES.len()
    );

    let new = json!({"code": "digital_inclusion", "name": {"it": "Inclusione digitale", "en": "Digital inclusion"}});
    let anon = app
        .client
        .post(app.url("/api/v1/themes"))
        .json(&new)
        .send()
        .await
        .unwrap();
    json_of(anon, 401).await;
    let created = json_of(app.post("/api/v1/themes", &new).await, 201).await;
    assert_eq!(created["code"], "digital_inclusion");
    json_of(app.post("/api/v1/themes", &new).await, 409).await;
    let p = json_of(
        app.post(
            "/api/v1/themes",
            &json!({"code": "Bad Code", "name": {"it": "", "en": "x"}}),
        )
        .await,
        422,
    )
    .await;
    assert_fields(&p, &["/code", "/name/it"]);
    // The new theme is usable at once.
    let org = app
        .create_org("Digitale", json!({"themes": ["digital_inclusion"]}))
        .await;
    assert_eq!(org["themes"], json!(["digital_inclusion"]));
    let v = json_of(
        app.get("/api/v1/organisations?theme=digital_inclusion")
            .await,
        200,
    )
    .await;
    assert_eq!(v["page"]["total"], 1);
}

#[tokio::test]
async fn discovery_root_links_everything() {
    let app = TestApp::spawn().await;
    let v: Value = json_of(app.get("/api/v1").await, 200).await;
    assert_eq!(v["api_version"], "v1");
    assert_eq!(v["links"]["search"], "/api/v1/search{?q,types}");
    for (name, href) in v["links"].as_object().unwrap() {
        let href = href.as_str().unwrap().replace("{?q,types}", "?q=rete");
        let res = app.get(&href).await;
        assert!(
            res.status().is_success() || res.status().is_redirection(),
            "{name} -> {}",
            res.status()
        );
    }
    for c in [
        "organisations",
        "municipalities",
        "themes",
        "openapi",
        "docs",
    ] {
        assert!(v["links"].get(c).is_some(), "{c}");
    }
}

/// Filters check the themes, municipalities and provinces they name; codes seen to exist are then
/// known in memory, codes found unknown are not: a theme an administrator adds is accepted by the
/// next request, and unknown codes stay a 422 however often they are asked for.
#[tokio::test]
async fn filters_know_reference_codes_once_seen_and_never_remember_unknown_ones() {
    let app = TestApp::spawn().await;
    for _ in 0..2 {
        let known = "/api/v1/labs?theme=green_spaces&municipality=015146&province=MI";
        json_of(app.get(known).await, 200).await;
        assert_fields(
            &json_of(app.get("/api/v1/labs?theme=orti_in_condominio").await, 422).await,
            &["theme"],
        );
        assert_fields(
            &json_of(
                app.get("/api/v1/map?municipality=999999&province=ZZ").await,
                422,
            )
            .await,
            &["municipality", "province"],
        );
    }
    let theme = json!({"code": "orti_in_condominio", "name": {"it": "Orti", "en": "Gardens"}});
    assert_eq!(app.post("/api/v1/themes", &theme).await.status(), 201);
    json_of(app.get("/api/v1/labs?theme=orti_in_condominio").await, 200).await;
    json_of(app.get("/api/v1/map?theme=orti_in_condominio").await, 200).await;
}
