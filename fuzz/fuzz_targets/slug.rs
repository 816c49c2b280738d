//! Slugs: what parses is canonical and never a UUID; every slug derived from a name (and with a
//! suffix) is itself a valid slug.
#![no_main]

use legami_domain::Slug;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = Slug::parse(text) {
        assert_eq!(s.as_str(), text);
    }
    let derived = Slug::derive(text);
    Slug::parse(derived.as_str()).expect("a derived slug is valid");
    let suffixed = derived.with_suffix(u32::MAX);
    Slug::parse(suffixed.as_str()).expect("a suffixed slug is valid");
});
