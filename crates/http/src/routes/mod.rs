//! One module per resource, each with its DTOs beside its handlers.

pub mod areas;
pub mod indicators;
pub mod labs;
pub mod municipalities;
pub mod networks;
pub mod organisations;
pub mod root;
pub mod themes;
pub mod writes;
