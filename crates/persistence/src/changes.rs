//! The append-only change log, written in the same transaction as the change it records.

use crate::entities::changes;
use crate::error::StoreResult;
use chrono::{DateTime, Utc};
use legami_domain::Status;
use sea_orm::{ActiveValue::NotSet, ConnectionTrait, EntityTrait, Set};

/// What happened to a record.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Upsert,
    Delete,
}

/// Appends one entry. On PostgreSQL the append first takes a self-exclusive table lock, held to
/// commit, so sequence numbers become visible in commit order: a reader that has seen `seq = n`
/// can never later find a committed `seq < n` (SQLite has a single writer anyway).
pub(crate) async fn record(
    db: &impl ConnectionTrait,
    entity: &str,
    id: &str,
    op: Op,
    status: Status,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        db.execute_unprepared("LOCK TABLE changes IN SHARE ROW EXCLUSIVE MODE")
            .await?;
    }
    // Without RETURNING: nothing reads the new row back (one statement, not two).
    let entry = changes::ActiveModel {
        seq: NotSet,
        entity: Set(entity.to_owned()),
        record_id: Set(id.to_owned()),
        op: Set(match op {
            Op::Upsert => "upsert".to_owned(),
            Op::Delete => "delete".to_owned(),
        }),
        status: Set(status.as_str().to_owned()),
        at: Set(at),
    };
    changes::Entity::insert(entry)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// One entry of the change feed as a caller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Position in the feed (commit order).
    pub seq: i64,
    /// `organisation`, `lab`, `project`, `network` or `area`.
    pub entity: String,
    /// Record id.
    pub id: String,
    /// `upsert` or `delete`.
    pub op: String,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// Up to `limit` entries after `after`, and the position to resume from. Callers who see only
/// published data get a record leaving `published` (or deleted while published) as `delete`, and
/// nothing about records they never could see.
pub async fn feed(
    db: &impl ConnectionTrait,
    after: i64,
    limit: u64,
    vis: &legami_domain::Visibility,
) -> crate::StoreResult<(Vec<Change>, i64)> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
    let rows = changes::Entity::find()
        .filter(changes::Column::Seq.gt(after))
        .order_by_asc(changes::Column::Seq)
        .limit(limit)
        .all(db)
        .await?;
    let next = rows.last().map_or(after, |r| r.seq);
    let published = Status::Published.as_str();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let op = if vis.sees_unpublished() {
            Some(r.op.clone())
        } else if r.op == "upsert" && r.status == published {
            Some("upsert".to_owned())
        } else if r.op == "delete" {
            (r.status == published).then(|| "delete".to_owned())
        } else {
            // An upsert that is not published: a delete only if the record was public just before.
            let prev = changes::Entity::find()
                .filter(changes::Column::Entity.eq(r.entity.clone()))
                .filter(changes::Column::RecordId.eq(r.record_id.clone()))
                .filter(changes::Column::Seq.lt(r.seq))
                .order_by_desc(changes::Column::Seq)
                .one(db)
                .await?;
            prev.filter(|p| p.op == "upsert" && p.status == published)
                .map(|_| "delete".to_owned())
        };
        if let Some(op) = op {
            out.push(Change {
                seq: r.seq,
                entity: r.entity,
                id: r.record_id,
                op,
                at: r.at,
            });
        }
    }
    Ok((out, next))
}

/// The latest sequence number (0 when empty).
pub async fn head(db: &impl ConnectionTrait) -> crate::StoreResult<i64> {
    use sea_orm::{EntityTrait, QueryOrder};
    Ok(changes::Entity::find()
        .order_by_desc(changes::Column::Seq)
        .one(db)
        .await?
        .map_or(0, |r| r.seq))
}
