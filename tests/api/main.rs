//! Black-box tests of the Legami API: the real server, spoken to over HTTP.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod auth;
mod browser;
mod cache;
mod faults;
mod feed;
mod hardening;
mod helpers;
mod instances;
mod labs;
mod migrations;
mod openapi;
mod operations;
mod organisations;
mod pagination;
mod projects;
mod protocol;
mod reference;
mod schemathesis;
mod sdk;
mod search;
mod security;
mod synthetic;
mod territory;
