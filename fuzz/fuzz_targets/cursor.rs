//! Pagination cursors: any text is rejected cleanly unless it is a cursor this server signed for
//! this collection and sort, and a signed cursor decodes to what was encoded.
#![no_main]

use legami_http::cursor::{decode, encode};
use legami_persistence::pagination::KeysetPos;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzzing-secret";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pos) = decode(SECRET, "labs", "name", text) {
        // Only a signed cursor passes; signing it again gives the same text back.
        assert_eq!(encode(SECRET, "labs", "name", &pos), text);
    }
    // Whatever the text, as a key it survives a round trip.
    let pos = KeysetPos {
        key: text.to_owned(),
        id: text.to_owned(),
    };
    let made = encode(SECRET, "labs", "-name", &pos);
    let back = decode(SECRET, "labs", "-name", &made).expect("a cursor the server made decodes");
    assert_eq!((back.key, back.id), (pos.key, pos.id));
    assert!(
        decode(SECRET, "labs", "name", &made).is_err(),
        "bound to its sort"
    );
    assert!(
        decode("another-secret", "labs", "-name", &made).is_err(),
        "bound to the key"
    );
});
