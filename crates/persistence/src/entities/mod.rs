//! sea-orm entities: private to this crate; the public functions speak domain types.

pub mod changes;
pub mod labs;
pub mod municipalities;
pub mod organisation_themes;
pub mod organisations;
pub mod themes;
