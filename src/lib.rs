//! vpp-dispatch: plans the dispatch of a virtual power plant so that as much of the power
//! its industrial parks use as possible is green.
//!
//! The pure core (`domain`, `model`, `synth`, `cli`, `plot`) is the `vpp-core` crate in
//! `crates/core`, re-exported here. Layers, in the one direction of dependency: [`domain`]
//! (plant, forecasts, bids, schedules, validation) ← [`model`] (the LP core: pure,
//! synchronous) and [`store`] (durable bids and schedules) ← [`service`] (what the product
//! does: clearing, re-plans, shares, the bid book, the solver pool, authorization by
//! construction, one error type) ← the edges [`api`] (gRPC), [`web`] (the page and its
//! JSON API) and [`mqtt`] (meter readings from a broker), thin adapters ← [`server`]
//! (wiring) ← the `vpp` binary. [`cli`] formats summaries; [`plot`] draws `vpp solve
//! --plot`; [`loadgen`] drives a running server (`vpp load`); [`metrics`] is Prometheus;
//! [`sweep`] cuts backtest sweeps into items run in-process or by `vpp worker`s on PostgreSQL.
//! See ARCHITECTURE.md.

pub mod api;
pub mod loadgen;
pub mod metrics;
pub mod mqtt;
pub mod server;
pub mod service;
pub mod store;
pub mod sweep;
pub mod web;

// The pure core lives in its own crate (crates/core, no tokio, tonic, sqlx or axum); its
// modules are re-exported so that `vpp_dispatch::domain::…` and `crate::model::…` keep
// meaning what they meant.
pub use vpp_core::{backtest, cli, domain, ledger, model, plot, scenarios, synth};
