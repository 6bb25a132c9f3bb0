//! Prometheus metrics: solves, solve time, bids, errors. Served over HTTP by `server`.

use prometheus::{Encoder, Histogram, HistogramOpts, IntCounterVec, Opts, Registry, TextEncoder};

/// The service's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Solves by objective and outcome.
    pub solves: IntCounterVec,
    /// Seconds per solve (building and solving).
    pub solve_seconds: Histogram,
    /// Bid calls by kind (submit, amend, cancel) and outcome (created, existing, conflict, …).
    pub bids: IntCounterVec,
    /// Failed calls by gRPC code.
    pub errors: IntCounterVec,
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let solves = IntCounterVec::new(Opts::new("vpp_solves_total", "Dispatch solves"), &["objective", "outcome"])
            .expect("valid metric");
        let solve_seconds = Histogram::with_opts(
            HistogramOpts::new("vpp_solve_seconds", "Time per dispatch solve")
                .buckets(vec![0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 120.0]),
        )
        .expect("valid metric");
        let bids = IntCounterVec::new(Opts::new("vpp_bid_calls_total", "Bid calls"), &["call", "outcome"]).expect("valid metric");
        let errors = IntCounterVec::new(Opts::new("vpp_rpc_errors_total", "Failed calls"), &["code"]).expect("valid metric");
        for c in [Box::new(solves.clone()) as Box<dyn prometheus::core::Collector>, Box::new(solve_seconds.clone()), Box::new(bids.clone()), Box::new(errors.clone())] {
            registry.register(c).expect("registered once");
        }
        Metrics { registry, solves, solve_seconds, bids, errors }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Counts a failed call.
    pub fn error(&self, status: &tonic::Status) {
        self.errors.with_label_values(&[&format!("{:?}", status.code())]).inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
