//! vpp-dispatch: plans the dispatch of a virtual power plant so that as much of the power
//! its industrial parks use as possible is green.
//!
//! Layers, in the one direction of dependency: [`domain`] (plant, forecasts, bids,
//! schedules, validation) ← [`model`] (the LP core: pure, synchronous) and [`store`]
//! (durable bids and schedules) ← [`api`] (gRPC) ← [`server`] (wiring) ← the `vpp`
//! binary; [`cli`] formats summaries; [`load`] drives a running server (`vpp load`).
//! [`web`] serves the page for park managers and operators beside [`api`], with the same
//! reads and rules; [`plot`] draws `vpp solve --plot`. See ARCHITECTURE.md.

pub mod api;
pub mod cli;
pub mod domain;
pub mod load;
pub mod model;
pub mod plot;
pub mod server;
pub mod store;
pub mod synth;
pub mod web;
