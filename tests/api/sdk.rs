//! A generated client: the Python SDK that `openapi-python-client` (PyPI) makes from the
//! committed `openapi/openapi.json`, driven by `examples/python-client/sync.py` (log in, create a
//! lab, list with a filter following cursors, mirror the change feed).

use crate::helpers::{PASSWORD, TestApp, required_tool};
use std::path::Path;

#[tokio::test]
async fn the_generated_python_sdk_logs_in_creates_lists_and_mirrors() {
    let Some(generator) = required_tool(
        "openapi-python-client",
        "python3 -m pip install openapi-python-client",
    ) else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sdk = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(generator)
        .args(["generate", "--meta", "none", "--overwrite", "--path"])
        .arg(root.join("openapi/openapi.json"))
        .arg("--output-path")
        .arg(sdk.path().join("legami_client"))
        .output()
        .expect("the generator runs");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "generation failed:\n{said}");
    assert!(
        !said.contains("Warning") && !said.contains("Unable"),
        "the generator could not read all of the document:\n{said}"
    );

    let app = TestApp::spawn_with(|s| s.seed_demo_on_empty = true, None).await;
    let hash = legami_http::auth::hash_password(PASSWORD).unwrap();
    legami_persistence::accounts::create_user(
        &app.db,
        "sdk@legami.test",
        "SDK",
        &hash,
        "admin",
        &[],
        &legami_persistence::audit::Actor::system(),
    )
    .await
    .unwrap();
    let script = root.join("examples/python-client/sync.py");
    let (base, sdk_path) = (app.address.clone(), sdk.path().to_owned());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .args([
                "--base",
                &base,
                "--email",
                "sdk@legami.test",
                "--password",
                PASSWORD,
            ])
            .env("PYTHONPATH", sdk_path)
            .output()
    })
    .await
    .unwrap()
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sync.py failed:\n{stdout}\n{stderr}");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(summary["labs_listed"].as_u64().unwrap() >= 1, "{summary}");
    assert!(summary["mirrored"].as_u64().unwrap() >= 10, "{summary}");
}
