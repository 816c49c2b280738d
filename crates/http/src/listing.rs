//! The query parameters every collection shares: `limit`, `cursor`, `sort`, `count`, `fields`,
//! `format`, and helpers to parse repeatable filters with one error per bad value.

use crate::cursor;
use crate::error::{ApiError, ProblemField};
use crate::respond::{FieldSet, Format, negotiate};
use actix_web::HttpRequest;
use chrono::{DateTime, Utc};
use legami_domain::FieldError;
use legami_persistence::{KeysetPos, PageRequest, SortSpec};

/// Collects 422 errors about query parameters.
#[derive(Debug, Default)]
pub struct ParamErrors(pub Vec<ProblemField>);

impl ParamErrors {
    /// Records a failure of `param`.
    pub fn add(&mut self, param: &str, e: FieldError) {
        self.0.push(ProblemField {
            field: param.to_owned(),
            code: e.code,
            message: e.message,
        });
    }

    /// Parses every value of a repeatable parameter.
    pub fn each<T>(
        &mut self,
        param: &str,
        raw: &Option<Vec<String>>,
        parse: impl Fn(&str) -> Result<T, FieldError>,
    ) -> Vec<T> {
        let mut out = Vec::new();
        for v in raw.iter().flatten().flat_map(|v| v.split(',')) {
            match parse(v.trim()) {
                Ok(x) => out.push(x),
                Err(e) => self.add(
                    param,
                    FieldError {
                        message: format!("'{v}': {}", e.message),
                        ..e
                    },
                ),
            }
        }
        out
    }

    /// Parses an optional single value.
    pub fn one<T>(
        &mut self,
        param: &str,
        raw: &Option<String>,
        parse: impl Fn(&str) -> Result<T, FieldError>,
    ) -> Option<T> {
        match raw.as_deref().map(parse) {
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => {
                self.add(param, e);
                None
            }
            None => None,
        }
    }

    /// `Ok` when nothing failed.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

/// An RFC 3339 timestamp parameter.
pub fn timestamp(raw: &str) -> Result<DateTime<Utc>, FieldError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| FieldError::new("format", "an RFC 3339 timestamp, e.g. 2026-11-22T09:30:00Z"))
}

/// The raw shared parameters of a listing.
#[derive(Debug, Default)]
pub struct RawListArgs<'a> {
    /// `limit`.
    pub limit: Option<&'a str>,
    /// `cursor`.
    pub cursor: Option<&'a str>,
    /// `sort`.
    pub sort: Option<&'a str>,
    /// `count`.
    pub count: Option<&'a str>,
    /// `fields`.
    pub fields: Option<&'a str>,
    /// `format`.
    pub format: Option<&'a str>,
}

/// Parsed shared parameters.
#[derive(Debug)]
pub struct ListArgs {
    /// The page to read.
    pub page: PageRequest,
    /// Whether `limit` or `cursor` was given (exports then stream one page only).
    pub paged: bool,
    /// Chosen fields.
    pub fields: FieldSet,
    /// Chosen representation.
    pub format: Format,
}

/// How a collection is described for parsing its shared parameters.
pub struct CollectionSpec<'a> {
    /// Name used in cursors (`organisations`).
    pub name: &'static str,
    /// Sortable fields.
    pub sorts: &'static [&'static str],
    /// Default sort.
    pub default_sort: &'static str,
    /// Field names for `fields=`.
    pub fields: &'a [String],
    /// Representations offered.
    pub formats: &'a [Format],
}

/// Parses and checks the shared parameters; every bad one is reported.
pub fn parse_list_args(
    req: &HttpRequest,
    secret: &str,
    raw: RawListArgs<'_>,
    spec: &CollectionSpec<'_>,
    errs: &mut ParamErrors,
) -> Result<ListArgs, ApiError> {
    let limit = match raw.limit {
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
    let sort = match raw.sort {
        None => SortSpec::parse(spec.default_sort, spec.sorts),
        Some(s) => {
            let parsed = SortSpec::parse(s, spec.sorts);
            if parsed.is_none() {
                errs.add(
                    "sort",
                    FieldError::new(
                        "enum",
                        format!(
                            "sort by one of: {} (prefix '-' for descending)",
                            spec.sorts.join(", ")
                        ),
                    ),
                );
            }
            parsed
        }
    };
    let count = match raw.count {
        None | Some("true") => true,
        Some("false") => false,
        Some(_) => {
            errs.add("count", FieldError::new("format", "count is true or false"));
            true
        }
    };
    let fields = match FieldSet::parse(raw.fields, spec.fields) {
        Ok(f) => f,
        Err(ApiError::Validation(v)) => {
            errs.0.extend(v);
            FieldSet::default()
        }
        Err(e) => return Err(e),
    };
    let format = match negotiate(req, raw.format, spec.formats) {
        Ok(f) => f,
        Err(ApiError::Validation(v)) => {
            errs.0.extend(v);
            Format::Json
        }
        Err(e) => return Err(e),
    };
    let sort = sort.unwrap_or(SortSpec {
        field: spec.sorts[0],
        desc: false,
    });
    if !errs.0.is_empty() {
        return Err(ApiError::Validation(std::mem::take(&mut errs.0)));
    }
    let after: Option<KeysetPos> = match raw.cursor {
        Some(c) => Some(cursor::decode(secret, spec.name, &sort.as_param(), c)?),
        None => None,
    };
    Ok(ListArgs {
        paged: raw.limit.is_some() || raw.cursor.is_some(),
        page: PageRequest {
            limit,
            after,
            count,
            sort,
        },
        fields,
        format,
    })
}

/// Everything a collection handler has parsed, ready to answer.
pub struct Listing<'a> {
    /// The request.
    pub req: &'a HttpRequest,
    /// The cursor secret.
    pub secret: &'a str,
    /// The caller.
    pub caller: crate::caller::Caller,
    /// Parsed shared parameters.
    pub args: ListArgs,
    /// Cursor namespace and export file name.
    pub name: &'static str,
    /// CSV columns (dotted paths), before `fields` trims them.
    pub csv_columns: &'static [&'static str],
}

/// Rows read per query while streaming an export: large enough that the per-query cost vanishes,
/// small enough that a batch in flight stays a few hundred kilobytes.
const EXPORT_BATCH: u64 = 1000;

/// Answers a collection request: a JSON page, or a streamed CSV / GeoJSON export with an ETag
/// from `fingerprint`. `fetch` reads one page; `to_value` renders one item for this caller.
pub async fn serve<T, F, Fut, V, FpFut>(
    l: Listing<'_>,
    fetch: F,
    to_value: V,
    fingerprint: FpFut,
) -> Result<actix_web::HttpResponse, ApiError>
where
    T: 'static,
    F: Fn(PageRequest) -> Fut + Clone + 'static,
    Fut: std::future::Future<Output = legami_persistence::StoreResult<legami_persistence::Page<T>>>
        + 'static,
    V: Fn(&T) -> serde_json::Value + Clone + 'static,
    FpFut: std::future::Future<Output = legami_persistence::StoreResult<String>>,
{
    use crate::respond;
    use futures_util::StreamExt;
    let args = l.args;
    if args.format == Format::Json {
        let page = fetch(args.page.clone()).await?;
        let data = page
            .items
            .iter()
            .map(|t| args.fields.apply(to_value(t)))
            .collect();
        let next = page
            .next
            .as_ref()
            .map(|p| cursor::encode(l.secret, l.name, &args.page.sort.as_param(), p));
        return respond::page_json(l.req, &l.caller, data, args.page.limit, next, page.total);
    }
    let (etag, short) = respond::export_tag(l.req, &l.caller, &fingerprint.await?);
    if let Some(not_modified) = short {
        return Ok(not_modified);
    }
    let sort = args.page.sort;
    let fields = args.fields.clone();
    let fetch_batch = move |after, limit| {
        let fetch = fetch.clone();
        async move {
            fetch(PageRequest {
                limit,
                after,
                count: false,
                sort,
            })
            .await
        }
    };
    let max = args.paged.then_some(args.page.limit);
    let batches =
        respond::pages(fetch_batch, args.page.after.clone(), max, EXPORT_BATCH).map(move |b| {
            b.map(|items| {
                items
                    .iter()
                    .map(|t| fields.apply(to_value(t)))
                    .collect::<Vec<_>>()
            })
        });
    Ok(match args.format {
        Format::Csv => {
            let columns: Vec<&'static str> = l
                .csv_columns
                .iter()
                .copied()
                .filter(|c| args.fields.keeps(c.split('.').next().unwrap_or(c)))
                .collect();
            respond::csv_stream(&l.caller, etag, columns, batches, l.name)
        }
        _ => respond::geojson_stream(&l.caller, etag, batches),
    })
}

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
            Ok(key) => legami_persistence::records::area_municipalities(db, &key, vis).await?,
            Err(_) => None,
        };
        match found {
            Some(ms) => all.extend(ms),
            None => errs.add("area", FieldError::new("unknown", format!("no area '{a}'"))),
        }
    }
    Ok(Some(all.into_iter().collect()))
}

/// Checks that filter values naming reference data exist: unknown themes, ISTAT codes or
/// provinces are a 422 naming the parameter.
pub async fn check_refs(
    db: &legami_persistence::DatabaseConnection,
    themes: &[legami_domain::ThemeCode],
    municipalities: &[legami_domain::IstatCode],
    provinces: &[legami_domain::ProvinceAbbr],
    errs: &mut ParamErrors,
) -> Result<(), ApiError> {
    for t in legami_persistence::themes::unknown(db, themes).await? {
        errs.add(
            "theme",
            FieldError::new("unknown", format!("unknown theme '{}'", t.as_str())),
        );
    }
    for m in municipalities {
        if !legami_persistence::municipalities::exists(db, m).await? {
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
        if !legami_persistence::municipalities::province_exists(db, p.as_str()).await? {
            errs.add(
                "province",
                FieldError::new("unknown", format!("unknown province '{}'", p.as_str())),
            );
        }
    }
    Ok(())
}

/// Query parameters of a small collection read whole and paged in memory (the vocabularies,
/// the accounts): `limit`, `cursor` and `count` as on every other collection.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1-100 (default 20).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// Opaque cursor from `page.next_cursor`.
    pub cursor: Option<String>,
    /// `false` omits `page.total`.
    #[param(value_type = Option<bool>)]
    pub count: Option<String>,
}

impl PageQuery {
    /// Parses the parameters of collection `name`, ordered by its unique key `sort`.
    pub fn parse(
        &self,
        req: &HttpRequest,
        secret: &str,
        name: &'static str,
        sort: &'static [&'static str],
    ) -> Result<ListArgs, ApiError> {
        let spec = CollectionSpec {
            name,
            sorts: sort,
            default_sort: sort[0],
            fields: &[],
            formats: &[Format::Json],
        };
        let raw = RawListArgs {
            limit: self.limit.as_deref(),
            cursor: self.cursor.as_deref(),
            count: self.count.as_deref(),
            ..Default::default()
        };
        parse_list_args(req, secret, raw, &spec, &mut ParamErrors::default())
    }
}

/// One page of a collection held whole in memory, ordered by a unique key (the first of each
/// pair): the collection envelope, a keyset cursor on that key, the exact total.
pub fn page_in_memory(
    req: &HttpRequest,
    caller: &crate::caller::Caller,
    secret: &str,
    name: &'static str,
    args: &ListArgs,
    mut items: Vec<(String, serde_json::Value)>,
) -> Result<actix_web::HttpResponse, ApiError> {
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let total = items.len() as u64;
    let start = args.page.after.as_ref().map(|p| p.key.as_str());
    let limit = usize::try_from(args.page.limit).unwrap_or(usize::MAX);
    let mut rest = items
        .into_iter()
        .filter(|(k, _)| start.is_none_or(|s| k.as_str() > s));
    let page: Vec<(String, serde_json::Value)> = rest.by_ref().take(limit).collect();
    let next = match (rest.next(), page.last()) {
        (Some(_), Some((last, _))) => Some(cursor::encode(
            secret,
            name,
            &args.page.sort.as_param(),
            &KeysetPos {
                key: last.clone(),
                id: last.clone(),
            },
        )),
        _ => None,
    };
    crate::respond::page_json(
        req,
        caller,
        page.into_iter().map(|(_, v)| v).collect(),
        args.page.limit,
        next,
        args.page.count.then_some(total),
    )
}
