//! `near=lat,lon` with `radius_km`, and `bbox=min_lon,min_lat,max_lon,max_lat`: accepted values
//! are finite and in range, and a rejection always names the parameter.
#![no_main]

use legami_http::listing::{ParamErrors, parse_bbox, parse_near};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (near, radius) = text.split_once('\n').unwrap_or((text, "5"));
    let mut errs = ParamErrors::default();
    match parse_near(Some(near), Some(radius), &mut errs) {
        Some(n) => {
            assert!(errs.0.is_empty());
            assert!((-90.0..=90.0).contains(&n.lat) && (-180.0..=180.0).contains(&n.lon));
            assert!(n.radius_km.is_finite() && n.radius_km > 0.0 && n.radius_km <= 500.0);
        }
        None => assert!(
            errs.0
                .iter()
                .all(|e| e.field == "near" || e.field == "radius_km")
        ),
    }
    let mut errs = ParamErrors::default();
    match parse_bbox(Some(text), &mut errs) {
        Some(b) => {
            assert!(errs.0.is_empty());
            for v in [b.min_lon, b.min_lat, b.max_lon, b.max_lat] {
                assert!(v.is_finite());
            }
            assert!(b.min_lon <= b.max_lon && b.min_lat <= b.max_lat);
        }
        None => assert!(!errs.0.is_empty() && errs.0.iter().all(|e| e.field == "bbox")),
    }
});
