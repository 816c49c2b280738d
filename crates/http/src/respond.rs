//! Building responses: content negotiation, ETags and `304`, `Cache-Control`, sparse fieldsets,
//! collection pages with `Link`, and streamed CSV / GeoJSON exports.

use crate::caller::Caller;
use crate::error::ApiError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use futures_util::{Stream, StreamExt};
use legami_persistence::{KeysetPos, Page, StoreResult};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::future::Future;
use utoipa::ToSchema;

/// A representation a client can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`.
    Json,
    /// `text/csv` (RFC 4180, header row, UTF-8).
    Csv,
    /// `application/geo+json` (RFC 7946).
    GeoJson,
}

impl Format {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "json" => Some(Self::Json),
            "csv" => Some(Self::Csv),
            "geojson" => Some(Self::GeoJson),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
            Self::GeoJson => "geojson",
        }
    }
}

/// Picks the representation from `?format=` (which wins) or the `Accept` header.
pub fn negotiate(
    req: &HttpRequest,
    format: Option<&str>,
    allowed: &[Format],
) -> Result<Format, ApiError> {
    if let Some(f) = format {
        return Format::parse(f)
            .filter(|f| allowed.contains(f))
            .ok_or_else(|| {
                let names: Vec<_> = allowed.iter().map(|f| f.name()).collect();
                ApiError::invalid(
                    "format",
                    "enum",
                    format!("must be one of: {}", names.join(", ")),
                )
            });
    }
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(Format::Json);
    };
    if accept.trim().is_empty() {
        return Ok(Format::Json);
    }
    let mut ranges: Vec<(f32, usize, String)> = accept
        .split(',')
        .enumerate()
        .filter_map(|(i, part)| {
            let mut it = part.split(';');
            let media = it.next()?.trim().to_ascii_lowercase();
            let q = it
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0).then_some((q, i, media))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, _, media) in ranges {
        let candidate = match media.as_str() {
            "*/*" | "application/*" | "application/json" | "application/problem+json" => {
                Some(Format::Json)
            }
            "text/csv" | "text/*" => Some(Format::Csv),
            "application/geo+json" => Some(Format::GeoJson),
            _ => None,
        };
        if let Some(c) = candidate.filter(|c| allowed.contains(c)) {
            return Ok(c);
        }
    }
    let types: Vec<&str> = allowed
        .iter()
        .map(|f| match f {
            Format::Json => "application/json",
            Format::Csv => "text/csv",
            Format::GeoJson => "application/geo+json",
        })
        .collect();
    Err(ApiError::NotAcceptable(format!(
        "this resource is available as {}",
        types.join(", ")
    )))
}

/// A strong entity tag for a body.
pub fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// Whether `If-None-Match` names `etag` (or `*`).
pub(crate) fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim();
                t == "*" || t == etag || t.strip_prefix("W/") == Some(etag)
            })
        })
}

/// Sets the caching headers every read carries.
pub fn cache_headers(res: &mut HttpResponseBuilder, caller: &Caller) {
    res.insert_header((
        header::CACHE_CONTROL,
        if caller.is_authenticated() {
            HeaderValue::from_static("private, no-cache")
        } else {
            HeaderValue::from_static("public, max-age=60")
        },
    ));
    res.insert_header((
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding, Authorization"),
    ));
}

/// A body with a strong ETag; a `GET` whose `If-None-Match` matches gets `304` and no body.
pub fn tagged(
    req: &HttpRequest,
    caller: &Caller,
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
) -> HttpResponse {
    let etag = etag_of(&body);
    tagged_as(req, caller, status, content_type, body, etag)
}

/// A body with the given strong ETag, answering `304` like [`tagged`].
fn tagged_as(
    req: &HttpRequest,
    caller: &Caller,
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
    etag: String,
) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    cache_headers(&mut res, caller);
    res.insert_header((header::ETAG, etag.clone()));
    if (req.method() == Method::GET || req.method() == Method::HEAD) && not_modified(req, &etag) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, res_cache_value(caller)))
            .finish();
    }
    res.insert_header((header::CONTENT_TYPE, content_type))
        .body(body)
}

fn res_cache_value(caller: &Caller) -> &'static str {
    if caller.is_authenticated() {
        "private, no-cache"
    } else {
        "public, max-age=60"
    }
}

/// A record's detail read. One rule for what a record's ETag means, used by reads and by
/// preconditions: the tag of its stored representation (the body a write answers with). A read
/// whose body differs from it (a project's computed `results`, a sparse fieldset) is tagged
/// `"<record>.<body>"`: the body part keeps `If-None-Match` exact when only a computed part
/// changed, and `If-Match` compares the record part (see [`record_tag_of`]).
pub fn record_json(
    req: &HttpRequest,
    caller: &Caller,
    record: &impl Serialize,
    body: &serde_json::Value,
) -> Result<HttpResponse, ApiError> {
    let stored = serde_json::to_vec(record).map_err(|e| ApiError::Internal(e.to_string()))?;
    let bytes = serde_json::to_vec(body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let etag = if stored == bytes {
        etag_of(&stored)
    } else {
        let (r, b) = (etag_of(&stored), etag_of(&bytes));
        format!("{}.{}", r.trim_end_matches('"'), b.trim_start_matches('"'))
    };
    Ok(tagged_as(
        req,
        caller,
        StatusCode::OK,
        "application/json",
        bytes,
        etag,
    ))
}

/// The record part of an entity tag (`"r.b"` -> `"r"`; a plain tag is its own record part).
pub fn record_tag_of(tag: &str) -> std::borrow::Cow<'_, str> {
    match tag.split_once('.') {
        Some((r, _)) if tag.starts_with('"') && tag.ends_with('"') => format!("{r}\"").into(),
        _ => tag.into(),
    }
}

/// A JSON body with an ETag.
pub fn json(
    req: &HttpRequest,
    caller: &Caller,
    status: StatusCode,
    value: &impl Serialize,
) -> Result<HttpResponse, ApiError> {
    let body = serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(tagged(req, caller, status, "application/json", body))
}

/// The ETag a `GET` by the same caller would return for this record (for `If-Match`).
pub fn etag_for(value: &impl Serialize) -> Result<String, ApiError> {
    let body = serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(etag_of(&body))
}

/// A sparse fieldset (`fields=name,slug`): the chosen top-level fields plus `id`.
#[derive(Debug, Clone, Default)]
pub struct FieldSet(Option<HashSet<String>>);

impl FieldSet {
    /// Parses `fields=` against the names a representation has; unknown names are a `422`.
    pub fn parse(raw: Option<&str>, known: &[String]) -> Result<Self, ApiError> {
        let Some(raw) = raw else {
            return Ok(Self(None));
        };
        let mut set = HashSet::new();
        let mut unknown: Vec<&str> = Vec::new();
        let mut seen = HashSet::new();
        for name in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if known.iter().any(|k| k == name) {
                set.insert(name.to_owned());
            } else if seen.insert(name) {
                // Each distinct name once; the error renderer caps how many are listed.
                unknown.push(name);
            }
        }
        if !unknown.is_empty() {
            // The known names are stated once, in the first entry.
            let errors = unknown
                .iter()
                .enumerate()
                .map(|(i, name)| crate::error::ProblemField {
                    field: "fields".into(),
                    code: "unknown_field".into(),
                    message: if i == 0 {
                        format!("unknown field '{name}'; known: {}", known.join(", "))
                    } else {
                        format!("unknown field '{name}'")
                    },
                })
                .collect();
            return Err(ApiError::Validation(errors));
        }
        if set.is_empty() {
            return Err(ApiError::invalid(
                "fields",
                "required",
                "name at least one field",
            ));
        }
        set.insert("id".into());
        Ok(Self(Some(set)))
    }

    /// Keeps only the chosen fields of a JSON object.
    pub fn apply(&self, mut v: Value) -> Value {
        if let (Some(set), Value::Object(map)) = (&self.0, &mut v) {
            map.retain(|k, _| set.contains(k));
        }
        v
    }

    /// Whether a top-level field is kept.
    pub fn keeps(&self, name: &str) -> bool {
        self.0.as_ref().is_none_or(|s| s.contains(name))
    }
}

/// The property names of a schema: the field names `fields=` accepts.
pub fn schema_fields<T: ToSchema>() -> Vec<String> {
    use utoipa::openapi::{RefOr, Schema};
    match T::schema() {
        RefOr::T(Schema::Object(o)) => o.properties.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// The `page` object of every collection.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"limit": 20, "next_cursor": null, "total": 9}))]
pub struct PageInfo {
    /// The page size used.
    #[schema(example = 20, minimum = 1, maximum = 100)]
    pub limit: u64,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(example = "WyJvcmdhbmlzYXRpb25zIiwibmFtZSIsIkNTViIsIjAxOTIiXQ.aGVsbG8td29ybGQh")]
    pub next_cursor: Option<String>,
    /// Items matching the filters (omitted with `count=false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 42)]
    pub total: Option<u64>,
}

/// The URL of the next page: the same query with `cursor` replaced.
pub fn next_link(req: &HttpRequest, cursor: &str) -> String {
    let mut pairs: Vec<(String, String)> =
        serde_html_form::from_str(req.query_string()).unwrap_or_default();
    pairs.retain(|(k, _)| k != "cursor");
    pairs.push(("cursor".into(), cursor.to_owned()));
    let qs = serde_html_form::to_string(&pairs).unwrap_or_default();
    format!("{}?{}", req.path(), qs)
}

/// A JSON collection page: `{"data": [...], "page": {...}}` with `Link: rel="next"` and an ETag.
pub fn page_json(
    req: &HttpRequest,
    caller: &Caller,
    data: Vec<Value>,
    limit: u64,
    next_cursor: Option<String>,
    total: Option<u64>,
) -> Result<HttpResponse, ApiError> {
    let mut body = Map::new();
    body.insert("data".into(), Value::Array(data));
    let page = PageInfo {
        limit,
        next_cursor: next_cursor.clone(),
        total,
    };
    body.insert(
        "page".into(),
        serde_json::to_value(page).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut res = tagged(req, caller, StatusCode::OK, "application/json", bytes);
    if let Some(c) = next_cursor {
        let link = format!("<{}>; rel=\"next\"", next_link(req, &c));
        if let Ok(v) = HeaderValue::from_str(&link) {
            res.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(res)
}

/// Reads a collection page after page: the whole filtered collection, or at most `max` items.
pub fn pages<T, F, Fut>(
    fetch: F,
    start: Option<KeysetPos>,
    max: Option<u64>,
    batch: u64,
) -> impl Stream<Item = StoreResult<Vec<T>>>
where
    F: Fn(Option<KeysetPos>, u64) -> Fut,
    Fut: Future<Output = StoreResult<Page<T>>>,
{
    futures_util::stream::unfold(
        (Some(start), max, fetch),
        move |(state, remaining, fetch)| async move {
            let after = state?;
            let want = remaining.map_or(batch, |r| r.min(batch));
            if want == 0 {
                return None;
            }
            match fetch(after, want).await {
                Ok(page) => {
                    let left = remaining.map(|r| r - page.items.len() as u64);
                    let next = page.next.map(Some);
                    Some((Ok(page.items), (next, left, fetch)))
                }
                Err(e) => Some((Err(e), (None, Some(0), fetch))),
            }
        },
    )
}

/// The value at a column's path (`["address", "municipality"]`) in a JSON record, as CSV text.
fn cell<'a>(record: &'a Value, path: &[&str]) -> std::borrow::Cow<'a, str> {
    use std::borrow::Cow;
    let found = path.iter().try_fold(record, |v, key| v.get(key));
    match found {
        None | Some(Value::Null) => Cow::Borrowed(""),
        Some(Value::String(s)) => Cow::Borrowed(s.as_str()),
        Some(Value::Array(items)) => Cow::Owned(
            items
                .iter()
                .map(|i| match i {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(";"),
        ),
        Some(other) => Cow::Owned(other.to_string()),
    }
}

/// Writes records as CSV rows (with the header first when `header` is true); a dotted column
/// (`address.municipality`) reads a nested field.
pub fn csv_rows(columns: &[&str], records: &[Value], header: bool) -> Vec<u8> {
    let paths: Vec<Vec<&str>> = columns.iter().map(|c| c.split('.').collect()).collect();
    let mut w = csv::Writer::from_writer(Vec::with_capacity(records.len() * 128));
    if header {
        let _ = w.write_record(columns);
    }
    for r in records {
        for p in &paths {
            let _ = w.write_field(cell(r, p).as_bytes());
        }
        let _ = w.write_record(None::<&[u8]>);
    }
    w.into_inner().unwrap_or_default()
}

/// The strong ETag of an export, from the request and a fingerprint of the data it reads; and
/// the `304` to send instead when `If-None-Match` already has it.
pub fn export_tag(
    req: &HttpRequest,
    caller: &Caller,
    fingerprint: &str,
) -> (String, Option<HttpResponse>) {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let seed = format!(
        "{}\n{}\n{}\n{}",
        req.query_string(),
        accept,
        caller.is_authenticated(),
        fingerprint
    );
    let etag = etag_of(seed.as_bytes());
    let short = not_modified(req, &etag).then(|| {
        HttpResponse::NotModified()
            .insert_header((header::ETAG, etag.clone()))
            .insert_header((header::CACHE_CONTROL, res_cache_value(caller)))
            .finish()
    });
    (etag, short)
}

/// Streams a collection as CSV.
pub fn csv_stream<S>(
    caller: &Caller,
    etag: String,
    columns: Vec<&'static str>,
    batches: S,
    filename: &str,
) -> HttpResponse
where
    S: Stream<Item = StoreResult<Vec<Value>>> + 'static,
{
    let mut first = true;
    let body = batches.map(move |batch| {
        let records = batch.map_err(|e| {
            tracing::error!(error = %e, "CSV export failed mid-stream");
            std::io::Error::other("export interrupted")
        })?;
        let bytes = csv_rows(&columns, &records, first);
        first = false;
        Ok::<_, std::io::Error>(web::Bytes::from(bytes))
    });
    let mut res = HttpResponse::Ok();
    cache_headers(&mut res, caller);
    res.insert_header((header::ETAG, etag));
    res.insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}.csv\""),
        ))
        .streaming(body)
}

/// Turns a JSON record with a `location` into a GeoJSON feature; `None` without a location.
pub fn feature(mut record: Value) -> Option<Value> {
    let obj = record.as_object_mut()?;
    let loc = obj.remove("location")?;
    let lat = loc.get("lat")?.as_f64()?;
    let lon = loc.get("lon")?.as_f64()?;
    let id = obj.get("id").cloned();
    let geometry = geojson::Geometry::new_point([lon, lat]);
    let mut f = geojson::Feature {
        geometry: Some(geometry),
        properties: Some(obj.clone()),
        ..Default::default()
    };
    if let Some(Value::String(id)) = id {
        f.id = Some(geojson::feature::Id::String(id));
    }
    serde_json::to_value(f).ok()
}

/// Streams a collection as an RFC 7946 FeatureCollection; records without a location are left out.
pub fn geojson_stream<S>(caller: &Caller, etag: String, batches: S) -> HttpResponse
where
    S: Stream<Item = StoreResult<Vec<Value>>> + 'static,
{
    let mut first = true;
    let open = futures_util::stream::once(async {
        Ok::<_, std::io::Error>(web::Bytes::from_static(
            b"{\"type\":\"FeatureCollection\",\"features\":[",
        ))
    });
    let body = batches.map(move |batch| {
        let records = batch.map_err(|e| {
            tracing::error!(error = %e, "GeoJSON export failed mid-stream");
            std::io::Error::other("export interrupted")
        })?;
        let mut out = Vec::new();
        for f in records.into_iter().filter_map(feature) {
            if !first {
                out.push(b',');
            }
            first = false;
            let _ = serde_json::to_writer(&mut out, &f);
        }
        Ok(web::Bytes::from(out))
    });
    let close = futures_util::stream::once(async { Ok(web::Bytes::from_static(b"]}")) });
    let mut res = HttpResponse::Ok();
    cache_headers(&mut res, caller);
    res.insert_header((header::ETAG, etag));
    res.insert_header((header::CONTENT_TYPE, "application/geo+json"))
        .streaming(open.chain(body).chain(close))
}
