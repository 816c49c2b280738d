//! Merge patches (RFC 7396) on a lab and an organisation, as `PATCH` applies them: any body is
//! either refused (`400` for what is not a patch or names unknown or read-only fields, `422`
//! for invalid values) or gives a record that passes every rule; nothing panics.
#![no_main]

use legami_http::extract::JsonAny;
use legami_http::routes::labs::LabInput;
use legami_http::routes::organisations::OrganisationInput;
use legami_http::routes::writes::merge;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(JsonAny(patch)) = JsonAny::parse(data) else {
        return;
    };
    let lab = json!({
        "name": "Laboratorio Sociale Crosione", "kind": "social_lab",
        "themes": ["parenting"], "activities": ["supporto scolastico"],
        "operators": [{"organisation_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b", "role": "manager"}],
        "address": {"municipality": "018110"}, "location": {"lat": 45.19, "lon": 9.15},
        "opening_hours": [{"day": "wed", "opens": "16:30", "closes": "19:00"}]
    });
    serde_json::from_value::<LabInput>(lab.clone()).expect("the base lab is valid");
    match merge::<LabInput>(lab, patch.clone()) {
        Ok(merged) => {
            if let Err(errs) = merged.parse() {
                assert!(!errs.0.is_empty());
            }
        }
        Err(e) => assert!([400, 422].contains(&e.problem().status), "{e:?}"),
    }
    let org = json!({
        "name": "Consorzio Sociale Pavese", "kind": "consortium",
        "address": {"municipality": "018110"}, "tax_code": "01234567890"
    });
    serde_json::from_value::<OrganisationInput>(org.clone())
        .expect("the base organisation is valid");
    match merge::<OrganisationInput>(org, patch) {
        Ok(merged) => {
            if let Err(errs) = merged.parse() {
                assert!(!errs.0.is_empty());
            }
        }
        Err(e) => assert!([400, 422].contains(&e.problem().status), "{e:?}"),
    }
});
