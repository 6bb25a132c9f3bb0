//! vpp-dispatch: plans the dispatch of a virtual power plant so that as much of the power
//! its industrial parks use as possible is green.
//!
//! Layers, in the one direction of dependency: [`domain`] (plant, forecasts, bids,
//! schedules, validation) ← [`model`] (the LP core: pure, synchronous) ← [`cli`] (the
//! `vpp` command's summaries). See ARCHITECTURE.md.

pub mod cli;
pub mod domain;
pub mod model;
pub mod synth;
