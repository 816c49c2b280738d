//! The read path of every record type: one statement per page, links aggregated in it.

use super::*;
use crate::geo::Near;
use crate::pagination::{KeysetPos, Page, PageRequest, finish};
use crate::records::{first_column, key_cond};
use chrono::{DateTime, SecondsFormat, Utc};
use legami_domain::IdOrSlug;
use sea_orm::sea_query::{Asterisk, Query, SelectStatement};
use sea_orm::{DbBackend, FromQueryResult, QueryFilter, QueryTrait};
use std::collections::HashSet;

/// A correlated subquery giving a record's rows of link `l` as one JSON array of arrays (text).
pub(crate) fn link_json(backend: DbBackend, table: &str, l: &Link) -> String {
    let cols = l.cols.join(", ");
    let owned = format!(r#"{}.{} = "{table}"."id""#, l.table, l.owner);
    match backend {
        DbBackend::Postgres => format!(
            "(SELECT CAST(COALESCE(json_agg(json_build_array({cols}) ORDER BY {}), '[]') AS TEXT) FROM {} WHERE {owned})",
            l.order_by, l.table
        ),
        _ => format!(
            "(SELECT json_group_array(json_array({cols}) ORDER BY {}) FROM {} WHERE {owned})",
            l.order_by, l.table
        ),
    }
}

/// The statement reading rows of `R` with their links, where `cond` holds.
fn select<R: Record>(backend: DbBackend, cond: Cond) -> SelectStatement {
    let mut q = R::Entity::find().filter(cond).into_query();
    add_links::<R>(&mut q, backend);
    q
}

/// Adds the link columns (`link_0`, ...) of the rows of `R` a statement selects.
fn add_links<R: Record>(q: &mut SelectStatement, backend: DbBackend) {
    for (i, l) in R::LINKS.iter().enumerate() {
        q.expr_as(
            Expr::cust(link_json(backend, R::TABLE, l)),
            a(&format!("link_{i}")),
        );
    }
}

/// [`read`], in this thread when `db` is an SQLite pool ([`crate::inline`]).
async fn read_fast<R: Record>(
    db: &(impl ConnectionTrait + 'static),
    q: &SelectStatement,
) -> StoreResult<Vec<R>> {
    if let Some(rows) = inline_rows::<R>(db, q) {
        return rows.into_iter().map(from_inline::<R>).collect();
    }
    read(db, q).await
}

async fn read<R: Record>(db: &impl ConnectionTrait, q: &SelectStatement) -> StoreResult<Vec<R>> {
    let rows = db.query_all(q).await?;
    rows.iter()
        .map(|r| {
            let row = Row::<R>::from_query_result(r, "")?;
            let links = (0..R::LINKS.len())
                .map(|i| {
                    let json: String = r.try_get("", &format!("link_{i}"))?;
                    serde_json::from_str(&json).map_err(|e| StoreError::Db(e.to_string()))
                })
                .collect::<StoreResult<_>>()?;
            R::from_row(row, Links(links))
        })
        .collect()
}

/// The rows of `q` read in this thread when `db` is an SQLite pool ([`crate::inline`]): never
/// inside a transaction, which has its own connection.
pub(crate) fn inline(
    db: &dyn std::any::Any,
    q: &SelectStatement,
    types: &[(&str, sea_orm::sea_query::ColumnType)],
) -> Option<Vec<crate::inline::Row>> {
    let pool = db.downcast_ref::<sea_orm::DatabaseConnection>()?;
    if pool.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    let (sql, values) = q.build(sea_orm::sea_query::SqliteQueryBuilder);
    crate::inline::query(pool, &sql, &values.0, types)
}

/// [`inline`] with each row as its columns in order, by their storage class (for statements of
/// many rows: no names per row).
pub(crate) fn inline_values(
    db: &dyn std::any::Any,
    q: &SelectStatement,
) -> Option<Vec<Vec<serde_json::Value>>> {
    let pool = db.downcast_ref::<sea_orm::DatabaseConnection>()?;
    if pool.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    let (sql, values) = q.build(sea_orm::sea_query::SqliteQueryBuilder);
    crate::inline::query_values(pool, &sql, &values.0)
}

/// [`inline`] for the rows of `R`, each column typed as its model declares it.
fn inline_rows<R: Record>(
    db: &dyn std::any::Any,
    q: &SelectStatement,
) -> Option<Vec<crate::inline::Row>> {
    let types: Vec<(&str, sea_orm::sea_query::ColumnType)> =
        <<R::Entity as EntityTrait>::Column as sea_orm::Iterable>::iter()
            .map(|c| {
                let def = sea_orm::ColumnTrait::def(&c);
                (
                    sea_orm::IdenStatic::as_str(&c),
                    def.get_column_type().clone(),
                )
            })
            .collect();
    inline(db, q, &types)
}

/// `COUNT(*)` statement's answer, in this thread when it can be.
async fn count_fast(
    db: &(impl ConnectionTrait + 'static),
    q: &SelectStatement,
) -> StoreResult<i64> {
    let counted = inline(db, q, &[]).and_then(|rows| rows.first()?.values().next()?.as_i64());
    match counted {
        Some(n) => Ok(n),
        None => crate::records::count(db, q).await,
    }
}

/// A record from a row read in this thread (its link columns are JSON text).
fn from_inline<R: Record>(mut row: crate::inline::Row) -> StoreResult<R> {
    let bad = |e: serde_json::Error| StoreError::Db(e.to_string());
    let links = (0..R::LINKS.len())
        .map(|i| match row.remove(&format!("link_{i}")) {
            Some(serde_json::Value::String(json)) => serde_json::from_str(&json).map_err(bad),
            _ => Err(StoreError::Db(format!("link_{i} is not text"))),
        })
        .collect::<StoreResult<_>>()?;
    let model: Row<R> = serde_json::from_value(serde_json::Value::Object(row)).map_err(bad)?;
    R::from_row(model, Links(links))
}

/// Every record of `R` where `cond` holds (unordered).
pub async fn all<R: Record>(
    db: &(impl ConnectionTrait + 'static),
    cond: Cond,
) -> StoreResult<Vec<R>> {
    read_fast(db, &select::<R>(db.get_database_backend(), cond)).await
}

/// One live record by id or slug, if the caller may see it.
pub async fn find<R: Record>(
    db: &(impl ConnectionTrait + 'static),
    key: &IdOrSlug,
    vis: &Visibility,
) -> StoreResult<R> {
    let cond = key_cond(R::TABLE, key).add(visible::<R>(vis));
    all(db, cond).await?.pop().ok_or(StoreError::NotFound)
}

/// A record by id, deleted or not.
pub(super) async fn load<R: Record>(db: &impl ConnectionTrait, id: &str) -> StoreResult<R> {
    let cond = Cond::all().add(col::<R>("id").eq(id));
    read(db, &select::<R>(db.get_database_backend(), cond))
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

/// Text form of a timestamp that sorts and parses back exactly.
pub fn ts_key(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Where a page ends, for a record sorted by `field` (its label by default).
fn keyset_pos(meta: &RecordMeta, field: &str, label: &str) -> KeysetPos {
    let key = match field {
        "slug" => meta.slug.as_str().to_owned(),
        "created_at" => ts_key(&meta.created_at),
        "updated_at" => ts_key(&meta.updated_at),
        _ => label.to_owned(),
    };
    KeysetPos {
        key,
        id: meta.id.to_string(),
    }
}

/// One page of the records where `cond` holds, ordered by (`page.sort.field`, `id`), with the
/// exact total when asked for. Timestamps in cursors are RFC 3339.
pub async fn list<R: Record>(
    db: &(impl ConnectionTrait + 'static),
    cond: Cond,
    page: &PageRequest,
) -> StoreResult<Page<R>> {
    let field = page.sort.field;
    let total = if page.count {
        let q = Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from(a(R::TABLE))
            .cond_where(cond.clone())
            .to_owned();
        Some(u64::try_from(count_fast(db, &q).await?).unwrap_or(0))
    } else {
        None
    };
    let order = if page.sort.desc {
        sea_orm::Order::Desc
    } else {
        sea_orm::Order::Asc
    };
    let mut cond = cond;
    if let Some(pos) = &page.after {
        let key = if field.ends_with("_at") {
            DateTime::parse_from_rfc3339(&pos.key)
                .map(|t| Value::from(t.with_timezone(&Utc)))
                .map_err(|_| {
                    StoreError::Invalid(
                        legami_domain::FieldError::new("invalid", "bad cursor")
                            .at("cursor")
                            .into(),
                    )
                })?
        } else {
            Value::from(pos.key.clone())
        };
        cond = cond.add(crate::pagination::after_expr(
            col::<R>(field),
            col::<R>("id"),
            page.sort.desc,
            key,
            &pos.id,
        ));
    }
    // The page is cut first and its links read after: link subqueries in the statement that
    // sorts would run for every matching row, not only for the page's.
    let mut page_rows = R::Entity::find().filter(cond).into_query();
    page_rows
        .order_by_expr(col::<R>(field), order.clone())
        .order_by_expr(col::<R>("id"), order.clone())
        .limit(page.limit + 1);
    let mut q = Query::select();
    q.column((a(R::TABLE), Asterisk))
        .from_subquery(page_rows, a(R::TABLE));
    add_links::<R>(&mut q, db.get_database_backend());
    q.order_by_expr(col::<R>(field), order.clone())
        .order_by_expr(col::<R>("id"), order);
    let items = read_fast::<R>(db, &q).await?;
    let (items, next) = finish(items, page.limit, |r| {
        keyset_pos(r.meta(), field, r.label())
    });
    Ok(Page { items, next, total })
}

/// A record with its distance from the `near` point, when one was given.
pub type Hit<R> = (R, Option<f64>);

/// [`list`] for a located record type, with a radius search when `near` is given: the lat/lon
/// index narrows to the enclosing box (which `cond` must already require), the exact
/// great-circle distance decides, the page is cut by keyset over light rows, and only the page's
/// records are read whole.
pub async fn list_near<R: Record>(
    db: &(impl ConnectionTrait + 'static),
    cond: Cond,
    near: Option<Near>,
    page: &PageRequest,
) -> StoreResult<Page<Hit<R>>> {
    let Some(n) = near else {
        return Ok(list::<R>(db, cond, page).await?.map(|r| (r, None)));
    };
    let q = Query::select()
        .exprs(
            [
                "id",
                "lat",
                "lon",
                "slug",
                R::LABEL,
                "created_at",
                "updated_at",
            ]
            .map(col::<R>),
        )
        .from(a(R::TABLE))
        .cond_where(cond)
        .to_owned();
    struct Light {
        id: String,
        at: Option<(f64, f64)>,
        slug: String,
        label: String,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }
    let rows = db
        .query_all(&q)
        .await?
        .iter()
        .map(|r| {
            let lat: Option<f64> = r.try_get_by_index(1)?;
            let lon: Option<f64> = r.try_get_by_index(2)?;
            Ok(Light {
                id: r.try_get_by_index(0)?,
                at: lat.zip(lon),
                slug: r.try_get_by_index(3)?,
                label: r.try_get_by_index(4)?,
                created_at: r.try_get_by_index(5)?,
                updated_at: r.try_get_by_index(6)?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let field = page.sort.field;
    let (hits, next, total) = crate::geo::radius_page(
        rows,
        n,
        |m| m.at,
        |m, d| match field {
            "slug" => m.slug.clone(),
            "created_at" => ts_key(&m.created_at),
            "updated_at" => ts_key(&m.updated_at),
            "distance" => format!("{d:.9}"),
            _ => m.label.clone(),
        },
        |m| m.id.clone(),
        page,
    );
    let ids: Vec<String> = hits.iter().map(|(m, _)| m.id.clone()).collect();
    let backend = db.get_database_backend();
    let mut found = all::<R>(
        db,
        Cond::all().add(crate::records::in_set(
            backend,
            &format!(r#""{}"."id""#, R::TABLE),
            &ids,
        )),
    )
    .await?;
    let items = hits
        .into_iter()
        .filter_map(|(m, d)| {
            let i = found.iter().position(|r| r.meta().id.to_string() == m.id)?;
            Some((found.swap_remove(i), Some(d)))
        })
        .collect();
    Ok(Page {
        items,
        next,
        total: page.count.then_some(total),
    })
}

/// Size, sum of versions and latest change of the rows a condition selects (for export ETags).
pub async fn fingerprint<R: Record>(db: &impl ConnectionTrait, cond: Cond) -> StoreResult<String> {
    let q = Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .expr(Expr::cust("COALESCE(CAST(SUM(version) AS BIGINT), 0)"))
        .expr(Expr::cust("CAST(MAX(updated_at) AS TEXT)"))
        .from(a(R::TABLE))
        .cond_where(cond)
        .to_owned();
    let row = db.query_one(&q).await?.ok_or(StoreError::NotFound)?;
    let n: i64 = row.try_get_by_index(0)?;
    let v: i64 = row.try_get_by_index(1)?;
    let t: Option<String> = row.try_get_by_index(2)?;
    Ok(format!("{n}:{v}:{}", t.unwrap_or_default()))
}

/// The ids among `ids` of records of `R` that `vis` may see (read in bounded chunks).
pub async fn visible_ids<R: Record>(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
    vis: &Visibility,
) -> StoreResult<HashSet<Uuid>> {
    let mut out = HashSet::new();
    for chunk in ids.chunks(500) {
        let q = Query::select()
            .column((a(R::TABLE), a("id")))
            .from(a(R::TABLE))
            .cond_where(
                visible::<R>(vis).add(col::<R>("id").is_in(chunk.iter().map(Uuid::to_string))),
            )
            .to_owned();
        let found: HashSet<String> = first_column(db, &q).await?;
        out.extend(found.iter().filter_map(|i| Uuid::try_parse(i).ok()));
    }
    Ok(out)
}

/// Ids among `ids` that name no live record of `R`.
pub async fn missing<R: Record>(db: &impl ConnectionTrait, ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let q = Query::select()
        .column(a("id"))
        .from(a(R::TABLE))
        .and_where(Expr::col(a("id")).is_in(ids.iter().map(Uuid::to_string)))
        .and_where(Expr::col(a("deleted_at")).is_null())
        .to_owned();
    let found: HashSet<String> = first_column(db, &q).await?;
    Ok(ids
        .iter()
        .filter(|i| !found.contains(&i.to_string()))
        .copied()
        .collect())
}

/// The filters of a collection (`GET /labs?...`): the condition they make for a caller.
pub trait Filter: Clone + Send + Sync + 'static {
    /// The record type filtered.
    type Record: Record;
    /// Rows matching the filters that `vis` may see.
    fn cond(&self, vis: &Visibility, backend: DbBackend) -> Cond;
    /// The radius search, for located types.
    fn near(&self) -> Option<Near> {
        None
    }
    /// A fingerprint of the filtered collection that changes whenever a record in it changes,
    /// enters or leaves it, so streamed exports carry a strong ETag without being buffered.
    fn fingerprint<C: ConnectionTrait>(
        &self,
        db: &C,
        vis: &Visibility,
    ) -> impl Future<Output = StoreResult<String>> + Send {
        let cond = self.cond(vis, db.get_database_backend());
        async move { fingerprint::<Self::Record>(db, cond).await }
    }
}

/// One page of the filtered collection (with distances when searched by radius).
pub async fn page<F: Filter>(
    db: &(impl ConnectionTrait + 'static),
    f: &F,
    vis: &Visibility,
    page: &PageRequest,
) -> StoreResult<Page<Hit<F::Record>>> {
    let cond = f.cond(vis, db.get_database_backend());
    list_near::<F::Record>(db, cond, f.near(), page).await
}
