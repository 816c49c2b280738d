//! Stored answers to POSTs that carried an `Idempotency-Key`: the same key with the same body
//! within 24 hours replays the first answer; with another body it is a conflict.

use crate::error::StoreResult;
use crate::records::{a, now};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};

/// How long a key is remembered.
pub const TTL_HOURS: i64 = 24;

/// A stored answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Location`.
    pub location: Option<String>,
    /// Body.
    pub body: String,
}

/// What to do with a request carrying a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First use: go on, then [`finish`] or [`abandon`].
    Fresh,
    /// Seen with the same body: answer this.
    Replay(Stored),
    /// Seen with another body.
    Mismatch,
    /// The first request with this key is still being answered.
    InFlight,
}

/// Claims a key (`key_hash` names caller, method, path and key; `request_hash` the body).
pub async fn begin(
    db: &impl ConnectionTrait,
    key_hash: &str,
    request_hash: &str,
) -> StoreResult<Begin> {
    let cutoff = now() - chrono::Duration::hours(TTL_HOURS);
    let expired = Query::delete()
        .from_table(a("idempotency_keys"))
        .and_where(Expr::col(a("created_at")).lt(cutoff))
        .to_owned();
    db.execute(&expired).await?;
    let ins = Query::insert()
        .into_table(a("idempotency_keys"))
        .columns([a("key_hash"), a("request_hash"), a("created_at")])
        .values_panic([key_hash.into(), request_hash.into(), now().into()])
        .on_conflict(OnConflict::column(a("key_hash")).do_nothing().to_owned())
        .to_owned();
    if db.execute(&ins).await?.rows_affected() == 1 {
        return Ok(Begin::Fresh);
    }
    let q = Query::select()
        .columns([
            a("request_hash"),
            a("status"),
            a("content_type"),
            a("location"),
            a("body"),
        ])
        .from(a("idempotency_keys"))
        .and_where(Expr::col(a("key_hash")).eq(key_hash))
        .to_owned();
    let Some(r) = db.query_one(&q).await? else {
        // Expired and removed between the two statements: treat as in flight; a retry succeeds.
        return Ok(Begin::InFlight);
    };
    let stored_hash: String = r.try_get_by_index(0)?;
    if stored_hash != request_hash {
        return Ok(Begin::Mismatch);
    }
    let status: Option<i32> = r.try_get_by_index(1)?;
    Ok(match status {
        None => Begin::InFlight,
        Some(s) => Begin::Replay(Stored {
            status: u16::try_from(s).unwrap_or(500),
            content_type: r.try_get_by_index(2)?,
            location: r.try_get_by_index(3)?,
            body: r.try_get_by_index::<Option<String>>(4)?.unwrap_or_default(),
        }),
    })
}

/// Records the answer of a fresh key.
pub async fn finish(db: &impl ConnectionTrait, key_hash: &str, answer: &Stored) -> StoreResult<()> {
    let up = Query::update()
        .table(a("idempotency_keys"))
        .value(a("status"), i32::from(answer.status))
        .value(a("content_type"), answer.content_type.clone())
        .value(a("location"), answer.location.clone())
        .value(a("body"), answer.body.clone())
        .and_where(Expr::col(a("key_hash")).eq(key_hash))
        .to_owned();
    db.execute(&up).await?;
    Ok(())
}

/// Forgets a fresh key whose request failed on the server's side, so a retry runs again.
pub async fn abandon(db: &impl ConnectionTrait, key_hash: &str) -> StoreResult<()> {
    let del = Query::delete()
        .from_table(a("idempotency_keys"))
        .and_where(Expr::col(a("key_hash")).eq(key_hash))
        .to_owned();
    db.execute(&del).await?;
    Ok(())
}
