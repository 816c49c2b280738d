//! The answers many operations share, declared once for their OpenAPI `responses(...)`: each
//! is a response (status, description and, for problems, an `application/problem+json` body).

use crate::error::Problem;

/// Declares problem answers (`Name = status, "description";`) and answers without a body
/// (`Name = status, "description", empty;`).
macro_rules! answers {
    ($($(#[$doc:meta])* $name:ident = $status:literal, $desc:literal $(, $empty:ident)?;)*) => {
        $(answers!(@one $(#[$doc])* $name, $status, $desc $(, $empty)?);)*
    };
    (@one $(#[$doc:meta])* $name:ident, $status:literal, $desc:literal, empty) => {
        $(#[$doc])*
        #[derive(utoipa::IntoResponses)]
        #[response(status = $status, description = $desc)]
        pub struct $name;
    };
    (@one $(#[$doc:meta])* $name:ident, $status:literal, $desc:literal) => {
        $(#[$doc])*
        #[derive(utoipa::IntoResponses)]
        #[response(status = $status, description = $desc, content_type = "application/problem+json")]
        pub struct $name(#[allow(dead_code)] Problem);
    };
}

answers! {
    /// `401`: no valid bearer token.
    NoToken = 401, "No valid bearer token";
    /// `304`: not modified.
    NotModified = 304, "Not modified", empty;
    /// `422`: invalid fields.
    InvalidFields = 422, "Invalid fields";
    /// `404`: not found.
    NotFound = 404, "Not found";
    /// `422`: invalid parameter.
    InvalidParameter = 422, "Invalid parameter";
    /// `415`: not JSON.
    NotJson = 415, "Not JSON";
    /// `400`: bad cursor.
    BadCursor = 400, "Bad cursor";
    /// `412`: if-Match does not match.
    Stale = 412, "If-Match does not match";
    /// `400`: malformed JSON or unknown field.
    MalformedJson = 400, "Malformed JSON or unknown field";
    /// `403`: not an administrator.
    NotAdmin = 403, "Not an administrator";
    /// `400`: malformed JSON, unknown or read-only field.
    MalformedWrite = 400, "Malformed JSON, unknown or read-only field";
    /// `409`: slug taken.
    SlugTaken = 409, "Slug taken";
    /// `406`: no acceptable representation.
    NotAcceptable = 406, "No acceptable representation";
    /// `204`: deleted.
    Deleted = 204, "Deleted", empty;
    /// `404`: not found or not visible.
    NotVisible = 404, "Not found or not visible";
    /// `413`: body too large.
    TooLarge = 413, "Body too large";
    /// `422`: unknown field in `fields`.
    UnknownField = 422, "Unknown field in `fields`";
}
