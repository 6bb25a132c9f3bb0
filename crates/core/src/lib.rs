//! vpp-core: the pure core of vpp-dispatch. Everything here is synchronous and does no IO
//! beyond reading a file the caller names: no async runtime, no gRPC, no database, no HTTP
//! (the crate does not depend on tokio, tonic, sqlx or axum, so the compiler keeps it so).
//!
//! Layers, in the one direction of dependency: [`domain`] (plant, forecasts, bids,
//! schedules, validation, stitching, the source stack) ← [`model`] (the LP core) and
//! [`synth`] (the forecast generator) and [`ledger`] (meter readings → granular green
//! certificates cancelled per park, by the schedule's allocation rule); [`cli`] formats
//! summaries and [`plot`] draws SVG, both from a [`domain::Schedule`]. The service crate
//! (`vpp-dispatch`: store, gRPC, web, server, the `vpp` binary) builds on this one. See
//! ARCHITECTURE.md.

pub mod backtest;
pub mod cli;
pub mod domain;
pub mod ledger;
pub mod model;
pub mod plot;
pub mod scenarios;
pub mod synth;
