//! `group_by=` entries of `/metrics/summary`: each parses to one known grouping or is rejected.
#![no_main]

use legami_persistence::metrics::GroupBy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for entry in text.split(',') {
        if let Ok(g) = GroupBy::parse(entry) {
            assert_eq!(g.key(), entry, "a grouping names itself as asked");
        }
        if let Ok(GroupBy::Dimension(key)) = GroupBy::parse(entry) {
            // A dimension key reaches SQL as a JSON path: only plain names may pass.
            assert!(
                !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{key:?}"
            );
        }
    }
});
