//! User accounts and the Ed25519 keys that sign access tokens.

use crate::error::{StoreError, StoreResult};
use crate::records::{a, now};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, Value};
use uuid::Uuid;

/// A signing key: its id, private key (PKCS#8 DER) and public key (raw 32 bytes, base64url).
#[derive(Clone)]
pub struct KeyRecord {
    /// Key id (`kid` header).
    pub kid: String,
    /// PKCS#8 DER of the private key; empty when it is not kept (a configured key, a retired
    /// one).
    pub private_pkcs8: Vec<u8>,
    /// The public key as JWK `x`.
    pub public_x: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stopped signing (it still verifies until tokens it signed expire).
    pub retired_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("kid", &self.kid)
            .field("private_pkcs8", &"***")
            .finish()
    }
}

/// A new random Ed25519 key.
pub fn generate_key() -> StoreResult<KeyRecord> {
    let key = SigningKey::generate(&mut rand_core::OsRng);
    key_record(&key)
}

/// A key record from a private key given in configuration (PKCS#8 DER, base64).
pub fn key_from_config(pkcs8_b64: &str) -> StoreResult<KeyRecord> {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    let der = STANDARD
        .decode(pkcs8_b64.trim())
        .map_err(|e| StoreError::Db(format!("the configured signing key is not base64: {e}")))?;
    let key = SigningKey::from_pkcs8_der(&der).map_err(|e| {
        StoreError::Db(format!(
            "the configured signing key is not an Ed25519 PKCS#8 key: {e}"
        ))
    })?;
    key_record(&key)
}

fn key_record(key: &SigningKey) -> StoreResult<KeyRecord> {
    let der = key
        .to_pkcs8_der()
        .map_err(|e| StoreError::Db(e.to_string()))?;
    let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    // The kid is derived from the public key, so the same configured key keeps its id.
    let kid = format!("ed25519-{}", &x[..16]);
    Ok(KeyRecord {
        kid,
        private_pkcs8: der.as_bytes().to_vec(),
        public_x: x,
        created_at: now(),
        retired_at: None,
    })
}

/// Every stored key, newest first.
pub async fn keys(db: &impl ConnectionTrait) -> StoreResult<Vec<KeyRecord>> {
    let q = Query::select()
        .columns([
            a("kid"),
            a("private_pkcs8"),
            a("public_x"),
            a("created_at"),
            a("retired_at"),
        ])
        .from(a("signing_keys"))
        .order_by(a("created_at"), sea_orm::Order::Desc)
        .to_owned();
    db.query_all(&q)
        .await?
        .iter()
        .map(|r| {
            Ok(KeyRecord {
                kid: r.try_get_by_index(0)?,
                private_pkcs8: STANDARD
                    .decode(r.try_get_by_index::<String>(1)?)
                    .map_err(|e| StoreError::Db(e.to_string()))?,
                public_x: r.try_get_by_index(2)?,
                created_at: r.try_get_by_index(3)?,
                retired_at: r.try_get_by_index(4)?,
            })
        })
        .collect()
}

/// Makes `key` the signing key: recorded if new, every other key retired (still verifying
/// for a while, see [`prune_keys`]). Its private material is stored only with
/// `keep_private` (a development key generated here); a key given in configuration is recorded
/// by its public part alone. Retired keys never keep private material.
pub async fn activate_key<C: ConnectionTrait + sea_orm::TransactionTrait>(
    db: &C,
    key: &KeyRecord,
    keep_private: bool,
) -> StoreResult<()> {
    let txn = crate::records::write_txn(db).await?;
    let private = if keep_private {
        STANDARD.encode(&key.private_pkcs8)
    } else {
        String::new()
    };
    let exists = keys(&txn).await?.iter().any(|k| k.kid == key.kid);
    if exists {
        if !keep_private {
            let wipe = Query::update()
                .table(a("signing_keys"))
                .value(a("private_pkcs8"), "")
                .and_where(Expr::col(a("kid")).eq(key.kid.clone()))
                .to_owned();
            txn.execute(&wipe).await?;
        }
    } else {
        let ins = Query::insert()
            .into_table(a("signing_keys"))
            .columns([a("kid"), a("private_pkcs8"), a("public_x"), a("created_at")])
            .values_panic([
                key.kid.clone().into(),
                private.into(),
                key.public_x.clone().into(),
                key.created_at.into(),
            ])
            .to_owned();
        txn.execute(&ins).await?;
    }
    let retire = Query::update()
        .table(a("signing_keys"))
        .value(a("retired_at"), now())
        .and_where(Expr::col(a("kid")).ne(key.kid.clone()))
        .and_where(Expr::col(a("retired_at")).is_null())
        .to_owned();
    txn.execute(&retire).await?;
    let unretire = Query::update()
        .table(a("signing_keys"))
        .value(a("retired_at"), Value::ChronoDateTimeUtc(None))
        .and_where(Expr::col(a("kid")).eq(key.kid.clone()))
        .to_owned();
    txn.execute(&unretire).await?;
    let wipe_retired = Query::update()
        .table(a("signing_keys"))
        .value(a("private_pkcs8"), "")
        .and_where(Expr::col(a("retired_at")).is_not_null())
        .and_where(Expr::col(a("private_pkcs8")).ne(""))
        .to_owned();
    txn.execute(&wipe_retired).await?;
    sea_orm::TransactionSession::commit(txn).await?;
    Ok(())
}

/// Forgets keys retired before `before` (once no token they signed can still be valid).
pub async fn prune_keys(db: &impl ConnectionTrait, before: DateTime<Utc>) -> StoreResult<u64> {
    let del = Query::delete()
        .from_table(a("signing_keys"))
        .and_where(Expr::col(a("retired_at")).lt(before))
        .to_owned();
    Ok(db.execute(&del).await?.rows_affected())
}

/// A user account.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: Uuid,
    /// Login e-mail (lower case).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// `admin`, `editor` or `viewer`.
    pub role: String,
    /// Disabled accounts cannot log in and their tokens stop working.
    pub disabled: bool,
    /// Organisations the user belongs to.
    pub organisation_ids: Vec<Uuid>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("password_hash", &"***")
            .finish()
    }
}

fn to_user(r: &sea_orm::QueryResult, orgs: Vec<Uuid>) -> StoreResult<User> {
    Ok(User {
        id: Uuid::try_parse(&r.try_get_by_index::<String>(0)?)
            .map_err(|e| StoreError::Db(e.to_string()))?,
        email: r.try_get_by_index(1)?,
        name: r.try_get_by_index(2)?,
        password_hash: r.try_get_by_index(3)?,
        role: r.try_get_by_index(4)?,
        disabled: r.try_get_by_index(5)?,
        organisation_ids: orgs,
    })
}

async fn find_by(db: &impl ConnectionTrait, col: &str, value: String) -> StoreResult<Option<User>> {
    let q = Query::select()
        .columns([
            a("id"),
            a("email"),
            a("name"),
            a("password_hash"),
            a("role"),
            a("disabled"),
        ])
        .from(a("users"))
        .and_where(Expr::col(a(col)).eq(value))
        .to_owned();
    let Some(row) = db.query_one(&q).await? else {
        return Ok(None);
    };
    let id: String = row.try_get_by_index(0)?;
    let oq = Query::select()
        .column(a("organisation_id"))
        .from(a("user_organisations"))
        .and_where(Expr::col(a("user_id")).eq(id))
        .to_owned();
    let orgs = db
        .query_all(&oq)
        .await?
        .iter()
        .map(|r| {
            Uuid::try_parse(&r.try_get_by_index::<String>(0)?)
                .map_err(|e| StoreError::Db(e.to_string()))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    to_user(&row, orgs).map(Some)
}

/// A user by e-mail (case-insensitive).
pub async fn user_by_email(db: &impl ConnectionTrait, email: &str) -> StoreResult<Option<User>> {
    find_by(db, "email", email.trim().to_lowercase()).await
}

/// A user by id.
pub async fn user_by_id(db: &impl ConnectionTrait, id: Uuid) -> StoreResult<Option<User>> {
    find_by(db, "id", id.to_string()).await
}

/// Creates a user; a taken e-mail is a conflict.
fn audit_view(u: &User) -> serde_json::Value {
    serde_json::json!({"email": u.email, "name": u.name, "role": u.role, "organisation_ids": u.organisation_ids, "disabled": u.disabled})
}

pub async fn create_user<C: ConnectionTrait + sea_orm::TransactionTrait>(
    db: &C,
    email: &str,
    name: &str,
    password_hash: &str,
    role: &str,
    organisations: &[Uuid],
    actor: &crate::audit::Actor,
) -> StoreResult<User> {
    let txn = crate::records::write_txn(db).await?;
    let email = email.trim().to_lowercase();
    if user_by_email(&txn, &email).await?.is_some() {
        return Err(StoreError::conflict(
            "/email",
            "an account with this e-mail exists",
        ));
    }
    let id = Uuid::now_v7();
    let now = now();
    let ins = Query::insert()
        .into_table(a("users"))
        .columns([
            a("id"),
            a("email"),
            a("name"),
            a("password_hash"),
            a("role"),
            a("disabled"),
            a("created_at"),
            a("updated_at"),
        ])
        .values_panic([
            id.to_string().into(),
            email.clone().into(),
            name.into(),
            password_hash.into(),
            role.into(),
            false.into(),
            now.into(),
            now.into(),
        ])
        .to_owned();
    txn.execute(&ins).await?;
    for o in organisations {
        let ins = Query::insert()
            .into_table(a("user_organisations"))
            .columns([a("user_id"), a("organisation_id")])
            .values_panic([id.to_string().into(), o.to_string().into()])
            .to_owned();
        txn.execute(&ins).await?;
    }
    let after = user_by_id(&txn, id).await?.ok_or(StoreError::NotFound)?;
    crate::audit::record_views(
        &txn,
        actor,
        "create",
        "user",
        &id.to_string(),
        None,
        Some(&audit_view(&after)),
    )
    .await?;
    sea_orm::TransactionSession::commit(txn).await?;
    Ok(after)
}

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

/// Every user, by e-mail (admin listing; accounts are few).
pub async fn list_users(db: &impl ConnectionTrait) -> StoreResult<Vec<User>> {
    let q = Query::select()
        .column(a("id"))
        .from(a("users"))
        .order_by(a("email"), sea_orm::Order::Asc)
        .to_owned();
    let mut out = Vec::new();
    for r in db.query_all(&q).await? {
        let id = Uuid::try_parse(&r.try_get_by_index::<String>(0)?)
            .map_err(|e| StoreError::Db(e.to_string()))?;
        if let Some(u) = user_by_id(db, id).await? {
            out.push(u);
        }
    }
    Ok(out)
}

/// Changes name, role, organisations or the disabled flag of a user.
pub async fn update_user<C: ConnectionTrait + sea_orm::TransactionTrait>(
    db: &C,
    id: Uuid,
    name: Option<&str>,
    role: Option<&str>,
    disabled: Option<bool>,
    organisations: Option<&[Uuid]>,
    actor: &crate::audit::Actor,
) -> StoreResult<User> {
    let txn = crate::records::write_txn(db).await?;
    let before = user_by_id(&txn, id).await?.ok_or(StoreError::NotFound)?;
    let mut up = Query::update();
    up.table(a("users"))
        .value(a("updated_at"), now())
        .and_where(Expr::col(a("id")).eq(id.to_string()));
    if let Some(n) = name {
        up.value(a("name"), n);
    }
    if let Some(r) = role {
        up.value(a("role"), r);
    }
    if let Some(d) = disabled {
        up.value(a("disabled"), d);
    }
    if txn.execute(&up).await?.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    if let Some(orgs) = organisations {
        let del = Query::delete()
            .from_table(a("user_organisations"))
            .and_where(Expr::col(a("user_id")).eq(id.to_string()))
            .to_owned();
        txn.execute(&del).await?;
        for o in orgs {
            let ins = Query::insert()
                .into_table(a("user_organisations"))
                .columns([a("user_id"), a("organisation_id")])
                .values_panic([id.to_string().into(), o.to_string().into()])
                .to_owned();
            txn.execute(&ins).await?;
        }
    }
    if disabled == Some(true) {
        // Disabling also ends every refresh chain of the account.
        let up = Query::update()
            .table(a("refresh_tokens"))
            .value(a("revoked_at"), now())
            .and_where(Expr::col(a("user_id")).eq(id.to_string()))
            .and_where(Expr::col(a("revoked_at")).is_null())
            .to_owned();
        txn.execute(&up).await?;
    }
    let after = user_by_id(&txn, id).await?.ok_or(StoreError::NotFound)?;
    crate::audit::record_views(
        &txn,
        actor,
        "update",
        "user",
        &id.to_string(),
        Some(&audit_view(&before)),
        Some(&audit_view(&after)),
    )
    .await?;
    sea_orm::TransactionSession::commit(txn).await?;
    Ok(after)
}
