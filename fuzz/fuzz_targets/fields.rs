//! `fields=`: only known names are accepted, `id` is always kept, and applying the set never
//! adds a field.
#![no_main]

use legami_http::respond::FieldSet;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let known: Vec<String> = ["id", "slug", "name", "location", "status"]
        .map(String::from)
        .to_vec();
    let record = json!({"id": "x", "slug": "s", "name": "n", "location": null, "status": "draft"});
    match FieldSet::parse(Some(text), &known) {
        Ok(set) => {
            let kept = set.apply(record.clone());
            let kept = kept.as_object().expect("an object stays an object");
            assert!(kept.contains_key("id"));
            assert!(kept.keys().all(|k| record.get(k).is_some()));
            for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                assert!(kept.contains_key(name), "{name} was asked for");
            }
        }
        Err(e) => assert_eq!(e.problem().status, 422),
    }
});
