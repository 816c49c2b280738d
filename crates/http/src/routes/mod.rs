//! One module per resource, each with its DTOs beside its handlers.

pub mod municipalities;
pub mod organisations;
pub mod root;
pub mod themes;
