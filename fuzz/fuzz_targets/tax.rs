//! Codice fiscale and partita IVA: a parsed code is canonical (parsing it again gives it back).
#![no_main]

use legami_domain::{TaxCode, VatNumber};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(code) = TaxCode::parse(text) {
        let again = TaxCode::parse(code.as_str()).expect("a canonical code parses");
        assert_eq!(again.as_str(), code.as_str());
        assert!(code.as_str().bytes().all(|b| b.is_ascii_alphanumeric()));
    }
    if let Ok(vat) = VatNumber::parse(text) {
        let again = VatNumber::parse(vat.as_str()).expect("a canonical number parses");
        assert_eq!(again.as_str(), vat.as_str());
        assert_eq!(vat.as_str().len(), 11);
    }
});
