//! One mechanism for every record resource (organisations, labs, projects, networks, areas).
//!
//! A resource implements [`Record`] once: its table, how a row with its links becomes the domain
//! type, its checks, its link tables, its search document, its ownership rule and its after-write
//! hook. Reading (`find`, `list`, `fingerprint`) and writing (`create`, `update`, `delete`,
//! `restore`) are written here, once: every write goes through one transaction that also appends
//! to the change log, rewrites the search document and writes the audit entry, so no resource
//! can forget them. A record's links are read in the statement that reads the record, aggregated
//! by the database (`json_group_array` on SQLite, `json_agg` on PostgreSQL).

use crate::audit::{Actor, Audit};
use crate::changes::{self, Op};
use crate::error::{StoreError, StoreResult};
use crate::geo::Near;
use crate::pagination::{KeysetPos, Page, PageRequest, finish};
use crate::records::{a, first_column, key_cond, now, write_txn};
use crate::search::{self, Document};
use chrono::{DateTime, SecondsFormat, Utc};
use legami_domain::{IdOrSlug, RecordMeta, Slug, Status, Visibility};
use sea_orm::sea_query::{Cond, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter,
    QueryTrait, TransactionSession, TransactionTrait, Value,
};
use std::collections::HashSet;
use std::future::Future;
use std::str::FromStr;
use uuid::Uuid;

/// The sea-orm row of a record type.
pub type Row<R> = <<R as Record>::Entity as EntityTrait>::Model;
/// The sea-orm active model of a record type.
pub type Active<R> = <<R as Record>::Entity as EntityTrait>::ActiveModel;

/// A table of rows belonging to a record (`lab_themes` of a lab).
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// The link table.
    pub table: &'static str,
    /// Its column naming the owning record.
    pub owner: &'static str,
    /// The columns read back, in order (all text).
    pub cols: &'static [&'static str],
    /// The order rows are read in.
    pub order_by: &'static str,
    /// A column numbering the rows as written (their order), when the table has one.
    pub position: Option<&'static str>,
}

impl Link {
    /// A link table read in `order_by` order.
    pub const fn new(
        table: &'static str,
        owner: &'static str,
        cols: &'static [&'static str],
        order_by: &'static str,
    ) -> Self {
        Self {
            table,
            owner,
            cols,
            order_by,
            position: None,
        }
    }

    /// A link table keeping the order its rows were written in, in column `position`.
    pub const fn ordered(
        table: &'static str,
        owner: &'static str,
        cols: &'static [&'static str],
        position: &'static str,
    ) -> Self {
        Self {
            table,
            owner,
            cols,
            order_by: position,
            position: Some(position),
        }
    }
}

/// The link rows of one record, one list per [`Record::LINKS`] entry, each row its columns.
#[derive(Debug, Default)]
pub struct Links(Vec<Vec<Vec<Option<String>>>>);

impl Links {
    /// The rows of link `i` (taken: each is read once).
    pub fn rows(&mut self, i: usize) -> Vec<Vec<Option<String>>> {
        self.0.get_mut(i).map(std::mem::take).unwrap_or_default()
    }

    /// The first column of link `i`'s rows.
    pub fn column(&mut self, i: usize) -> StoreResult<Vec<String>> {
        self.rows(i)
            .into_iter()
            .map(|r| text(r.into_iter().next().flatten()))
            .collect()
    }
}

/// A link column that must not be null.
pub fn text(v: Option<String>) -> StoreResult<String> {
    v.ok_or_else(|| StoreError::Db("a stored link has an empty column".into()))
}

/// What a write says about itself: its wanted slug, its label (name or title) and status.
pub struct About<'a> {
    /// The slug asked for, if any.
    pub slug: Option<&'a Slug>,
    /// Name or title (a slug is derived from it).
    pub label: &'a str,
    /// Publication status.
    pub status: Status,
}

/// Which write an after-write hook follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// A new record.
    Created,
    /// A changed record; whether its status changed.
    Updated {
        /// The status is not what it was.
        status_changed: bool,
    },
    /// A soft delete.
    Deleted,
    /// An undelete.
    Restored,
}

/// The methods of [`Record`] every record type writes the same way, for a type with `meta` and
/// `fields` whose fields have `slug`, `status` and the label field named here.
macro_rules! named_by {
    ($label:ident) => {
        fn meta(&self) -> &legami_domain::RecordMeta {
            &self.meta
        }

        fn label(&self) -> &str {
            &self.fields.$label
        }

        fn about(f: &Self::Fields) -> crate::record::About<'_> {
            crate::record::About {
                slug: f.slug.as_ref(),
                label: &f.$label,
                status: f.status,
            }
        }
    };
}
pub(crate) use named_by;

/// A record resource: what is particular to it. Everything else is in this module.
pub trait Record: Sized + Send + Sync + 'static {
    /// Its sea-orm entity (the record's own table).
    type Entity: EntityTrait;
    /// What a client writes.
    type Fields: Send + Sync;
    /// The table.
    const TABLE: &'static str;
    /// Its name in the change log, the audit and the search index (`lab`).
    const ENTITY: &'static str;
    /// The column it is named by and sorted by default (`name`, `title`).
    const LABEL: &'static str;
    /// Its link tables.
    const LINKS: &'static [Link] = &[];

    /// Bookkeeping.
    fn meta(&self) -> &RecordMeta;
    /// Name or title.
    fn label(&self) -> &str;
    /// The record from its row and its links.
    fn from_row(row: Row<Self>, links: Links) -> StoreResult<Self>;
    /// Writes the fields into a row (everything but id, slug and bookkeeping).
    fn fill(am: &mut Active<Self>, f: &Self::Fields) -> StoreResult<()>;
    /// Slug, label and status of a write.
    fn about(f: &Self::Fields) -> About<'_>;
    /// The rows of each link table (aligned with [`Record::LINKS`]; a position column, when the
    /// link has one, is filled in).
    fn links(_f: &Self::Fields) -> Vec<Vec<Vec<Value>>> {
        Vec::new()
    }
    /// The rows belonging to any of `orgs` (drafts they read, records they change); `None` when
    /// nobody owns this type.
    fn owned(_orgs: &[Uuid]) -> Option<Cond> {
        None
    }
    /// What only the database knows (references exist, unique fields are free), before the slug.
    fn check<C: ConnectionTrait>(
        db: &C,
        f: &Self::Fields,
        own_id: Option<&str>,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Refuses a delete (in its transaction), when something depends on the record.
    fn before_delete<C: ConnectionTrait>(
        _db: &C,
        _id: Uuid,
    ) -> impl Future<Output = StoreResult<()>> + Send {
        async { Ok(()) }
    }
    /// Keeps derived data right after a write, in its transaction.
    fn after_write<C: ConnectionTrait>(
        _db: &C,
        _id: &str,
        _write: Write,
    ) -> impl Future<Output = StoreResult<()>> + Send {
        async { Ok(()) }
    }
    /// Its search document.
    fn document(&self) -> Document;
}

/// Rows of `R` visible to a caller: live, and published unless the caller may read drafts (its
/// own, by [`Record::owned`], or all).
pub fn visible<R: Record>(vis: &Visibility) -> Cond {
    let c = Cond::all().add(Expr::col((a(R::TABLE), a("deleted_at"))).is_null());
    let Some(orgs) = vis.members() else {
        return c;
    };
    let published = Expr::col((a(R::TABLE), a("status"))).eq(Status::Published.as_str());
    match R::owned(orgs) {
        Some(owned) => c.add(Cond::any().add(published).add(owned)),
        None => c.add(published),
    }
}

/// The column `col` of `R`'s table, as an expression.
pub fn col<R: Record>(col: &str) -> Expr {
    Expr::col((a(R::TABLE), a(col)))
}

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
    for (i, l) in R::LINKS.iter().enumerate() {
        q.expr_as(
            Expr::cust(link_json(backend, R::TABLE, l)),
            a(&format!("link_{i}")),
        );
    }
    q
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

/// Every record of `R` where `cond` holds (unordered).
pub async fn all<R: Record>(db: &impl ConnectionTrait, cond: Cond) -> StoreResult<Vec<R>> {
    read(db, &select::<R>(db.get_database_backend(), cond)).await
}

/// One live record by id or slug, if the caller may see it.
pub async fn find<R: Record>(
    db: &impl ConnectionTrait,
    key: &IdOrSlug,
    vis: &Visibility,
) -> StoreResult<R> {
    let cond = key_cond(R::TABLE, key).add(visible::<R>(vis));
    all(db, cond).await?.pop().ok_or(StoreError::NotFound)
}

/// A record by id, deleted or not.
async fn load<R: Record>(db: &impl ConnectionTrait, id: &str) -> StoreResult<R> {
    all(db, Cond::all().add(col::<R>("id").eq(id)))
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
    db: &impl ConnectionTrait,
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
        Some(u64::try_from(crate::records::count(db, &q).await?).unwrap_or(0))
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
    let mut q = select::<R>(db.get_database_backend(), cond);
    q.order_by_expr(col::<R>(field), order.clone())
        .order_by_expr(col::<R>("id"), order)
        .limit(page.limit + 1);
    let items = read::<R>(db, &q).await?;
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
    db: &impl ConnectionTrait,
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

fn column<R: Record>(name: &str) -> StoreResult<<R::Entity as EntityTrait>::Column> {
    <R::Entity as EntityTrait>::Column::from_str(name)
        .map_err(|_| StoreError::Db(format!("{} has no column {name}", R::TABLE)))
}

async fn check<R: Record>(
    db: &impl ConnectionTrait,
    f: &R::Fields,
    own_id: Option<&str>,
) -> StoreResult<()> {
    R::check(db, f, own_id).await?;
    if let Some(slug) = R::about(f).slug
        && crate::records::slug_taken(db, R::TABLE, slug, own_id).await?
    {
        return Err(StoreError::conflict(
            "/slug",
            format!("another {} has this slug", R::ENTITY),
        ));
    }
    Ok(())
}

async fn write_links<R: Record>(
    db: &impl ConnectionTrait,
    id: &str,
    f: &R::Fields,
) -> StoreResult<()> {
    for (l, rows) in R::LINKS.iter().zip(R::links(f)) {
        let del = Query::delete()
            .from_table(a(l.table))
            .and_where(Expr::col(a(l.owner)).eq(id))
            .to_owned();
        db.execute(&del).await?;
        if rows.is_empty() {
            continue;
        }
        let mut ins = Query::insert();
        ins.into_table(a(l.table));
        ins.columns(
            std::iter::once(l.owner)
                .chain(l.position)
                .chain(l.cols.iter().copied())
                .map(a),
        );
        for (i, r) in rows.into_iter().enumerate() {
            let position = l
                .position
                .map(|_| Value::from(i32::try_from(i).unwrap_or(i32::MAX)));
            let vals = std::iter::once(Value::from(id.to_owned()))
                .chain(position)
                .chain(r)
                .map(Expr::val);
            ins.values(vals)
                .map_err(|e| StoreError::Db(e.to_string()))?;
        }
        db.execute(&ins).await?;
    }
    Ok(())
}

/// Creates a record with its links, change-log entry, search document and audit entry, in one
/// transaction. The slug is derived from the label when none is asked for.
pub async fn create<R, C>(db: &C, fields: R::Fields, audit: &Audit<'_, R>) -> StoreResult<R>
where
    R: Record,
    C: ConnectionTrait + TransactionTrait,
{
    let txn = write_txn(db).await?;
    check::<R>(&txn, &fields, None).await?;
    let about = R::about(&fields);
    let slug = match about.slug {
        Some(s) => s.clone(),
        None => crate::records::free_slug(&txn, R::TABLE, Slug::derive(about.label)).await?,
    };
    let now = now();
    let id = Uuid::now_v7().to_string();
    let mut am = Active::<R>::default();
    am.set(column::<R>("id")?, id.clone().into());
    am.set(column::<R>("slug")?, slug.as_str().into());
    am.set(column::<R>("version")?, 1i64.into());
    am.set(column::<R>("created_at")?, now.into());
    am.set(column::<R>("updated_at")?, now.into());
    am.set(column::<R>("deleted_at")?, Value::ChronoDateTimeUtc(None));
    R::fill(&mut am, &fields)?;
    R::Entity::insert(am).exec_without_returning(&txn).await?;
    write_links::<R>(&txn, &id, &fields).await?;
    R::after_write(&txn, &id, Write::Created).await?;
    changes::record(&txn, R::ENTITY, &id, Op::Upsert, about.status, now).await?;
    let created = load::<R>(&txn, &id).await?;
    search::index(&txn, R::ENTITY, created.meta(), created.document(), true).await?;
    let after = (audit.view)(&created);
    crate::audit::record_views(
        &txn,
        audit.actor,
        "create",
        R::ENTITY,
        &id,
        None,
        Some(&after),
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

/// Replaces the writable fields of a live record still at `expected_version` (else
/// [`StoreError::Stale`]), with its links, change log, search document and audit entry.
pub async fn update<R, C>(
    db: &C,
    id: Uuid,
    expected_version: i64,
    fields: R::Fields,
    audit: &Audit<'_, R>,
) -> StoreResult<R>
where
    R: Record,
    C: ConnectionTrait + TransactionTrait,
{
    let id = id.to_string();
    let txn = write_txn(db).await?;
    check::<R>(&txn, &fields, Some(&id)).await?;
    let about = R::about(&fields);
    let now = now();
    let mut am = Active::<R>::default();
    am.set(column::<R>("version")?, (expected_version + 1).into());
    am.set(column::<R>("updated_at")?, now.into());
    if let Some(s) = about.slug {
        am.set(column::<R>("slug")?, s.as_str().into());
    }
    R::fill(&mut am, &fields)?;
    let old = load::<R>(&txn, &id).await?;
    let before = (audit.view)(&old);
    let res = R::Entity::update_many()
        .set(am)
        .filter(Expr::col(a("id")).eq(id.clone()))
        .filter(Expr::col(a("version")).eq(expected_version))
        .filter(Expr::col(a("deleted_at")).is_null())
        .exec(&txn)
        .await?;
    if res.rows_affected == 0 {
        return Err(StoreError::Stale);
    }
    write_links::<R>(&txn, &id, &fields).await?;
    let status_changed = old.meta().status != about.status;
    R::after_write(&txn, &id, Write::Updated { status_changed }).await?;
    changes::record(&txn, R::ENTITY, &id, Op::Upsert, about.status, now).await?;
    let updated = load::<R>(&txn, &id).await?;
    search::index(&txn, R::ENTITY, updated.meta(), updated.document(), false).await?;
    let after = (audit.view)(&updated);
    crate::audit::record_views(
        &txn,
        audit.actor,
        "update",
        R::ENTITY,
        &id,
        Some(&before),
        Some(&after),
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Soft-deletes a live record still at `expected_version`: it leaves every listing and becomes a
/// tombstone in the change log; its slug stays reserved so it can be restored.
pub async fn delete<R, C>(
    db: &C,
    id: Uuid,
    expected_version: i64,
    actor: &Actor,
    before: &serde_json::Value,
) -> StoreResult<()>
where
    R: Record,
    C: ConnectionTrait + TransactionTrait,
{
    let txn = write_txn(db).await?;
    R::before_delete(&txn, id).await?;
    let id = id.to_string();
    let now = now();
    let q = Query::update()
        .table(a(R::TABLE))
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
    let status = status_of::<R>(&txn, &id).await?;
    R::after_write(&txn, &id, Write::Deleted).await?;
    changes::record(&txn, R::ENTITY, &id, Op::Delete, status, now).await?;
    search::remove(&txn, R::ENTITY, &id).await?;
    crate::audit::record_views(&txn, actor, "delete", R::ENTITY, &id, Some(before), None).await?;
    txn.commit().await?;
    Ok(())
}

async fn status_of<R: Record>(db: &impl ConnectionTrait, id: &str) -> StoreResult<Status> {
    let q = Query::select()
        .column(a("status"))
        .from(a(R::TABLE))
        .and_where(Expr::col(a("id")).eq(id))
        .to_owned();
    let row = db.query_one(&q).await?.ok_or(StoreError::NotFound)?;
    Status::parse(&row.try_get_by_index::<String>(0)?).map_err(|e| StoreError::Db(e.message))
}

/// Undeletes a record (admin); restoring a live one changes nothing.
pub async fn restore<R, C>(db: &C, key: &IdOrSlug, actor: &Actor) -> StoreResult<R>
where
    R: Record,
    C: ConnectionTrait + TransactionTrait,
{
    let txn = write_txn(db).await?;
    let q = Query::select()
        .columns([a("id"), a("deleted_at")])
        .from(a(R::TABLE))
        .cond_where(key_cond(R::TABLE, key))
        .to_owned();
    let row = txn.query_one(&q).await?.ok_or(StoreError::NotFound)?;
    let id: String = row.try_get_by_index(0)?;
    let deleted: Option<DateTime<Utc>> = row.try_get_by_index(1)?;
    if deleted.is_some() {
        let now = now();
        let up = Query::update()
            .table(a(R::TABLE))
            .value(a("deleted_at"), Value::ChronoDateTimeUtc(None))
            .value(a("updated_at"), now)
            .value(a("version"), Expr::col(a("version")).add(1))
            .and_where(Expr::col(a("id")).eq(id.clone()))
            .to_owned();
        txn.execute(&up).await?;
        let status = status_of::<R>(&txn, &id).await?;
        R::after_write(&txn, &id, Write::Restored).await?;
        changes::record(&txn, R::ENTITY, &id, Op::Upsert, status, now).await?;
        let back = load::<R>(&txn, &id).await?;
        search::index(&txn, R::ENTITY, back.meta(), back.document(), false).await?;
        let changes = serde_json::json!({"deleted": {"before": true, "after": false}});
        crate::audit::record(&txn, actor, "restore", R::ENTITY, &id, changes).await?;
    }
    txn.commit().await?;
    load::<R>(db, &id).await
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
    db: &impl ConnectionTrait,
    f: &F,
    vis: &Visibility,
    page: &PageRequest,
) -> StoreResult<Page<Hit<F::Record>>> {
    let cond = f.cond(vis, db.get_database_backend());
    list_near::<F::Record>(db, cond, f.near(), page).await
}

/// Indexes every record that has no search document yet (after an upgrade, or a database loaded
/// by other means); returns how many were indexed. Every record type is listed here.
pub async fn backfill_search<C: ConnectionTrait + TransactionTrait>(db: &C) -> StoreResult<usize> {
    use legami_domain::{Area, Lab, Network, Organisation, Project};
    Ok(backfill::<Organisation, _>(db).await?
        + backfill::<Lab, _>(db).await?
        + backfill::<Project, _>(db).await?
        + backfill::<Network, _>(db).await?
        + backfill::<Area, _>(db).await?)
}

async fn backfill<R: Record, C: ConnectionTrait + TransactionTrait>(db: &C) -> StoreResult<usize> {
    let indexed = Query::select()
        .column(a("record_id"))
        .from(a("search_docs"))
        .and_where(Expr::col(a("entity")).eq(R::ENTITY))
        .to_owned();
    let cond = Cond::all()
        .add(col::<R>("deleted_at").is_null())
        .add(col::<R>("id").not_in_subquery(indexed));
    let q = Query::select()
        .column(a("id"))
        .from(a(R::TABLE))
        .cond_where(cond)
        .to_owned();
    let ids: Vec<String> = first_column(db, &q).await?;
    for id in &ids {
        let txn = write_txn(db).await?;
        let r = load::<R>(&txn, id).await?;
        search::index(&txn, R::ENTITY, r.meta(), r.document(), false).await?;
        txn.commit().await?;
    }
    Ok(ids.len())
}
