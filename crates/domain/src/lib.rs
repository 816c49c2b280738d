//! Legami's domain language: the value types of the product and the rules they enforce.
//!
//! Every value with a rule is a newtype with one parsing constructor ("parse, don't
//! validate"), so an invalid value cannot exist past the edge of the system. This crate does no
//! I/O and names neither actix-web, sea-orm nor utoipa.

pub mod activity;
pub mod enums;
pub mod error;
pub mod organisation;
pub mod reference;
pub mod tax;
pub mod values;

pub use activity::*;
pub use enums::*;
pub use error::{FieldError, FieldErrors};
pub use organisation::*;
pub use reference::*;
pub use tax::{TaxCode, VatNumber};
pub use values::*;

/// What a caller may see of records that have a publication status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Anonymous callers and read-only clients: published records only, no private data.
    Public,
    /// Callers who may read drafts and archived records and private contact details.
    Privileged,
}

impl Visibility {
    /// Whether records that are not `published` are visible.
    pub fn sees_unpublished(self) -> bool {
        matches!(self, Self::Privileged)
    }
}
