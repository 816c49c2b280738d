//! The `legami` server: settings, command line, telemetry, demo data and start-up wiring.

pub mod demo;
mod demo_activity;
pub mod settings;
pub mod startup;
pub mod synthetic;
pub mod telemetry;

pub use settings::Settings;
pub use startup::{Application, open_database};
