//! `/search`: one query across organisations, labs, projects and networks, with facets.

use crate::answers;
use crate::cache::Deps;
use crate::caller::Caller;
use crate::cursor;
use crate::dto::LocationDto;
use crate::error::ApiError;
use crate::extract::Qs;
use crate::listing::{self, ParamErrors};
use crate::respond;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use legami_domain::{FieldError, IstatCode, ProvinceAbbr, ThemeCode};
use legami_persistence::KeysetPos;
use legami_persistence::search::{self as store, SearchFilter, SearchQuery, TYPES};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// One hit.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "lab", "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2c", "slug": "laboratorio-sociale-crosione-esempio",
    "title": "Laboratorio Sociale Crosione (esempio)", "snippet": "…per genitori, <mark>supporto</mark> scolastico…",
    "score": 0.6, "municipality": "018110", "location": {"lat": 45.196, "lon": 9.154}
}))]
pub struct SearchHit {
    /// `organisation`, `lab`, `project` or `network`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Record id.
    pub id: String,
    /// Record slug.
    pub slug: String,
    /// Name or title.
    pub title: String,
    /// An extract around the match, HTML-escaped, matches wrapped in `<mark>`.
    pub snippet: String,
    /// Relevance (higher is better; comparable within one response only).
    pub score: f64,
    /// ISTAT code, when the record has a place.
    pub municipality: Option<String>,
    /// Position, when the record has one.
    pub location: Option<LocationDto>,
    /// Distance from `near`, km (only with `near`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
}

/// Counts of all hits (not only this page) by type, theme, province and kind.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"type": {"lab": 3, "organisation": 1}, "theme": {"school_support": 2}, "province": {"PV": 4}, "kind": {"social_lab": 3}}))]
pub struct Facets {
    /// By record type.
    #[serde(rename = "type")]
    pub kind_of_record: BTreeMap<String, u64>,
    /// By theme code.
    pub theme: BTreeMap<String, u64>,
    /// By province.
    pub province: BTreeMap<String, u64>,
    /// By the record's kind.
    pub kind: BTreeMap<String, u64>,
}

/// Search results.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [], "facets": {"type": {}, "theme": {}, "province": {}, "kind": {}}, "page": {"limit": 20, "next_cursor": null, "total": 0}}))]
pub struct SearchResults {
    /// Hits of this page, best first.
    pub data: Vec<SearchHit>,
    /// Exact counts over every hit.
    pub facets: Facets,
    /// Paging.
    pub page: respond::PageInfo,
}

/// Query parameters of `GET /search`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// What to look for (1-200 characters): every word must match; accents ignored, words
    /// stemmed (`laboratorio` finds `Laboratori Sociali`). Any text is safe.
    #[param(example = "laboratori sociali")]
    pub q: Option<String>,
    /// Record types, comma-separated or repeated: organisation, lab, project, network.
    #[param(style = Form, explode, example = json!(["organisation,lab"]))]
    pub types: Option<Vec<String>>,
    /// Theme code; repeatable.
    #[param(style = Form, explode)]
    pub theme: Option<Vec<String>>,
    /// The record's kind (`social_lab`, `odv`, a project phase); repeatable.
    #[param(style = Form, explode)]
    pub kind: Option<Vec<String>>,
    /// Province abbreviation; repeatable.
    #[param(style = Form, explode)]
    pub province: Option<Vec<String>>,
    /// ISTAT code; repeatable.
    #[param(style = Form, explode)]
    pub municipality: Option<Vec<String>>,
    /// Area slug or id; repeatable.
    #[param(style = Form, explode)]
    pub area: Option<Vec<String>>,
    /// `lat,lon` with `radius_km`.
    pub near: Option<String>,
    /// Radius for `near`, km.
    #[param(value_type = Option<f64>)]
    pub radius_km: Option<String>,
    /// `min_lon,min_lat,max_lon,max_lat`.
    pub bbox: Option<String>,
    /// Page size, 1-100 (default 20).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// Opaque cursor from `page.next_cursor`.
    pub cursor: Option<String>,
}

/// Search across organisations, labs, projects and networks.
///
/// Best match first (a match in the name ranks above one in the description); facets count
/// every hit, so they add up to `page.total`.
#[utoipa::path(
    tag = "search",
    params(SearchParams),
    responses(
        (status = 200, description = "Hits and facets", body = SearchResults),
        answers::NotModified, answers::BadCursor, answers::InvalidParameter,
    ),
    security((), ("bearer" = []))
)]
#[get("/search")]
pub async fn search(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    p: Qs<SearchParams>,
) -> Result<HttpResponse, ApiError> {
    crate::cache::reads(&req, Deps::RECORDS);
    let p = p.0;
    let mut errs = ParamErrors::default();
    let q = match p.q.as_deref() {
        Some(raw) => errs.one("q", &Some(raw.to_owned()), SearchQuery::parse),
        None => {
            errs.add("q", FieldError::new("required", "q is required"));
            None
        }
    };
    let types = errs.each("types", &p.types, |t| {
        if TYPES.contains(&t) {
            Ok(t.to_owned())
        } else {
            Err(FieldError::new(
                "enum",
                "types are organisation, lab, project, network",
            ))
        }
    });
    let themes = errs.each("theme", &p.theme, ThemeCode::parse);
    let kinds = errs.each("kind", &p.kind, |k| {
        let ok = legami_domain::LabKind::parse(k).is_ok()
            || legami_domain::OrganisationKind::parse(k).is_ok()
            || legami_domain::ProjectPhase::parse(k).is_ok();
        if ok {
            Ok(k.to_owned())
        } else {
            Err(FieldError::new(
                "enum",
                "an organisation or lab kind, or a project phase",
            ))
        }
    });
    let provinces = errs.each("province", &p.province, ProvinceAbbr::parse);
    let municipalities = errs.each("municipality", &p.municipality, IstatCode::parse);
    let near = listing::parse_near(p.near.as_deref(), p.radius_km.as_deref(), &mut errs);
    let bbox = listing::parse_bbox(p.bbox.as_deref(), &mut errs);
    let limit = match p.limit.as_deref() {
        None => 20,
        Some(l) => match l.parse::<u64>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                errs.add(
                    "limit",
                    FieldError::new("range", "limit is a whole number from 1 to 100"),
                );
                20
            }
        },
    };
    listing::check_refs(&state, &themes, &municipalities, &provinces, &mut errs).await?;
    let area = listing::resolve_areas(&state.db, &p.area, &caller.visibility(), &mut errs).await?;
    errs.finish()?;
    let Some(q) = q else {
        return Err(ApiError::invalid("q", "required", "q is required"));
    };
    let after = match p.cursor.as_deref() {
        Some(c) => Some(cursor::decode(&state.cursor_secret, "search", "score", c)?),
        None => None,
    };
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
    let filter = SearchFilter {
        types,
        themes: themes.iter().map(|t| t.as_str().to_owned()).collect(),
        kinds,
        provinces: provinces.iter().map(|p| p.as_str().to_owned()).collect(),
        municipalities: codes,
        near,
        bbox,
    };
    let hits = store::search(&state.db, &q, &filter, &caller.visibility()).await?;
    let f = store::facets(&hits);
    let sorted = |k: &str| -> BTreeMap<String, u64> {
        f.get(k).cloned().unwrap_or_default().into_iter().collect()
    };
    let facets = Facets {
        kind_of_record: sorted("type"),
        theme: sorted("theme"),
        province: sorted("province"),
        kind: sorted("kind"),
    };
    let key = |h: &store::Hit| (format!("{:.12}", h.score), format!("{}:{}", h.entity, h.id));
    let start = match &after {
        None => 0,
        Some(pos) => hits
            .iter()
            .position(|h| {
                let (s, id) = key(h);
                let score: f64 = s.parse().unwrap_or(0.0);
                let after_score: f64 = pos.key.parse().unwrap_or(0.0);
                score < after_score || (score == after_score && id > pos.id)
            })
            .unwrap_or(hits.len()),
    };
    let limit_us = usize::try_from(limit).unwrap_or(20);
    let page: Vec<&store::Hit> = hits.iter().skip(start).take(limit_us).collect();
    let next = (start + page.len() < hits.len()).then(|| {
        let (s, id) = key(page[page.len() - 1]);
        cursor::encode(
            &state.cursor_secret,
            "search",
            "score",
            &KeysetPos { key: s, id },
        )
    });
    let shown = store::shown(&state.db, &page).await?;
    let data = page
        .iter()
        .zip(shown)
        .filter_map(|(h, s)| Some((h, s?)))
        .map(|(h, s)| SearchHit {
            kind: h.entity.to_owned(),
            id: h.id.clone(),
            snippet: store::snippet(&s.title, &s.body, &q, 160),
            slug: s.slug,
            title: s.title,
            score: (h.score * 1e6).round() / 1e6,
            municipality: s.municipality,
            location: match (h.lat, h.lon) {
                (Some(lat), Some(lon)) => Some(LocationDto { lat, lon }),
                _ => None,
            },
            distance_km: h.distance_km.map(|d| (d * 1000.0).round() / 1000.0),
        })
        .collect();
    let body = SearchResults {
        data,
        facets,
        page: respond::PageInfo {
            limit,
            next_cursor: next,
            total: Some(hits.len() as u64),
        },
    };
    respond::json(&req, &caller, StatusCode::OK, &body)
}
