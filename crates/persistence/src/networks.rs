//! Networks: standing networks of organisations and labs.

use crate::audit::{Actor, Audit};
use crate::changes::{self, Op};
use crate::entities::networks::{ActiveModel, Column, Entity, Model};
use crate::error::{StoreError, StoreResult};
use crate::pagination::{Page, PageRequest, finish};
use crate::records::{self, now};
use chrono::{DateTime, NaiveDate, Utc};
use legami_domain::{
    FieldError, FieldErrors, IdOrSlug, Member, MemberType, Network, NetworkFields, RecordMeta,
    Slug, Status, Visibility,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    TransactionSession, TransactionTrait, Value,
};
use uuid::Uuid;

const TABLE: &str = "networks";
const ENTITY: &str = "network";

/// Sortable fields.
pub const SORTS: &[&str] = &["name", "slug", "created_at", "updated_at"];

/// Filters of `GET /networks`.
#[derive(Debug, Clone, Default)]
pub struct NetworkFilter {
    /// Networks with any of these organisations or labs as members (or coordinator).
    pub members: Vec<Uuid>,
    /// Statuses.
    pub statuses: Vec<Status>,
    /// Changed at or after.
    pub updated_since: Option<DateTime<Utc>>,
    /// Full-text query (`q`).
    pub q: Option<crate::search::SearchQuery>,
}

fn corrupt(e: FieldError) -> StoreError {
    StoreError::Db(format!("stored network is invalid: {}", e.message))
}

fn uuid(s: &str) -> StoreResult<Uuid> {
    Uuid::try_parse(s).map_err(|e| StoreError::Db(e.to_string()))
}

async fn hydrate(db: &impl ConnectionTrait, rows: Vec<Model>) -> StoreResult<Vec<Network>> {
    let ids: Vec<String> = rows.iter().map(|m| m.id.clone()).collect();
    let mut ms = records::link_rows(
        db,
        "network_members",
        "network_id",
        &ids,
        &["member_type", "member_id", "joined"],
        "member_id",
    )
    .await?;
    rows.into_iter()
        .map(|m| {
            let members = ms
                .remove(&m.id)
                .unwrap_or_default()
                .iter()
                .map(|r| {
                    Ok(Member {
                        member_type: MemberType::parse(&r.try_get_by_index::<String>(1)?)
                            .map_err(corrupt)?,
                        id: uuid(&r.try_get_by_index::<String>(2)?)?,
                        joined: r.try_get_by_index::<Option<NaiveDate>>(3)?,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            let status = Status::parse(&m.status).map_err(corrupt)?;
            Ok(Network {
                meta: RecordMeta {
                    id: uuid(&m.id)?,
                    slug: Slug::parse(&m.slug).map_err(corrupt)?,
                    status,
                    version: m.version,
                    created_at: m.created_at,
                    updated_at: m.updated_at,
                },
                fields: NetworkFields {
                    slug: None,
                    name: m.name,
                    description: m.description,
                    since: m.since,
                    coordinator_id: m.coordinator_id.as_deref().map(uuid).transpose()?,
                    members,
                    status,
                },
            })
        })
        .collect()
}

fn cond(f: &NetworkFilter, vis: &Visibility, backend: sea_orm::DbBackend) -> Condition {
    let mut c = Condition::all().add(records::visible_cond(TABLE, vis));
    if !f.statuses.is_empty() {
        c = c.add(Column::Status.is_in(f.statuses.iter().map(|k| k.as_str())));
    }
    if !f.members.is_empty() {
        let ids: Vec<String> = f.members.iter().map(Uuid::to_string).collect();
        c = c.add(
            Condition::any()
                .add(Column::CoordinatorId.is_in(ids.clone()))
                .add(
                    Column::Id.in_subquery(
                        Query::select()
                            .column(records::a("network_id"))
                            .from(records::a("network_members"))
                            .and_where(Expr::col(records::a("member_id")).is_in(ids))
                            .to_owned(),
                    ),
                ),
        );
    }
    if let Some(since) = f.updated_since {
        c = c.add(Column::UpdatedAt.gte(since));
    }
    if let Some(q) = &f.q {
        c = c.add(crate::search::in_matches(backend, ENTITY, "networks.id", q));
    }
    c
}

/// One page of networks.
pub async fn list(
    db: &impl ConnectionTrait,
    f: &NetworkFilter,
    vis: &Visibility,
    page: &PageRequest,
) -> StoreResult<Page<Network>> {
    let c = cond(f, vis, db.get_database_backend());
    let (rows, total) = crate::records::keyset_rows::<Entity>(db, c, page, page.sort.field).await?;
    let items = hydrate(db, rows).await?;
    let field = page.sort.field;
    let (items, next) = finish(items, page.limit, |n| {
        records::keyset_pos(&n.meta, field, &n.fields.name)
    });
    Ok(Page { items, next, total })
}

/// Export fingerprint.
pub async fn fingerprint(
    db: &impl ConnectionTrait,
    f: &NetworkFilter,
    vis: &Visibility,
) -> StoreResult<String> {
    let own = records::fingerprint(db, TABLE, cond(f, vis, db.get_database_backend())).await?;
    if vis.members().is_none() {
        return Ok(own);
    }
    // Member lists show only visible members: a lab or organisation changing status changes them.
    let labs = records::fingerprint(db, "labs", records::visible_cond("labs", vis)).await?;
    let orgs = records::fingerprint(
        db,
        "organisations",
        records::visible_cond("organisations", vis),
    )
    .await?;
    Ok(format!("{own}/{labs}/{orgs}"))
}

/// Leaves out of each network's member list the labs and organisations `vis` may not see
/// (drafts and archived records of others); administrators see every member. For reads only:
/// writes merge into the stored list.
pub async fn hide_invisible_members(
    db: &impl ConnectionTrait,
    networks: &mut [Network],
    vis: &Visibility,
) -> StoreResult<()> {
    if vis.members().is_none() {
        return Ok(());
    }
    let of = |t: MemberType| -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = networks
            .iter()
            .flat_map(|n| &n.fields.members)
            .filter(|m| m.member_type == t)
            .map(|m| m.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let labs = records::visible_ids(db, "labs", &of(MemberType::Lab), vis).await?;
    let orgs =
        records::visible_ids(db, "organisations", &of(MemberType::Organisation), vis).await?;
    for n in networks {
        n.fields.members.retain(|m| match m.member_type {
            MemberType::Lab => labs.contains(&m.id),
            MemberType::Organisation => orgs.contains(&m.id),
        });
    }
    Ok(())
}

/// One live network by id or slug.
pub async fn find(
    db: &impl ConnectionTrait,
    key: &IdOrSlug,
    vis: &Visibility,
) -> StoreResult<Network> {
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

async fn load(db: &impl ConnectionTrait, id: &str) -> StoreResult<Network> {
    let m = Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    hydrate(db, vec![m])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

async fn check(db: &impl ConnectionTrait, f: &NetworkFields, own: Option<&str>) -> StoreResult<()> {
    let mut errs = FieldErrors::new();
    if let Some(c) = f.coordinator_id
        && !records::missing_ids(db, "organisations", &[c])
            .await?
            .is_empty()
    {
        errs.push(
            "/coordinator_id",
            FieldError::new("unknown", "no such organisation"),
        );
    }
    for (i, m) in f.members.iter().enumerate() {
        let table = match m.member_type {
            MemberType::Organisation => "organisations",
            MemberType::Lab => "labs",
        };
        if !records::missing_ids(db, table, &[m.id]).await?.is_empty() {
            errs.push(
                &format!("/members/{i}"),
                FieldError::new("unknown", format!("no such {}", m.member_type)),
            );
        }
    }
    if !errs.is_empty() {
        return Err(StoreError::Invalid(errs));
    }
    if let Some(s) = &f.slug
        && records::slug_taken(db, TABLE, s, own).await?
    {
        return Err(StoreError::conflict(
            "/slug",
            "another network has this slug",
        ));
    }
    Ok(())
}

fn fill(am: &mut ActiveModel, f: &NetworkFields) {
    am.name = Set(f.name.clone());
    am.description = Set(f.description.clone());
    am.since = Set(f.since);
    am.coordinator_id = Set(f.coordinator_id.map(|c| c.to_string()));
    am.status = Set(f.status.as_str().to_owned());
}

fn rows(f: &NetworkFields) -> Vec<Vec<Value>> {
    f.members
        .iter()
        .map(|m| {
            vec![
                m.member_type.as_str().into(),
                m.id.to_string().into(),
                Value::ChronoDate(m.joined),
            ]
        })
        .collect()
}

/// Creates a network.
pub async fn create<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    f: NetworkFields,
    audit: &Audit<'_, Network>,
) -> StoreResult<Network> {
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
        "network_members",
        "network_id",
        &id,
        &["member_type", "member_id", "joined"],
        rows(&f),
    )
    .await?;
    changes::record(&txn, ENTITY, &id, Op::Upsert, f.status, now).await?;
    crate::search::index_new(&txn, ENTITY, &id).await?;
    let n = load(&txn, &id).await?;
    crate::audit::record_views(
        &txn,
        audit.actor,
        "create",
        ENTITY,
        &id,
        None,
        Some(&(audit.view)(&n)),
    )
    .await?;
    txn.commit().await?;
    Ok(n)
}

/// Replaces a network still at `expected_version`.
pub async fn update<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    id: Uuid,
    expected_version: i64,
    f: NetworkFields,
    audit: &Audit<'_, Network>,
) -> StoreResult<Network> {
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
        "network_members",
        "network_id",
        &id,
        &["member_type", "member_id", "joined"],
        rows(&f),
    )
    .await?;
    changes::record(&txn, ENTITY, &id, Op::Upsert, f.status, now).await?;
    crate::search::reindex(&txn, ENTITY, &id).await?;
    let n = load(&txn, &id).await?;
    crate::audit::record_views(
        &txn,
        audit.actor,
        "update",
        ENTITY,
        &id,
        Some(&before),
        Some(&(audit.view)(&n)),
    )
    .await?;
    txn.commit().await?;
    Ok(n)
}

/// Soft-deletes a network.
pub async fn delete<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    id: Uuid,
    expected_version: i64,
    actor: &Actor,
    before: &serde_json::Value,
) -> StoreResult<()> {
    records::soft_delete(db, TABLE, ENTITY, id, expected_version, actor, before).await
}

/// Restores a network.
pub async fn restore<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    key: &IdOrSlug,
    actor: &Actor,
) -> StoreResult<Network> {
    let id = records::restore(db, TABLE, ENTITY, key, actor).await?;
    load(db, &id).await
}
