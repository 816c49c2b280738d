//! API clients: service accounts for dashboards and partner sites, with scopes and
//! organisations. Their secrets are 256 random bits, shown once and stored as SHA-256 hashes.

use crate::audit::{self, Actor};
use crate::error::{StoreError, StoreResult};
use crate::records::{a, now};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, TransactionSession, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

/// A stored client (without its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Id, also the `client_id` of the `client_credentials` grant.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Organisations it acts for.
    pub organisation_ids: Vec<Uuid>,
    /// Disabled clients get no tokens, and their tokens stop working.
    pub disabled: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

fn secret_hash(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn audit_view(c: &Client) -> serde_json::Value {
    json!({"name": c.name, "scopes": c.scopes, "organisation_ids": c.organisation_ids, "disabled": c.disabled})
}

async fn orgs_of(db: &impl ConnectionTrait, id: &str) -> StoreResult<Vec<Uuid>> {
    let q = Query::select()
        .column(a("organisation_id"))
        .from(a("client_organisations"))
        .and_where(Expr::col(a("client_id")).eq(id))
        .order_by(a("organisation_id"), sea_orm::Order::Asc)
        .to_owned();
    db.query_all(&q)
        .await?
        .iter()
        .map(|r| {
            Uuid::try_parse(&r.try_get_by_index::<String>(0)?)
                .map_err(|e| StoreError::Db(e.to_string()))
        })
        .collect()
}

async fn load(db: &impl ConnectionTrait, id: Uuid) -> StoreResult<Option<(Client, String)>> {
    let q = Query::select()
        .columns([
            a("name"),
            a("scopes"),
            a("disabled"),
            a("created_at"),
            a("updated_at"),
            a("secret_hash"),
        ])
        .from(a("api_clients"))
        .and_where(Expr::col(a("id")).eq(id.to_string()))
        .to_owned();
    let Some(r) = db.query_one(&q).await? else {
        return Ok(None);
    };
    let scopes: String = r.try_get_by_index(1)?;
    let client = Client {
        id,
        name: r.try_get_by_index(0)?,
        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        organisation_ids: orgs_of(db, &id.to_string()).await?,
        disabled: r.try_get_by_index(2)?,
        created_at: r.try_get_by_index(3)?,
        updated_at: r.try_get_by_index(4)?,
    };
    Ok(Some((client, r.try_get_by_index(5)?)))
}

/// A client by id.
pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> StoreResult<Option<Client>> {
    Ok(load(db, id).await?.map(|(c, _)| c))
}

/// The client these credentials name, if the secret is right and it is not disabled.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    id: Uuid,
    secret: &str,
) -> StoreResult<Option<Client>> {
    let presented = secret_hash(secret);
    Ok(load(db, id).await?.and_then(|(c, stored)| {
        // Constant-time comparison of the two digests.
        let same = stored.len() == presented.len()
            && stored
                .bytes()
                .zip(presented.bytes())
                .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                == 0;
        (same && !c.disabled).then_some(c)
    }))
}

/// Every client, by name (admin listing; clients are few).
pub async fn list(db: &impl ConnectionTrait) -> StoreResult<Vec<Client>> {
    let q = Query::select()
        .column(a("id"))
        .from(a("api_clients"))
        .order_by(a("name"), sea_orm::Order::Asc)
        .order_by(a("id"), sea_orm::Order::Asc)
        .to_owned();
    let mut out = Vec::new();
    for r in db.query_all(&q).await? {
        let id = Uuid::try_parse(&r.try_get_by_index::<String>(0)?)
            .map_err(|e| StoreError::Db(e.to_string()))?;
        if let Some(c) = get(db, id).await? {
            out.push(c);
        }
    }
    Ok(out)
}

async fn set_orgs(db: &impl ConnectionTrait, id: &str, orgs: &[Uuid]) -> StoreResult<()> {
    let del = Query::delete()
        .from_table(a("client_organisations"))
        .and_where(Expr::col(a("client_id")).eq(id))
        .to_owned();
    db.execute(&del).await?;
    let mut orgs = orgs.to_vec();
    orgs.sort();
    orgs.dedup();
    for o in orgs {
        let ins = Query::insert()
            .into_table(a("client_organisations"))
            .columns([a("client_id"), a("organisation_id")])
            .values_panic([id.into(), o.to_string().into()])
            .to_owned();
        db.execute(&ins).await?;
    }
    Ok(())
}

/// Creates a client; returns it with its secret (the only time the secret exists in clear).
pub async fn create<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    name: &str,
    scopes: &[String],
    organisations: &[Uuid],
    disabled: bool,
    actor: &Actor,
) -> StoreResult<(Client, String)> {
    use rand_core::RngCore;
    let mut bytes = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut bytes);
    let secret = format!("lgm_{}", URL_SAFE_NO_PAD.encode(bytes));
    let id = Uuid::now_v7();
    let now = now();
    let txn = crate::records::write_txn(db).await?;
    let ins = Query::insert()
        .into_table(a("api_clients"))
        .columns([
            a("id"),
            a("name"),
            a("secret_hash"),
            a("scopes"),
            a("disabled"),
            a("created_at"),
            a("updated_at"),
        ])
        .values_panic([
            id.to_string().into(),
            name.into(),
            secret_hash(&secret).into(),
            scopes.join(" ").into(),
            disabled.into(),
            now.into(),
            now.into(),
        ])
        .to_owned();
    txn.execute(&ins).await?;
    set_orgs(&txn, &id.to_string(), organisations).await?;
    let client = get(&txn, id).await?.ok_or(StoreError::NotFound)?;
    audit::record_views(
        &txn,
        actor,
        "create",
        "client",
        &id.to_string(),
        None,
        Some(&audit_view(&client)),
    )
    .await?;
    txn.commit().await?;
    Ok((client, secret))
}

/// What a `PATCH /clients/{id}` may change.
#[derive(Debug, Clone, Default)]
pub struct ClientChange {
    /// New name.
    pub name: Option<String>,
    /// New scopes.
    pub scopes: Option<Vec<String>>,
    /// New organisations.
    pub organisations: Option<Vec<Uuid>>,
    /// Disable or enable.
    pub disabled: Option<bool>,
}

/// Changes a client.
pub async fn update<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    id: Uuid,
    change: &ClientChange,
    actor: &Actor,
) -> StoreResult<Client> {
    let txn = crate::records::write_txn(db).await?;
    let before = get(&txn, id).await?.ok_or(StoreError::NotFound)?;
    let mut up = Query::update();
    up.table(a("api_clients"))
        .value(a("updated_at"), now())
        .and_where(Expr::col(a("id")).eq(id.to_string()));
    if let Some(n) = &change.name {
        up.value(a("name"), n.as_str());
    }
    if let Some(s) = &change.scopes {
        up.value(a("scopes"), s.join(" "));
    }
    if let Some(d) = change.disabled {
        up.value(a("disabled"), d);
    }
    txn.execute(&up).await?;
    if let Some(orgs) = &change.organisations {
        set_orgs(&txn, &id.to_string(), orgs).await?;
    }
    let after = get(&txn, id).await?.ok_or(StoreError::NotFound)?;
    audit::record_views(
        &txn,
        actor,
        "update",
        "client",
        &id.to_string(),
        Some(&audit_view(&before)),
        Some(&audit_view(&after)),
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}
