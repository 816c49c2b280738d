//! Opening hours (`day`, `opens`, `closes`): accepted slots open before they close and print
//! back in the canonical `HH:MM` form.
#![no_main]

use legami_domain::{OpeningSlot, TimeOfDay};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '|');
    let (day, opens, closes) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    if let Ok(t) = TimeOfDay::parse(opens) {
        let printed = t.format();
        assert_eq!(
            TimeOfDay::parse(&printed).expect("canonical time parses"),
            t
        );
    }
    match OpeningSlot::parse(day, opens, closes) {
        Ok(slot) => assert!(slot.opens < slot.closes),
        Err(errs) => assert!(!errs.is_empty()),
    }
});
