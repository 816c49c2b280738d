use crate::helpers::{TestApp, assert_fields, json_of};
use serde_json::{Value, json};
use std::collections::BTreeMap;

async fn project(app: &TestApp, title: &str, extra: Value) -> Value {
    let lead = app
        .create_org(&format!("Capofila {title}"), json!({}))
        .await;
    let mut body = json!({"title": title, "lead_organisation_id": lead["id"], "phase": "active", "status": "published", "municipalities": ["018110"]});
    json_patch::merge(&mut body, &extra);
    json_of(app.post("/api/v1/projects", &body).await, 201).await
}

#[tokio::test]
async fn project_crud_with_partners_funding_and_dates() {
    let app = TestApp::spawn().await;
    let funder = app
        .create_org("Fondazione Cariplo", json!({"kind": "foundation"}))
        .await;
    let lab = app.create_lab("Laboratorio", 45.18, 9.15, json!({})).await;
    let p = project(
        &app,
        "Fare #BeneComune",
        json!({
            "programme": "Welfare in Azione", "start_date": "2018-11-01", "end_date": "2021-10-31",
            "partners": [{"organisation_id": funder["id"], "role": "funder"}],
            "funding": [{"funder_id": funder["id"], "amount": "150000"}, {"funder_id": funder["id"], "amount": "0.10"}],
            "lab_ids": [lab["id"]], "themes": ["parenting"], "objectives": ["Sostenere le famiglie"], "actions": ["Laboratori di cittadinanza"]
        }),
    )
    .await;
    assert_eq!(p["slug"], "fare-benecomune");
    assert_eq!(p["funding"][0]["amount"], "150000.00");
    assert_eq!(p["funding"][1]["amount"], "0.10");
    assert_eq!(p["lab_ids"], json!([lab["id"]]));
    let got = json_of(app.get("/api/v1/projects/fare-benecomune").await, 200).await;
    assert_eq!(got["results"], json!([]));
    let p2 = json_of(
        app.patch(
            "/api/v1/projects/fare-benecomune",
            &json!({"phase": "completed"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(p2["phase"], "completed");
    let bad = json!({
        "title": "Rotto", "lead_organisation_id": funder["id"], "start_date": "2020-01-01", "end_date": "2019-12-31",
        "funding": [{"funder_id": funder["id"], "amount": "1.005"}, {"funder_id": funder["id"], "amount": "-5"}],
        "phase": "ongoing", "website": "not a url"
    });
    assert_fields(
        &json_of(app.post("/api/v1/projects", &bad).await, 422).await,
        &[
            "/funding/0/amount",
            "/funding/1/amount",
            "/phase",
            "/website",
        ],
    );
    let bad = json!({"title": "Rotto", "lead_organisation_id": funder["id"], "start_date": "2020-01-01", "end_date": "2019-12-31"});
    assert_fields(
        &json_of(app.post("/api/v1/projects", &bad).await, 422).await,
        &["/end_date"],
    );
    let bad = json!({"title": "Rotto", "lead_organisation_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b", "lab_ids": ["0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2c"]});
    assert_fields(
        &json_of(app.post("/api/v1/projects", &bad).await, 422).await,
        &["/lead_organisation_id", "/lab_ids/0"],
    );
    let v = json_of(
        app.get(&format!(
            "/api/v1/projects?organisation={}",
            funder["id"].as_str().unwrap()
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(v["page"]["total"], 1);
    let v = json_of(app.get("/api/v1/projects?phase=active").await, 200).await;
    assert_eq!(v["page"]["total"], 0);
}

#[tokio::test]
async fn an_organisation_leading_a_live_project_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let p = project(&app, "Fare Legami", json!({})).await;
    let lead = format!(
        "/api/v1/organisations/{}",
        p["lead_organisation_id"].as_str().unwrap()
    );
    let problem = json_of(app.delete(&lead).await, 409).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("Fare Legami"),
        "{problem}"
    );
    json_of(app.get(&lead).await, 200).await;
    json_of(
        app.patch(
            "/api/v1/projects/fare-legami",
            &json!({"phase": "completed"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(app.delete(&lead).await.status(), 204);
}

#[tokio::test]
async fn metric_batches_are_all_or_nothing() {
    let app = TestApp::spawn().await;
    let lab = app.create_lab("Nel progetto", 45.18, 9.15, json!({})).await;
    let other = app.create_lab("Fuori", 45.19, 9.16, json!({})).await;
    let p = project(&app, "Metriche", json!({"lab_ids": [lab["id"]]})).await;
    let url = format!("/api/v1/projects/{}/metrics", p["slug"].as_str().unwrap());
    let good = json!({"indicator": "families_supported", "kind": "actual", "value": 10, "period_start": "2019-01-01", "period_end": "2019-03-31", "lab_id": lab["id"]});
    let batch = json!([
        good,
        {"indicator": "families_supported", "kind": "actual", "value": 5, "period_start": "2019-01-01", "period_end": "2019-03-31", "lab_id": other["id"]},
        {"indicator": "no_such_indicator", "kind": "actual", "value": 1, "period_start": "2019-01-01", "period_end": "2019-03-31"},
        {"indicator": "families_supported", "kind": "forecast", "value": -1, "period_start": "2019-04-01", "period_end": "2019-03-31"},
        {"indicator": "families_supported", "kind": "actual", "value": "ten", "period_start": "2019-01-01", "period_end": "2019-03-31", "municipality": "999999"}
    ]);
    let p1 = json_of(app.post(&url, &batch).await, 422).await;
    assert_fields(&p1, &["/3/kind", "/3/value", "/3/period_end", "/4/value"]);
    let batch = json!([good, {"indicator": "families_supported", "kind": "actual", "value": 5, "period_start": "2019-01-01", "period_end": "2019-03-31", "lab_id": other["id"]},
        {"indicator": "no_such_indicator", "kind": "actual", "value": 1, "period_start": "2019-01-01", "period_end": "2019-03-31", "municipality": "999999"}]);
    let p2 = json_of(app.post(&url, &batch).await, 422).await;
    assert_fields(&p2, &["/1/lab_id", "/2/indicator", "/2/municipality"]);
    let p3 = json_of(app.post(&url, &json!([good, {"indicator": "x", "kind": "actual", "value": 1, "period_start": "2019-01-01", "period_end": "2019-01-02", "colour": 1}])).await, 400).await;
    assert_fields(&p3, &["/1/colour"]);
    let none = json_of(
        app.get(&format!(
            "/api/v1/metrics?project={}",
            p["id"].as_str().unwrap()
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(
        none["page"]["total"], 0,
        "a batch with a bad row stores nothing"
    );

    let too_many: Vec<Value> = (0..1001).map(|_| good.clone()).collect();
    json_of(app.post(&url, &Value::Array(too_many)).await, 422).await;
    let one = json_of(app.post(&url, &good).await, 201).await;
    assert_eq!(one["value"], 10.0);
    let many: Vec<Value> = (0..1000).map(|i| json!({"indicator": "attendees", "kind": "actual", "value": i, "period_start": "2020-01-01", "period_end": "2020-01-31"})).collect();
    let stored = json_of(app.post(&url, &Value::Array(many)).await, 201).await;
    assert_eq!(stored["count"], 1000);
    let all = json_of(
        app.get(&format!(
            "/api/v1/metrics?project={}&limit=1",
            p["slug"].as_str().unwrap()
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(all["page"]["total"], 1001);
    let csv = app
        .get(&format!(
            "/api/v1/metrics?project={}&format=csv",
            p["id"].as_str().unwrap()
        ))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 1002);
}

/// One generated observation: indicator, kind, value, year, month, municipality, age band.
type Obs = (
    &'static str,
    &'static str,
    f64,
    u64,
    u64,
    &'static str,
    &'static str,
);
/// A grouping key of an observation.
type KeyFn = Box<dyn Fn(&Obs) -> String>;
/// Thousandths, year and month of the observations of one group.
type Groups = BTreeMap<(String, String, String), Vec<(i64, u64, u64)>>;

/// A tiny deterministic generator, so the test computes its expectations independently.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[tokio::test]
async fn summaries_match_independent_computation() {
    let app = TestApp::spawn().await;
    let p = project(
        &app,
        "Riepiloghi",
        json!({"municipalities": ["018110", "019036"]}),
    )
    .await;
    let url = format!("/api/v1/projects/{}/metrics", p["id"].as_str().unwrap());
    let mut rng = Lcg(42);
    let munis = ["018110", "019036", "019035"];
    let indicators = ["families_supported", "volunteers", "labs_active"]; // sum, max, last
    let mut rows: Vec<Obs> = Vec::new();
    for _ in 0..300 {
        let year = 2019 + rng.next(3);
        let month = 1 + rng.next(12);
        let ind = indicators[rng.next(3) as usize];
        let kind = if rng.next(5) == 0 { "target" } else { "actual" };
        let value = rng.next(100_000) as f64 / 1000.0;
        let m = munis[rng.next(3) as usize];
        let age = ["0-17", "18-64"][rng.next(2) as usize];
        rows.push((ind, kind, value, year, month, m, age));
    }
    let body: Vec<Value> = rows
        .iter()
        .map(|(ind, kind, value, year, month, m, age)| {
            json!({"indicator": ind, "kind": kind, "value": value, "period_start": format!("{year}-{month:02}-01"),
                   "period_end": format!("{year}-{month:02}-28"), "municipality": m, "dimensions": {"age_band": age}})
        })
        .collect();
    json_of(app.post(&url, &Value::Array(body)).await, 201).await;

    // Expected: thousandths as integers, per (indicator, key) and kind.
    let expect = |key: &dyn Fn(&Obs) -> String| {
        let mut groups: Groups = BTreeMap::new();
        for r in &rows {
            groups
                .entry((r.0.to_owned(), key(r), r.1.to_owned()))
                .or_default()
                .push(((r.2 * 1000.0).round() as i64, r.3, r.4));
        }
        let mut out: BTreeMap<(String, String), (Option<f64>, Option<f64>)> = BTreeMap::new();
        for ((ind, k, kind), vals) in groups {
            let v = match ind.as_str() {
                "volunteers" => vals.iter().map(|v| v.0).max().unwrap(),
                "labs_active" => {
                    let latest = vals.iter().map(|v| (v.1, v.2)).max().unwrap();
                    vals.iter()
                        .filter(|v| (v.1, v.2) == latest)
                        .map(|v| v.0)
                        .sum()
                }
                _ => vals.iter().map(|v| v.0).sum(),
            };
            let e = out.entry((ind, k)).or_default();
            if kind == "actual" {
                e.0 = Some(v as f64 / 1000.0)
            } else {
                e.1 = Some(v as f64 / 1000.0)
            }
        }
        out
    };
    let close = |a: &Value, b: Option<f64>| match b {
        None => a.is_null(),
        Some(b) => (a.as_f64().unwrap() - b).abs() < 1e-6,
    };
    let cases: Vec<(&str, &str, KeyFn)> = vec![
        ("year", "year", Box::new(|r| r.3.to_string())),
        ("municipality", "municipality", Box::new(|r| r.5.to_owned())),
        (
            "month",
            "month",
            Box::new(|r| format!("{}-{:02}", r.3, r.4)),
        ),
        (
            "quarter",
            "quarter",
            Box::new(|r| format!("{}-Q{}", r.3, r.4.div_ceil(3))),
        ),
        (
            "dimension.age_band",
            "dimension.age_band",
            Box::new(|r| r.6.to_owned()),
        ),
        (
            "province",
            "province",
            Box::new(|r| {
                if r.5 == "018110" {
                    "PV".into()
                } else {
                    "CR".into()
                }
            }),
        ),
    ];
    for (group, key, f) in cases {
        let want = expect(&*f);
        let v = json_of(
            app.get(&format!(
                "/api/v1/metrics/summary?group_by=indicator,{group}&project={}",
                p["id"].as_str().unwrap()
            ))
            .await,
            200,
        )
        .await;
        let data = v["data"].as_array().unwrap();
        assert_eq!(data.len(), want.len(), "{group}: {v}");
        for row in data {
            let k = (
                row["indicator"].as_str().unwrap().to_owned(),
                row[key].as_str().unwrap().to_owned(),
            );
            let (actual, target) = want[&k];
            assert!(
                close(&row["actual"], actual),
                "{group} {k:?}: {} vs {actual:?}",
                row["actual"]
            );
            assert!(
                close(&row["target"], target),
                "{group} {k:?}: {} vs {target:?}",
                row["target"]
            );
            match (actual, target) {
                (Some(a), Some(t)) if t > 0.0 => {
                    assert!((row["attainment"].as_f64().unwrap() - a / t).abs() < 1e-5)
                }
                (_, None) => assert!(row["attainment"].is_null()),
                _ => {}
            }
        }
    }
    // Per 1,000 residents, from the ISTAT population read independently.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../migrations/data/municipalities.csv"
    );
    let mut pops = BTreeMap::new();
    for r in csv::Reader::from_path(path).unwrap().records() {
        let r = r.unwrap();
        pops.insert(r[0].to_owned(), r[11].parse::<f64>().unwrap_or(0.0));
    }
    let v = json_of(app.get(&format!("/api/v1/metrics/summary?group_by=municipality&indicator=families_supported&kind=actual&project={}", p["id"].as_str().unwrap())).await, 200).await;
    for row in v["data"].as_array().unwrap() {
        let pop = pops[row["municipality"].as_str().unwrap()];
        let want = row["actual"].as_f64().unwrap() * 1000.0 / pop;
        assert!(
            (row["per_1000_residents"].as_f64().unwrap() - want).abs() < 1e-4,
            "{row}"
        );
    }
    // Project results: per indicator, the same numbers as the summary.
    let detail = json_of(
        app.get(&format!("/api/v1/projects/{}", p["id"].as_str().unwrap()))
            .await,
        200,
    )
    .await;
    let totals = expect(&|_| String::new());
    for r in detail["results"].as_array().unwrap() {
        let (actual, target) =
            totals[&(r["indicator"].as_str().unwrap().to_owned(), String::new())];
        assert!(
            close(&r["actual"], actual) && close(&r["target"], target),
            "{r}"
        );
    }
    // CSV and errors.
    let csv = app
        .get(&format!(
            "/api/v1/metrics/summary?group_by=year&format=csv&project={}",
            p["id"].as_str().unwrap()
        ))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        "indicator,year,actual,target,attainment"
    );
    assert_fields(
        &json_of(
            app.get("/api/v1/metrics/summary?group_by=colour").await,
            422,
        )
        .await,
        &["group_by"],
    );
    assert_fields(
        &json_of(app.get("/api/v1/metrics/summary?indicator=nope").await, 422).await,
        &["indicator"],
    );
    assert_fields(
        &json_of(app.get("/api/v1/metrics/summary?limit=5").await, 422).await,
        &["limit"],
    );
}

#[tokio::test]
async fn drafts_metrics_are_not_public() {
    let app = TestApp::spawn().await;
    let p = project(&app, "Bozza", json!({"status": "draft"})).await;
    let url = format!("/api/v1/projects/{}/metrics", p["id"].as_str().unwrap());
    json_of(app.post(&url, &json!({"indicator": "volunteers", "kind": "actual", "value": 3, "period_start": "2020-01-01", "period_end": "2020-12-31"})).await, 201).await;
    let anon = json_of(app.get("/api/v1/metrics").await, 200).await;
    assert_eq!(anon["page"]["total"], 0);
    let anon = json_of(app.get("/api/v1/metrics/summary").await, 200).await;
    assert_eq!(anon["data"], json!([]));
    let authed = json_of(app.get_auth("/api/v1/metrics").await, 200).await;
    assert_eq!(authed["page"]["total"], 1);
}

/// Every summary the rollups can answer, compared with the same summary over the raw rows, for
/// each kind of caller, before and after projects are unpublished, deleted, restored and
/// republished (the public rollup is recomputed in those transactions).
#[tokio::test]
async fn rollups_answer_exactly_like_the_raw_rows() {
    use legami_domain::{ThemeCode, Visibility};
    use legami_persistence::metrics::{GroupBy, MetricFilter, SummarySource, summary_from};
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    let mut leads = Vec::new();
    for (i, status) in ["published", "published", "draft"].iter().enumerate() {
        let p = project(&app, &format!("Rollup {i}"), json!({"status": status})).await;
        ids.push(p["id"].as_str().unwrap().to_owned());
        leads.push(p["lead_organisation_id"].as_str().unwrap().to_owned());
    }
    let mut rng = Lcg(7);
    let indicators = ["families_supported", "volunteers", "labs_active"];
    for round in 0..3u32 {
        for id in &ids {
            let body: Vec<Value> = (0..60)
                .map(|_| {
                    let year = 2020 + rng.next(3);
                    let month = 1 + rng.next(12);
                    let end = if rng.next(2) == 0 { 28 } else { 15 };
                    json!({"indicator": indicators[rng.next(3) as usize],
                           "kind": if rng.next(4) == 0 { "target" } else { "actual" },
                           "value": ((rng.next(50_000) + u64::from(round) * 1000) as f64) / 1000.0,
                           "period_start": format!("{year}-{month:02}-01"),
                           "period_end": format!("{year}-{month:02}-{end}")})
                })
                .collect();
            let url = format!("/api/v1/projects/{id}/metrics");
            json_of(app.post(&url, &Value::Array(body)).await, 201).await;
        }
    }
    let member: uuid::Uuid = leads[2].parse().unwrap();
    let callers = [
        Visibility::Public,
        Visibility::Privileged,
        Visibility::Members(vec![member].into()),
    ];
    let groupings = [
        vec![GroupBy::Indicator],
        vec![GroupBy::Indicator, GroupBy::Year],
        vec![GroupBy::Quarter],
        vec![GroupBy::Indicator, GroupBy::Month],
        vec![GroupBy::Project, GroupBy::Year],
    ];
    let filters = [
        MetricFilter::default(),
        MetricFilter {
            from: chrono::NaiveDate::from_ymd_opt(2021, 3, 20),
            to: chrono::NaiveDate::from_ymd_opt(2022, 6, 1),
            ..Default::default()
        },
        MetricFilter {
            kinds: vec![legami_domain::MetricKind::Actual],
            indicators: vec![ThemeCode::parse("labs_active").unwrap()],
            ..Default::default()
        },
        MetricFilter {
            projects: vec![ids[0].parse().unwrap(), ids[2].parse().unwrap()],
            ..Default::default()
        },
    ];
    let check = |stage: &'static str| {
        let db = app.db.clone();
        let callers = callers.clone();
        let groupings = groupings.clone();
        let filters = filters.clone();
        async move {
            let mut non_empty = 0;
            for vis in &callers {
                for g in &groupings {
                    for f in &filters {
                        let best = summary_from(&db, f, vis, g, SummarySource::Best)
                            .await
                            .unwrap();
                        let raw = summary_from(&db, f, vis, g, SummarySource::Raw)
                            .await
                            .unwrap();
                        assert_eq!(best, raw, "{stage}: {vis:?} {g:?} {f:?}");
                        non_empty += usize::from(!raw.is_empty());
                    }
                }
            }
            assert!(
                non_empty > 30,
                "{stage}: only {non_empty} summaries had rows"
            );
        }
    };
    check("loaded").await;
    let p0 = format!("/api/v1/projects/{}", ids[0]);
    json_of(app.patch(&p0, &json!({"status": "draft"})).await, 200).await;
    check("unpublished").await;
    let p1 = format!("/api/v1/projects/{}", ids[1]);
    assert_eq!(app.delete(&p1).await.status(), 204);
    check("deleted").await;
    let res = app.post(&format!("{p1}/restore"), &json!({})).await;
    assert!(res.status().is_success(), "{}", res.status());
    json_of(app.patch(&p0, &json!({"status": "published"})).await, 200).await;
    let p2 = format!("/api/v1/projects/{}", ids[2]);
    json_of(app.patch(&p2, &json!({"status": "published"})).await, 200).await;
    check("restored and republished").await;
    // The public rollup now holds all three projects: the anonymous total equals the admin's.
    let anon = json_of(app.get("/api/v1/metrics/summary").await, 200).await;
    let admin = json_of(app.get_auth("/api/v1/metrics/summary").await, 200).await;
    assert_eq!(anon["data"], admin["data"]);
}

#[tokio::test]
async fn a_burst_of_metric_batches_queues_instead_of_failing() {
    // A small pool with a short wait: batches that all took a connection at once and queued on
    // the write lock would leave reads and writes to time out (503).
    let app = std::sync::Arc::new(
        TestApp::spawn_with(
            |s| {
                s.db_max_connections = 5;
                s.db_acquire_timeout_ms = 1000;
            },
            None,
        )
        .await,
    );
    let p = project(&app, "Raffica", json!({})).await;
    let url = format!("/api/v1/projects/{}/metrics", p["id"].as_str().unwrap());
    let rows: Vec<Value> = (0..1000)
        .map(|i| {
            json!({"indicator": "families_supported", "kind": "actual", "value": i % 7,
                        "period_start": format!("2023-{:02}-01", 1 + i % 12),
                        "period_end": format!("2023-{:02}-28", 1 + i % 12)})
        })
        .collect();
    let batch = Value::Array(rows);
    let mut writers = Vec::new();
    for _ in 0..32 {
        let (app, url, batch) = (app.clone(), url.clone(), batch.clone());
        writers.push(tokio::spawn(async move {
            app.post(&url, &batch).await.status().as_u16()
        }));
    }
    // Reads keep being answered while the batches queue.
    for _ in 0..10 {
        json_of(app.get("/api/v1/organisations?limit=1").await, 200).await;
    }
    for w in writers {
        assert_eq!(w.await.unwrap(), 201);
    }
    let all = json_of(
        app.get(&format!(
            "/api/v1/metrics?project={}&limit=1",
            p["id"].as_str().unwrap()
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(all["page"]["total"], 32 * 1000);
    let expected: i64 = 32 * (0..1000).map(|i| i % 7).sum::<i64>();
    let summary = json_of(
        app.get(&format!(
            "/api/v1/metrics/summary?project={}&indicator=families_supported",
            p["id"].as_str().unwrap()
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(summary["data"][0]["actual"], expected as f64);
}

#[tokio::test]
async fn a_metric_body_that_stalls_is_a_408_and_holds_up_no_other_batch() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(|s| s.body_timeout_secs = 8, None).await;
    let p = project(&app, "Lenta", json!({})).await;
    let id = p["id"].as_str().unwrap().to_owned();
    let url = format!("/api/v1/projects/{id}/metrics");
    let row = json!({"indicator": "families_supported", "kind": "actual", "value": 3,
                     "period_start": "2024-01-01", "period_end": "2024-01-31"});
    let body = serde_json::to_vec(&json!([row])).unwrap();
    // More stalled clients than there are permits to write: each sends its headers and half
    // its body, then nothing.
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut stalled = Vec::new();
    for _ in 0..3 {
        let mut s = tokio::net::TcpStream::connect(&host).await.unwrap();
        let head = format!(
            "POST {url} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            app.token,
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&body[..body.len() / 2]).await.unwrap();
        stalled.push(s);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // Another client's batch is stored while they stall...
    json_of(app.post(&url, &json!([row])).await, 201).await;
    // ...and they have had no answer yet.
    for s in &stalled {
        let mut buf = [0u8; 1];
        assert!(
            matches!(s.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "a stalled client was answered before its time ran out"
        );
    }
    // Then each gets a 408 problem, and nothing of theirs is stored.
    for mut s in stalled {
        let mut answer = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(60),
            s.read_to_end(&mut answer),
        )
        .await
        .expect("an answer within the timeout")
        .unwrap();
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains("application/problem+json"), "{text}");
        assert!(text.contains("/problems/request-timeout"), "{text}");
    }
    let all = json_of(
        app.get(&format!("/api/v1/metrics?project={id}&limit=1"))
            .await,
        200,
    )
    .await;
    assert_eq!(all["page"]["total"], 1);
}

#[tokio::test]
async fn large_answers_keep_their_length_and_every_byte() {
    use std::io::Read;
    let app = TestApp::spawn().await;
    let p = project(&app, "Grande", json!({})).await;
    let id = p["id"].as_str().unwrap().to_owned();
    let note = "Osservazione registrata durante l'attività del laboratorio di quartiere: àèìòù.";
    let rows: Vec<Value> = (0..1000)
        .map(|i| {
            json!({"indicator": "families_supported", "kind": "actual", "value": i,
                   "period_start": format!("2022-{:02}-01", 1 + i % 12),
                   "period_end": format!("2022-{:02}-28", 1 + i % 12), "note": note})
        })
        .collect();
    // The batch answer (~400 kB) is handed to the connection in slices: its length is still
    // announced, and every row is in it.
    let res = app
        .post(
            &format!("/api/v1/projects/{id}/metrics"),
            &Value::Array(rows),
        )
        .await;
    assert_eq!(res.status(), 201);
    let declared: usize = res.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let bytes = res.bytes().await.unwrap();
    assert!(bytes.len() > 64 * 1024);
    assert_eq!(declared, bytes.len());
    let batch: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(batch["count"], 1000);
    let values: Vec<i64> = batch["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_f64().unwrap() as i64)
        .collect();
    assert_eq!(values, (0..1000).collect::<Vec<i64>>());
    // A large listing, plain and compressed, is the same document.
    let path = format!("/api/v1/metrics?project={id}&limit=100");
    let plain = app.get_auth(&path).await;
    assert_eq!(plain.status(), 200);
    let plain = plain.bytes().await.unwrap();
    assert!(plain.len() > 16 * 1024);
    let gz = app
        .client
        .get(app.url(&path))
        .bearer_auth(&app.token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let packed = gz.bytes().await.unwrap();
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&packed[..])
        .read_to_end(&mut unpacked)
        .unwrap();
    assert_eq!(unpacked, plain.to_vec());
}
