//! Great-circle distances and the boxes that pre-filter radius searches on the lat/lon index.

/// Mean Earth radius (IUGG), km.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Haversine distance in km.
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// `c` narrowed to the rows whose `lat`/`lon` columns are inside `bbox` and inside the box around
/// `near`'s circle (the exact distance is checked by the caller).
pub(crate) fn placed<C: sea_orm::ColumnTrait>(
    mut c: sea_orm::Condition,
    (lat, lon): (C, C),
    bbox: Option<BBox>,
    near: Option<Near>,
) -> sea_orm::Condition {
    if let Some(b) = bbox {
        c = c
            .add(lat.between(b.min_lat, b.max_lat))
            .add(lon.between(b.min_lon, b.max_lon));
    }
    if let Some(n) = near {
        let (min_lat, max_lat, min_lon, max_lon) = radius_box(n.lat, n.lon, n.radius_km);
        c = c
            .add(lat.between(min_lat, max_lat))
            .add(lon.between(min_lon, max_lon));
    }
    c
}

/// A box (min_lat, max_lat, min_lon, max_lon) that contains every point within `radius_km`.
pub fn radius_box(lat: f64, lon: f64, radius_km: f64) -> (f64, f64, f64, f64) {
    let dlat = (radius_km / EARTH_RADIUS_KM).to_degrees();
    let min_lat = (lat - dlat).max(-90.0);
    let max_lat = (lat + dlat).min(90.0);
    let widest = min_lat.abs().max(max_lat.abs());
    if widest >= 89.0 {
        return (min_lat, max_lat, -180.0, 180.0);
    }
    let dlon = (radius_km / (EARTH_RADIUS_KM * widest.to_radians().cos()))
        .to_degrees()
        .min(180.0);
    (
        min_lat,
        max_lat,
        (lon - dlon).max(-180.0),
        (lon + dlon).min(180.0),
    )
}

/// A point and a radius.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Near {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Radius, km.
    pub radius_km: f64,
}

/// A lon/lat box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    /// West.
    pub min_lon: f64,
    /// South.
    pub min_lat: f64,
    /// East.
    pub max_lon: f64,
    /// North.
    pub max_lat: f64,
}

/// Cuts one page out of radius-search candidates: keeps those within the radius, sorts them by
/// `(key, id)` (distance compared as a number), and starts after the cursor position. Returns
/// the page with distances, the next position, and the total within the radius.
pub fn radius_page<M>(
    rows: Vec<M>,
    near: Near,
    lat_lon: impl Fn(&M) -> Option<(f64, f64)>,
    key_of: impl Fn(&M, f64) -> String,
    id_of: impl Fn(&M) -> String,
    page: &crate::PageRequest,
) -> (Vec<(M, f64)>, Option<crate::KeysetPos>, u64) {
    use std::cmp::Ordering;
    let by_distance = page.sort.field == "distance";
    let cmp_keys = |a: &str, b: &str| -> Ordering {
        if by_distance {
            a.parse::<f64>()
                .unwrap_or(0.0)
                .total_cmp(&b.parse::<f64>().unwrap_or(0.0))
        } else {
            a.cmp(b)
        }
    };
    let mut hits: Vec<(M, f64, String, String)> = rows
        .into_iter()
        .filter_map(|m| {
            let (lat, lon) = lat_lon(&m)?;
            let d = haversine_km(near.lat, near.lon, lat, lon);
            (d <= near.radius_km).then(|| {
                let k = key_of(&m, d);
                let id = id_of(&m);
                (m, d, k, id)
            })
        })
        .collect();
    let total = hits.len() as u64;
    hits.sort_by(|a, b| {
        let o = cmp_keys(&a.2, &b.2).then_with(|| a.3.cmp(&b.3));
        if page.sort.desc { o.reverse() } else { o }
    });
    if let Some(pos) = &page.after {
        hits.retain(|h| {
            let o = cmp_keys(&h.2, &pos.key).then_with(|| h.3.as_str().cmp(pos.id.as_str()));
            if page.sort.desc {
                o == Ordering::Less
            } else {
                o == Ordering::Greater
            }
        });
    }
    let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
    let next = (hits.len() > limit).then(|| crate::KeysetPos {
        key: hits[limit - 1].2.clone(),
        id: hits[limit - 1].3.clone(),
    });
    hits.truncate(limit);
    (
        hits.into_iter().map(|(m, d, _, _)| (m, d)).collect(),
        next,
        total,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_distance_pavia_milano() {
        // Pavia (45.1847, 9.1582) to Milano Duomo (45.4642, 9.1900): about 31.2 km.
        let d = haversine_km(45.1847, 9.1582, 45.4642, 9.1900);
        assert!((d - 31.17).abs() < 0.2, "{d}");
    }

    #[test]
    fn the_box_contains_the_circle() {
        let (lat, lon, r) = (45.5, 9.2, 25.0);
        let (a, b, c, d) = radius_box(lat, lon, r);
        for i in 0..360 {
            let t = f64::from(i).to_radians();
            // Points on the circle, by small steps outward until the distance is r.
            let (mut plat, mut plon) = (lat, lon);
            while haversine_km(lat, lon, plat, plon) < r {
                plat += t.cos() * 0.001;
                plon += t.sin() * 0.001;
            }
            assert!(plat >= a - 0.01 && plat <= b + 0.01 && plon >= c - 0.01 && plon <= d + 0.01);
        }
    }
}
