//! The plant, its forecasts, bids and the schedules computed for them: plain data with
//! validation, no solver and no IO beyond reading a file the caller names.
//!
//! Architecture invariant: everything here is synchronous and solver-agnostic; `model`
//! depends on `domain`, never the other way round.

pub mod bid;
pub mod forecast;
pub mod limits;
pub mod plant;
pub mod schedule;
pub mod sources;
pub mod stitch;
pub mod stochastic;
pub mod tariff;
pub mod validation;

pub use bid::{Bid, BidSide};
pub use forecast::{local_midnight, Forecast, Horizon, QuantileSeries, Quantiles, Scenario, MAX_SCENARIOS, SWANSON_WEIGHTS};
pub use plant::Plant;
pub use schedule::Schedule;
pub use validation::{Problem, ValidationErrors};
