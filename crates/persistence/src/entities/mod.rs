//! sea-orm entities: private to this crate; the public functions speak domain types.

pub mod areas;
pub mod changes;
pub mod indicators;
pub mod labs;
pub mod municipalities;
pub mod networks;
pub mod organisations;
pub mod projects;
pub mod themes;
