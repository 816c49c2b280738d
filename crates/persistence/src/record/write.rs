//! The write path of every record type: one transaction that also writes the change log, the
//! search document and the audit entry.

use super::*;
use crate::audit::{Actor, Audit};
use crate::changes::{self, Op};
use crate::records::{first_column, key_cond, now, write_txn};
use crate::search;
use chrono::{DateTime, Utc};
use legami_domain::IdOrSlug;
use sea_orm::sea_query::Query;
use sea_orm::{ActiveModelTrait, QueryFilter, TransactionSession, TransactionTrait};
use std::str::FromStr;

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

/// Indexes every record that has no search document yet (after an upgrade, or a database loaded
/// by other means), for every record type; returns how many were indexed.
pub async fn backfill_search<C: ConnectionTrait + TransactionTrait>(db: &C) -> StoreResult<usize> {
    let mut n = 0;
    macro_rules! each {
        ($($r:ty),*) => {
            $(n += backfill::<$r, _>(db).await?;)*
        };
    }
    crate::record_types!(each);
    Ok(n)
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

/// The references a write names, checked together: each one that names nothing is an
/// `unknown` error at its path, in the order they are checked.
pub(crate) struct Refs<'a, C> {
    db: &'a C,
    errs: legami_domain::FieldErrors,
}

impl<'a, C: ConnectionTrait> Refs<'a, C> {
    pub(crate) fn new(db: &'a C) -> Self {
        Self {
            db,
            errs: legami_domain::FieldErrors::new(),
        }
    }

    /// Live records of type `R`, each named at its path.
    pub(crate) async fn records<R: Record>(
        &mut self,
        named: impl IntoIterator<Item = (String, Uuid)>,
    ) -> StoreResult<()> {
        let named: Vec<(String, Uuid)> = named.into_iter().collect();
        let ids: Vec<Uuid> = named.iter().map(|(_, id)| *id).collect();
        let missing = missing::<R>(self.db, &ids).await?;
        for (at, _id) in named.iter().filter(|(_, id)| missing.contains(id)) {
            let e = legami_domain::FieldError::new("unknown", format!("no such {}", R::ENTITY));
            self.errs.push(at, e);
        }
        Ok(())
    }

    /// Municipalities by ISTAT code, each named at its path.
    pub(crate) async fn municipalities(
        &mut self,
        named: &[(String, &legami_domain::IstatCode)],
    ) -> StoreResult<()> {
        for (at, code) in named {
            if !crate::municipalities::exists(self.db, code).await? {
                let e = legami_domain::FieldError::new(
                    "unknown",
                    "no municipality has this ISTAT code",
                );
                self.errs.push(at, e);
            }
        }
        Ok(())
    }

    /// Theme codes, at `/themes/{i}`.
    pub(crate) async fn themes(&mut self, themes: &[legami_domain::ThemeCode]) -> StoreResult<()> {
        let unknown = crate::themes::unknown(self.db, themes).await?;
        for (i, t) in themes
            .iter()
            .enumerate()
            .filter(|(_, t)| unknown.contains(t))
        {
            let e = legami_domain::FieldError::new(
                "unknown",
                format!("unknown theme '{}'", t.as_str()),
            );
            self.errs.push(&format!("/themes/{i}"), e);
        }
        Ok(())
    }

    /// `Ok` when every reference named something.
    pub(crate) fn finish(self) -> StoreResult<()> {
        if self.errs.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Invalid(self.errs))
        }
    }
}
