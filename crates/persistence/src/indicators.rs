//! The indicators catalogue.

use crate::entities::indicators::{ActiveModel, Column, Entity, Model};
use crate::error::{StoreError, StoreResult};
use legami_domain::{Aggregation, Indicator, IndicatorUnit, ThemeCode};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use std::collections::HashMap;

fn to_domain(m: Model) -> StoreResult<Indicator> {
    let bad = |e: legami_domain::FieldError| {
        StoreError::Db(format!("stored indicator is invalid: {}", e.message))
    };
    Ok(Indicator {
        code: ThemeCode::parse(&m.code).map_err(bad)?,
        name_it: m.name_it,
        name_en: m.name_en,
        description: m.description,
        unit: IndicatorUnit::parse(&m.unit).map_err(bad)?,
        aggregation: Aggregation::parse(&m.aggregation).map_err(bad)?,
        created_at: m.created_at,
    })
}

/// Every indicator, by code.
pub async fn list(db: &impl ConnectionTrait) -> StoreResult<Vec<Indicator>> {
    Entity::find()
        .order_by_asc(Column::Code)
        .all(db)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// Indicators by code.
pub async fn by_code(db: &impl ConnectionTrait) -> StoreResult<HashMap<String, Indicator>> {
    Ok(list(db)
        .await?
        .into_iter()
        .map(|i| (i.code.as_str().to_owned(), i))
        .collect())
}

/// One indicator.
pub async fn get(db: &impl ConnectionTrait, code: &ThemeCode) -> StoreResult<Indicator> {
    Entity::find()
        .filter(Column::Code.eq(code.as_str()))
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)
        .and_then(to_domain)
}

/// Adds an indicator; a taken code is a conflict.
pub async fn create<C: ConnectionTrait + sea_orm::TransactionTrait>(
    db: &C,
    i: &Indicator,
    actor: &crate::audit::Actor,
) -> StoreResult<Indicator> {
    let txn = crate::records::write_txn(db).await?;
    if Entity::find_by_id(i.code.as_str().to_owned())
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(StoreError::conflict(
            "/code",
            format!("indicator '{}' exists", i.code.as_str()),
        ));
    }
    let m = ActiveModel {
        code: Set(i.code.as_str().to_owned()),
        name_it: Set(i.name_it.clone()),
        name_en: Set(i.name_en.clone()),
        description: Set(i.description.clone()),
        unit: Set(i.unit.as_str().to_owned()),
        aggregation: Set(i.aggregation.as_str().to_owned()),
        created_at: Set(i.created_at),
    }
    .insert(&txn)
    .await?;
    let created = to_domain(m)?;
    let code = i.code.as_str();
    let changes = serde_json::json!({"code": {"before": null, "after": code}});
    crate::audit::record(&txn, actor, "create", "indicator", code, changes).await?;
    sea_orm::TransactionSession::commit(txn).await?;
    Ok(created)
}
