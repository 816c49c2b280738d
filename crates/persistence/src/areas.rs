//! Areas: named groups of municipalities (ambiti, districts, health authorities).

use crate::entities::areas::{ActiveModel, Column, Entity, Model};
use crate::error::{StoreError, StoreResult};
use crate::record::{self, Active, Filter, Link, Links, Record, Row};
use crate::records::{sub, texts};
use legami_domain::{
    Area, AreaFields, AreaKind, FieldError, IdOrSlug, IstatCode, RecordMeta, Slug, Status,
    Visibility,
};
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, Value};
use uuid::Uuid;

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

fn to_domain(m: Model, municipalities: Vec<String>) -> StoreResult<Area> {
    let municipalities = municipalities
        .iter()
        .map(|c| IstatCode::parse(c).map_err(corrupt))
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
}

impl Filter for AreaFilter {
    type Record = Area;

    fn cond(&self, vis: &Visibility, backend: sea_orm::DbBackend) -> Condition {
        let f = self;
        let mut c = record::visible::<Area>(vis);
        if !f.kinds.is_empty() {
            c = c.add(Column::Kind.is_in(f.kinds.iter().map(|k| k.as_str())));
        }
        if !f.statuses.is_empty() {
            c = c.add(Column::Status.is_in(f.statuses.iter().map(|k| k.as_str())));
        }
        if !f.municipalities.is_empty() {
            let codes = texts(&f.municipalities);
            let covering = sub("area_municipalities", "area_id", "municipality", codes);
            c = c.add(Column::Id.in_subquery(covering));
        }
        if let Some(q) = &f.q {
            c = c.add(crate::search::matching::<Area>(backend, q));
        }
        c
    }
}

async fn check(db: &impl ConnectionTrait, f: &AreaFields) -> StoreResult<()> {
    let mut refs = record::Refs::new(db);
    let places = f.municipalities.iter().enumerate();
    let named: Vec<_> = places
        .map(|(i, m)| (format!("/municipalities/{i}"), m))
        .collect();
    refs.municipalities(&named).await?;
    refs.finish()
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

impl Record for Area {
    type Entity = Entity;
    type Fields = AreaFields;
    const TABLE: &'static str = "areas";
    const ENTITY: &'static str = "area";
    const LABEL: &'static str = "name";
    const LINKS: &'static [Link] = &[Link::new(
        "area_municipalities",
        "area_id",
        &["municipality"],
        "municipality",
    )];

    record::named_by!(name);

    fn from_row(row: Row<Self>, mut links: Links) -> StoreResult<Self> {
        to_domain(row, links.column(0)?)
    }

    fn fill(am: &mut Active<Self>, f: &AreaFields) -> StoreResult<()> {
        fill(am, f);
        Ok(())
    }

    fn links(f: &AreaFields) -> Vec<Vec<Vec<Value>>> {
        vec![rows(f)]
    }

    async fn check<C: ConnectionTrait>(
        db: &C,
        f: &AreaFields,
        _own: Option<&str>,
    ) -> StoreResult<()> {
        check(db, f).await
    }

    fn document(&self) -> crate::search::Document {
        crate::search::Document {
            title: self.fields.name.clone(),
            body: vec![self.fields.description.clone().unwrap_or_default()],
            kind: Some(self.fields.kind.as_str().to_owned()),
            ..Default::default()
        }
    }
}

/// Municipalities of an area given by id or slug; `None` when there is no such live area.
pub async fn municipalities_of(
    db: &(impl ConnectionTrait + 'static),
    key: &IdOrSlug,
    vis: &Visibility,
) -> StoreResult<Option<Vec<String>>> {
    match record::find::<Area>(db, key, vis).await {
        Ok(area) => Ok(Some(
            area.fields
                .municipalities
                .iter()
                .map(|m| m.as_str().to_owned())
                .collect(),
        )),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}
