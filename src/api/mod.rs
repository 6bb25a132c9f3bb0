//! The gRPC edge, a thin adapter over [`crate::service`]: requests are authenticated by an
//! interceptor (`auth`), converted to domain types in `convert`, answered by a view of the
//! service the caller's principal admits, and the service's errors become status codes in
//! `status`. Only this module (and the clients) sees tonic and prost types.
//!
//! Services: `DispatchService` (operators), `GreenShareService` (park managers and
//! operators), `MarketService` (bots), `MeterService` (meters), `LedgerService` (park
//! managers and operators).

pub mod auth;
mod convert;
mod dispatch;
pub mod fuzz;
mod market;
mod meters;
mod shares;
pub mod status;

use std::time::Duration;

/// Code generated from `proto/vpp/v1/*.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("vpp.v1");

    /// The encoded descriptor set of the protos, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vpp_descriptor.bin"));
}

pub use auth::GrpcAuth;
pub use convert::{forecast_from_pb, forecast_to_pb};
pub use dispatch::{DispatchApi, CLEARING_HEADER};
pub use market::MarketApi;
pub use meters::{LedgerApi, MeterApi};
pub use shares::GreenApi;

/// The caller's deadline, from the `grpc-timeout` header.
pub(crate) fn deadline<T>(request: &tonic::Request<T>) -> Option<Duration> {
    parse_grpc_timeout(request.metadata().get("grpc-timeout")?.to_str().ok()?)
}

/// A `grpc-timeout` value (digits and a unit: H, M, S, m, u, n) as a duration.
pub(crate) fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}
