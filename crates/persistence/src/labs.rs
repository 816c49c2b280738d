//! Labs: queries (with radius and box searches), keyset listing and transactional writes.

use crate::audit::{Actor, Audit};
use crate::changes::{self, Op};
use crate::entities::labs::{ActiveModel, Column, Entity, Model};
use crate::error::{StoreError, StoreResult};
use crate::geo::{BBox, Near, radius_box};
use crate::organisations::ts_key;
use crate::pagination::{KeysetPos, Page, PageRequest, finish};
use crate::records::{self, a, now};
use chrono::{DateTime, Utc};
use legami_domain::{
    Address, Contact, Email, FieldError, FieldErrors, IdOrSlug, IstatCode, Lab, LabFields, LabKind,
    Location, OpeningSlot, Operator, OperatorRole, Phone, Postcode, ProvinceAbbr, RecordMeta, Slug,
    Status, ThemeCode, Visibility, WebUrl,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    TransactionSession, TransactionTrait, Value,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const TABLE: &str = "labs";
const ENTITY: &str = "lab";

/// Fields a lab listing can be sorted by (`distance` needs `near`).
pub const SORTS: &[&str] = &["name", "slug", "created_at", "updated_at", "distance"];

/// Filters of `GET /labs`; each list means "any of".
#[derive(Debug, Clone, Default)]
pub struct LabFilter {
    /// Kinds.
    pub kinds: Vec<LabKind>,
    /// Themes.
    pub themes: Vec<ThemeCode>,
    /// Municipalities.
    pub municipalities: Vec<IstatCode>,
    /// Provinces.
    pub provinces: Vec<ProvinceAbbr>,
    /// Municipalities of the chosen area(s), already resolved.
    pub area_municipalities: Option<Vec<String>>,
    /// Operated by any of these organisations.
    pub organisations: Vec<Uuid>,
    /// Statuses.
    pub statuses: Vec<Status>,
    /// Changed at or after.
    pub updated_since: Option<DateTime<Utc>>,
    /// Within a radius.
    pub near: Option<Near>,
    /// Inside a box.
    pub bbox: Option<BBox>,
    /// Full-text query (`q`).
    pub q: Option<crate::search::SearchQuery>,
}

#[derive(Serialize, Deserialize)]
struct StoredSlot {
    day: String,
    opens: String,
    closes: String,
}

fn corrupt(what: &str, e: FieldError) -> StoreError {
    StoreError::Db(format!("stored {what} is invalid: {}", e.message))
}

fn opt<T>(
    what: &str,
    v: Option<String>,
    parse: impl Fn(&str) -> Result<T, FieldError>,
) -> StoreResult<Option<T>> {
    v.map(|s| parse(&s).map_err(|e| corrupt(what, e)))
        .transpose()
}

fn to_domain(m: Model, themes: Vec<String>, operators: Vec<(String, String)>) -> StoreResult<Lab> {
    let slots: Vec<StoredSlot> =
        serde_json::from_str(&m.opening_hours).map_err(|e| StoreError::Db(e.to_string()))?;
    let opening_hours = slots
        .iter()
        .map(|s| {
            OpeningSlot::parse(&s.day, &s.opens, &s.closes)
                .map_err(|_| StoreError::Db("stored opening hours are invalid".into()))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let status = Status::parse(&m.status).map_err(|e| corrupt("status", e))?;
    Ok(Lab {
        meta: RecordMeta {
            id: Uuid::try_parse(&m.id).map_err(|e| StoreError::Db(e.to_string()))?,
            slug: Slug::parse(&m.slug).map_err(|e| corrupt("slug", e))?,
            status,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        },
        fields: LabFields {
            slug: None,
            name: m.name,
            kind: LabKind::parse(&m.kind).map_err(|e| corrupt("kind", e))?,
            description: m.description,
            themes: themes
                .iter()
                .map(|t| ThemeCode::parse(t).map_err(|e| corrupt("theme", e)))
                .collect::<StoreResult<_>>()?,
            activities: serde_json::from_str(&m.activities)
                .map_err(|e| StoreError::Db(e.to_string()))?,
            operators: operators
                .into_iter()
                .map(|(id, role)| {
                    Ok(Operator {
                        organisation_id: Uuid::try_parse(&id)
                            .map_err(|e| StoreError::Db(e.to_string()))?,
                        role: OperatorRole::parse(&role).map_err(|e| corrupt("role", e))?,
                    })
                })
                .collect::<StoreResult<_>>()?,
            address: Address {
                street: m.street,
                postcode: opt("postcode", m.postcode, Postcode::parse)?,
                municipality: IstatCode::parse(&m.municipality)
                    .map_err(|e| corrupt("municipality", e))?,
            },
            neighbourhood: m.neighbourhood,
            location: Location {
                lat: m.lat,
                lon: m.lon,
            },
            opening_hours,
            contact: Contact {
                email: opt("e-mail", m.contact_email, Email::parse)?,
                phone: opt("phone", m.contact_phone, Phone::parse)?,
                website: opt("website", m.contact_website, WebUrl::parse)?,
            },
            accessibility: m.accessibility,
            status,
        },
    })
}

fn fill(am: &mut ActiveModel, f: &LabFields) -> StoreResult<()> {
    let slots: Vec<StoredSlot> = f
        .opening_hours
        .iter()
        .map(|s| StoredSlot {
            day: s.day.as_str().into(),
            opens: s.opens.format(),
            closes: s.closes.format(),
        })
        .collect();
    am.name = Set(f.name.clone());
    am.kind = Set(f.kind.as_str().to_owned());
    am.description = Set(f.description.clone());
    am.activities =
        Set(serde_json::to_string(&f.activities).map_err(|e| StoreError::Db(e.to_string()))?);
    am.neighbourhood = Set(f.neighbourhood.clone());
    am.street = Set(f.address.street.clone());
    am.postcode = Set(f.address.postcode.as_ref().map(|v| v.as_str().to_owned()));
    am.municipality = Set(f.address.municipality.as_str().to_owned());
    am.lat = Set(f.location.lat);
    am.lon = Set(f.location.lon);
    am.opening_hours =
        Set(serde_json::to_string(&slots).map_err(|e| StoreError::Db(e.to_string()))?);
    am.contact_email = Set(f.contact.email.as_ref().map(|v| v.as_str().to_owned()));
    am.contact_phone = Set(f.contact.phone.as_ref().map(|v| v.as_str().to_owned()));
    am.contact_website = Set(f.contact.website.as_ref().map(|v| v.as_str().to_owned()));
    am.accessibility = Set(f.accessibility.clone());
    am.status = Set(f.status.as_str().to_owned());
    Ok(())
}

async fn hydrate(db: &impl ConnectionTrait, rows: Vec<Model>) -> StoreResult<Vec<Lab>> {
    let ids: Vec<String> = rows.iter().map(|m| m.id.clone()).collect();
    let mut themes = records::link_rows(
        db,
        "lab_themes",
        "lab_id",
        &ids,
        &["theme_code"],
        "theme_code",
    )
    .await?;
    let mut ops = records::link_rows(
        db,
        "lab_operators",
        "lab_id",
        &ids,
        &["organisation_id", "role"],
        "role",
    )
    .await?;
    rows.into_iter()
        .map(|m| {
            let t = themes
                .remove(&m.id)
                .unwrap_or_default()
                .iter()
                .map(|r| r.try_get_by_index::<String>(1))
                .collect::<Result<Vec<_>, _>>()?;
            let o = ops
                .remove(&m.id)
                .unwrap_or_default()
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get_by_index::<String>(1)?,
                        r.try_get_by_index::<String>(2)?,
                    ))
                })
                .collect::<Result<Vec<_>, sea_orm::DbErr>>()?;
            to_domain(m, t, o)
        })
        .collect()
}

fn cond(f: &LabFilter, vis: &Visibility, backend: sea_orm::DbBackend) -> Condition {
    let mut c = Condition::all().add(records::visible_cond(TABLE, vis));
    if !f.kinds.is_empty() {
        c = c.add(Column::Kind.is_in(f.kinds.iter().map(|k| k.as_str())));
    }
    if !f.statuses.is_empty() {
        c = c.add(Column::Status.is_in(f.statuses.iter().map(|k| k.as_str())));
    }
    if !f.municipalities.is_empty() {
        let codes: Vec<String> = f
            .municipalities
            .iter()
            .map(|k| k.as_str().to_owned())
            .collect();
        c = c.add(records::in_set(backend, r#""labs"."municipality""#, &codes));
    }
    if let Some(ms) = &f.area_municipalities {
        c = c.add(records::in_set(backend, r#""labs"."municipality""#, ms));
    }
    if !f.provinces.is_empty() {
        c = c.add(
            Column::Municipality.in_subquery(
                Query::select()
                    .column(a("istat_code"))
                    .from(a("municipalities"))
                    .and_where(
                        Expr::col(a("province_abbr")).is_in(f.provinces.iter().map(|p| p.as_str())),
                    )
                    .to_owned(),
            ),
        );
    }
    if !f.themes.is_empty() {
        c = c.add(
            Column::Id.in_subquery(
                Query::select()
                    .column(a("lab_id"))
                    .from(a("lab_themes"))
                    .and_where(
                        Expr::col(a("theme_code")).is_in(f.themes.iter().map(|t| t.as_str())),
                    )
                    .to_owned(),
            ),
        );
    }
    if !f.organisations.is_empty() {
        c = c.add(
            Column::Id.in_subquery(
                Query::select()
                    .column(a("lab_id"))
                    .from(a("lab_operators"))
                    .and_where(
                        Expr::col(a("organisation_id"))
                            .is_in(f.organisations.iter().map(Uuid::to_string)),
                    )
                    .to_owned(),
            ),
        );
    }
    if let Some(since) = f.updated_since {
        c = c.add(Column::UpdatedAt.gte(since));
    }
    if let Some(b) = f.bbox {
        c = c
            .add(Column::Lat.between(b.min_lat, b.max_lat))
            .add(Column::Lon.between(b.min_lon, b.max_lon));
    }
    if let Some(n) = f.near {
        let (min_lat, max_lat, min_lon, max_lon) = radius_box(n.lat, n.lon, n.radius_km);
        c = c
            .add(Column::Lat.between(min_lat, max_lat))
            .add(Column::Lon.between(min_lon, max_lon));
    }
    if let Some(q) = &f.q {
        c = c.add(crate::search::in_matches(backend, ENTITY, "labs.id", q));
    }
    c
}

fn sort_key(l: &Lab, field: &str, distance: Option<f64>) -> String {
    match field {
        "distance" => format!("{:.9}", distance.unwrap_or(0.0)),
        _ => records::keyset_pos(&l.meta, field, &l.fields.name).key,
    }
}

/// A lab with its distance from the `near` point, when one was given.
pub type LabHit = (Lab, Option<f64>);

/// One page of labs visible to the caller.
pub async fn list(
    db: &impl ConnectionTrait,
    f: &LabFilter,
    vis: &Visibility,
    page: &PageRequest,
) -> StoreResult<Page<LabHit>> {
    if let Some(n) = f.near {
        return list_near(db, f, n, vis, page).await;
    }
    let c = cond(f, vis, db.get_database_backend());
    let (rows, total) = crate::records::keyset_rows::<Entity>(db, c, page, page.sort.field).await?;
    let items = hydrate(db, rows).await?;
    let field = page.sort.field;
    let (items, next) = finish(items, page.limit, |l| KeysetPos {
        key: sort_key(l, field, None),
        id: l.meta.id.to_string(),
    });
    Ok(Page {
        items: items.into_iter().map(|l| (l, None)).collect(),
        next,
        total,
    })
}

/// Radius search: the lat/lon index narrows to the enclosing box, the exact great-circle distance
/// decides; the page is then cut by keyset in memory.
async fn list_near(
    db: &impl ConnectionTrait,
    f: &LabFilter,
    n: Near,
    vis: &Visibility,
    page: &PageRequest,
) -> StoreResult<Page<LabHit>> {
    let rows = Entity::find()
        .filter(cond(f, vis, db.get_database_backend()))
        .all(db)
        .await?;
    let field = page.sort.field;
    let (hits, next, total) = crate::geo::radius_page(
        rows,
        n,
        |m| Some((m.lat, m.lon)),
        |m, d| match field {
            "slug" => m.slug.clone(),
            "created_at" => ts_key(&m.created_at),
            "updated_at" => ts_key(&m.updated_at),
            "distance" => format!("{d:.9}"),
            _ => m.name.clone(),
        },
        |m| m.id.clone(),
        page,
    );
    let distances: Vec<f64> = hits.iter().map(|(_, d)| *d).collect();
    let labs = hydrate(db, hits.into_iter().map(|(m, _)| m).collect()).await?;
    let items: Vec<LabHit> = labs
        .into_iter()
        .zip(distances)
        .map(|(l, d)| (l, Some(d)))
        .collect();
    Ok(Page {
        items,
        next,
        total: page.count.then_some(total),
    })
}

/// Fingerprint of the filtered collection, for export ETags.
pub async fn fingerprint(
    db: &impl ConnectionTrait,
    f: &LabFilter,
    vis: &Visibility,
) -> StoreResult<String> {
    records::fingerprint(db, TABLE, cond(f, vis, db.get_database_backend())).await
}

/// One live lab by id or slug, if the caller may see it.
pub async fn find(db: &impl ConnectionTrait, key: &IdOrSlug, vis: &Visibility) -> StoreResult<Lab> {
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

async fn load(db: &impl ConnectionTrait, id: &str) -> StoreResult<Lab> {
    let m = Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    hydrate(db, vec![m])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

async fn check_references(
    db: &impl ConnectionTrait,
    f: &LabFields,
    own_id: Option<&str>,
) -> StoreResult<()> {
    let mut errs = FieldErrors::new();
    if !crate::municipalities::exists(db, &f.address.municipality).await? {
        errs.push(
            "/address/municipality",
            FieldError::new("unknown", "no municipality has this ISTAT code"),
        );
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
    let ids: Vec<Uuid> = f.operators.iter().map(|o| o.organisation_id).collect();
    let missing = records::missing_ids(db, "organisations", &ids).await?;
    for (i, o) in f.operators.iter().enumerate() {
        if missing.contains(&o.organisation_id) {
            errs.push(
                &format!("/operators/{i}/organisation_id"),
                FieldError::new("unknown", "no such organisation"),
            );
        }
    }
    if !errs.is_empty() {
        return Err(StoreError::Invalid(errs));
    }
    if let Some(slug) = &f.slug
        && records::slug_taken(db, TABLE, slug, own_id).await?
    {
        return Err(StoreError::conflict("/slug", "another lab has this slug"));
    }
    Ok(())
}

fn operator_rows(f: &LabFields) -> Vec<Vec<Value>> {
    f.operators
        .iter()
        .map(|o| vec![o.organisation_id.to_string().into(), o.role.as_str().into()])
        .collect()
}

fn theme_rows(themes: &[ThemeCode]) -> Vec<Vec<Value>> {
    themes.iter().map(|t| vec![t.as_str().into()]).collect()
}

/// Creates a lab with its themes and operators in one transaction.
pub async fn create<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    fields: LabFields,
    audit: &Audit<'_, Lab>,
) -> StoreResult<Lab> {
    let txn = crate::records::write_txn(db).await?;
    check_references(&txn, &fields, None).await?;
    let slug = match &fields.slug {
        Some(s) => s.clone(),
        None => records::free_slug(&txn, TABLE, Slug::derive(&fields.name)).await?,
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
    fill(&mut am, &fields)?;
    Entity::insert(am).exec_without_returning(&txn).await?;
    records::replace_links(
        &txn,
        "lab_themes",
        "lab_id",
        &id,
        &["theme_code"],
        theme_rows(&fields.themes),
    )
    .await?;
    records::replace_links(
        &txn,
        "lab_operators",
        "lab_id",
        &id,
        &["organisation_id", "role"],
        operator_rows(&fields),
    )
    .await?;
    changes::record(&txn, ENTITY, &id, Op::Upsert, fields.status, now).await?;
    crate::search::index_new(&txn, ENTITY, &id).await?;
    let created = load(&txn, &id).await?;
    crate::audit::record_views(
        &txn,
        audit.actor,
        "create",
        ENTITY,
        &id,
        None,
        Some(&(audit.view)(&created)),
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

/// Replaces the writable fields of a live lab still at `expected_version`.
pub async fn update<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    id: Uuid,
    expected_version: i64,
    fields: LabFields,
    audit: &Audit<'_, Lab>,
) -> StoreResult<Lab> {
    let id = id.to_string();
    let txn = crate::records::write_txn(db).await?;
    check_references(&txn, &fields, Some(&id)).await?;
    let now = now();
    let mut am = ActiveModel {
        version: Set(expected_version + 1),
        updated_at: Set(now),
        ..Default::default()
    };
    if let Some(s) = &fields.slug {
        am.slug = Set(s.as_str().to_owned());
    }
    fill(&mut am, &fields)?;
    let before = (audit.view)(&load(&txn, &id).await?);
    crate::records::update_versioned::<Entity, _>(&txn, am, &id, expected_version).await?;
    records::replace_links(
        &txn,
        "lab_themes",
        "lab_id",
        &id,
        &["theme_code"],
        theme_rows(&fields.themes),
    )
    .await?;
    records::replace_links(
        &txn,
        "lab_operators",
        "lab_id",
        &id,
        &["organisation_id", "role"],
        operator_rows(&fields),
    )
    .await?;
    changes::record(&txn, ENTITY, &id, Op::Upsert, fields.status, now).await?;
    crate::search::reindex(&txn, ENTITY, &id).await?;
    let updated = load(&txn, &id).await?;
    crate::audit::record_views(
        &txn,
        audit.actor,
        "update",
        ENTITY,
        &id,
        Some(&before),
        Some(&(audit.view)(&updated)),
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Soft-deletes a lab.
pub async fn delete<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    id: Uuid,
    expected_version: i64,
    actor: &Actor,
    before: &serde_json::Value,
) -> StoreResult<()> {
    records::soft_delete(db, TABLE, ENTITY, id, expected_version, actor, before).await
}

/// Restores a deleted lab.
pub async fn restore<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    key: &IdOrSlug,
    actor: &Actor,
) -> StoreResult<Lab> {
    let id = records::restore(db, TABLE, ENTITY, key, actor).await?;
    load(db, &id).await
}

/// Labs among `ids` that are not live.
pub async fn missing(db: &impl ConnectionTrait, ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
    records::missing_ids(db, TABLE, ids).await
}
