//! The themes vocabulary.

use crate::entities::themes::{ActiveModel, Column, Entity, Model};
use crate::error::{StoreError, StoreResult};
use legami_domain::{Theme, ThemeCode};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use std::collections::HashSet;

impl TryFrom<Model> for Theme {
    type Error = StoreError;
    fn try_from(m: Model) -> Result<Self, StoreError> {
        Ok(Self {
            code: ThemeCode::parse(&m.code).map_err(|e| StoreError::Db(e.message))?,
            name_it: m.name_it,
            name_en: m.name_en,
            description: m.description,
            created_at: m.created_at,
        })
    }
}

/// Every theme, by code.
pub async fn list(db: &impl ConnectionTrait) -> StoreResult<Vec<Theme>> {
    Entity::find()
        .order_by_asc(Column::Code)
        .all(db)
        .await?
        .into_iter()
        .map(Theme::try_from)
        .collect()
}

/// One theme.
pub async fn get(db: &impl ConnectionTrait, code: &ThemeCode) -> StoreResult<Theme> {
    Entity::find_by_id(code.as_str().to_owned())
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)
        .and_then(Theme::try_from)
}

/// Adds a theme; a taken code is a conflict.
pub async fn create<C: ConnectionTrait + sea_orm::TransactionTrait>(
    db: &C,
    theme: &Theme,
    actor: &crate::audit::Actor,
) -> StoreResult<Theme> {
    let txn = crate::records::write_txn(db).await?;
    if Entity::find_by_id(theme.code.as_str().to_owned())
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(StoreError::conflict(
            "/code",
            format!("theme '{}' exists", theme.code.as_str()),
        ));
    }
    let m = ActiveModel {
        code: Set(theme.code.as_str().to_owned()),
        name_it: Set(theme.name_it.clone()),
        name_en: Set(theme.name_en.clone()),
        description: Set(theme.description.clone()),
        created_at: Set(theme.created_at),
    }
    .insert(&txn)
    .await?;
    let created = Theme::try_from(m)?;
    let code = theme.code.as_str();
    let changes = serde_json::json!({"code": {"before": null, "after": code}});
    crate::audit::record(&txn, actor, "create", "theme", code, changes).await?;
    sea_orm::TransactionSession::commit(txn).await?;
    Ok(created)
}

/// The codes among `codes` that are not in the vocabulary.
pub async fn unknown(
    db: &impl ConnectionTrait,
    codes: &[ThemeCode],
) -> StoreResult<Vec<ThemeCode>> {
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    let found: HashSet<String> = Entity::find()
        .filter(Column::Code.is_in(codes.iter().map(|c| c.as_str().to_owned())))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.code)
        .collect();
    Ok(codes
        .iter()
        .filter(|c| !found.contains(c.as_str()))
        .cloned()
        .collect())
}
