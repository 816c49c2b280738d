//! What every record table shares (`id`, `slug`, `status`, `version`, `updated_at`,
//! `deleted_at`), written once over table names: slug allocation, soft delete, restore, link
//! tables and the export fingerprint.

use crate::changes::{self, Op};
use crate::error::{StoreError, StoreResult};
use chrono::{DateTime, Utc};
use legami_domain::{IdOrSlug, Slug, Status, Visibility};
use sea_orm::sea_query::{Alias, Cond, Expr, ExprTrait, Query, SelectStatement, SimpleExpr};
use sea_orm::{ConnectionTrait, QueryResult, TransactionSession, TransactionTrait, Value};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

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

/// Rows visible to a caller: live, and published unless the caller may read drafts.
pub(crate) fn visible_cond(table: &str, vis: &Visibility) -> Cond {
    let c = Cond::all().add(Expr::col((a(table), a("deleted_at"))).is_null());
    let Some(orgs) = vis.members() else {
        return c;
    };
    let published = Expr::col((a(table), a("status"))).eq(Status::Published.as_str());
    match owned_cond(table, orgs) {
        Some(owned) => c.add(Cond::any().add(published).add(owned)),
        None => c.add(published),
    }
}

/// Rows of `table` belonging to any of `orgs` (the rule behind members' drafts and editors'
/// rights): an organisation itself, the labs it operates, the projects it leads or is a
/// `lead`/`partner` of, the networks it coordinates. `None` for tables nobody owns.
pub(crate) fn owned_cond(table: &str, orgs: &[Uuid]) -> Option<Cond> {
    let ids = || orgs.iter().map(Uuid::to_string).collect::<Vec<_>>();
    let sub = |link: &str, col: &str, roles: &[&str]| {
        let mut q = Query::select();
        q.column(a(col))
            .from(a(link))
            .and_where(Expr::col(a("organisation_id")).is_in(ids()));
        if !roles.is_empty() {
            q.and_where(Expr::col(a("role")).is_in(roles.iter().copied()));
        }
        q.to_owned()
    };
    let col = |c: &str| Expr::col((a(table), a(c)));
    Some(match table {
        "organisations" => Cond::all().add(col("id").is_in(ids())),
        "labs" => Cond::all().add(col("id").in_subquery(sub("lab_operators", "lab_id", &[]))),
        "projects" => Cond::any()
            .add(col("lead_organisation_id").is_in(ids()))
            .add(col("id").in_subquery(sub(
                "project_partners",
                "project_id",
                &["lead", "partner"],
            ))),
        "networks" => Cond::all().add(col("coordinator_id").is_in(ids())),
        _ => return None,
    })
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

/// Soft-deletes a live record still at `expected_version`, with its change-log entry.
pub(crate) async fn soft_delete<C>(
    db: &C,
    table: &str,
    entity: &str,
    id: Uuid,
    expected_version: i64,
    actor: &crate::audit::Actor,
    before: &serde_json::Value,
) -> StoreResult<()>
where
    C: ConnectionTrait + TransactionTrait,
{
    let id = id.to_string();
    let txn = crate::records::write_txn(db).await?;
    let now = now();
    let q = Query::update()
        .table(a(table))
        .value(a("deleted_at"), now)
        .value(a("updated_at"), now)
        .value(a("version"), Expr::col(a("version")).add(1))
        .and_where(Expr::col(a("id")).eq(id.clone()))
        .and_where(Expr::col(a("version")).eq(expected_version))
        .and_where(Expr::col(a("deleted_at")).is_null())
        .to_owned();
    if txn.execute(&q).await?.rows_affected() == 0 {
        return Err(StoreError::Stale);
    }
    let status = status_of(&txn, table, &id).await?;
    if table == "projects" {
        crate::metrics::refresh_public_rollup(&txn, &id).await?;
    }
    changes::record(&txn, entity, &id, Op::Delete, status, now).await?;
    crate::search::reindex(&txn, entity, &id).await?;
    crate::audit::record_views(&txn, actor, "delete", entity, &id, Some(before), None).await?;
    txn.commit().await?;
    Ok(())
}

async fn status_of(db: &impl ConnectionTrait, table: &str, id: &str) -> StoreResult<Status> {
    let q = Query::select()
        .column(a("status"))
        .from(a(table))
        .and_where(Expr::col(a("id")).eq(id))
        .to_owned();
    let row = db.query_one(&q).await?.ok_or(StoreError::NotFound)?;
    Status::parse(&row.try_get_by_index::<String>(0)?).map_err(|e| StoreError::Db(e.message))
}

/// Undeletes a record (no change when it is live); returns its id.
pub(crate) async fn restore<C>(
    db: &C,
    table: &str,
    entity: &str,
    key: &IdOrSlug,
    actor: &crate::audit::Actor,
) -> StoreResult<String>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::records::write_txn(db).await?;
    let q = Query::select()
        .columns([a("id"), a("deleted_at")])
        .from(a(table))
        .cond_where(key_cond(table, key))
        .to_owned();
    let row = txn.query_one(&q).await?.ok_or(StoreError::NotFound)?;
    let id: String = row.try_get_by_index(0)?;
    let deleted: Option<DateTime<Utc>> = row.try_get_by_index(1)?;
    if deleted.is_some() {
        let now = now();
        let up = Query::update()
            .table(a(table))
            .value(a("deleted_at"), Value::ChronoDateTimeUtc(None))
            .value(a("updated_at"), now)
            .value(a("version"), Expr::col(a("version")).add(1))
            .and_where(Expr::col(a("id")).eq(id.clone()))
            .to_owned();
        txn.execute(&up).await?;
        let status = status_of(&txn, table, &id).await?;
        if table == "projects" {
            crate::metrics::refresh_public_rollup(&txn, &id).await?;
        }
        changes::record(&txn, entity, &id, Op::Upsert, status, now).await?;
        crate::search::reindex(&txn, entity, &id).await?;
        let changes = serde_json::json!({"deleted": {"before": true, "after": false}});
        crate::audit::record(&txn, actor, "restore", entity, &id, changes).await?;
    }
    txn.commit().await?;
    Ok(id)
}

/// Replaces the rows of a link table that belong to `owner`.
pub(crate) async fn replace_links(
    db: &impl ConnectionTrait,
    table: &str,
    owner_col: &str,
    owner: &str,
    cols: &[&str],
    rows: Vec<Vec<Value>>,
) -> StoreResult<()> {
    let del = Query::delete()
        .from_table(a(table))
        .and_where(Expr::col(a(owner_col)).eq(owner))
        .to_owned();
    db.execute(&del).await?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut ins = Query::insert();
    ins.into_table(a(table));
    let mut all_cols = vec![a(owner_col)];
    all_cols.extend(cols.iter().map(|c| a(c)));
    ins.columns(all_cols);
    for r in rows {
        let mut vals: Vec<Expr> = vec![Expr::val(owner.to_owned())];
        vals.extend(r.into_iter().map(Expr::val));
        ins.values(vals)
            .map_err(|e| StoreError::Db(e.to_string()))?;
    }
    db.execute(&ins).await?;
    Ok(())
}

/// Rows of a link table for several owners, grouped by owner, in `order_by` order.
pub(crate) async fn link_rows(
    db: &impl ConnectionTrait,
    table: &str,
    owner_col: &str,
    owners: &[String],
    cols: &[&str],
    order_by: &str,
) -> StoreResult<HashMap<String, Vec<QueryResult>>> {
    let mut map: HashMap<String, Vec<QueryResult>> = HashMap::new();
    if owners.is_empty() {
        return Ok(map);
    }
    let mut q = Query::select();
    q.column(a(owner_col));
    for c in cols {
        q.column(a(c));
    }
    q.from(a(table))
        .and_where(Expr::col(a(owner_col)).is_in(owners.iter().cloned()))
        .order_by(a(order_by), sea_orm::Order::Asc);
    for row in db.query_all(&q).await? {
        let owner: String = row.try_get_by_index(0)?;
        map.entry(owner).or_default().push(row);
    }
    Ok(map)
}

/// Size, sum of versions and latest change of the rows a condition selects.
pub(crate) async fn fingerprint(
    db: &impl ConnectionTrait,
    table: &str,
    cond: Cond,
) -> StoreResult<String> {
    let q = Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .expr(Expr::cust("COALESCE(CAST(SUM(version) AS BIGINT), 0)"))
        .expr(Expr::cust("CAST(MAX(updated_at) AS TEXT)"))
        .from(a(table))
        .cond_where(cond)
        .to_owned();
    let row = db.query_one(&q).await?.ok_or(StoreError::NotFound)?;
    let n: i64 = row.try_get_by_index(0)?;
    let v: i64 = row.try_get_by_index(1)?;
    let t: Option<String> = row.try_get_by_index(2)?;
    Ok(format!("{n}:{v}:{}", t.unwrap_or_default()))
}

/// The ids among `ids` of records of `table` that `vis` may see (read in bounded chunks).
pub(crate) async fn visible_ids(
    db: &impl ConnectionTrait,
    table: &str,
    ids: &[Uuid],
    vis: &Visibility,
) -> StoreResult<HashSet<Uuid>> {
    let mut out = HashSet::new();
    for chunk in ids.chunks(500) {
        let q = Query::select()
            .column((a(table), a("id")))
            .from(a(table))
            .cond_where(
                visible_cond(table, vis)
                    .add(Expr::col((a(table), a("id"))).is_in(chunk.iter().map(Uuid::to_string))),
            )
            .to_owned();
        let found: HashSet<String> = first_column(db, &q).await?;
        out.extend(found.iter().filter_map(|i| Uuid::try_parse(i).ok()));
    }
    Ok(out)
}

/// Ids among `ids` that name no live record of `table`.
pub(crate) async fn missing_ids(
    db: &impl ConnectionTrait,
    table: &str,
    ids: &[Uuid],
) -> StoreResult<Vec<Uuid>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let q = Query::select()
        .column(a("id"))
        .from(a(table))
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

/// Municipalities of an area given by id or slug; `None` when there is no such live area.
pub async fn area_municipalities(
    db: &impl ConnectionTrait,
    key: &IdOrSlug,
    vis: &Visibility,
) -> StoreResult<Option<Vec<String>>> {
    let q = Query::select()
        .column(a("id"))
        .from(a("areas"))
        .cond_where(key_cond("areas", key).add(visible_cond("areas", vis)))
        .to_owned();
    let Some(row) = db.query_one(&q).await? else {
        return Ok(None);
    };
    let id: String = row.try_get_by_index(0)?;
    let q = Query::select()
        .column(a("municipality"))
        .from(a("area_municipalities"))
        .and_where(Expr::col(a("area_id")).eq(id))
        .to_owned();
    Ok(Some(first_column(db, &q).await?))
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

/// Reads up to `limit + 1` rows of one record table after the cursor, ordered by
/// (`sort_column`, `id`), plus the exact total when asked for. Timestamps in cursors are RFC 3339.
pub(crate) async fn keyset_rows<E>(
    db: &impl ConnectionTrait,
    cond: Cond,
    page: &crate::PageRequest,
    sort_column: &str,
) -> StoreResult<(Vec<E::Model>, Option<u64>)>
where
    E: sea_orm::EntityTrait,
    E::Model: Sync,
{
    use sea_orm::{PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
    let total = if page.count {
        Some(E::find().filter(cond.clone()).count(db).await?)
    } else {
        None
    };
    let order = if page.sort.desc {
        sea_orm::Order::Desc
    } else {
        sea_orm::Order::Asc
    };
    let mut q = E::find().filter(cond);
    if let Some(pos) = &page.after {
        let key = if sort_column.ends_with("_at") {
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
        let after = crate::pagination::after_expr(
            Expr::col(a(sort_column)),
            Expr::col(a("id")),
            page.sort.desc,
            key,
            &pos.id,
        );
        q = q.filter(after);
    }
    let rows = q
        .order_by(Expr::col(a(sort_column)), order.clone())
        .order_by(Expr::col(a("id")), order)
        .limit(page.limit + 1)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Writes `am` over the live record `id` only if it is still at `expected_version`.
pub(crate) async fn update_versioned<E, A>(
    db: &impl ConnectionTrait,
    am: A,
    id: &str,
    expected_version: i64,
) -> StoreResult<()>
where
    E: sea_orm::EntityTrait,
    A: sea_orm::ActiveModelTrait<Entity = E> + Send,
{
    use sea_orm::QueryFilter;
    let res = E::update_many()
        .set(am)
        .filter(Expr::col(a("id")).eq(id.to_owned()))
        .filter(Expr::col(a("version")).eq(expected_version))
        .filter(Expr::col(a("deleted_at")).is_null())
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Err(StoreError::Stale);
    }
    Ok(())
}

/// Where a page ends, for a record sorted by `field` (`name`/`title` by default): the sort key as
/// text (timestamps in RFC 3339) and the id.
pub(crate) fn keyset_pos(
    meta: &legami_domain::RecordMeta,
    field: &str,
    title: &str,
) -> crate::KeysetPos {
    let key = match field {
        "slug" => meta.slug.as_str().to_owned(),
        "created_at" => crate::organisations::ts_key(&meta.created_at),
        "updated_at" => crate::organisations::ts_key(&meta.updated_at),
        _ => title.to_owned(),
    };
    crate::KeysetPos {
        key,
        id: meta.id.to_string(),
    }
}
