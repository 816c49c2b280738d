//! User accounts.

use crate::error::{StoreError, StoreResult};
use crate::records::{a, now};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
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

/// The organisation ids of a row's `organisation_ids` column (a JSON array of text).
fn organisation_ids(json: &str) -> StoreResult<Vec<Uuid>> {
    let ids: Vec<String> = serde_json::from_str(json).map_err(|e| StoreError::Db(e.to_string()))?;
    ids.iter()
        .map(|id| Uuid::try_parse(id).map_err(|e| StoreError::Db(e.to_string())))
        .collect()
}

/// A user from a row read in this thread ([`crate::inline`]).
fn from_inline(r: &crate::inline::Row) -> StoreResult<User> {
    let text = |k: &str| {
        r.get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Db(format!("users.{k} is empty")))
    };
    let disabled = r
        .get("disabled")
        .and_then(|v| v.as_i64().map(|n| n != 0).or(v.as_bool()));
    Ok(User {
        id: Uuid::try_parse(&text("id")?).map_err(|e| StoreError::Db(e.to_string()))?,
        email: text("email")?,
        name: text("name")?,
        password_hash: text("password_hash")?,
        role: text("role")?,
        disabled: disabled.ok_or_else(|| StoreError::Db("users.disabled is empty".into()))?,
        organisation_ids: organisation_ids(&text("organisation_ids")?)?,
    })
}

/// The statement reading the user whose `col` is `value`, with its organisations (one statement).
fn user_query(backend: sea_orm::DbBackend, col: &str, value: String) -> SelectStatement {
    let orgs = match backend {
        sea_orm::DbBackend::Postgres => {
            "(SELECT CAST(COALESCE(json_agg(organisation_id), '[]') AS TEXT) FROM user_organisations WHERE user_id = users.id)"
        }
        _ => {
            "(SELECT json_group_array(organisation_id) FROM user_organisations WHERE user_id = users.id)"
        }
    };
    Query::select()
        .columns([
            a("id"),
            a("email"),
            a("name"),
            a("password_hash"),
            a("role"),
            a("disabled"),
        ])
        .expr_as(Expr::cust(orgs), a("organisation_ids"))
        .from(a("users"))
        .and_where(Expr::col(a(col)).eq(value))
        .to_owned()
}

/// The user whose `col` is `value` (through `db`, in a transaction too).
async fn find_in(db: &impl ConnectionTrait, col: &str, value: String) -> StoreResult<Option<User>> {
    let q = user_query(db.get_database_backend(), col, value);
    let Some(row) = db.query_one(&q).await? else {
        return Ok(None);
    };
    let orgs: String = row.try_get_by_index(6)?;
    to_user(&row, organisation_ids(&orgs)?).map(Some)
}

/// [`find_in`], in this thread on SQLite ([`crate::inline`]): every authenticated request reads
/// its caller's account.
async fn find_by(
    db: &(impl ConnectionTrait + 'static),
    col: &str,
    value: String,
) -> StoreResult<Option<User>> {
    let q = user_query(db.get_database_backend(), col, value.clone());
    if let Some(rows) = crate::record::inline(db, &q, &[]) {
        return rows.first().map(from_inline).transpose();
    }
    find_in(db, col, value).await
}

/// A user by e-mail (case-insensitive).
pub async fn user_by_email(
    db: &(impl ConnectionTrait + 'static),
    email: &str,
) -> StoreResult<Option<User>> {
    find_by(db, "email", email.trim().to_lowercase()).await
}

/// A user by id.
pub async fn user_by_id(
    db: &(impl ConnectionTrait + 'static),
    id: Uuid,
) -> StoreResult<Option<User>> {
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
    if find_in(&txn, "email", email.clone()).await?.is_some() {
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
    let after = find_in(&txn, "id", id.to_string())
        .await?
        .ok_or(StoreError::NotFound)?;
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
        if let Some(u) = find_in(db, "id", id.to_string()).await? {
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
    let before = find_in(&txn, "id", id.to_string())
        .await?
        .ok_or(StoreError::NotFound)?;
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
    let after = find_in(&txn, "id", id.to_string())
        .await?
        .ok_or(StoreError::NotFound)?;
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
