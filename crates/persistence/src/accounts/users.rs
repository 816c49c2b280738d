//! User accounts.

use crate::error::{StoreError, StoreResult};
use crate::records::{a, now};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use uuid::Uuid;

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
