//! User accounts ([`users`]), their refresh tokens ([`refresh`]) and the Ed25519 keys that
//! sign access tokens ([`keys`]).

mod keys;
mod refresh;
mod users;

pub use keys::*;
pub use refresh::*;
pub use users::*;
