//! Who is calling, as an extractor, and every permission rule of the API in one place.
//!
//! - `admin` users: everything.
//! - `editor` users, and API clients with the `write` scope: create records; change, publish and
//!   delete only the records of their organisations (an organisation itself, the labs it
//!   operates, the projects it leads or is a `lead`/`partner` of, the networks it coordinates)
//!   and post those projects' metrics. An organisation they create is a draft until an admin
//!   makes them its members.
//! - API clients with `metrics:write`: post metrics of their organisations' projects.
//! - `viewer` users and clients with `read:drafts`: read the drafts of their organisations.
//! - anonymous callers and clients with only `read`: published records.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use legami_domain::Visibility;
use legami_persistence::audit::Actor;
use uuid::Uuid;

/// The scopes an API client may carry.
pub const CLIENT_SCOPES: &[&str] = &["read", "read:drafts", "write", "metrics:write"];

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No credentials: reads published data only.
    Anonymous,
    /// A user with a valid access token.
    User {
        /// User id.
        id: Uuid,
        /// `admin`, `editor` or `viewer`.
        role: String,
        /// Organisations the user belongs to.
        organisations: Vec<Uuid>,
    },
    /// An API client (service account) with a valid access token.
    Client {
        /// Client id.
        id: Uuid,
        /// Its scopes.
        scopes: Vec<String>,
        /// Organisations it acts for.
        organisations: Vec<Uuid>,
    },
}

fn forbidden(why: &str) -> ApiError {
    ApiError::Forbidden(why.to_owned())
}

impl Caller {
    /// Whether the caller is an administrator.
    pub fn is_admin(&self) -> bool {
        matches!(self, Self::User { role, .. } if role == "admin")
    }

    fn has_scope(&self, scope: &str) -> bool {
        matches!(self, Self::Client { scopes, .. } if scopes.iter().any(|s| s == scope))
    }

    fn organisations(&self) -> &[Uuid] {
        match self {
            Self::Anonymous => &[],
            Self::User { organisations, .. } | Self::Client { organisations, .. } => organisations,
        }
    }

    /// Whether the caller may create and change records at all (record rules come on top).
    fn writes(&self) -> bool {
        self.is_admin()
            || matches!(self, Self::User { role, .. } if role == "editor")
            || self.has_scope("write")
    }

    /// What records and fields the caller may see.
    pub fn visibility(&self) -> Visibility {
        match self {
            _ if self.is_admin() => Visibility::Privileged,
            Self::User { organisations, .. } => Visibility::Members(organisations.clone().into()),
            Self::Client { organisations, .. } if self.has_scope("read:drafts") => {
                Visibility::Members(organisations.clone().into())
            }
            _ => Visibility::Public,
        }
    }

    /// Whether the caller is authenticated (decides `Cache-Control`).
    pub fn is_authenticated(&self) -> bool {
        !matches!(self, Self::Anonymous)
    }

    fn authenticated(&self) -> Result<(), ApiError> {
        if self.is_authenticated() {
            Ok(())
        } else {
            Err(ApiError::Unauthorized(
                "this operation needs a bearer token".into(),
            ))
        }
    }

    /// Who the audit log names for this caller's changes.
    pub fn actor(&self) -> Result<Actor, ApiError> {
        match self {
            Self::Anonymous => Err(ApiError::Unauthorized(
                "this operation needs a bearer token".into(),
            )),
            Self::User { id, .. } => Ok(Actor {
                kind: "user",
                id: *id,
            }),
            Self::Client { id, .. } => Ok(Actor {
                kind: "client",
                id: *id,
            }),
        }
    }

    /// Fails unless the caller may create, change or delete records of some organisation.
    pub fn may_write(&self) -> Result<(), ApiError> {
        self.authenticated()?;
        if self.writes() {
            Ok(())
        } else {
            Err(forbidden("your role or scopes do not allow changes"))
        }
    }

    /// Fails unless the caller may change a record belonging to `owners` (checked on the
    /// record as stored and again on the record as it would be after the change, so nobody
    /// can hand a record over to, or take it from, an organisation they are not a member of).
    pub fn may_change(&self, owners: &[Uuid]) -> Result<(), ApiError> {
        self.may_write()?;
        self.owns(owners, "record")
    }

    /// Fails unless the caller may name every organisation of `named` in a leading role (`what`:
    /// a project's lead, a lab's manager): administrators any, others only organisations they
    /// are members of. `before` are the ones the record already names, which stay allowed.
    pub fn may_appoint(&self, what: &str, named: &[Uuid], before: &[Uuid]) -> Result<(), ApiError> {
        if self.is_admin() {
            return Ok(());
        }
        let mine = self.organisations();
        match named
            .iter()
            .find(|o| !before.contains(o) && !mine.contains(o))
        {
            None => Ok(()),
            Some(o) => Err(ApiError::Forbidden(format!(
                "you may name as {what} only an organisation you are a member of, and you are \
                 not a member of {o}; name it as a partner instead, or ask one of its members"
            ))),
        }
    }

    /// Fails unless the caller is an administrator or a member of one of `owners`.
    fn owns(&self, owners: &[Uuid], what: &str) -> Result<(), ApiError> {
        if self.is_admin() || owners.iter().any(|o| self.organisations().contains(o)) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this {what} belongs to organisations you are not a member of"
            )))
        }
    }

    /// Fails unless the caller may create an organisation with this status: editors who are not
    /// (yet) its members create drafts only.
    pub fn may_create_organisation(&self, status: legami_domain::Status) -> Result<(), ApiError> {
        self.may_write()?;
        if self.is_admin() || status == legami_domain::Status::Draft {
            Ok(())
        } else {
            Err(forbidden(
                "only administrators may create an organisation that is not a draft; \
                 create it as a draft and ask an administrator to make you its member",
            ))
        }
    }

    /// Fails unless the caller may add metrics to a project belonging to `owners`.
    pub fn may_write_metrics(&self, owners: &[Uuid]) -> Result<(), ApiError> {
        self.authenticated()?;
        if !(self.writes() || self.has_scope("metrics:write")) {
            return Err(forbidden("your role or scopes do not allow metrics"));
        }
        self.owns(owners, "project")
    }

    /// Fails unless the caller is an administrator (users, clients, vocabularies, areas,
    /// restore, audit).
    pub fn may_administer(&self) -> Result<(), ApiError> {
        self.authenticated()?;
        if self.is_admin() {
            Ok(())
        } else {
            Err(forbidden("this operation is for administrators"))
        }
    }

    /// A key for per-caller rate limits: the subject when authenticated.
    pub fn subject(&self) -> Option<String> {
        match self {
            Self::Anonymous => None,
            Self::User { id, .. } => Some(format!("user:{id}")),
            Self::Client { id, .. } => Some(format!("client:{id}")),
        }
    }
}

/// Reads the bearer token, if any, without checking the database.
pub fn bearer(req: &HttpRequest) -> Option<Result<&str, ()>> {
    let value = req.headers().get(header::AUTHORIZATION)?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(()),
    )
}

/// Who is calling: checks the bearer token and, in the database, that its account or client
/// is still enabled. The answer is kept in the request, so it is looked up once.
pub(crate) async fn identify(req: HttpRequest) -> Result<Caller, ApiError> {
    if let Some(known) = req.extensions().get::<Caller>() {
        return Ok(known.clone());
    }
    let caller = identify_anew(&req).await?;
    req.extensions_mut().insert(caller.clone());
    Ok(caller)
}

async fn identify_anew(req: &HttpRequest) -> Result<Caller, ApiError> {
    let invalid = || ApiError::Unauthorized("the bearer token is not valid".into());
    let token = match bearer(req) {
        None => return Ok(Caller::Anonymous),
        Some(t) => t.map_err(|()| invalid())?,
    };
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(invalid)?;
    // The rate limiter verified it already: `Keys` remembers it, so this is a lookup.
    let claims = state.keys.verify(token).ok_or_else(invalid)?;
    let id = Uuid::try_parse(&claims.sub).map_err(|_| invalid())?;
    // Checked on every request, so disabling an account or client stops its tokens at once.
    if claims.client_id.is_some() {
        let client = legami_persistence::clients::get(&state.primary, id)
            .await?
            .filter(|c| !c.disabled)
            .ok_or_else(invalid)?;
        return Ok(Caller::Client {
            id: client.id,
            scopes: client.scopes,
            organisations: client.organisation_ids,
        });
    }
    let user = legami_persistence::accounts::user_by_id(&state.primary, id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(invalid)?;
    Ok(Caller::User {
        id: user.id,
        role: user.role,
        organisations: user.organisation_ids,
    })
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(identify(req.clone()))
    }
}
