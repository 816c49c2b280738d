//! What partner sites mirror: the change feed and the map.

use crate::answers;
use crate::cache::Deps;
use crate::caller::Caller;
use crate::cursor;
use crate::error::ApiError;
use crate::extract::Qs;
use crate::listing::{self, ParamErrors};
use crate::respond;
use crate::routes::records;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use legami_domain::{FieldError, IstatCode, Lab, Organisation, ProvinceAbbr, ThemeCode};
use legami_persistence::KeysetPos;
use legami_persistence::map::MapFilter;
use legami_persistence::record::Record;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One change.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"seq": 42, "type": "lab", "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2c", "op": "upsert", "at": "2026-11-22T09:30:00Z"}))]
pub struct ChangeDto {
    /// Position in the feed; increases in commit order.
    pub seq: i64,
    /// `organisation`, `lab`, `project`, `network` or `area`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Record id: fetch it to mirror an `upsert`.
    pub id: String,
    /// `upsert` (fetch the record) or `delete` (drop it).
    #[schema(pattern = "^(upsert|delete)$")]
    pub op: String,
    /// When the change was committed.
    pub at: DateTime<Utc>,
}

/// A page of the feed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [{"seq": 42, "type": "lab", "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2c", "op": "upsert", "at": "2026-11-22T09:30:00Z"}], "next_cursor": "WyJjaGFuZ2VzIiwic2VxIiwiNDIiLCIiXQ.abc"}))]
pub struct ChangeFeed {
    /// Changes after `since`, oldest first.
    pub data: Vec<ChangeDto>,
    /// Pass as `since` next time (always present; unchanged when there is nothing new).
    pub next_cursor: String,
}

/// Query parameters of `GET /changes`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangeQuery {
    /// Cursor from a previous `next_cursor`; absent starts from the beginning.
    pub since: Option<String>,
    /// Entries scanned per call, 1-1000 (default 100). Entries hidden from the caller still
    /// advance the cursor, so a page can hold fewer.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

/// The change feed: every create, change, delete and restore, in commit order, with tombstones.
///
/// Mirror by fetching each `upsert` and dropping each `delete`, then resume from `next_cursor`:
/// no duplicates, no gaps. Anonymous callers see only published data: a record that leaves
/// `published` (or is deleted while published) appears as `delete`.
///
/// Changes you may not see (to drafts, of records never published) are skipped, and the
/// cursor moves past them: `next_cursor` is a position in the one feed of all changes, so a
/// page can hold fewer entries than `limit`, or none, while `next_cursor` still advances. It
/// reveals only that some change happened, never to what. If the record is later published,
/// that change appears as an `upsert` with its whole state, so a mirror loses nothing.
#[utoipa::path(
    tag = "mirroring",
    params(ChangeQuery),
    responses(
        (status = 200, description = "Changes after the cursor", body = ChangeFeed),
        answers::NotModified, answers::BadCursor, answers::InvalidParameter,
    ),
    security((), ("bearer" = []))
)]
#[get("/changes")]
pub async fn list_changes(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    q: Qs<ChangeQuery>,
) -> Result<HttpResponse, ApiError> {
    crate::cache::reads(&req, Deps::RECORDS);
    let limit = match q.0.limit.as_deref() {
        None => 100,
        Some(l) => match l.parse::<u64>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid(
                    "limit",
                    "range",
                    "limit is a whole number from 1 to 1000",
                ));
            }
        },
    };
    let after = match q.0.since.as_deref() {
        None => 0,
        Some(c) => cursor::decode(&state.cursor_secret, "changes", "seq", c)
            .ok()
            .and_then(|p| p.key.parse::<i64>().ok())
            .ok_or_else(|| ApiError::BadRequest {
                detail: "the cursor is not a change-feed cursor".into(),
                errors: vec![crate::error::ProblemField {
                    field: "since".into(),
                    code: "invalid".into(),
                    message: "malformed, tampered or foreign cursor".into(),
                }],
            })?,
    };
    let (changes, next) =
        legami_persistence::changes::feed(&state.db, after, limit, &caller.visibility()).await?;
    let body = ChangeFeed {
        data: changes
            .into_iter()
            .map(|c| ChangeDto {
                seq: c.seq,
                kind: c.entity,
                id: c.id,
                op: c.op,
                at: c.at,
            })
            .collect(),
        next_cursor: cursor::encode(
            &state.cursor_secret,
            "changes",
            "seq",
            &KeysetPos {
                key: next.to_string(),
                id: String::new(),
            },
        ),
    };
    respond::json(&req, &caller, StatusCode::OK, &body)
}

/// Query parameters of `GET /map`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MapQuery {
    /// `lab`, `organisation` or both (default); comma-separated or repeated.
    #[param(style = Form, explode, example = json!(["lab,organisation"]))]
    pub types: Option<Vec<String>>,
    /// `min_lon,min_lat,max_lon,max_lat`.
    #[param(example = "9.0,45.1,9.3,45.3")]
    pub bbox: Option<String>,
    /// Theme code; repeatable.
    #[param(style = Form, explode)]
    pub theme: Option<Vec<String>>,
    /// The record's kind (`social_lab`, `odv`, ...); repeatable.
    #[param(style = Form, explode)]
    pub kind: Option<Vec<String>>,
    /// ISTAT code; repeatable.
    #[param(style = Form, explode)]
    pub municipality: Option<Vec<String>>,
    /// Province abbreviation; repeatable.
    #[param(style = Form, explode)]
    pub province: Option<Vec<String>>,
    /// Area slug or id; repeatable.
    #[param(style = Form, explode)]
    pub area: Option<Vec<String>>,
    /// `geojson` (the only format; accepted for symmetry with the collections).
    #[param(value_type = Option<String>, pattern = "^geojson$")]
    pub format: Option<String>,
}

/// A GeoJSON feature collection of map points, written straight from the points (no JSON tree
/// in between: a box holds hundreds of them).
#[derive(Serialize)]
struct Features<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    features: Vec<Feature<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
}

#[derive(Serialize)]
struct Feature<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    geometry: Geometry,
    properties: Properties<'a>,
}

#[derive(Serialize)]
struct Geometry {
    #[serde(rename = "type")]
    kind: &'static str,
    coordinates: [f64; 2],
}

#[derive(Serialize)]
struct Properties<'a> {
    #[serde(rename = "type")]
    kind_of_record: &'a str,
    id: &'a str,
    slug: &'a str,
    name: &'a str,
    kind: &'a str,
    themes: &'a [String],
    url: String,
}

/// Most points of each type in one answer; past it the answer says `"truncated": true`.
const MAP_CAP: u64 = 5000;

/// The map: a GeoJSON FeatureCollection of published labs and located organisations.
///
/// Each feature's `properties` are `{type, id, slug, name, kind, themes, url}`: small enough for
/// thousands of points. Coordinates are `[lon, lat]`.
#[utoipa::path(
    tag = "mirroring",
    params(MapQuery),
    responses(
        (status = 200, description = "RFC 7946 FeatureCollection", body = Value, content_type = "application/geo+json",
            example = json!({"type": "FeatureCollection", "features": [{"type": "Feature", "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2c",
                "geometry": {"type": "Point", "coordinates": [9.137, 45.1905]},
                "properties": {"type": "lab", "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2c", "slug": "laboratorio-sociale-pavia-ovest-esempio",
                    "name": "Laboratorio Sociale Pavia Ovest (esempio)", "kind": "social_lab", "themes": ["green_spaces"],
                    "url": "/api/v1/labs/laboratorio-sociale-pavia-ovest-esempio"}}]})),
        answers::NotModified, answers::NotAcceptable, answers::InvalidParameter,
    ),
    security((), ("bearer" = []))
)]
#[get("/map")]
pub async fn map(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    q: Qs<MapQuery>,
) -> Result<HttpResponse, ApiError> {
    crate::cache::reads(&req, Deps::LABS.and(Deps::ORGANISATIONS).and(Deps::AREAS));
    let q = q.0;
    let mut errs = ParamErrors::default();
    let types = errs.each("types", &q.types, |t| match t {
        "lab" | "organisation" => Ok(t.to_owned()),
        _ => Err(FieldError::new("enum", "types are lab and organisation")),
    });
    if let Some(f) = q.format.as_deref()
        && f != "geojson"
    {
        errs.add("format", FieldError::new("enum", "the map is GeoJSON only"));
    }
    respond::negotiate(
        &req,
        None,
        &[respond::Format::Json, respond::Format::GeoJson],
    )?;
    let themes = errs.each("theme", &q.theme, ThemeCode::parse);
    let kinds = errs.each("kind", &q.kind, |k| {
        if legami_domain::LabKind::parse(k).is_ok()
            || legami_domain::OrganisationKind::parse(k).is_ok()
        {
            Ok(k.to_owned())
        } else {
            Err(FieldError::new("enum", "a lab or organisation kind"))
        }
    });
    let municipalities = errs.each("municipality", &q.municipality, IstatCode::parse);
    let provinces = errs.each("province", &q.province, ProvinceAbbr::parse);
    let bbox = listing::parse_bbox(q.bbox.as_deref(), &mut errs);
    listing::check_refs(&state, &themes, &municipalities, &provinces, &mut errs).await?;
    let area = listing::resolve_areas(&state.db, &q.area, &caller.visibility(), &mut errs).await?;
    errs.finish()?;
    let mut codes: Option<Vec<String>> = (!municipalities.is_empty()).then(|| {
        municipalities
            .iter()
            .map(|m| m.as_str().to_owned())
            .collect()
    });
    if let Some(a) = area {
        codes = Some(match codes {
            Some(c) => c
                .into_iter()
                .filter(|m| a.binary_search(m).is_ok())
                .collect(),
            None => a,
        });
    }
    let filter = MapFilter {
        labs: types.is_empty() || types.iter().any(|t| t == Lab::ENTITY),
        organisations: types.is_empty() || types.iter().any(|t| t == Organisation::ENTITY),
        bbox,
        themes,
        kinds,
        provinces,
        municipalities: codes,
    };
    let points = legami_persistence::map::list(&state.db, &filter, MAP_CAP).await?;
    let labs = points
        .iter()
        .filter(|p| p.kind_of_record == Lab::ENTITY)
        .count() as u64;
    let truncated = labs >= MAP_CAP || points.len() as u64 - labs >= MAP_CAP;
    let features: Vec<Feature<'_>> = points
        .iter()
        .map(|p| {
            let collection = records::collection_of(p.kind_of_record).unwrap_or_default();
            Feature {
                kind: "Feature",
                id: &p.id,
                geometry: Geometry {
                    kind: "Point",
                    coordinates: [p.lon, p.lat],
                },
                properties: Properties {
                    kind_of_record: p.kind_of_record,
                    id: &p.id,
                    slug: &p.slug,
                    name: &p.name,
                    kind: &p.kind,
                    themes: &p.themes,
                    url: format!("/api/v1/{collection}/{}", p.slug),
                },
            }
        })
        .collect();
    let body = Features {
        kind: "FeatureCollection",
        features,
        truncated,
    };
    // About 450 bytes a point: written into a buffer of that size, not grown by doubling.
    let mut bytes = Vec::with_capacity(64 + 480 * points.len());
    serde_json::to_writer(&mut bytes, &body).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(respond::tagged(
        &req,
        &caller,
        StatusCode::OK,
        "application/geo+json",
        bytes,
    ))
}
