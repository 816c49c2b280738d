//! The ISTAT municipality list (read-only reference data).

use crate::entities::municipalities::{Column, Entity, Model};
use crate::error::{StoreError, StoreResult};
use crate::pagination::{KeysetPos, Page, PageRequest, after, finish};
use legami_domain::{IstatCode, Municipality};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

/// Fields a municipality listing can be sorted by.
pub const SORTS: &[&str] = &["istat_code", "name"];

/// Filters of `GET /municipalities`.
#[derive(Debug, Clone, Default)]
pub struct MunicipalityFilter {
    /// Part of the name, accents and case ignored.
    pub q: Option<String>,
    /// Province abbreviations (any of).
    pub provinces: Vec<String>,
    /// Region codes (`03`) or names (`Lombardia`), any of.
    pub regions: Vec<String>,
    /// Only these codes (the municipalities of the chosen areas).
    pub codes: Option<Vec<String>>,
}

impl From<Model> for Municipality {
    fn from(m: Model) -> Self {
        Self {
            istat_code: m.istat_code,
            name: m.name,
            name_other_language: m.name_other_language,
            region_code: m.region_code,
            region_name: m.region_name,
            province_code: m.province_code,
            province_name: m.province_name,
            province_abbr: m.province_abbr,
            is_province_capital: m.is_province_capital,
            cadastral_code: m.cadastral_code,
            nuts3_code: m.nuts3_code,
            population: m.population.and_then(|p| u32::try_from(p).ok()),
        }
    }
}

fn condition(f: &MunicipalityFilter, backend: sea_orm::DbBackend) -> Condition {
    let mut c = Condition::all();
    if let Some(q) = &f.q {
        let folded = legami_migration::fold_name(q);
        c = c.add(Column::NameSearch.contains(folded.trim()));
    }
    if !f.provinces.is_empty() {
        c = c.add(Column::ProvinceAbbr.is_in(f.provinces.iter().map(|p| p.to_ascii_uppercase())));
    }
    if !f.regions.is_empty() {
        let mut any = Condition::any();
        for r in &f.regions {
            if r.bytes().all(|b| b.is_ascii_digit()) {
                any = any.add(Column::RegionCode.eq(format!("{r:0>2}")));
            } else {
                any = any.add(Column::RegionName.eq(r.clone()));
            }
        }
        c = c.add(any);
    }
    if let Some(codes) = &f.codes {
        c = c.add(crate::records::in_set(
            backend,
            r#""municipalities"."istat_code""#,
            codes,
        ));
    }
    c
}

fn key(m: &Model, field: &str) -> String {
    match field {
        "name" => m.name.clone(),
        _ => m.istat_code.clone(),
    }
}

/// One page of municipalities.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &MunicipalityFilter,
    page: &PageRequest,
) -> StoreResult<Page<Municipality>> {
    let cond = condition(filter, db.get_database_backend());
    let total = if page.count {
        Some(Entity::find().filter(cond.clone()).count(db).await?)
    } else {
        None
    };
    let (col, id_col) = match page.sort.field {
        "name" => (Column::Name, Column::IstatCode),
        _ => (Column::IstatCode, Column::IstatCode),
    };
    let order = if page.sort.desc {
        Order::Desc
    } else {
        Order::Asc
    };
    let mut q = Entity::find().filter(cond);
    if let Some(pos) = &page.after {
        q = q.filter(after(
            col,
            id_col,
            page.sort.desc,
            pos.key.clone().into(),
            &pos.id,
        ));
    }
    let rows = q
        .order_by(col, order.clone())
        .order_by(Column::IstatCode, order)
        .limit(page.limit + 1)
        .all(db)
        .await?;
    let field = page.sort.field;
    let (rows, next) = finish(rows, page.limit, |m| KeysetPos {
        key: key(m, field),
        id: m.istat_code.clone(),
    });
    Ok(Page {
        items: rows.into_iter().map(Municipality::from).collect(),
        next,
        total,
    })
}

/// One municipality by ISTAT code.
pub async fn get(db: &impl ConnectionTrait, code: &IstatCode) -> StoreResult<Municipality> {
    Entity::find_by_id(code.as_str().to_owned())
        .one(db)
        .await?
        .map(Municipality::from)
        .ok_or(StoreError::NotFound)
}

/// Whether a municipality exists.
pub async fn exists(db: &impl ConnectionTrait, code: &IstatCode) -> StoreResult<bool> {
    Ok(Entity::find_by_id(code.as_str().to_owned())
        .count(db)
        .await?
        > 0)
}

/// Whether a province abbreviation is known.
pub async fn province_exists(db: &impl ConnectionTrait, abbr: &str) -> StoreResult<bool> {
    Ok(Entity::find()
        .filter(Column::ProvinceAbbr.eq(abbr.to_ascii_uppercase()))
        .count(db)
        .await?
        > 0)
}
