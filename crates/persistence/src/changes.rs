//! The append-only change log, written in the same transaction as the change it records.

use crate::entities::changes;
use crate::error::StoreResult;
use chrono::{DateTime, Utc};
use legami_domain::Status;
use sea_orm::{ActiveModelTrait, ActiveValue::NotSet, ConnectionTrait, Set};

/// What happened to a record.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Upsert,
    Delete,
}

/// Appends one entry.
pub(crate) async fn record(
    db: &impl ConnectionTrait,
    entity: &str,
    id: &str,
    op: Op,
    status: Status,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    changes::ActiveModel {
        seq: NotSet,
        entity: Set(entity.to_owned()),
        record_id: Set(id.to_owned()),
        op: Set(match op {
            Op::Upsert => "upsert".to_owned(),
            Op::Delete => "delete".to_owned(),
        }),
        status: Set(status.as_str().to_owned()),
        at: Set(at),
    }
    .insert(db)
    .await?;
    Ok(())
}
