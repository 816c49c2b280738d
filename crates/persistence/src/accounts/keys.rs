//! The Ed25519 keys that sign access tokens.

use crate::error::{StoreError, StoreResult};
use crate::records::{a, now};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, Value};

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
