//! Who is calling, as an extractor. Authentication proper comes with its own issue; until then the
//! only privileged caller is the one allowed by the `LEGAMI_INSECURE_DEV_WRITES` switch.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use legami_domain::Visibility;
use std::future::{Ready, ready};

/// The bearer token accepted while `LEGAMI_INSECURE_DEV_WRITES` is on.
pub const INSECURE_DEV_TOKEN: &str = "insecure-dev-token";

/// The caller of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// No credentials: reads published data only.
    Anonymous,
    /// The development writer (see [`INSECURE_DEV_TOKEN`]): reads and writes everything.
    DevWriter,
}

impl Caller {
    /// What records and fields the caller may see.
    pub fn visibility(self) -> Visibility {
        match self {
            Self::Anonymous => Visibility::Public,
            Self::DevWriter => Visibility::Privileged,
        }
    }

    /// Whether the caller is authenticated (decides `Cache-Control`).
    pub fn is_authenticated(self) -> bool {
        !matches!(self, Self::Anonymous)
    }

    /// Fails unless the caller may create, change or delete records.
    pub fn may_write(self) -> Result<(), ApiError> {
        match self {
            Self::DevWriter => Ok(()),
            Self::Anonymous => Err(ApiError::Unauthorized(
                "this operation needs a bearer token".into(),
            )),
        }
    }

    /// Fails unless the caller may do administrative operations (restore, vocabulary).
    pub fn may_administer(self) -> Result<(), ApiError> {
        self.may_write()
    }
}

fn identify(req: &HttpRequest) -> Result<Caller, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(Caller::Anonymous);
    };
    let enabled = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.insecure_dev_writes);
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match token {
        Some(t) if enabled && t == INSECURE_DEV_TOKEN => Ok(Caller::DevWriter),
        _ => Err(ApiError::Unauthorized(
            "the bearer token is not valid".into(),
        )),
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(identify(req))
    }
}
