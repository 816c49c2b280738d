//! Areas: named groups of municipalities (ambiti, districts, health authorities).

use crate::audit::{Actor, Audit};
use crate::changes::{self, Op};
use crate::entities::areas::{ActiveModel, Column, Entity, Model};
use crate::error::{StoreError, StoreResult};
use crate::pagination::{Page, PageRequest, finish};
use crate::records::{self, now};
use legami_domain::{
    Area, AreaFields, AreaKind, FieldError, FieldErrors, IdOrSlug, IstatCode, RecordMeta, Slug,
    Status, Visibility,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    TransactionSession, TransactionTrait, Value,
};
use uuid::Uuid;

const TABLE: &str = "areas";
const ENTITY: &str = "area";

/// Sortable fields.
pub const SORTS: &[&str] = &["name", "slug", "created_at", "updated_at"];

/// Filters of `GET /areas`.
#[derive(Debug, Clone, Default)]
pub struct AreaFilter {
    /// Kinds.
    pub kinds: Vec<AreaKind>,
    /// Areas containing any of these municipalities.
    pub municipalities: Vec<IstatCode>,
    /// Statuses.
    pub statuses: Vec<Status>,
    /// Full-text query (`q`).
    pub q: Option<crate::search::SearchQuery>,
}

fn corrupt(e: FieldError) -> StoreError {
    StoreError::Db(format!("stored area is invalid: {}", e.message))
}

async fn hydrate(db: &impl ConnectionTrait, rows: Vec<Model>) -> StoreResult<Vec<Area>> {
    let ids: Vec<String> = rows.iter().map(|m| m.id.clone()).collect();
    let mut ms = records::link_rows(
        db,
        "area_municipalities",
        "area_id",
        &ids,
        &["municipality"],
        "municipality",
    )
    .await?;
    rows.into_iter()
        .map(|m| {
            let municipalities = ms
                .remove(&m.id)
                .unwrap_or_default()
                .iter()
                .map(|r| {
                    r.try_get_by_index::<String>(1)
                        .map_err(StoreError::from)
                        .and_then(|c| IstatCode::parse(&c).map_err(corrupt))
                })
                .collect::<StoreResult<Vec<_>>>()?;
            let status = Status::parse(&m.status).map_err(corrupt)?;
            Ok(Area {
                meta: RecordMeta {
                    id: Uuid::try_parse(&m.id).map_err(|e| StoreError::Db(e.to_string()))?,
                    slug: Slug::parse(&m.slug).map_err(corrupt)?,
                    status,
                    version: m.version,
                    created_at: m.created_at,
                    updated_at: m.updated_at,
                },
                fields: AreaFields {
                    slug: None,
                    name: m.name,
                    kind: AreaKind::parse(&m.kind).map_err(corrupt)?,
                    description: m.description,
                    municipalities,
                    status,
                },
            })
        })
        .collect()
}

fn cond(f: &AreaFilter, vis: &Visibility, backend: sea_orm::DbBackend) -> Condition {
    let mut c = Condition::all().add(records::visible_cond(TABLE, vis));
    if !f.kinds.is_empty() {
        c = c.add(Column::Kind.is_in(f.kinds.iter().map(|k| k.as_str())));
    }
    if !f.statuses.is_empty() {
        c = c.add(Column::Status.is_in(f.statuses.iter().map(|k| k.as_str())));
    }
    if !f.municipalities.is_empty() {
        c = c.add(
            Column::Id.in_subquery(
                Query::select()
                    .column(records::a("area_id"))
                    .from(records::a("area_municipalities"))
                    .and_where(
                        Expr::col(records::a("municipality"))
                            .is_in(f.municipalities.iter().map(|m| m.as_str())),
                    )
                    .to_owned(),
            ),
        );
    }
    if let Some(q) = &f.q {
        c = c.add(crate::search::in_matches(backend, ENTITY, "areas.id", q));
    }
    c
}

/// One page of areas.
pub async fn list(
    db: &impl ConnectionTrait,
    f: &AreaFilter,
    vis: &Visibility,
    page: &PageRequest,
) -> StoreResult<Page<Area>> {
    let c = cond(f, vis, db.get_database_backend());
    let (rows, total) = crate::records::keyset_rows::<Entity>(db, c, page, page.sort.field).await?;
    let items = hydrate(db, rows).await?;
    let field = page.sort.field;
    let (items, next) = finish(items, page.limit, |a| {
        records::keyset_pos(&a.meta, field, &a.fields.name)
    });
    Ok(Page { items, next, total })
}

/// Export fingerprint.
pub async fn fingerprint(
    db: &impl ConnectionTrait,
    f: &AreaFilter,
    vis: &Visibility,
) -> StoreResult<String> {
    records::fingerprint(db, TABLE, cond(f, vis, db.get_database_backend())).await
}

/// One live area by id or slug.
pub async fn find(
    db: &impl ConnectionTrait,
    key: &IdOrSlug,
    vis: &Visibility,
) -> StoreResult<Area> {
    let m = Entity::find()
        .filter(
            Condition::all()
                .add(records::key_cond(TABLE, key))
                .add(records::visible_cond(TABLE, vis)),
        )
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    hydrate(db, vec![m])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

async fn load(db: &impl ConnectionTrait, id: &str) -> StoreResult<Area> {
    let m = Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    hydrate(db, vec![m])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

async fn check(db: &impl ConnectionTrait, f: &AreaFields, own: Option<&str>) -> StoreResult<()> {
    let mut errs = FieldErrors::new();
    for (i, m) in f.municipalities.iter().enumerate() {
        if !crate::municipalities::exists(db, m).await? {
            errs.push(
                &format!("/municipalities/{i}"),
                FieldError::new("unknown", "no municipality has this ISTAT code"),
            );
        }
    }
    if !errs.is_empty() {
        return Err(StoreError::Invalid(errs));
    }
    if let Some(s) = &f.slug
        && records::slug_taken(db, TABLE, s, own).await?
    {
        return Err(StoreError::conflict("/slug", "another area has this slug"));
    }
    Ok(())
}

fn fill(am: &mut ActiveModel, f: &AreaFields) {
    am.name = Set(f.name.clone());
    am.kind = Set(f.kind.as_str().to_owned());
    am.description = Set(f.description.clone());
    am.status = Set(f.status.as_str().to_owned());
}

fn rows(f: &AreaFields) -> Vec<Vec<Value>> {
    f.municipalities
        .iter()
        .map(|m| vec![m.as_str().into()])
        .collect()
}

/// Creates an area.
pub async fn create<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    f: AreaFields,
    audit: &Audit<'_, Area>,
) -> StoreResult<Area> {
    let txn = crate::records::write_txn(db).await?;
    check(&txn, &f, None).await?;
    let slug = match &f.slug {
        Some(s) => s.clone(),
        None => records::free_slug(&txn, TABLE, Slug::derive(&f.name)).await?,
    };
    let now = now();
    let id = Uuid::now_v7().to_string();
    let mut am = ActiveModel {
        id: Set(id.clone()),
        slug: Set(slug.as_str().to_owned()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
        ..Default::default()
    };
    fill(&mut am, &f);
    Entity::insert(am).exec_without_returning(&txn).await?;
    records::replace_links(
        &txn,
        "area_municipalities",
        "area_id",
        &id,
        &["municipality"],
        rows(&f),
    )
    .await?;
    changes::record(&txn, ENTITY, &id, Op::Upsert, f.status, now).await?;
    crate::search::index_new(&txn, ENTITY, &id).await?;
    let a = load(&txn, &id).await?;
    crate::audit::record_views(
        &txn,
        audit.actor,
        "create",
        ENTITY,
        &id,
        None,
        Some(&(audit.view)(&a)),
    )
    .await?;
    txn.commit().await?;
    Ok(a)
}

/// Replaces an area still at `expected_version`.
pub async fn update<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    id: Uuid,
    expected_version: i64,
    f: AreaFields,
    audit: &Audit<'_, Area>,
) -> StoreResult<Area> {
    let id = id.to_string();
    let txn = crate::records::write_txn(db).await?;
    check(&txn, &f, Some(&id)).await?;
    let now = now();
    let mut am = ActiveModel {
        version: Set(expected_version + 1),
        updated_at: Set(now),
        ..Default::default()
    };
    if let Some(s) = &f.slug {
        am.slug = Set(s.as_str().to_owned());
    }
    fill(&mut am, &f);
    let before = (audit.view)(&load(&txn, &id).await?);
    crate::records::update_versioned::<Entity, _>(&txn, am, &id, expected_version).await?;
    records::replace_links(
        &txn,
        "area_municipalities",
        "area_id",
        &id,
        &["municipality"],
        rows(&f),
    )
    .await?;
    changes::record(&txn, ENTITY, &id, Op::Upsert, f.status, now).await?;
    crate::search::reindex(&txn, ENTITY, &id).await?;
    let a = load(&txn, &id).await?;
    crate::audit::record_views(
        &txn,
        audit.actor,
        "update",
        ENTITY,
        &id,
        Some(&before),
        Some(&(audit.view)(&a)),
    )
    .await?;
    txn.commit().await?;
    Ok(a)
}

/// Soft-deletes an area.
pub async fn delete<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    id: Uuid,
    expected_version: i64,
    actor: &Actor,
    before: &serde_json::Value,
) -> StoreResult<()> {
    records::soft_delete(db, TABLE, ENTITY, id, expected_version, actor, before).await
}

/// Restores an area.
pub async fn restore<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    key: &IdOrSlug,
    actor: &Actor,
) -> StoreResult<Area> {
    let id = records::restore(db, TABLE, ENTITY, key, actor).await?;
    load(db, &id).await
}
