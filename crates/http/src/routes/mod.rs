//! One module per resource, each with its DTOs beside its handlers.

pub mod areas;
pub mod audit;
pub mod auth;
pub mod clients;
pub mod feed;
pub mod indicators;
pub mod labs;
pub mod metrics;
pub mod municipalities;
pub mod networks;
pub mod organisations;
pub mod projects;
pub mod records;
pub mod root;
pub mod search;
pub mod themes;
pub mod users;
pub mod writes;
