//! The integration tests, in one binary: hand-solved cases, the Xinyang fixtures, bad
//! input, and the `vpp` command. Every schedule a test obtains goes through `checker`.

mod agreement;
mod backtest;
mod bad_input;
mod cases;
mod checker;
mod cli;
mod fuzz_corpus;
mod hardening;
mod loadgen;
mod meters;
mod mqtt;
mod properties;
mod readme;
mod replicas;
mod rolling;
mod service;
mod service_auth;
mod stochastic;
mod store_suite;
mod support;
mod tls;
mod warm_starts;
mod web;
mod workers;
mod xinyang;

use std::path::PathBuf;

/// A path inside the repository.
pub(crate) fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// |a − b| ≤ tol · max(1, |b|).
pub(crate) fn near(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}
