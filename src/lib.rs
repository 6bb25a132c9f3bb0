//! vpp-dispatch: plans the dispatch of a virtual power plant so that as much of the power
//! its industrial parks use as possible is green.
//!
//! The pure core (`domain`, `model`, `synth`, `cli`, `plot`) is the `vpp-core` crate in
//! `crates/core`, re-exported here. Layers, in the one direction of dependency: [`domain`] (plant, forecasts, bids,
//! schedules, validation) ← [`model`] (the LP core: pure, synchronous) and [`store`]
//! (durable bids and schedules) ← [`api`] (gRPC) ← [`server`] (wiring) ← the `vpp`
//! binary; [`cli`] formats summaries; [`load`] drives a running server (`vpp load`).
//! [`web`] serves the page for park managers and operators beside [`api`], with the same
//! reads and rules; [`plot`] draws `vpp solve --plot`. See ARCHITECTURE.md.

pub mod api;
pub mod load;
pub mod server;
pub mod store;
pub mod web;

// The pure core lives in its own crate (crates/core, no tokio, tonic, sqlx or axum); its
// modules are re-exported so that `vpp_dispatch::domain::…` and `crate::model::…` keep
// meaning what they meant.
pub use vpp_core::{cli, domain, model, plot, synth};
