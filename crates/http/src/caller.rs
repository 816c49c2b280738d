//! Who is calling, as an extractor: anonymous, a user with a verified access token, or (until
//! the permission rules land) the development writer allowed by `LEGAMI_INSECURE_DEV_WRITES`.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use legami_domain::Visibility;
use uuid::Uuid;

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
}

impl Caller {
    fn is_admin(&self) -> bool {
        matches!(self, Self::User { role, .. } if role == "admin")
    }

    /// What records and fields the caller may see. Admins see everything; per-organisation
    /// draft access for editors and viewers comes with the permission rules.
    pub fn visibility(&self) -> Visibility {
        if self.is_admin() {
            Visibility::Privileged
        } else {
            Visibility::Public
        }
    }

    /// Whether the caller is authenticated (decides `Cache-Control`).
    pub fn is_authenticated(&self) -> bool {
        !matches!(self, Self::Anonymous)
    }

    /// Fails unless the caller may create, change or delete records. Until the per-organisation
    /// rules land, only admins (and the development writer) may.
    pub fn may_write(&self) -> Result<(), ApiError> {
        match self {
            Self::Anonymous => Err(ApiError::Unauthorized(
                "this operation needs a bearer token".into(),
            )),
            _ if self.is_admin() => Ok(()),
            _ => Err(ApiError::Forbidden(
                "your role may not change this record".into(),
            )),
        }
    }

    /// Fails unless the caller may do administrative operations (restore, vocabulary).
    pub fn may_administer(&self) -> Result<(), ApiError> {
        match self {
            Self::Anonymous => Err(ApiError::Unauthorized(
                "this operation needs a bearer token".into(),
            )),
            _ if self.is_admin() => Ok(()),
            _ => Err(ApiError::Forbidden(
                "this operation is for administrators".into(),
            )),
        }
    }
}

async fn identify(req: HttpRequest) -> Result<Caller, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(Caller::Anonymous);
    };
    let invalid = || ApiError::Unauthorized("the bearer token is not valid".into());
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(invalid)?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(invalid)?;
    let claims = state.keys.verify(token).ok_or_else(invalid)?;
    let id = Uuid::try_parse(&claims.sub).map_err(|_| invalid())?;
    // Checked on every request, so disabling an account stops its tokens at once.
    let user = legami_persistence::accounts::user_by_id(&state.db, id)
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
