//! The `legami` command line as a user meets it (this test also makes `cargo test --workspace`
//! build the binary, which the fault tests in `tests/api/faults.rs` start as a process).

#![expect(clippy::expect_used, reason = "tests fail loudly")]

use std::process::Command;

fn legami(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_legami"))
        .args(args)
        .output()
        .expect("the binary runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn help_lists_every_command_and_version_is_the_crates() {
    let (ok, help) = legami(&["--help"]);
    assert!(ok, "{help}");
    for command in ["serve", "migrate", "seed", "admin"] {
        assert!(help.contains(command), "--help names {command}: {help}");
    }
    let (ok, version) = legami(&["--version"]);
    assert!(ok, "{version}");
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
}

#[test]
fn an_unknown_command_fails_with_a_message_not_a_panic() {
    let (ok, text) = legami(&["frobnicate"]);
    assert!(!ok);
    assert!(!text.contains("panicked"), "{text}");
    assert!(
        text.contains("frobnicate") || text.contains("unrecognized"),
        "{text}"
    );
}
