//! The gRPC edge: the only module that sees tonic and prost types. Requests are
//! authenticated by an interceptor, converted to domain types in `convert`, served from the
//! store and the dispatch core, and every error is mapped to a status code in `status`.
//!
//! Services: `DispatchService` (operators), `GreenShareService` (park managers and
//! operators), `MarketService` (bots). Who may call what is decided in `auth`.

pub mod auth;
mod convert;
mod dispatch;
pub mod fuzz;
mod market;
pub mod metrics;
mod shares;
mod state;
pub mod status;

/// Code generated from `proto/vpp/v1/*.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("vpp.v1");

    /// The encoded descriptor set of the protos, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vpp_descriptor.bin"));
}

pub use convert::forecast_to_pb;
pub(crate) use convert::{day, day_range};
pub use dispatch::{DispatchApi, CLEARING_HEADER};
pub use market::MarketApi;
pub use shares::GreenApi;
pub(crate) use shares::{day_versions, park_day, plant_day, DayVersions};
pub(crate) use state::parse_grpc_timeout;
pub use state::{forward_remote_publications, AppState, MarketRules, SolverLimits};
