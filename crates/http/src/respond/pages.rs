//! Collection pages: the `page` object, `Link: rel="next"`, and walking every page.

use crate::caller::Caller;
use crate::error::ApiError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::Stream;
use legami_persistence::{KeysetPos, Page, StoreResult};
use serde::Serialize;
use serde_json::{Map, Value};
use std::future::Future;
use utoipa::ToSchema;

use super::*;

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
