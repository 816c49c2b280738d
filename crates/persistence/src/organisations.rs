//! Organisations: the bodies behind everything (associations, cooperatives, municipalities).

use crate::entities::organisations::{ActiveModel, Column, Entity, Model};
use crate::error::{StoreError, StoreResult};
use crate::record::{self, Active, Filter, Link, Links, Record, Row};
use crate::records::{in_set, of_provinces, sub, texts};
use chrono::{DateTime, Utc};
use legami_domain::{
    Address, Contact, ContactPerson, Email, FieldError, IstatCode, Location, Organisation,
    OrganisationFields, OrganisationKind, Phone, Postcode, ProvinceAbbr, RecordMeta, RuntsSection,
    Slug, Status, TaxCode, ThemeCode, VatNumber, Visibility, WebUrl,
};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, Value,
};
use uuid::Uuid;

/// Fields an organisation listing can be sorted by.
pub const SORTS: &[&str] = &["name", "slug", "created_at", "updated_at", "distance"];

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
    am.theme_codes = Set(crate::map::theme_codes(&f.themes));
}

/// Checks what only the database knows: the municipality and the themes exist, the tax code is
/// free.
async fn check_references(
    db: &impl ConnectionTrait,
    f: &OrganisationFields,
    own_id: Option<&str>,
) -> StoreResult<()> {
    let mut refs = record::Refs::new(db);
    let at = "/address/municipality".to_owned();
    refs.municipalities(&[(at, &f.address.municipality)])
        .await?;
    refs.themes(&f.themes).await?;
    refs.finish()?;
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
    Ok(())
}

impl Filter for OrganisationFilter {
    type Record = Organisation;

    fn near(&self) -> Option<crate::geo::Near> {
        self.near
    }

    fn cond(&self, vis: &Visibility, backend: sea_orm::DbBackend) -> Condition {
        let f = self;
        let mut c = record::visible::<Organisation>(vis);
        if !f.kinds.is_empty() {
            c = c.add(Column::Kind.is_in(f.kinds.iter().map(|k| k.as_str())));
        }
        if !f.statuses.is_empty() {
            c = c.add(Column::Status.is_in(f.statuses.iter().map(|k| k.as_str())));
        }
        if !f.municipalities.is_empty() {
            c = c.add(in_set(backend, ORG_MUNICIPALITY, &texts(&f.municipalities)));
        }
        if !f.provinces.is_empty() {
            c = c.add(Column::Municipality.in_subquery(of_provinces(&f.provinces)));
        }
        if !f.themes.is_empty() {
            let themes = f.themes.iter().map(|t| t.as_str());
            let tagged = sub(
                "organisation_themes",
                "organisation_id",
                "theme_code",
                themes,
            );
            c = c.add(Column::Id.in_subquery(tagged));
        }
        if let Some(since) = f.updated_since {
            c = c.add(Column::UpdatedAt.gte(since));
        }
        if let Some(ms) = &f.area_municipalities {
            c = c.add(in_set(backend, ORG_MUNICIPALITY, ms));
        }
        if let Some(q) = &f.q {
            c = c.add(crate::search::matching::<Organisation>(backend, q));
        }
        crate::geo::placed(c, (Column::Lat, Column::Lon), f.bbox, f.near)
    }
}

impl Record for Organisation {
    type Entity = Entity;
    type Fields = OrganisationFields;
    const TABLE: &'static str = "organisations";
    const ENTITY: &'static str = "organisation";
    const LABEL: &'static str = "name";
    const LINKS: &'static [Link] = &[Link::new(
        "organisation_themes",
        "organisation_id",
        &["theme_code"],
        "theme_code",
    )];

    record::named_by!(name);

    fn from_row(row: Row<Self>, mut links: Links) -> StoreResult<Self> {
        to_domain(row, links.column(0)?)
    }

    fn fill(am: &mut Active<Self>, f: &OrganisationFields) -> StoreResult<()> {
        fill(am, f);
        Ok(())
    }

    fn links(f: &OrganisationFields) -> Vec<Vec<Vec<Value>>> {
        vec![f.themes.iter().map(|t| vec![t.as_str().into()]).collect()]
    }

    /// An organisation is its own.
    fn owned(orgs: &[Uuid]) -> Option<Condition> {
        Some(
            Condition::all().add(record::col::<Self>("id").is_in(orgs.iter().map(Uuid::to_string))),
        )
    }

    async fn check<C: ConnectionTrait>(
        db: &C,
        f: &OrganisationFields,
        own: Option<&str>,
    ) -> StoreResult<()> {
        check_references(db, f, own).await
    }

    /// An organisation leading live projects stays until their lead changes.
    async fn before_delete<C: ConnectionTrait>(db: &C, id: Uuid) -> StoreResult<()> {
        let led = crate::projects::led_live(db, id).await?;
        if led.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = led
            .iter()
            .map(|(slug, title)| format!("{title} ({slug})"))
            .collect();
        Err(StoreError::Conflict {
            field: None,
            message: format!(
                "this organisation leads live projects; change their lead first: {}",
                names.join(", ")
            ),
        })
    }

    fn document(&self) -> crate::search::Document {
        let f = &self.fields;
        crate::search::Document {
            title: f.name.clone(),
            body: vec![f.description.clone().unwrap_or_default()],
            kind: Some(f.kind.as_str().to_owned()),
            themes: f.themes.clone(),
            municipality: Some(f.address.municipality.as_str().to_owned()),
            location: f.location,
        }
    }
}

/// How many live organisations there are (used to decide whether to load demo data).
pub async fn count_all(db: &impl ConnectionTrait) -> StoreResult<u64> {
    Ok(Entity::find().count(db).await?)
}
