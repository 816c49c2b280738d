//! `sort=`: only `name` or `-name` of an allowed field parses, and it prints back as given.
#![no_main]

use legami_persistence::pagination::SortSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(spec) = SortSpec::parse(text, legami_persistence::labs::SORTS) {
        assert_eq!(spec.as_param(), text);
        assert!(legami_persistence::labs::SORTS.contains(&spec.field));
    }
});
