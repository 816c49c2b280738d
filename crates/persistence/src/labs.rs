//! Labs: physical places, with their themes and operators, radius and box searches.

use crate::error::{StoreError, StoreResult};
use crate::geo::{BBox, Near, placed};
use crate::record::{self, Active, Filter, Link, Links, Record, Row, text};
use crate::records::{in_set, of_provinces, sub, texts};
use chrono::{DateTime, Utc};
use legami_domain::{
    Address, Contact, Email, FieldError, IstatCode, Lab, LabFields, LabKind, Location, OpeningSlot,
    Operator, OperatorRole, Organisation, Phone, Postcode, ProvinceAbbr, RecordMeta, Slug, Status,
    ThemeCode, Visibility, WebUrl,
};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, Value};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entities::labs::{ActiveModel, Column, Entity, Model};

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

fn to_domain(
    m: Model,
    themes: Vec<String>,
    operators: Vec<Vec<Option<String>>>,
) -> StoreResult<Lab> {
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
                .map(|r| {
                    let mut r = r.into_iter();
                    let id = text(r.next().flatten())?;
                    let role = text(r.next().flatten())?;
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
    am.theme_codes = Set(crate::map::theme_codes(&f.themes));
    Ok(())
}

impl Filter for LabFilter {
    type Record = Lab;

    fn near(&self) -> Option<Near> {
        self.near
    }

    fn cond(&self, vis: &Visibility, backend: sea_orm::DbBackend) -> Condition {
        lab_cond(self, vis, backend)
    }
}

fn lab_cond(f: &LabFilter, vis: &Visibility, backend: sea_orm::DbBackend) -> Condition {
    let mut c = record::visible::<Lab>(vis);
    if !f.kinds.is_empty() {
        c = c.add(Column::Kind.is_in(f.kinds.iter().map(|k| k.as_str())));
    }
    if !f.statuses.is_empty() {
        c = c.add(Column::Status.is_in(f.statuses.iter().map(|k| k.as_str())));
    }
    let place = r#""labs"."municipality""#;
    if !f.municipalities.is_empty() {
        c = c.add(in_set(backend, place, &texts(&f.municipalities)));
    }
    if let Some(ms) = &f.area_municipalities {
        c = c.add(in_set(backend, place, ms));
    }
    if !f.provinces.is_empty() {
        c = c.add(Column::Municipality.in_subquery(of_provinces(&f.provinces)));
    }
    if !f.themes.is_empty() {
        let themes = f.themes.iter().map(|t| t.as_str());
        c = c.add(Column::Id.in_subquery(sub("lab_themes", "lab_id", "theme_code", themes)));
    }
    if !f.organisations.is_empty() {
        let orgs = f.organisations.iter().map(Uuid::to_string);
        c = c.add(Column::Id.in_subquery(sub("lab_operators", "lab_id", "organisation_id", orgs)));
    }
    if let Some(since) = f.updated_since {
        c = c.add(Column::UpdatedAt.gte(since));
    }
    if let Some(q) = &f.q {
        c = c.add(crate::search::matching::<Lab>(backend, q));
    }
    placed(c, (Column::Lat, Column::Lon), f.bbox, f.near)
}

async fn check_references(db: &impl ConnectionTrait, f: &LabFields) -> StoreResult<()> {
    let mut refs = record::Refs::new(db);
    let at = "/address/municipality".to_owned();
    refs.municipalities(&[(at, &f.address.municipality)])
        .await?;
    refs.themes(&f.themes).await?;
    let operators = f.operators.iter().enumerate();
    let named =
        operators.map(|(i, o)| (format!("/operators/{i}/organisation_id"), o.organisation_id));
    refs.records::<Organisation>(named).await?;
    refs.finish()
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

impl Record for Lab {
    type Entity = Entity;
    type Fields = LabFields;
    const TABLE: &'static str = "labs";
    const ENTITY: &'static str = "lab";
    const LABEL: &'static str = "name";
    const LINKS: &'static [Link] = &[
        Link::new("lab_themes", "lab_id", &["theme_code"], "theme_code"),
        Link::new(
            "lab_operators",
            "lab_id",
            &["organisation_id", "role"],
            "role",
        ),
    ];

    record::named_by!(name);

    fn from_row(row: Row<Self>, mut links: Links) -> StoreResult<Self> {
        let themes = links.column(0)?;
        to_domain(row, themes, links.rows(1))
    }

    fn fill(am: &mut Active<Self>, f: &LabFields) -> StoreResult<()> {
        fill(am, f)
    }

    fn links(f: &LabFields) -> Vec<Vec<Vec<Value>>> {
        vec![theme_rows(&f.themes), operator_rows(f)]
    }

    /// The labs an organisation operates.
    fn owned(orgs: &[Uuid]) -> Option<Condition> {
        let operated = sub(
            "lab_operators",
            "lab_id",
            "organisation_id",
            orgs.iter().map(Uuid::to_string),
        );
        Some(Condition::all().add(record::col::<Self>("id").in_subquery(operated)))
    }

    async fn check<C: ConnectionTrait>(
        db: &C,
        f: &LabFields,
        _own: Option<&str>,
    ) -> StoreResult<()> {
        check_references(db, f).await
    }

    fn document(&self) -> crate::search::Document {
        let f = &self.fields;
        let mut body = vec![
            f.description.clone().unwrap_or_default(),
            f.neighbourhood.clone().unwrap_or_default(),
        ];
        body.extend(f.activities.iter().cloned());
        crate::search::Document {
            title: f.name.clone(),
            body,
            kind: Some(f.kind.as_str().to_owned()),
            themes: f.themes.clone(),
            municipality: Some(f.address.municipality.as_str().to_owned()),
            location: Some(f.location),
        }
    }
}
