//! SQL helpers under [`crate::record`]: sets of any size, keys, slug allocation, counts and the
//! write transaction.

use crate::error::{StoreError, StoreResult};
use chrono::{DateTime, Utc};
use legami_domain::{IdOrSlug, Slug};
use sea_orm::sea_query::{Alias, Cond, Expr, ExprTrait, Query, SelectStatement, SimpleExpr};
use sea_orm::{ConnectionTrait, TransactionTrait, Value};
use std::collections::HashSet;

pub(crate) fn a(name: &str) -> Alias {
    Alias::new(name)
}

/// The current time, truncated to microseconds so it round-trips through both databases.
pub(crate) fn now() -> DateTime<Utc> {
    let t = Utc::now();
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// Sets longer than this are bound as one JSON array instead of one bind per element.
pub(crate) const SHORT_SET: usize = 64;

/// `{col} IN (values)` for a set of any size: a short set binds each element (the planner sees
/// the values), a longer one is bound once as a JSON array, so no client-sized set can exceed
/// the database's bind limit. `col` is SQL (quoted where needed); an empty set matches nothing.
pub(crate) fn in_set(backend: sea_orm::DbBackend, col: &str, values: &[String]) -> SimpleExpr {
    if values.is_empty() {
        return Expr::cust("1 = 0");
    }
    if values.len() <= SHORT_SET {
        return Expr::cust(col.to_owned()).is_in(values.iter().cloned());
    }
    let json = Value::from(serde_json::Value::from(values.to_vec()).to_string());
    match backend {
        sea_orm::DbBackend::Postgres => Expr::cust_with_values(
            format!("{col} IN (SELECT jsonb_array_elements_text(CAST($1 AS jsonb)))"),
            [json],
        ),
        _ => Expr::cust_with_values(format!("{col} IN (SELECT value FROM json_each(?))"), [json]),
    }
}

/// [`in_set`] for hand-written SQL: returns the condition, pushing its binds to `vals` and
/// naming each with `placeholder` (`$n` or `?`, as the statement numbers them).
pub(crate) fn in_set_sql(
    backend: sea_orm::DbBackend,
    col: &str,
    values: &[String],
    vals: &mut Vec<Value>,
    mut placeholder: impl FnMut(Value, &mut Vec<Value>) -> String,
) -> String {
    if values.is_empty() {
        return "1 = 0".into();
    }
    if values.len() <= SHORT_SET {
        let list: Vec<String> = values
            .iter()
            .map(|v| placeholder(Value::from(v.clone()), vals))
            .collect();
        return format!("{col} IN ({})", list.join(", "));
    }
    let json = Value::from(serde_json::Value::from(values.to_vec()).to_string());
    let ph = placeholder(json, vals);
    match backend {
        sea_orm::DbBackend::Postgres => {
            format!("{col} IN (SELECT jsonb_array_elements_text(CAST({ph} AS jsonb)))")
        }
        _ => format!("{col} IN (SELECT value FROM json_each({ph}))"),
    }
}

/// `SELECT col FROM table WHERE where_col IN (values)`: e.g. the records a link table joins to
/// any of `values`.
pub(crate) fn sub<V: Into<Value>>(
    table: &str,
    col: &str,
    where_col: &str,
    values: impl IntoIterator<Item = V>,
) -> SelectStatement {
    Query::select()
        .column(a(col))
        .from(a(table))
        .and_where(Expr::col(a(where_col)).is_in(values))
        .to_owned()
}

/// The ISTAT codes of the municipalities of these provinces.
pub(crate) fn of_provinces(provinces: &[legami_domain::ProvinceAbbr]) -> SelectStatement {
    sub(
        "municipalities",
        "istat_code",
        "province_abbr",
        provinces.iter().map(|p| p.as_str().to_owned()),
    )
}

/// Codes as the strings the tables hold.
pub(crate) fn texts(codes: &[legami_domain::IstatCode]) -> Vec<String> {
    codes.iter().map(|c| c.as_str().to_owned()).collect()
}

/// The condition naming a record by id or slug.
pub(crate) fn key_cond(table: &str, key: &IdOrSlug) -> Cond {
    match key {
        IdOrSlug::Id(id) => Cond::all().add(Expr::col((a(table), a("id"))).eq(id.to_string())),
        IdOrSlug::Slug(s) => Cond::all().add(Expr::col((a(table), a("slug"))).eq(s.as_str())),
    }
}

/// Whether another record of `table` has this slug (tombstones included).
pub(crate) async fn slug_taken(
    db: &impl ConnectionTrait,
    table: &str,
    slug: &Slug,
    own_id: Option<&str>,
) -> StoreResult<bool> {
    let mut q = Query::select();
    q.expr(Expr::cust("COUNT(*)"))
        .from(a(table))
        .and_where(Expr::col(a("slug")).eq(slug.as_str()));
    if let Some(id) = own_id {
        q.and_where(Expr::col(a("id")).ne(id));
    }
    Ok(count(db, &q).await? > 0)
}

/// The text values of a query's first column (rows where it is not text are skipped).
pub(crate) async fn first_column<T: FromIterator<String>>(
    db: &impl ConnectionTrait,
    q: &SelectStatement,
) -> StoreResult<T> {
    Ok(db
        .query_all(q)
        .await?
        .into_iter()
        .filter_map(|r| r.try_get_by_index::<String>(0).ok())
        .collect())
}

pub(crate) async fn count(db: &impl ConnectionTrait, q: &SelectStatement) -> StoreResult<i64> {
    let row = db.query_one(q).await?.ok_or(StoreError::NotFound)?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// The derived slug, with the smallest free numeric suffix when the plain one is taken.
///
/// Candidates are probed by equality, a window at a time (`base`, `base-2` ... `base-64`, then
/// the next 64), so each probe is an index lookup on both databases; a `LIKE 'base-%'` is a
/// full scan on SQLite (its LIKE folds case) and on PostgreSQL outside the C collation, which
/// made every create slower as the table grew.
pub(crate) async fn free_slug(
    db: &impl ConnectionTrait,
    table: &str,
    base: Slug,
) -> StoreResult<Slug> {
    const WINDOW: u32 = 64;
    let mut first = 1;
    loop {
        let candidates: Vec<Slug> = (first..first + WINDOW)
            .map(|n| {
                if n == 1 {
                    base.clone()
                } else {
                    base.with_suffix(n)
                }
            })
            .collect();
        let q = Query::select()
            .column(a("slug"))
            .from(a(table))
            .and_where(Expr::col(a("slug")).is_in(candidates.iter().map(|c| c.as_str().to_owned())))
            .to_owned();
        let taken: HashSet<String> = first_column(db, &q).await?;
        if let Some(free) = candidates.into_iter().find(|c| !taken.contains(c.as_str())) {
            return Ok(free);
        }
        first += WINDOW;
    }
}

/// Opens a write transaction. On SQLite it is `BEGIN IMMEDIATE`, so concurrent writers queue on
/// the busy timeout instead of failing when a read lock cannot be upgraded; elsewhere a plain
/// `BEGIN` (nested calls become savepoints).
pub(crate) async fn write_txn<C: TransactionTrait>(db: &C) -> StoreResult<C::Transaction> {
    let options = sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    Ok(db.begin_with_options(options).await?)
}
