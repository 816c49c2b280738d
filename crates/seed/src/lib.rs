//! Data loaders that write through the same persistence functions as the API: the demo records
//! drawn from public texts ([`demo`]) and a large deterministic registry for benchmarks and load
//! tests ([`synthetic`]).

pub mod demo;
mod demo_activity;
pub mod synthetic;
mod view;
