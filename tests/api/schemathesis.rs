//! Schemathesis (from PyPI) against the live server's `/openapi.json`, as an administrator: every
//! operation, every phase (examples, coverage, fuzzing, stateful), with the standard checks: no
//! server errors, answers that conform to their schemas, documented status codes and content types.

use crate::helpers::{TestApp, json_of, required_tool};

#[tokio::test]
async fn schemathesis_finds_nothing_as_an_administrator() {
    let Some(tool) = required_tool("schemathesis", "python3 -m pip install schemathesis") else {
        return;
    };
    let app = TestApp::spawn_with(|s| s.seed_demo_on_empty = true, None).await;
    let examples: u32 = std::env::var("LEGAMI_SCHEMATHESIS_EXAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let report = tempfile::tempdir().unwrap();
    let args = vec![
        "run".to_owned(),
        format!("{}/openapi.json", app.address),
        "--header".into(),
        format!("Authorization: Bearer {}", app.token),
        "--checks".into(),
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance".into(),
        "--max-examples".into(),
        examples.to_string(),
        "--seed".into(),
        "20261201".into(),
        // One worker: with several, Schemathesis's threads share Hypothesis's unsynchronised
        // cache of lambda sources (`hypothesis/internal/lambda_sources.py`, 6.170), which then
        // fails now and then with an internal `KeyError` (seen once in CI on PostgreSQL) that is
        // no finding about the server.
        "--workers".into(),
        "1".into(),
        "--request-timeout".into(),
        "30".into(),
        "--no-color".into(),
        "--report-dir".into(),
        report.path().display().to_string(),
    ];
    let workdir = report.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(tool)
            .args(&args)
            .env("SCHEMATHESIS_TELEMETRY", "false")
            // Its cache of found cases stays out of the repository.
            .current_dir(&workdir)
            .output()
    })
    .await
    .unwrap()
    .expect("schemathesis starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{stderr}"
    );
    let count = |label: &str| {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(|rest| rest.trim().rsplit('/').next().unwrap_or("").to_owned())
    };
    let operations = legami_http::openapi()
        .paths
        .paths
        .values()
        .map(|item| {
            let v = serde_json::to_value(item).unwrap();
            ["get", "post", "put", "patch", "delete"]
                .iter()
                .filter(|m| v.get(**m).is_some())
                .count()
        })
        .sum::<usize>()
        .to_string();
    assert_eq!(
        count("Tested:").as_deref(),
        Some(operations.as_str()),
        "schemathesis did not test every operation:\n{stdout}"
    );
    // The run changed data through every write; the server still serves, and the
    // administrator it ran as was not locked out by its own requests.
    json_of(app.get("/health/ready").await, 200).await;
    json_of(app.get_auth("/api/v1/me").await, 200).await;
}
