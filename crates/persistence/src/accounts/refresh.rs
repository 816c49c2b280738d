//! Refresh tokens: single use, rotated in families, a reuse revokes the family.

use crate::error::{StoreError, StoreResult};
use crate::records::{a, now};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use uuid::Uuid;

/// How long a refresh token lives.
pub const REFRESH_TTL_DAYS: i64 = 30;

fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Issues a refresh token for a user, in a new family (a login); only its hash is stored.
/// Returns the opaque token.
pub async fn issue_refresh(
    db: &impl ConnectionTrait,
    user: Uuid,
    family: Option<Uuid>,
) -> StoreResult<String> {
    insert_refresh(db, user, family.unwrap_or_else(Uuid::now_v7)).await
}

async fn insert_refresh(
    db: &impl ConnectionTrait,
    user: Uuid,
    family: Uuid,
) -> StoreResult<String> {
    use rand_core::RngCore;
    let mut bytes = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let now = now();
    let ins = Query::insert()
        .into_table(a("refresh_tokens"))
        .columns([
            a("token_hash"),
            a("family_id"),
            a("user_id"),
            a("created_at"),
            a("expires_at"),
        ])
        .values_panic([
            token_hash(&token).into(),
            family.to_string().into(),
            user.to_string().into(),
            now.into(),
            (now + chrono::Duration::days(REFRESH_TTL_DAYS)).into(),
        ])
        .to_owned();
    db.execute(&ins).await?;
    Ok(token)
}

/// What presenting a refresh token leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Valid: it is now spent, and `refresh_token` continues its family for this user.
    Rotated {
        /// The user.
        user: Uuid,
        /// The new refresh token (opaque).
        refresh_token: String,
    },
    /// Unknown, expired or revoked.
    Invalid,
    /// Already spent: the whole family has been revoked (a stolen token was replayed).
    Reused,
}

/// Spends a refresh token (single use) and issues its successor, in one transaction: whoever
/// sees the token spent also sees the successor, so a reuse that revokes the family revokes
/// the successor too. A spent token presented again revokes its family.
pub async fn rotate_refresh<C: ConnectionTrait + sea_orm::TransactionTrait>(
    db: &C,
    token: &str,
) -> StoreResult<RefreshOutcome> {
    let txn = crate::records::write_txn(db).await?;
    let q = Query::select()
        .columns([
            a("family_id"),
            a("user_id"),
            a("expires_at"),
            a("used_at"),
            a("revoked_at"),
        ])
        .from(a("refresh_tokens"))
        .and_where(Expr::col(a("token_hash")).eq(token_hash(token)))
        .to_owned();
    let Some(row) = txn.query_one(&q).await? else {
        return Ok(RefreshOutcome::Invalid);
    };
    let family: String = row.try_get_by_index(0)?;
    let user: String = row.try_get_by_index(1)?;
    let expires: DateTime<Utc> = row.try_get_by_index(2)?;
    let used: Option<DateTime<Utc>> = row.try_get_by_index(3)?;
    let revoked: Option<DateTime<Utc>> = row.try_get_by_index(4)?;
    if used.is_some() {
        revoke_family(&txn, &family).await?;
        sea_orm::TransactionSession::commit(txn).await?;
        return Ok(RefreshOutcome::Reused);
    }
    if revoked.is_some() || expires < now() {
        return Ok(RefreshOutcome::Invalid);
    }
    // Spend it only if nobody spent it concurrently (on PostgreSQL the row lock makes a
    // concurrent spender wait for this transaction, then find the token spent).
    let up = Query::update()
        .table(a("refresh_tokens"))
        .value(a("used_at"), now())
        .and_where(Expr::col(a("token_hash")).eq(token_hash(token)))
        .and_where(Expr::col(a("used_at")).is_null())
        .and_where(Expr::col(a("revoked_at")).is_null())
        .to_owned();
    if txn.execute(&up).await?.rows_affected() == 0 {
        revoke_family(&txn, &family).await?;
        sea_orm::TransactionSession::commit(txn).await?;
        return Ok(RefreshOutcome::Reused);
    }
    let parse = |s: &str| Uuid::try_parse(s).map_err(|e| StoreError::Db(e.to_string()));
    let user = parse(&user)?;
    let refresh_token = insert_refresh(&txn, user, parse(&family)?).await?;
    sea_orm::TransactionSession::commit(txn).await?;
    Ok(RefreshOutcome::Rotated {
        user,
        refresh_token,
    })
}

async fn revoke_family(db: &impl ConnectionTrait, family: &str) -> StoreResult<()> {
    let up = Query::update()
        .table(a("refresh_tokens"))
        .value(a("revoked_at"), now())
        .and_where(Expr::col(a("family_id")).eq(family))
        .and_where(Expr::col(a("revoked_at")).is_null())
        .to_owned();
    db.execute(&up).await?;
    Ok(())
}

/// Revokes one refresh token; unknown tokens are ignored (RFC 7009).
pub async fn revoke_refresh(db: &impl ConnectionTrait, token: &str) -> StoreResult<()> {
    let up = Query::update()
        .table(a("refresh_tokens"))
        .value(a("revoked_at"), now())
        .and_where(Expr::col(a("token_hash")).eq(token_hash(token)))
        .and_where(Expr::col(a("revoked_at")).is_null())
        .to_owned();
    db.execute(&up).await?;
    Ok(())
}
