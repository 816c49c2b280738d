//! One module per resource, each with its DTOs beside its handlers.

pub mod labs;
pub mod municipalities;
pub mod organisations;
pub mod root;
pub mod themes;
pub mod writes;
