//! Streamed exports: CSV rows and GeoJSON features.

use crate::caller::Caller;
use actix_web::http::header::{self};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::{Stream, StreamExt};
use legami_persistence::StoreResult;
use serde_json::Value;

use super::*;

/// The value at a column's path (`["address", "municipality"]`) in a JSON record, as CSV text.
pub(crate) fn cell<'a>(record: &'a Value, path: &[&str]) -> std::borrow::Cow<'a, str> {
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
