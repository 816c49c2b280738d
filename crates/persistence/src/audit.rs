//! The audit log: who created, changed, deleted or restored what, with the changed fields
//! before and after. Entries are written in the transaction of the change they describe, so
//! there is never a change without its entry, nor an entry without its change.

use crate::error::{StoreError, StoreResult};
use crate::records::{a, now};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, Order};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `user` or `client`.
    pub kind: &'static str,
    /// The user's or client's id.
    pub id: Uuid,
}

impl Actor {
    /// The server itself (demo and synthetic data loaders, the command line).
    pub fn system() -> Self {
        Self {
            kind: "system",
            id: Uuid::nil(),
        }
    }
}

/// What a write needs to audit itself: the actor, and how a record looks in the log (the
/// representation administrators read, so before/after are in the API's own terms).
pub struct Audit<'a, T: ?Sized> {
    /// Who changes.
    pub actor: &'a Actor,
    /// The record as the log shows it.
    pub view: &'a (dyn Fn(&T) -> Value + Sync),
}

/// Fields every change touches; the log leaves them out of the diff.
const BOOKKEEPING: &[&str] = &["version", "updated_at", "created_at", "distance_km"];

/// The fields that differ between two views, as `{field: {"before": .., "after": ..}}`.
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Value {
    let empty = Map::new();
    let b = before.and_then(Value::as_object).unwrap_or(&empty);
    let af = after.and_then(Value::as_object).unwrap_or(&empty);
    let mut out = Map::new();
    for key in b.keys().chain(af.keys().filter(|k| !b.contains_key(*k))) {
        if BOOKKEEPING.contains(&key.as_str()) {
            continue;
        }
        let (old, new) = (
            before.map(|_| b.get(key).cloned().unwrap_or(Value::Null)),
            after.map(|_| af.get(key).cloned().unwrap_or(Value::Null)),
        );
        if old != new {
            out.insert(
                key.clone(),
                json!({"before": old.unwrap_or(Value::Null), "after": new.unwrap_or(Value::Null)}),
            );
        }
    }
    Value::Object(out)
}

/// Appends an entry.
pub async fn record(
    db: &impl ConnectionTrait,
    actor: &Actor,
    action: &str,
    entity: &str,
    record_id: &str,
    changes: Value,
) -> StoreResult<()> {
    let ins = Query::insert()
        .into_table(a("audit_log"))
        .columns([
            a("at"),
            a("actor_type"),
            a("actor_id"),
            a("action"),
            a("entity"),
            a("record_id"),
            a("changes"),
        ])
        .values_panic([
            now().into(),
            actor.kind.into(),
            actor.id.to_string().into(),
            action.into(),
            entity.into(),
            record_id.into(),
            changes.to_string().into(),
        ])
        .to_owned();
    db.execute(&ins).await?;
    Ok(())
}

/// Appends the entry of a create (`before` absent), update, or delete (`after` absent).
pub async fn record_views(
    db: &impl ConnectionTrait,
    actor: &Actor,
    action: &str,
    entity: &str,
    record_id: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) -> StoreResult<()> {
    record(db, actor, action, entity, record_id, diff(before, after)).await
}

/// One audit entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Position in the log.
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// `user` or `client`.
    pub actor_type: String,
    /// Who.
    pub actor_id: String,
    /// `create`, `update`, `delete`, `restore`.
    pub action: String,
    /// Record type.
    pub entity: String,
    /// Record id.
    pub record_id: String,
    /// Changed fields with before and after.
    pub changes: Value,
}

/// Filters of `GET /audit`.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Record type.
    pub entity: Option<String>,
    /// Record id.
    pub record_id: Option<String>,
    /// Actor id.
    pub actor_id: Option<String>,
}

/// Up to `limit` entries, newest first, older than `before_seq` when given.
pub async fn list(
    db: &impl ConnectionTrait,
    f: &AuditFilter,
    before_seq: Option<i64>,
    limit: u64,
) -> StoreResult<Vec<Entry>> {
    let mut q = Query::select();
    q.columns([
        a("seq"),
        a("at"),
        a("actor_type"),
        a("actor_id"),
        a("action"),
        a("entity"),
        a("record_id"),
        a("changes"),
    ])
    .from(a("audit_log"))
    .order_by(a("seq"), Order::Desc)
    .limit(limit);
    if let Some(e) = &f.entity {
        q.and_where(Expr::col(a("entity")).eq(e.as_str()));
    }
    if let Some(r) = &f.record_id {
        q.and_where(Expr::col(a("record_id")).eq(r.as_str()));
    }
    if let Some(actor) = &f.actor_id {
        q.and_where(Expr::col(a("actor_id")).eq(actor.as_str()));
    }
    if let Some(s) = before_seq {
        q.and_where(Expr::col(a("seq")).lt(s));
    }
    db.query_all(&q)
        .await?
        .iter()
        .map(|r| {
            let changes: String = r.try_get_by_index(7)?;
            Ok(Entry {
                seq: r.try_get_by_index(0)?,
                at: r.try_get_by_index(1)?,
                actor_type: r.try_get_by_index(2)?,
                actor_id: r.try_get_by_index(3)?,
                action: r.try_get_by_index(4)?,
                entity: r.try_get_by_index(5)?,
                record_id: r.try_get_by_index(6)?,
                changes: serde_json::from_str(&changes)
                    .map_err(|e| StoreError::Db(e.to_string()))?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_keeps_only_changed_fields_and_skips_bookkeeping() {
        let before = json!({"name": "A", "kind": "aps", "version": 1, "themes": ["x"]});
        let after = json!({"name": "B", "kind": "aps", "version": 2, "themes": ["x", "y"]});
        assert_eq!(
            diff(Some(&before), Some(&after)),
            json!({"name": {"before": "A", "after": "B"}, "themes": {"before": ["x"], "after": ["x", "y"]}})
        );
        assert_eq!(
            diff(None, Some(&json!({"name": "A", "version": 1}))),
            json!({"name": {"before": null, "after": "A"}})
        );
        assert_eq!(
            diff(Some(&json!({"name": "A"})), None),
            json!({"name": {"before": "A", "after": null}})
        );
    }
}
