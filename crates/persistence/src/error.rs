//! The one error type of the storage layer.

use legami_domain::FieldErrors;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// What can go wrong when reading or writing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such record, or not visible to the caller.
    #[error("not found")]
    NotFound,
    /// A unique value is taken, or the change conflicts with the record's state.
    #[error("conflict: {message}")]
    Conflict {
        /// JSON pointer of the clashing field, when there is one.
        field: Option<String>,
        /// A sentence for the client.
        message: String,
    },
    /// The record changed since the caller read it (optimistic concurrency).
    #[error("the record changed since it was read")]
    Stale,
    /// Values that are well-formed but refer to things that do not exist.
    #[error("invalid references")]
    Invalid(FieldErrors),
    /// The database cannot be reached.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a corrupt row; logged, never shown.
    #[error("database error: {0}")]
    Db(String),
}

impl StoreError {
    /// A conflict on one field.
    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        Self::Conflict {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }
}

fn is_unavailable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(
                **e,
                sea_orm::sqlx::Error::Io(_)
                    | sea_orm::sqlx::Error::PoolTimedOut
                    | sea_orm::sqlx::Error::PoolClosed
                    | sea_orm::sqlx::Error::WorkerCrashed
            ) || e
                .as_database_error()
                .and_then(|d| d.code())
                // PostgreSQL "admin shutdown", "cannot connect now", "connection failure"
                // classes; SQLite busy/locked after the busy timeout (5, 6, extended codes).
                .is_some_and(|c| {
                    c.starts_with("57P")
                        || c.starts_with("08")
                        || matches!(c.as_ref(), "5" | "6" | "261" | "262" | "517")
                })
        }
        _ => false,
    }
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        if let Some(SqlErr::UniqueConstraintViolation(detail)) = err.sql_err() {
            return Self::Conflict {
                field: None,
                message: format!("a unique value is already taken ({})", short(&detail)),
            };
        }
        if is_unavailable(&err) {
            return Self::Unavailable(err.to_string());
        }
        Self::Db(err.to_string())
    }
}

/// Keeps only the constraint name out of a driver message (never SQL text).
fn short(detail: &str) -> String {
    detail
        .split_whitespace()
        .find(|w| w.contains("organisations") || w.contains("key"))
        .unwrap_or("unique constraint")
        .trim_matches(|c: char| !c.is_alphanumeric() && c != '_' && c != '.')
        .to_owned()
}

/// Shorthand for results of this crate.
pub type StoreResult<T> = Result<T, StoreError>;
