//! Shared state handed to every handler.

use legami_persistence::DatabaseConnection;

/// What the handlers share: the pool and the few settings they read.
#[derive(Clone)]
pub struct AppState {
    /// The database pool.
    pub db: DatabaseConnection,
    /// Key that signs pagination cursors.
    pub cursor_secret: String,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Token signing and verification keys.
    pub keys: std::sync::Arc<crate::auth::Keys>,
    /// Failed-login throttling.
    pub login_throttle: std::sync::Arc<crate::limits::LoginThrottle>,
}
