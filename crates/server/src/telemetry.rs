//! Tracing set-up: pretty logs for people, JSON lines for machines.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing.
pub fn init(format: &str, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // actix-web-prom warns on every answer that does not pass through the router (those served
    // by the response cache): it cannot fill in the path parameters, falls back to the route
    // pattern, which is the label wanted anyway, and logs a line per request at load.
    let filter = match "actix_web_prom=error".parse() {
        Ok(quiet) => filter.add_directive(quiet),
        Err(_) => filter,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if format == "json" {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.try_init()
    };
}
