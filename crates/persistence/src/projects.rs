//! Projects: queries, keyset listing and transactional writes.

use crate::audit::{Actor, Audit};
use crate::changes::{self, Op};
use crate::entities::projects::{ActiveModel, Column, Entity, Model};
use crate::error::{StoreError, StoreResult};
use crate::pagination::{Page, PageRequest, finish};
use crate::records::{self, a, now};
use chrono::{DateTime, Utc};
use legami_domain::{
    Amount, FieldError, FieldErrors, Funding, IdOrSlug, IstatCode, Partner, PartnerRole, Project,
    ProjectFields, ProjectPhase, ProvinceAbbr, RecordMeta, Slug, Status, ThemeCode, Visibility,
    WebUrl,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionSession, TransactionTrait, Value,
};
use uuid::Uuid;

const TABLE: &str = "projects";
const ENTITY: &str = "project";

/// Sortable fields.
pub const SORTS: &[&str] = &["title", "slug", "created_at", "updated_at"];

/// Filters of `GET /projects`.
#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    /// Phases.
    pub phases: Vec<ProjectPhase>,
    /// Themes.
    pub themes: Vec<ThemeCode>,
    /// Covering any of these municipalities.
    pub municipalities: Vec<IstatCode>,
    /// Covering municipalities of these provinces.
    pub provinces: Vec<ProvinceAbbr>,
    /// Municipalities of the chosen area(s), already resolved.
    pub area_municipalities: Option<Vec<String>>,
    /// Led by or partnered with any of these organisations.
    pub organisations: Vec<Uuid>,
    /// With any of these labs.
    pub labs: Vec<Uuid>,
    /// Statuses.
    pub statuses: Vec<Status>,
    /// Changed at or after.
    pub updated_since: Option<DateTime<Utc>>,
    /// Full-text query (`q`).
    pub q: Option<crate::search::SearchQuery>,
}

fn corrupt(e: FieldError) -> StoreError {
    StoreError::Db(format!("stored project is invalid: {}", e.message))
}

fn uuid(s: &str) -> StoreResult<Uuid> {
    Uuid::try_parse(s).map_err(|e| StoreError::Db(e.to_string()))
}

async fn hydrate(db: &impl ConnectionTrait, rows: Vec<Model>) -> StoreResult<Vec<Project>> {
    let ids: Vec<String> = rows.iter().map(|m| m.id.clone()).collect();
    let mut partners = records::link_rows(
        db,
        "project_partners",
        "project_id",
        &ids,
        &["organisation_id", "role"],
        "organisation_id",
    )
    .await?;
    let mut funding = records::link_rows(
        db,
        "project_funding",
        "project_id",
        &ids,
        &["funder_id", "amount"],
        "position",
    )
    .await?;
    let mut labs = records::link_rows(
        db,
        "project_labs",
        "project_id",
        &ids,
        &["lab_id"],
        "lab_id",
    )
    .await?;
    let mut munis = records::link_rows(
        db,
        "project_municipalities",
        "project_id",
        &ids,
        &["municipality"],
        "municipality",
    )
    .await?;
    let mut themes = records::link_rows(
        db,
        "project_themes",
        "project_id",
        &ids,
        &["theme_code"],
        "theme_code",
    )
    .await?;
    rows.into_iter()
        .map(|m| {
            let status = Status::parse(&m.status).map_err(corrupt)?;
            let strings = |rows: Option<Vec<sea_orm::QueryResult>>| -> StoreResult<Vec<String>> {
                rows.unwrap_or_default()
                    .iter()
                    .map(|r| Ok(r.try_get_by_index::<String>(1)?))
                    .collect()
            };
            Ok(Project {
                meta: RecordMeta {
                    id: uuid(&m.id)?,
                    slug: Slug::parse(&m.slug).map_err(corrupt)?,
                    status,
                    version: m.version,
                    created_at: m.created_at,
                    updated_at: m.updated_at,
                },
                fields: ProjectFields {
                    slug: None,
                    title: m.title,
                    summary: m.summary,
                    description: m.description,
                    programme: m.programme,
                    phase: ProjectPhase::parse(&m.phase).map_err(corrupt)?,
                    start_date: m.start_date,
                    end_date: m.end_date,
                    lead_organisation_id: uuid(&m.lead_organisation_id)?,
                    partners: partners
                        .remove(&m.id)
                        .unwrap_or_default()
                        .iter()
                        .map(|r| {
                            Ok(Partner {
                                organisation_id: uuid(&r.try_get_by_index::<String>(1)?)?,
                                role: PartnerRole::parse(&r.try_get_by_index::<String>(2)?)
                                    .map_err(corrupt)?,
                            })
                        })
                        .collect::<StoreResult<_>>()?,
                    funding: funding
                        .remove(&m.id)
                        .unwrap_or_default()
                        .iter()
                        .map(|r| {
                            Ok(Funding {
                                funder_id: uuid(&r.try_get_by_index::<String>(1)?)?,
                                amount: Amount::parse(&r.try_get_by_index::<String>(2)?)
                                    .map_err(corrupt)?,
                            })
                        })
                        .collect::<StoreResult<_>>()?,
                    lab_ids: strings(labs.remove(&m.id))?
                        .iter()
                        .map(|s| uuid(s))
                        .collect::<StoreResult<_>>()?,
                    municipalities: strings(munis.remove(&m.id))?
                        .iter()
                        .map(|s| IstatCode::parse(s).map_err(corrupt))
                        .collect::<StoreResult<_>>()?,
                    themes: strings(themes.remove(&m.id))?
                        .iter()
                        .map(|s| ThemeCode::parse(s).map_err(corrupt))
                        .collect::<StoreResult<_>>()?,
                    objectives: serde_json::from_str(&m.objectives)
                        .map_err(|e| StoreError::Db(e.to_string()))?,
                    actions: serde_json::from_str(&m.actions)
                        .map_err(|e| StoreError::Db(e.to_string()))?,
                    website: m
                        .website
                        .as_deref()
                        .map(WebUrl::parse)
                        .transpose()
                        .map_err(corrupt)?,
                    status,
                },
            })
        })
        .collect()
}

fn sub(
    table: &str,
    col: &str,
    where_col: &str,
    values: Vec<String>,
) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(a(col))
        .from(a(table))
        .and_where(Expr::col(a(where_col)).is_in(values))
        .to_owned()
}

fn cond(f: &ProjectFilter, vis: &Visibility, backend: sea_orm::DbBackend) -> Condition {
    let mut c = Condition::all().add(records::visible_cond(TABLE, vis));
    if !f.phases.is_empty() {
        c = c.add(Column::Phase.is_in(f.phases.iter().map(|k| k.as_str())));
    }
    if !f.statuses.is_empty() {
        c = c.add(Column::Status.is_in(f.statuses.iter().map(|k| k.as_str())));
    }
    if !f.themes.is_empty() {
        c = c.add(Column::Id.in_subquery(sub(
            "project_themes",
            "project_id",
            "theme_code",
            f.themes.iter().map(|t| t.as_str().to_owned()).collect(),
        )));
    }
    let in_municipalities = |codes: &[String]| {
        Column::Id.in_subquery(
            Query::select()
                .column(a("project_id"))
                .from(a("project_municipalities"))
                .and_where(records::in_set(
                    backend,
                    r#""project_municipalities"."municipality""#,
                    codes,
                ))
                .to_owned(),
        )
    };
    if !f.municipalities.is_empty() {
        let codes: Vec<String> = f
            .municipalities
            .iter()
            .map(|m| m.as_str().to_owned())
            .collect();
        c = c.add(in_municipalities(&codes));
    }
    if let Some(ms) = &f.area_municipalities {
        c = c.add(in_municipalities(ms));
    }
    if !f.provinces.is_empty() {
        let in_provinces = Query::select()
            .column(a("istat_code"))
            .from(a("municipalities"))
            .and_where(
                Expr::col(a("province_abbr"))
                    .is_in(f.provinces.iter().map(|p| p.as_str().to_owned())),
            )
            .to_owned();
        c = c.add(
            Column::Id.in_subquery(
                Query::select()
                    .column(a("project_id"))
                    .from(a("project_municipalities"))
                    .and_where(Expr::col(a("municipality")).in_subquery(in_provinces))
                    .to_owned(),
            ),
        );
    }
    if !f.organisations.is_empty() {
        let ids: Vec<String> = f.organisations.iter().map(Uuid::to_string).collect();
        c = c.add(
            Condition::any()
                .add(Column::LeadOrganisationId.is_in(ids.clone()))
                .add(Column::Id.in_subquery(sub(
                    "project_partners",
                    "project_id",
                    "organisation_id",
                    ids,
                ))),
        );
    }
    if !f.labs.is_empty() {
        c = c.add(Column::Id.in_subquery(sub(
            "project_labs",
            "project_id",
            "lab_id",
            f.labs.iter().map(Uuid::to_string).collect(),
        )));
    }
    if let Some(since) = f.updated_since {
        c = c.add(Column::UpdatedAt.gte(since));
    }
    if let Some(q) = &f.q {
        c = c.add(crate::search::in_matches(backend, ENTITY, "projects.id", q));
    }
    c
}

/// One page of projects.
pub async fn list(
    db: &impl ConnectionTrait,
    f: &ProjectFilter,
    vis: &Visibility,
    page: &PageRequest,
) -> StoreResult<Page<Project>> {
    let c = cond(f, vis, db.get_database_backend());
    let (rows, total) = crate::records::keyset_rows::<Entity>(db, c, page, page.sort.field).await?;
    let items = hydrate(db, rows).await?;
    let field = page.sort.field;
    let (items, next) = finish(items, page.limit, |p| {
        records::keyset_pos(&p.meta, field, &p.fields.title)
    });
    Ok(Page { items, next, total })
}

/// Export fingerprint.
pub async fn fingerprint(
    db: &impl ConnectionTrait,
    f: &ProjectFilter,
    vis: &Visibility,
) -> StoreResult<String> {
    records::fingerprint(db, TABLE, cond(f, vis, db.get_database_backend())).await
}

/// One live project by id or slug.
pub async fn find(
    db: &impl ConnectionTrait,
    key: &IdOrSlug,
    vis: &Visibility,
) -> StoreResult<Project> {
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

async fn load(db: &impl ConnectionTrait, id: &str) -> StoreResult<Project> {
    let m = Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    hydrate(db, vec![m])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

async fn check(db: &impl ConnectionTrait, f: &ProjectFields, own: Option<&str>) -> StoreResult<()> {
    let mut errs = FieldErrors::new();
    if !records::missing_ids(db, "organisations", &[f.lead_organisation_id])
        .await?
        .is_empty()
    {
        errs.push(
            "/lead_organisation_id",
            FieldError::new("unknown", "no such organisation"),
        );
    }
    let partner_ids: Vec<Uuid> = f.partners.iter().map(|p| p.organisation_id).collect();
    let missing = records::missing_ids(db, "organisations", &partner_ids).await?;
    for (i, p) in f.partners.iter().enumerate() {
        if missing.contains(&p.organisation_id) {
            errs.push(
                &format!("/partners/{i}/organisation_id"),
                FieldError::new("unknown", "no such organisation"),
            );
        }
    }
    let funder_ids: Vec<Uuid> = f.funding.iter().map(|p| p.funder_id).collect();
    let missing = records::missing_ids(db, "organisations", &funder_ids).await?;
    for (i, p) in f.funding.iter().enumerate() {
        if missing.contains(&p.funder_id) {
            errs.push(
                &format!("/funding/{i}/funder_id"),
                FieldError::new("unknown", "no such organisation"),
            );
        }
    }
    let missing = records::missing_ids(db, "labs", &f.lab_ids).await?;
    for (i, l) in f.lab_ids.iter().enumerate() {
        if missing.contains(l) {
            errs.push(
                &format!("/lab_ids/{i}"),
                FieldError::new("unknown", "no such lab"),
            );
        }
    }
    for (i, m) in f.municipalities.iter().enumerate() {
        if !crate::municipalities::exists(db, m).await? {
            errs.push(
                &format!("/municipalities/{i}"),
                FieldError::new("unknown", "no municipality has this ISTAT code"),
            );
        }
    }
    let unknown = crate::themes::unknown(db, &f.themes).await?;
    for (i, t) in f.themes.iter().enumerate() {
        if unknown.contains(t) {
            errs.push(
                &format!("/themes/{i}"),
                FieldError::new("unknown", format!("unknown theme '{}'", t.as_str())),
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
            "another project has this slug",
        ));
    }
    Ok(())
}

fn fill(am: &mut ActiveModel, f: &ProjectFields) -> StoreResult<()> {
    am.title = Set(f.title.clone());
    am.summary = Set(f.summary.clone());
    am.description = Set(f.description.clone());
    am.programme = Set(f.programme.clone());
    am.phase = Set(f.phase.as_str().to_owned());
    am.start_date = Set(f.start_date);
    am.end_date = Set(f.end_date);
    am.lead_organisation_id = Set(f.lead_organisation_id.to_string());
    am.website = Set(f.website.as_ref().map(|w| w.as_str().to_owned()));
    am.objectives =
        Set(serde_json::to_string(&f.objectives).map_err(|e| StoreError::Db(e.to_string()))?);
    am.actions = Set(serde_json::to_string(&f.actions).map_err(|e| StoreError::Db(e.to_string()))?);
    am.status = Set(f.status.as_str().to_owned());
    Ok(())
}

async fn write_links(db: &impl ConnectionTrait, id: &str, f: &ProjectFields) -> StoreResult<()> {
    let partners = f
        .partners
        .iter()
        .map(|p| vec![p.organisation_id.to_string().into(), p.role.as_str().into()])
        .collect();
    records::replace_links(
        db,
        "project_partners",
        "project_id",
        id,
        &["organisation_id", "role"],
        partners,
    )
    .await?;
    let funding = f
        .funding
        .iter()
        .enumerate()
        .map(|(i, x)| {
            vec![
                Value::from(i32::try_from(i).unwrap_or(i32::MAX)),
                x.funder_id.to_string().into(),
                x.amount.to_canonical().into(),
            ]
        })
        .collect();
    records::replace_links(
        db,
        "project_funding",
        "project_id",
        id,
        &["position", "funder_id", "amount"],
        funding,
    )
    .await?;
    let labs = f
        .lab_ids
        .iter()
        .map(|l| vec![l.to_string().into()])
        .collect();
    records::replace_links(db, "project_labs", "project_id", id, &["lab_id"], labs).await?;
    let munis = f
        .municipalities
        .iter()
        .map(|m| vec![m.as_str().into()])
        .collect();
    records::replace_links(
        db,
        "project_municipalities",
        "project_id",
        id,
        &["municipality"],
        munis,
    )
    .await?;
    let themes = f.themes.iter().map(|t| vec![t.as_str().into()]).collect();
    records::replace_links(
        db,
        "project_themes",
        "project_id",
        id,
        &["theme_code"],
        themes,
    )
    .await
}

/// Creates a project with all its links in one transaction.
pub async fn create<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    f: ProjectFields,
    audit: &Audit<'_, Project>,
) -> StoreResult<Project> {
    let txn = crate::records::write_txn(db).await?;
    check(&txn, &f, None).await?;
    let slug = match &f.slug {
        Some(s) => s.clone(),
        None => records::free_slug(&txn, TABLE, Slug::derive(&f.title)).await?,
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
    fill(&mut am, &f)?;
    Entity::insert(am).exec_without_returning(&txn).await?;
    write_links(&txn, &id, &f).await?;
    changes::record(&txn, ENTITY, &id, Op::Upsert, f.status, now).await?;
    crate::search::index_new(&txn, ENTITY, &id).await?;
    let p = load(&txn, &id).await?;
    crate::audit::record_views(
        &txn,
        audit.actor,
        "create",
        ENTITY,
        &id,
        None,
        Some(&(audit.view)(&p)),
    )
    .await?;
    txn.commit().await?;
    Ok(p)
}

/// Replaces a project still at `expected_version`.
pub async fn update<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    id: Uuid,
    expected_version: i64,
    f: ProjectFields,
    audit: &Audit<'_, Project>,
) -> StoreResult<Project> {
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
    fill(&mut am, &f)?;
    let old = load(&txn, &id).await?;
    let before = (audit.view)(&old);
    let republished = old.fields.status != f.status;
    crate::records::update_versioned::<Entity, _>(&txn, am, &id, expected_version).await?;
    write_links(&txn, &id, &f).await?;
    if republished {
        crate::metrics::refresh_public_rollup(&txn, &id).await?;
    }
    changes::record(&txn, ENTITY, &id, Op::Upsert, f.status, now).await?;
    crate::search::reindex(&txn, ENTITY, &id).await?;
    let p = load(&txn, &id).await?;
    crate::audit::record_views(
        &txn,
        audit.actor,
        "update",
        ENTITY,
        &id,
        Some(&before),
        Some(&(audit.view)(&p)),
    )
    .await?;
    txn.commit().await?;
    Ok(p)
}

/// Soft-deletes a project.
pub async fn delete<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    id: Uuid,
    expected_version: i64,
    actor: &Actor,
    before: &serde_json::Value,
) -> StoreResult<()> {
    records::soft_delete(db, TABLE, ENTITY, id, expected_version, actor, before).await
}

/// Restores a project.
pub async fn restore<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    key: &IdOrSlug,
    actor: &Actor,
) -> StoreResult<Project> {
    let id = records::restore(db, TABLE, ENTITY, key, actor).await?;
    load(db, &id).await
}

/// Live projects (planned or active, not deleted) led by an organisation: (slug, title).
pub async fn led_live(
    db: &impl ConnectionTrait,
    organisation: Uuid,
) -> StoreResult<Vec<(String, String)>> {
    Ok(Entity::find()
        .select_only()
        .column(Column::Slug)
        .column(Column::Title)
        .filter(Column::LeadOrganisationId.eq(organisation.to_string()))
        .filter(Column::DeletedAt.is_null())
        .filter(Column::Phase.is_in([
            ProjectPhase::Planned.as_str(),
            ProjectPhase::Active.as_str(),
        ]))
        .order_by_asc(Column::Title)
        .into_tuple::<(String, String)>()
        .all(db)
        .await?)
}

/// The labs of a live project.
pub async fn lab_ids(db: &impl ConnectionTrait, project: Uuid) -> StoreResult<Vec<Uuid>> {
    let q = Query::select()
        .column(a("lab_id"))
        .from(a("project_labs"))
        .and_where(Expr::col(a("project_id")).eq(project.to_string()))
        .to_owned();
    db.query_all(&q)
        .await?
        .iter()
        .map(|r| uuid(&r.try_get_by_index::<String>(0)?))
        .collect()
}
