//! Areas: named groups of municipalities.

use crate::enums::*;
use crate::organisation::RecordMeta;
use crate::values::{IstatCode, Slug};

/// Everything an admin writes about an area.
#[derive(Debug, Clone, PartialEq)]
pub struct AreaFields {
    /// Wanted slug.
    pub slug: Option<Slug>,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: AreaKind,
    /// Free text.
    pub description: Option<String>,
    /// Municipalities (at least one).
    pub municipalities: Vec<IstatCode>,
    /// Publication status.
    pub status: Status,
}

/// A stored area.
#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    /// Bookkeeping.
    pub meta: RecordMeta,
    /// Content.
    pub fields: AreaFields,
}
