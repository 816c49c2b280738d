//! Organisations: queries, keyset listing and transactional writes.

use crate::audit::{Actor, Audit};
use crate::changes::{self, Op};
use crate::entities::municipalities;
use crate::entities::organisation_themes as org_themes;
use crate::entities::organisations::{ActiveModel, Column, Entity, Model};
use crate::error::{StoreError, StoreResult};
use crate::pagination::{KeysetPos, Page, PageRequest, finish};
use chrono::{DateTime, SecondsFormat, Utc};
use legami_domain::{
    Address, Contact, ContactPerson, Email, FieldError, FieldErrors, IdOrSlug, IstatCode, Location,
    Organisation, OrganisationFields, OrganisationKind, Phone, Postcode, ProvinceAbbr, RecordMeta,
    RuntsSection, Slug, Status, TaxCode, ThemeCode, VatNumber, Visibility, WebUrl,
};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, TransactionSession, TransactionTrait,
};
use std::collections::HashMap;
use uuid::Uuid;

const ENTITY: &str = "organisation";

/// Fields an organisation listing can be sorted by.
pub const SORTS: &[&str] = &["name", "slug", "created_at", "updated_at", "distance"];

/// An organisation with its distance from the `near` point, when one was given.
pub type OrganisationHit = (Organisation, Option<f64>);

/// Filters of `GET /organisations`; each list means "any of".
#[derive(Debug, Clone, Default)]
pub struct OrganisationFilter {
    /// Kinds of body.
    pub kinds: Vec<OrganisationKind>,
    /// Themes.
    pub themes: Vec<ThemeCode>,
    /// Municipalities of the address.
    pub municipalities: Vec<IstatCode>,
    /// Provinces of the address.
    pub provinces: Vec<ProvinceAbbr>,
    /// Publication statuses (callers who see only published records get nothing else).
    pub statuses: Vec<Status>,
    /// Changed at or after.
    pub updated_since: Option<DateTime<Utc>>,
    /// Municipalities of the chosen area(s), already resolved.
    pub area_municipalities: Option<Vec<String>>,
    /// Full-text query (`q`).
    pub q: Option<crate::search::SearchQuery>,
    /// Within a radius (organisations without a location never match).
    pub near: Option<crate::geo::Near>,
    /// Inside a box.
    pub bbox: Option<crate::geo::BBox>,
}

/// The municipality column of organisations, as SQL (for set filters).
const ORG_MUNICIPALITY: &str = r#""organisations"."municipality""#;

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

fn to_domain(m: Model, themes: Vec<String>) -> StoreResult<Organisation> {
    let themes = themes
        .iter()
        .map(|t| ThemeCode::parse(t).map_err(|e| corrupt("theme", e)))
        .collect::<StoreResult<Vec<_>>>()?;
    let location = match (m.lat, m.lon) {
        (Some(lat), Some(lon)) => Some(Location { lat, lon }),
        _ => None,
    };
    let contact_person = match m.cp_name {
        Some(name) => Some(ContactPerson {
            name,
            email: opt("contact person e-mail", m.cp_email, Email::parse)?,
            phone: opt("contact person phone", m.cp_phone, Phone::parse)?,
            public: m.cp_public,
        }),
        None => None,
    };
    Ok(Organisation {
        meta: RecordMeta {
            id: Uuid::try_parse(&m.id).map_err(|e| StoreError::Db(e.to_string()))?,
            slug: Slug::parse(&m.slug).map_err(|e| corrupt("slug", e))?,
            status: Status::parse(&m.status).map_err(|e| corrupt("status", e))?,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        },
        fields: OrganisationFields {
            slug: None,
            name: m.name,
            kind: OrganisationKind::parse(&m.kind).map_err(|e| corrupt("kind", e))?,
            description: m.description,
            runts_section: opt("runts section", m.runts_section, RuntsSection::parse)?,
            runts_id: m.runts_id,
            tax_code: opt("tax code", m.tax_code, TaxCode::parse)?,
            vat_number: opt("vat number", m.vat_number, VatNumber::parse)?,
            themes,
            contact: Contact {
                email: opt("e-mail", m.contact_email, Email::parse)?,
                phone: opt("phone", m.contact_phone, Phone::parse)?,
                website: opt("website", m.contact_website, WebUrl::parse)?,
            },
            address: Address {
                street: m.street,
                postcode: opt("postcode", m.postcode, Postcode::parse)?,
                municipality: IstatCode::parse(&m.municipality)
                    .map_err(|e| corrupt("municipality", e))?,
            },
            location,
            contact_person,
            status: Status::parse(&m.status).map_err(|e| corrupt("status", e))?,
        },
    })
}

fn fill(am: &mut ActiveModel, f: &OrganisationFields) {
    am.name = Set(f.name.clone());
    am.kind = Set(f.kind.as_str().to_owned());
    am.description = Set(f.description.clone());
    am.runts_section = Set(f.runts_section.map(|r| r.as_str().to_owned()));
    am.runts_id = Set(f.runts_id.clone());
    am.tax_code = Set(f.tax_code.as_ref().map(|t| t.as_str().to_owned()));
    am.vat_number = Set(f.vat_number.as_ref().map(|t| t.as_str().to_owned()));
    am.contact_email = Set(f.contact.email.as_ref().map(|v| v.as_str().to_owned()));
    am.contact_phone = Set(f.contact.phone.as_ref().map(|v| v.as_str().to_owned()));
    am.contact_website = Set(f.contact.website.as_ref().map(|v| v.as_str().to_owned()));
    am.street = Set(f.address.street.clone());
    am.postcode = Set(f.address.postcode.as_ref().map(|v| v.as_str().to_owned()));
    am.municipality = Set(f.address.municipality.as_str().to_owned());
    am.lat = Set(f.location.map(|l| l.lat));
    am.lon = Set(f.location.map(|l| l.lon));
    let cp = f.contact_person.as_ref();
    am.cp_name = Set(cp.map(|c| c.name.clone()));
    am.cp_email = Set(cp.and_then(|c| c.email.as_ref().map(|v| v.as_str().to_owned())));
    am.cp_phone = Set(cp.and_then(|c| c.phone.as_ref().map(|v| v.as_str().to_owned())));
    am.cp_public = Set(cp.is_some_and(|c| c.public));
    am.status = Set(f.status.as_str().to_owned());
}

async fn themes_of(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> StoreResult<HashMap<String, Vec<String>>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    if ids.is_empty() {
        return Ok(map);
    }
    let rows = org_themes::Entity::find()
        .filter(org_themes::Column::OrganisationId.is_in(ids.iter().cloned()))
        .order_by_asc(org_themes::Column::ThemeCode)
        .all(db)
        .await?;
    for r in rows {
        map.entry(r.organisation_id).or_default().push(r.theme_code);
    }
    Ok(map)
}

async fn hydrate(db: &impl ConnectionTrait, rows: Vec<Model>) -> StoreResult<Vec<Organisation>> {
    let ids: Vec<String> = rows.iter().map(|m| m.id.clone()).collect();
    let mut themes = themes_of(db, &ids).await?;
    rows.into_iter()
        .map(|m| {
            let t = themes.remove(&m.id).unwrap_or_default();
            to_domain(m, t)
        })
        .collect()
}

fn key_condition(key: &IdOrSlug) -> Condition {
    match key {
        IdOrSlug::Id(id) => Condition::all().add(Column::Id.eq(id.to_string())),
        IdOrSlug::Slug(s) => Condition::all().add(Column::Slug.eq(s.as_str())),
    }
}

fn visible(vis: &Visibility) -> Condition {
    crate::records::visible_cond("organisations", vis)
}

/// One live organisation by id or slug, if the caller may see it.
pub async fn find(
    db: &impl ConnectionTrait,
    key: &IdOrSlug,
    vis: &Visibility,
) -> StoreResult<Organisation> {
    let m = Entity::find()
        .filter(key_condition(key))
        .filter(visible(vis))
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    hydrate(db, vec![m])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

fn list_condition(
    f: &OrganisationFilter,
    vis: &Visibility,
    backend: sea_orm::DbBackend,
) -> Condition {
    let mut c = visible(vis);
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
        c = c.add(crate::records::in_set(backend, ORG_MUNICIPALITY, &codes));
    }
    if !f.provinces.is_empty() {
        c = c.add(
            Column::Municipality.in_subquery(
                Query::select()
                    .column(municipalities::Column::IstatCode)
                    .from(municipalities::Entity)
                    .and_where(
                        municipalities::Column::ProvinceAbbr
                            .is_in(f.provinces.iter().map(|p| p.as_str())),
                    )
                    .to_owned(),
            ),
        );
    }
    if !f.themes.is_empty() {
        c = c.add(
            Column::Id.in_subquery(
                Query::select()
                    .column(org_themes::Column::OrganisationId)
                    .from(org_themes::Entity)
                    .and_where(
                        org_themes::Column::ThemeCode.is_in(f.themes.iter().map(|t| t.as_str())),
                    )
                    .to_owned(),
            ),
        );
    }
    if let Some(since) = f.updated_since {
        c = c.add(Column::UpdatedAt.gte(since));
    }
    if let Some(ms) = &f.area_municipalities {
        c = c.add(crate::records::in_set(backend, ORG_MUNICIPALITY, ms));
    }
    if let Some(b) = f.bbox {
        c = c
            .add(Column::Lat.between(b.min_lat, b.max_lat))
            .add(Column::Lon.between(b.min_lon, b.max_lon));
    }
    if let Some(n) = f.near {
        let (min_lat, max_lat, min_lon, max_lon) =
            crate::geo::radius_box(n.lat, n.lon, n.radius_km);
        c = c
            .add(Column::Lat.between(min_lat, max_lat))
            .add(Column::Lon.between(min_lon, max_lon));
    }
    if let Some(q) = &f.q {
        c = c.add(crate::search::in_matches(
            backend,
            "organisation",
            "organisations.id",
            q,
        ));
    }
    c
}

/// Text form of a timestamp that sorts and parses back exactly.
pub fn ts_key(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn sort_key(o: &Organisation, field: &str) -> String {
    crate::records::keyset_pos(&o.meta, field, &o.fields.name).key
}

/// One page of organisations visible to the caller.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &OrganisationFilter,
    vis: &Visibility,
    page: &PageRequest,
) -> StoreResult<Page<OrganisationHit>> {
    if let Some(n) = filter.near {
        let rows = Entity::find()
            .filter(list_condition(filter, vis, db.get_database_backend()))
            .all(db)
            .await?;
        let field = page.sort.field;
        let (hits, next, total) = crate::geo::radius_page(
            rows,
            n,
            |m| m.lat.zip(m.lon),
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
        let orgs = hydrate(db, hits.into_iter().map(|(m, _)| m).collect()).await?;
        let items = orgs
            .into_iter()
            .zip(distances)
            .map(|(o, d)| (o, Some(d)))
            .collect();
        return Ok(Page {
            items,
            next,
            total: page.count.then_some(total),
        });
    }
    let cond = list_condition(filter, vis, db.get_database_backend());
    let (rows, total) =
        crate::records::keyset_rows::<Entity>(db, cond, page, page.sort.field).await?;
    let items = hydrate(db, rows).await?;
    let field = page.sort.field;
    let (items, next) = finish(items, page.limit, |o| KeysetPos {
        key: sort_key(o, field),
        id: o.meta.id.to_string(),
    });
    Ok(Page {
        items: items.into_iter().map(|o| (o, None)).collect(),
        next,
        total,
    })
}

/// A fingerprint of the filtered collection that changes whenever a record in it changes,
/// enters or leaves it: its size, the sum of its versions and its latest change. Lets streamed
/// exports carry a strong ETag without being buffered.
pub async fn fingerprint(
    db: &impl ConnectionTrait,
    filter: &OrganisationFilter,
    vis: &Visibility,
) -> StoreResult<String> {
    crate::records::fingerprint(
        db,
        "organisations",
        list_condition(filter, vis, db.get_database_backend()),
    )
    .await
}

/// Checks what only the database knows: the municipality and the themes exist, the tax code is
/// free, an explicit slug is free.
async fn check_references(
    db: &impl ConnectionTrait,
    f: &OrganisationFields,
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
    if !errs.is_empty() {
        return Err(StoreError::Invalid(errs));
    }
    if let Some(tc) = &f.tax_code {
        let mut q = Entity::find().filter(Column::TaxCode.eq(tc.as_str()));
        if let Some(id) = own_id {
            q = q.filter(Column::Id.ne(id));
        }
        if q.count(db).await? > 0 {
            return Err(StoreError::conflict(
                "/tax_code",
                "another organisation has this tax code",
            ));
        }
    }
    if let Some(slug) = &f.slug {
        let mut q = Entity::find().filter(Column::Slug.eq(slug.as_str()));
        if let Some(id) = own_id {
            q = q.filter(Column::Id.ne(id));
        }
        if q.count(db).await? > 0 {
            return Err(StoreError::conflict(
                "/slug",
                "another organisation has this slug",
            ));
        }
    }
    Ok(())
}

async fn write_themes(
    db: &impl ConnectionTrait,
    id: &str,
    themes: &[ThemeCode],
) -> StoreResult<()> {
    org_themes::Entity::delete_many()
        .filter(org_themes::Column::OrganisationId.eq(id))
        .exec(db)
        .await?;
    if themes.is_empty() {
        return Ok(());
    }
    org_themes::Entity::insert_many(themes.iter().map(|t| org_themes::ActiveModel {
        organisation_id: Set(id.to_owned()),
        theme_code: Set(t.as_str().to_owned()),
    }))
    .exec(db)
    .await?;
    Ok(())
}

/// Creates an organisation, its themes and its change-log entry in one transaction.
pub async fn create<C>(
    db: &C,
    fields: OrganisationFields,
    audit: &Audit<'_, Organisation>,
) -> StoreResult<Organisation>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::records::write_txn(db).await?;
    check_references(&txn, &fields, None).await?;
    let slug = match &fields.slug {
        Some(s) => s.clone(),
        None => {
            crate::records::free_slug(&txn, "organisations", Slug::derive(&fields.name)).await?
        }
    };
    let now = crate::records::now();
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
    fill(&mut am, &fields);
    Entity::insert(am).exec_without_returning(&txn).await?;
    write_themes(&txn, &id, &fields.themes).await?;
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

async fn load(db: &impl ConnectionTrait, id: &str) -> StoreResult<Organisation> {
    let m = Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    hydrate(db, vec![m])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

/// Replaces the writable fields of a live organisation that is still at `expected_version`.
pub async fn update<C>(
    db: &C,
    id: Uuid,
    expected_version: i64,
    fields: OrganisationFields,
    audit: &Audit<'_, Organisation>,
) -> StoreResult<Organisation>
where
    C: ConnectionTrait + TransactionTrait,
{
    let id = id.to_string();
    let txn = crate::records::write_txn(db).await?;
    check_references(&txn, &fields, Some(&id)).await?;
    let now = crate::records::now();
    let mut am = ActiveModel {
        version: Set(expected_version + 1),
        updated_at: Set(now),
        ..Default::default()
    };
    if let Some(s) = &fields.slug {
        am.slug = Set(s.as_str().to_owned());
    }
    fill(&mut am, &fields);
    let before = (audit.view)(&load(&txn, &id).await?);
    crate::records::update_versioned::<Entity, _>(&txn, am, &id, expected_version).await?;
    write_themes(&txn, &id, &fields.themes).await?;
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

/// Soft-deletes a live organisation still at `expected_version`: it leaves every listing and
/// becomes a tombstone in the change log; its slug stays reserved so it can be restored.
pub async fn delete<C>(
    db: &C,
    id: Uuid,
    expected_version: i64,
    actor: &Actor,
    before: &serde_json::Value,
) -> StoreResult<()>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::records::write_txn(db).await?;
    let led = crate::projects::led_live(&txn, id).await?;
    if !led.is_empty() {
        let names: Vec<String> = led
            .iter()
            .map(|(slug, title)| format!("{title} ({slug})"))
            .collect();
        return Err(StoreError::Conflict {
            field: None,
            message: format!(
                "this organisation leads live projects; change their lead first: {}",
                names.join(", ")
            ),
        });
    }
    crate::records::soft_delete(
        &txn,
        "organisations",
        ENTITY,
        id,
        expected_version,
        actor,
        before,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Brings a deleted organisation back (admin). Restoring a live one changes nothing.
pub async fn restore<C>(db: &C, key: &IdOrSlug, actor: &Actor) -> StoreResult<Organisation>
where
    C: ConnectionTrait + TransactionTrait,
{
    let id = crate::records::restore(db, "organisations", ENTITY, key, actor).await?;
    load(db, &id).await
}

/// How many live organisations there are (used to decide whether to load demo data).
pub async fn count_all(db: &impl ConnectionTrait) -> StoreResult<u64> {
    Ok(Entity::find().count(db).await?)
}
