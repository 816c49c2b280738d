//! Filters shared by collections: `near` + `radius_km`, `bbox`, `area`, and checks that named
//! reference data exist.

use super::*;
use crate::error::ApiError;
use legami_domain::FieldError;

/// Parses `near=lat,lon` with `radius_km` (both or neither; radius 0-500 km).
pub fn parse_near(
    near: Option<&str>,
    radius: Option<&str>,
    errs: &mut ParamErrors,
) -> Option<legami_persistence::geo::Near> {
    let point = near.map(|n| {
        let parts: Vec<&str> = n.split(',').map(str::trim).collect();
        match parts.as_slice() {
            [lat, lon] => match (lat.parse::<f64>(), lon.parse::<f64>()) {
                (Ok(lat), Ok(lon)) => legami_domain::Location::parse(lat, lon)
                    .map_err(|_| FieldError::new("range", "latitude -90..90, longitude -180..180")),
                _ => Err(FieldError::new(
                    "format",
                    "near is lat,lon in decimal degrees",
                )),
            },
            _ => Err(FieldError::new(
                "format",
                "near is lat,lon in decimal degrees",
            )),
        }
    });
    let radius = radius.map(|r| match r.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 500.0 => Ok(r),
        _ => Err(FieldError::new(
            "range",
            "radius_km is a number above 0 and at most 500",
        )),
    });
    match (point, radius) {
        (None, None) => None,
        (Some(Ok(p)), Some(Ok(r))) => Some(legami_persistence::geo::Near {
            lat: p.lat,
            lon: p.lon,
            radius_km: r,
        }),
        (Some(p), Some(r)) => {
            if let Err(e) = p {
                errs.add("near", e);
            }
            if let Err(e) = r {
                errs.add("radius_km", e);
            }
            None
        }
        (Some(p), None) => {
            if let Err(e) = p {
                errs.add("near", e);
            }
            errs.add(
                "radius_km",
                FieldError::new("required", "radius_km is required with near"),
            );
            None
        }
        (None, Some(r)) => {
            errs.add(
                "near",
                FieldError::new("required", "near is required with radius_km"),
            );
            if let Err(e) = r {
                errs.add("radius_km", e);
            }
            None
        }
    }
}

/// Parses `bbox=min_lon,min_lat,max_lon,max_lat`.
pub fn parse_bbox(
    raw: Option<&str>,
    errs: &mut ParamErrors,
) -> Option<legami_persistence::geo::BBox> {
    let raw = raw?;
    let nums: Vec<Option<f64>> = raw
        .split(',')
        .map(|p| p.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
        .collect();
    let bad = |errs: &mut ParamErrors, msg: &str| {
        errs.add("bbox", FieldError::new("format", msg));
        None
    };
    let [Some(min_lon), Some(min_lat), Some(max_lon), Some(max_lat)] = nums.as_slice() else {
        return bad(
            errs,
            "bbox is min_lon,min_lat,max_lon,max_lat in decimal degrees",
        );
    };
    let lon_ok = |v: f64| (-180.0..=180.0).contains(&v);
    let lat_ok = |v: f64| (-90.0..=90.0).contains(&v);
    if !(lon_ok(*min_lon) && lon_ok(*max_lon) && lat_ok(*min_lat) && lat_ok(*max_lat)) {
        return bad(errs, "bbox longitudes are -180..180 and latitudes -90..90");
    }
    if min_lon > max_lon || min_lat > max_lat {
        return bad(errs, "bbox minimums must not exceed maximums");
    }
    Some(legami_persistence::geo::BBox {
        min_lon: *min_lon,
        min_lat: *min_lat,
        max_lon: *max_lon,
        max_lat: *max_lat,
    })
}

/// The most distinct areas one `area` filter may name.
pub const MAX_AREAS: usize = 50;

/// Resolves `area` (slug or id, repeatable) to the municipalities of those areas, each once
/// and sorted. An area the caller may not see (a draft, for anyone but administrators) is
/// unknown, exactly as one that does not exist.
pub async fn resolve_areas(
    db: &legami_persistence::DatabaseConnection,
    raw: &Option<Vec<String>>,
    vis: &legami_domain::Visibility,
    errs: &mut ParamErrors,
) -> Result<Option<Vec<String>>, ApiError> {
    let Some(list) = raw else { return Ok(None) };
    let mut keys: Vec<&str> = list
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.len() > MAX_AREAS {
        errs.add(
            "area",
            FieldError::new("too_many", format!("name at most {MAX_AREAS} areas")),
        );
        return Ok(Some(Vec::new()));
    }
    let mut all = std::collections::BTreeSet::new();
    for a in keys {
        let found = match legami_domain::IdOrSlug::parse(a) {
            Ok(key) => legami_persistence::areas::municipalities_of(db, &key, vis).await?,
            Err(_) => None,
        };
        match found {
            Some(ms) => all.extend(ms),
            None => errs.add("area", FieldError::new("unknown", format!("no area '{a}'"))),
        }
    }
    Ok(Some(all.into_iter().collect()))
}

/// Reference codes known to exist (themes, municipalities, provinces), so that the references
/// of a filter are checked in memory once they have been seen. Only codes found in the database
/// enter, and reference rows are never removed (themes are only added; municipalities and
/// provinces come with the migrations), so an entry cannot go stale, on another instance either;
/// a code not known here is looked up. Bounded: at most [`KnownRefs::CAPACITY`] codes.
pub struct KnownRefs(quick_cache::sync::Cache<(char, String), ()>);

impl Default for KnownRefs {
    fn default() -> Self {
        Self(quick_cache::sync::Cache::new(Self::CAPACITY))
    }
}

impl KnownRefs {
    /// More than every municipality, province and theme (about 8,000 together).
    pub const CAPACITY: usize = 16_384;

    fn has(&self, kind: char, code: &str) -> bool {
        self.0.get(&(kind, code.to_owned())).is_some()
    }

    fn add(&self, kind: char, code: &str) {
        self.0.insert((kind, code.to_owned()), ());
    }
}

/// Checks that the themes, municipalities and provinces a filter names exist (`422` naming each
/// unknown one); codes seen before are known without a statement ([`KnownRefs`]).
pub async fn check_refs(
    state: &crate::state::AppState,
    themes: &[legami_domain::ThemeCode],
    municipalities: &[legami_domain::IstatCode],
    provinces: &[legami_domain::ProvinceAbbr],
    errs: &mut ParamErrors,
) -> Result<(), ApiError> {
    let (db, known) = (&state.db, &state.known_refs);
    let unseen: Vec<_> = themes
        .iter()
        .filter(|t| !known.has('t', t.as_str()))
        .cloned()
        .collect();
    let unknown = legami_persistence::themes::unknown(db, &unseen).await?;
    for t in &unseen {
        if unknown.contains(t) {
            errs.add(
                "theme",
                FieldError::new("unknown", format!("unknown theme '{}'", t.as_str())),
            );
        } else {
            known.add('t', t.as_str());
        }
    }
    for m in municipalities {
        if known.has('m', m.as_str()) {
            continue;
        }
        if legami_persistence::municipalities::exists(db, m).await? {
            known.add('m', m.as_str());
        } else {
            errs.add(
                "municipality",
                FieldError::new(
                    "unknown",
                    format!("no municipality has ISTAT code '{}'", m.as_str()),
                ),
            );
        }
    }
    for p in provinces {
        if known.has('p', p.as_str()) {
            continue;
        }
        if legami_persistence::municipalities::province_exists(db, p.as_str()).await? {
            known.add('p', p.as_str());
        } else {
            errs.add(
                "province",
                FieldError::new("unknown", format!("unknown province '{}'", p.as_str())),
            );
        }
    }
    Ok(())
}
