//! Search strings (`q`): any text is refused cleanly or becomes stems of `[a-z0-9]` only, and the
//! FTS5 and tsquery expressions built from them contain nothing a client wrote verbatim.
#![no_main]

use legami_persistence::search::SearchQuery;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(q) = SearchQuery::parse(text) else {
        return;
    };
    for stem in &q.stems {
        assert!(!stem.is_empty());
        assert!(
            stem.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "{stem:?}"
        );
    }
    let fts = q.fts_match();
    assert!(
        fts.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" \"*()".contains(&b)),
        "{fts:?}"
    );
    let ts = q.pg_tsquery();
    assert!(
        ts.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" :*()|&".contains(&b)),
        "{ts:?}"
    );
});
