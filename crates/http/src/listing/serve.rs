//! Serving a collection: pages in JSON, streamed CSV and GeoJSON exports, conditional GET; and
//! small collections paged in memory.

use super::*;
use crate::cursor;
use crate::error::ApiError;
use crate::respond::Format;
use actix_web::HttpRequest;
use legami_persistence::{KeysetPos, PageRequest};

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
