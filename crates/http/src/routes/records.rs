//! The HTTP side of every record resource, written once: get, list, create, update, delete and
//! restore are generic over [`Resource`]. What stays with a resource is its DTOs, its filters,
//! its permission rules and its OpenAPI annotations (on the thin handlers that call these).

use crate::cache::{self, Deps};
use crate::caller::Caller;
use crate::error::ApiError;
use crate::extract::{JsonObject, from_value};
use crate::listing::{self, CollectionSpec, ListArgs, Listing, ParamErrors, RawListArgs};
use crate::respond::{self, Format, schema_fields};
use crate::routes::writes;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use legami_domain::{FieldError, FieldErrors, IdOrSlug, Visibility};
use legami_persistence::audit::Audit;
use legami_persistence::record::{self, Filter, Hit, Record};
use legami_persistence::{Page, StoreResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;
use utoipa::ToSchema;

/// A record resource as the API serves it.
pub trait Resource: Record {
    /// How the API shows a record.
    type Dto: Serialize + ToSchema + 'static;
    /// What a client writes (and what a merge patch applies to).
    type Input: Serialize + DeserializeOwned + ToSchema + 'static;
    /// The collection's path segment (`labs`), also its cursor namespace and export file name.
    const COLLECTION: &'static str;
    /// Sortable fields; the first is the default.
    const SORTS: &'static [&'static str];
    /// Representations of the collection.
    const FORMATS: &'static [Format] = &[Format::Json, Format::Csv];
    /// CSV columns (dotted paths), before `fields` trims them.
    const CSV_COLUMNS: &'static [&'static str];
    /// What a read of this type is read from (for the response cache): the type itself, and
    /// what its filters and its shown extras read.
    const READS: Deps;
    /// What a write of this type may change (for the response cache).
    const WRITES: Deps;

    /// The record as `vis` may see it.
    fn view(&self, vis: &Visibility) -> Self::Dto;
    /// A listed record (with its distance, for a radius search).
    fn listed(hit: &Hit<Self>, vis: &Visibility) -> Self::Dto {
        Self::view(&hit.0, vis)
    }
    /// Validates every field of a write.
    fn parse(input: &Self::Input) -> Result<Self::Fields, FieldErrors>;

    /// Whether the caller may write this type at all (checked first).
    fn may_start(caller: &Caller) -> Result<(), ApiError> {
        caller.may_write()
    }
    /// Whether the caller may change or delete this record as it is.
    fn may_change(caller: &Caller, current: &Self) -> Result<(), ApiError>;
    /// Whether the caller may write these fields (over `current`, for an update).
    fn may_write(
        caller: &Caller,
        new: &Self::Fields,
        current: Option<&Self>,
    ) -> Result<(), ApiError>;

    /// What a read of one record shows beyond the stored record (a project's results), or of
    /// less (a network's invisible members); `None` shows it as stored.
    fn shown(
        _state: &AppState,
        _r: &Self,
        _vis: &Visibility,
    ) -> impl Future<Output = Result<Option<Self::Dto>, ApiError>> {
        async { Ok(None) }
    }
    /// What a page shows of its records, in place (for the reads of [`Resource::shown`]).
    fn shown_page(
        _db: &legami_persistence::DatabaseConnection,
        _items: &mut [Hit<Self>],
        _vis: &Visibility,
    ) -> impl Future<Output = StoreResult<()>> {
        async { Ok(()) }
    }
}

/// The one place that maps a type name of the API (`lab`, as in the change feed, search hits
/// and map points) to its collection (`labs`).
pub fn collection_of(type_name: &str) -> Option<&'static str> {
    macro_rules! pairs {
        ($($r:ty),*) => {
            [$((<$r as Record>::ENTITY, <$r as Resource>::COLLECTION)),*]
        };
    }
    legami_persistence::record_types!(pairs)
        .into_iter()
        .find(|(t, _)| *t == type_name)
        .map(|(_, c)| c)
}

/// A record's path parameter: an id or a slug (anything else names nothing).
pub fn key(raw: &str) -> Result<IdOrSlug, ApiError> {
    IdOrSlug::parse(raw).map_err(|_| ApiError::NotFound)
}

fn audit_view<R: Resource>(r: &R) -> Value {
    serde_json::to_value(r.view(&Visibility::Privileged)).unwrap_or_default()
}

/// The writable view of a stored record, the base of a merge patch: its full view, cut to the
/// fields of `R::Input`.
fn writable<R: Resource>(r: &R) -> Result<Value, ApiError> {
    let mut v = serde_json::to_value(r.view(&Visibility::Privileged))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let fields = schema_fields::<R::Input>();
    if let Some(o) = v.as_object_mut() {
        o.retain(|k, _| fields.contains(k));
    }
    Ok(v)
}

/// `GET /{collection}/{id}`: one record, `fields` applied; its ETag is the stored record's, so it
/// works with `If-Match` on writes.
pub async fn get<R: Resource>(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
    id: &str,
    q: writes::OneQuery,
) -> Result<HttpResponse, ApiError> {
    cache::reads(req, R::READS);
    let fields = respond::FieldSet::parse(q.fields.as_deref(), schema_fields::<R::Dto>())?;
    let vis = caller.visibility();
    let r = record::find::<R>(&state.db, &key(id)?, &vis).await?;
    let stored = r.view(&vis);
    let v = match R::shown(state, &r, &vis).await? {
        Some(dto) => serde_json::to_value(dto),
        None => serde_json::to_value(&stored),
    }
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    respond::record_json(req, caller, &stored, &fields.apply(v))
}

/// `POST /{collection}`: `201` with `Location` and `ETag`.
pub async fn create<R: Resource>(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    cache::writes(req, R::WRITES);
    R::may_start(caller)?;
    let input: R::Input = from_value(body.0)?;
    let fields = R::parse(&input)?;
    R::may_write(caller, &fields, None)?;
    let audit = Audit {
        actor: &caller.actor()?,
        view: &audit_view::<R>,
    };
    let r = record::create::<R, _>(&state.db, fields, &audit).await?;
    let location = format!("/api/v1/{}/{}", R::COLLECTION, r.meta().id);
    writes::created(req, caller, &r.view(&caller.visibility()), &location)
}

/// `PATCH /{collection}/{id}`: a JSON merge patch over the writable view, validated whole;
/// `If-Match` makes it conditional (without it, a write that another got in before is applied
/// again to the new version).
pub async fn update<R: Resource>(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
    id: &str,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    cache::writes(req, R::WRITES);
    R::may_start(caller)?;
    let vis = caller.visibility();
    let key = key(id)?;
    for round in 1.. {
        let current = record::find::<R>(&state.db, &key, &vis).await?;
        R::may_change(caller, &current)?;
        writes::check_if_match(req, &current.view(&vis))?;
        let input: R::Input = writes::merge(writable(&current)?, body.0.clone())?;
        let fields = R::parse(&input)?;
        R::may_write(caller, &fields, Some(&current))?;
        let audit = Audit {
            actor: &caller.actor()?,
            view: &audit_view::<R>,
        };
        let meta = current.meta();
        let written =
            record::update::<R, _>(&state.db, meta.id, meta.version, fields, &audit).await;
        if !writes::again(req, &written, round) {
            return respond::json(req, caller, StatusCode::OK, &written?.view(&vis));
        }
    }
    unreachable!("the rounds are bounded")
}

/// `DELETE /{collection}/{id}`: a soft delete (`204`); `If-Match` makes it conditional.
pub async fn delete<R: Resource>(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<HttpResponse, ApiError> {
    cache::writes(req, R::WRITES);
    R::may_start(caller)?;
    let vis = caller.visibility();
    let key = key(id)?;
    for round in 1.. {
        let current = record::find::<R>(&state.db, &key, &vis).await?;
        R::may_change(caller, &current)?;
        writes::check_if_match(req, &current.view(&vis))?;
        let meta = current.meta();
        let before = audit_view(&current);
        let actor = caller.actor()?;
        let done = record::delete::<R, _>(&state.db, meta.id, meta.version, &actor, &before).await;
        if !writes::again(req, &done, round) {
            done?;
            return Ok(HttpResponse::NoContent().finish());
        }
    }
    unreachable!("the rounds are bounded")
}

/// `POST /{collection}/{id}/restore` (admin): the record back as it was when deleted.
pub async fn restore<R: Resource>(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<HttpResponse, ApiError> {
    cache::writes(req, R::WRITES);
    caller.may_administer()?;
    let r = record::restore::<R, _>(&state.db, &key(id)?, &caller.actor()?).await?;
    respond::json(req, caller, StatusCode::OK, &r.view(&caller.visibility()))
}

/// The shared parameters of a collection read (`limit, cursor, sort, count, fields, format`),
/// checked; every bad one is added to `errs`. `sort=distance` needs `near`.
pub fn list_args<R: Resource>(
    req: &HttpRequest,
    state: &AppState,
    raw: RawListArgs<'_>,
    near: bool,
    errs: &mut ParamErrors,
) -> Result<ListArgs, ApiError> {
    if R::SORTS.contains(&"distance")
        && raw
            .sort
            .is_some_and(|s| s.trim_start_matches('-') == "distance")
        && !near
    {
        errs.add(
            "sort",
            FieldError::new("requires", "sort=distance needs near and radius_km"),
        );
    }
    let known = schema_fields::<R::Dto>();
    let spec = CollectionSpec {
        name: R::COLLECTION,
        sorts: R::SORTS,
        default_sort: R::SORTS[0],
        fields: known,
        formats: R::FORMATS,
    };
    listing::parse_list_args(req, &state.cursor_secret, raw, &spec, errs)
}

/// The OpenAPI declaration of the parameters every collection shares ([`crate::listing::ListQuery`]),
/// written once: the collection's sorts and formats come from its [`Resource`].
pub struct ListParams<R>(std::marker::PhantomData<R>);

/// `a`, `a or b`, `a, b or c`, each in backticks.
fn either(items: &[&str]) -> String {
    let ticked: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    match ticked.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

impl<R: Resource> utoipa::IntoParams for ListParams<R> {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        let formats: Vec<&str> = R::FORMATS.iter().map(|f| f.name()).collect();
        let exports = formats[1..].join("|");
        let mut sorts: Vec<String> = R::SORTS
            .iter()
            .filter(|s| **s != "distance")
            .map(|s| format!("`{s}`"))
            .collect();
        sorts[0].push_str(" (default)");
        if R::SORTS.contains(&"distance") {
            sorts.push("or `distance` (with `near`)".into());
        }
        let shown = |name: &str, description: String, schema: Value| {
            serde_json::json!({"name": name, "in": "query", "description": description,
                "required": false, "schema": schema})
        };
        let mut params = vec![
            shown(
                "limit",
                format!(
                    "Page size, 1-100 (default 20). With `format={exports}`, giving `limit` or \
                     `cursor` exports one page; without them the whole filtered collection is \
                     streamed."
                ),
                serde_json::json!({"type": "integer", "format": "u-int64", "maximum": 100, "minimum": 1}),
            ),
            shown(
                "cursor",
                "Opaque cursor from `page.next_cursor`.".into(),
                serde_json::json!({"type": "string"}),
            ),
            shown(
                "sort",
                format!("{}; `-` for descending.", sorts.join(", ")),
                serde_json::json!({"type": "string",
                    "pattern": format!("^-?({})$", R::SORTS.join("|"))}),
            ),
            shown(
                "count",
                "`false` omits `page.total`.".into(),
                serde_json::json!({"type": "boolean"}),
            ),
            shown(
                "fields",
                "Comma-separated field names to return (plus `id`).".into(),
                serde_json::json!({"type": "string"}),
            ),
            shown(
                "format",
                format!(
                    "{}; overrides `Accept`.",
                    either(&formats).replacen("`json`", "`json` (default)", 1)
                ),
                serde_json::json!({"type": "string",
                    "pattern": format!("^({})$", formats.join("|"))}),
            ),
        ];
        params[2]["example"] = Value::from("-updated_at");
        params
            .into_iter()
            .filter_map(|p| serde_json::from_value(p).ok())
            .collect()
    }
}

/// `GET /{collection}`: a JSON page, or a streamed CSV / GeoJSON export, of the filtered
/// collection as the caller may see it.
pub async fn list<F>(
    req: &HttpRequest,
    state: &AppState,
    caller: Caller,
    filter: F,
    args: ListArgs,
) -> Result<HttpResponse, ApiError>
where
    F: Filter,
    F::Record: Resource,
{
    cache::reads(req, F::Record::READS);
    let vis = caller.visibility();
    let db = state.db.clone();
    let page_filter = filter.clone();
    let page_vis = vis.clone();
    let fetch = move |page: legami_persistence::PageRequest| {
        let db = db.clone();
        let filter = page_filter.clone();
        let vis = page_vis.clone();
        async move {
            let mut p: Page<Hit<F::Record>> = record::page(&db, &filter, &vis, &page).await?;
            F::Record::shown_page(&db, &mut p.items, &vis).await?;
            Ok(p)
        }
    };
    let row_vis = vis.clone();
    let to_value = move |h: &Hit<F::Record>| {
        serde_json::to_value(F::Record::listed(h, &row_vis)).unwrap_or(Value::Null)
    };
    let listing = Listing {
        req,
        secret: &state.cursor_secret,
        caller,
        args,
        name: F::Record::COLLECTION,
        csv_columns: F::Record::CSV_COLUMNS,
    };
    listing::serve(
        listing,
        fetch,
        to_value,
        filter.fingerprint(&state.db, &vis),
    )
    .await
}

/// The handlers of a record resource's one-record operations, from their OpenAPI and route
/// attributes: `get`, `create`, `update` (merge patch), `delete`, `restore`, each calling the
/// generic operation of this module; and `routes`, registering them with the collection's list
/// handler (named first). What stays with the resource is what its attributes say.
macro_rules! record_routes {
    (
        $r:ty, $path:ty, $list:ident;
        $(#[$g:meta])* get $get:ident;
        $(#[$c:meta])* create $create:ident;
        $(#[$u:meta])* update $update:ident;
        $(#[$d:meta])* delete $delete:ident;
        $(#[$x:meta])* restore $restore:ident;
    ) => {
        $(#[$g])*
        pub async fn $get(
            req: actix_web::HttpRequest,
            state: actix_web::web::Data<$crate::state::AppState>,
            caller: $crate::caller::Caller,
            path: actix_web::web::Path<$path>,
            q: $crate::extract::Qs<$crate::routes::writes::OneQuery>,
        ) -> Result<actix_web::HttpResponse, $crate::error::ApiError> {
            $crate::routes::records::get::<$r>(&req, &state, &caller, &path.id, q.0).await
        }

        $(#[$c])*
        pub async fn $create(
            req: actix_web::HttpRequest,
            state: actix_web::web::Data<$crate::state::AppState>,
            caller: $crate::caller::Caller,
            body: $crate::extract::JsonObject,
        ) -> Result<actix_web::HttpResponse, $crate::error::ApiError> {
            $crate::routes::records::create::<$r>(&req, &state, &caller, body).await
        }

        $(#[$u])*
        pub async fn $update(
            req: actix_web::HttpRequest,
            state: actix_web::web::Data<$crate::state::AppState>,
            caller: $crate::caller::Caller,
            path: actix_web::web::Path<$path>,
            body: $crate::extract::JsonObject,
        ) -> Result<actix_web::HttpResponse, $crate::error::ApiError> {
            $crate::routes::records::update::<$r>(&req, &state, &caller, &path.id, body).await
        }

        $(#[$d])*
        pub async fn $delete(
            req: actix_web::HttpRequest,
            state: actix_web::web::Data<$crate::state::AppState>,
            caller: $crate::caller::Caller,
            path: actix_web::web::Path<$path>,
        ) -> Result<actix_web::HttpResponse, $crate::error::ApiError> {
            $crate::routes::records::delete::<$r>(&req, &state, &caller, &path.id).await
        }

        $(#[$x])*
        pub async fn $restore(
            req: actix_web::HttpRequest,
            state: actix_web::web::Data<$crate::state::AppState>,
            caller: $crate::caller::Caller,
            path: actix_web::web::Path<$path>,
        ) -> Result<actix_web::HttpResponse, $crate::error::ApiError> {
            $crate::routes::records::restore::<$r>(&req, &state, &caller, &path.id).await
        }

        /// Registers the collection's routes (and their OpenAPI operations).
        pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
            cfg.service($list)
                .service($create)
                .service($get)
                .service($update)
                .service($delete)
                .service($restore);
        }
    };
}
pub(crate) use record_routes;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_type_name_has_its_collection() {
        assert_eq!(collection_of("lab"), Some("labs"));
        assert_eq!(collection_of("organisation"), Some("organisations"));
        assert_eq!(collection_of("project"), Some("projects"));
        assert_eq!(collection_of("network"), Some("networks"));
        assert_eq!(collection_of("area"), Some("areas"));
        assert_eq!(collection_of("labs"), None);
    }
}
