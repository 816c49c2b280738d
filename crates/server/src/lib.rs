//! The `legami` server: settings, command line, telemetry and start-up wiring.

pub mod settings;
pub mod startup;
pub mod telemetry;

pub use legami_seed::{demo, synthetic};
pub use settings::Settings;
pub use startup::{Application, open_database};
