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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Anonymous callers and read-only clients: published records only, no private data.
    Public,
    /// Members of organisations (editors, viewers, clients with `read:drafts`): published
    /// records, plus drafts and archived records belonging to these organisations, whose private
    /// contact details they also see.
    Members(std::sync::Arc<[uuid::Uuid]>),
    /// Administrators: every record and every private contact detail.
    Privileged,
}

impl Visibility {
    /// Whether every record that is not `published` is visible.
    pub fn sees_unpublished(&self) -> bool {
        matches!(self, Self::Privileged)
    }

    /// The organisations whose unpublished records are visible besides the published ones
    /// (none for `Public`; `None` for `Privileged`, which sees all).
    pub fn members(&self) -> Option<&[uuid::Uuid]> {
        match self {
            Self::Public => Some(&[]),
            Self::Members(orgs) => Some(orgs),
            Self::Privileged => None,
        }
    }

    /// Whether the private data of a record owned by any of `owners` is visible.
    pub fn sees_private_of(&self, owners: &[uuid::Uuid]) -> bool {
        match self.members() {
            None => true,
            Some(orgs) => owners.iter().any(|o| orgs.contains(o)),
        }
    }
}
