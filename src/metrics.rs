//! Prometheus metrics: calls by method and code with their latency, failed calls by code,
//! solves and solve time by objective, warm-start look-ups, bids, build info and process
//! figures. Served over HTTP by `server`.

use prometheus::{Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

/// The service's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Solves by objective and outcome.
    pub solves: IntCounterVec,
    /// Seconds per solve (building and solving), by objective.
    pub solve_seconds: HistogramVec,
    /// Calls by method and code.
    pub calls: IntCounterVec,
    /// Seconds per call by method and code (to the end of the answer, streams included).
    pub call_seconds: HistogramVec,
    /// Resident memory of the process, bytes (read when rendered).
    resident: Gauge,
    /// Bid calls by kind (submit, amend, cancel) and outcome (created, existing, conflict, …).
    pub bids: IntCounterVec,
    /// Meter readings by source (grpc, mqtt, csv) and outcome (created, existing, corrected,
    /// conflict; and for MQTT, messages dropped: `invalid`, the readings of a message the
    /// service refused, `undecodable`, one per message whose topic or JSON could not be read).
    pub readings: IntCounterVec,
    /// Failed calls by gRPC code.
    pub errors: IntCounterVec,
    /// Look-ups of a kept basis for an LP of a solve (see `model::WarmStarts`), by result
    /// (`hit`: the LP started from a kept basis; `miss`: none of its shape was kept).
    pub warm_lookups: IntCounterVec,
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let solves = IntCounterVec::new(Opts::new("vpp_solves_total", "Dispatch solves"), &["objective", "outcome"]).expect("valid metric");
        let solve_seconds = HistogramVec::new(
            HistogramOpts::new("vpp_solve_seconds", "Time per dispatch solve")
                .buckets(vec![0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 120.0]),
            &["objective"],
        )
        .expect("valid metric");
        let calls = IntCounterVec::new(Opts::new("vpp_rpc_calls_total", "gRPC calls"), &["method", "code"]).expect("valid metric");
        let call_seconds = HistogramVec::new(
            HistogramOpts::new("vpp_rpc_seconds", "Time per gRPC call")
                .buckets(vec![0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0]),
            &["method", "code"],
        )
        .expect("valid metric");
        let build = IntGaugeVec::new(Opts::new("vpp_build_info", "Build of the running vpp"), &["version"]).expect("valid metric");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let started = Gauge::new("vpp_process_start_time_seconds", "Start of the process, Unix seconds").expect("valid metric");
        started.set(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()));
        let resident = Gauge::new("vpp_process_resident_memory_bytes", "Resident memory of the process").expect("valid metric");
        let bids = IntCounterVec::new(Opts::new("vpp_bid_calls_total", "Bid calls"), &["call", "outcome"]).expect("valid metric");
        let errors = IntCounterVec::new(Opts::new("vpp_rpc_errors_total", "Failed calls"), &["code"]).expect("valid metric");
        let readings =
            IntCounterVec::new(Opts::new("vpp_meter_readings_total", "Meter readings"), &["source", "outcome"]).expect("valid metric");
        let warm_lookups =
            IntCounterVec::new(Opts::new("vpp_warm_start_lookups_total", "Look-ups of a kept basis for a solve's LP"), &["result"])
                .expect("valid metric");
        let all: [Box<dyn prometheus::core::Collector>; 11] = [
            Box::new(warm_lookups.clone()),
            Box::new(readings.clone()),
            Box::new(solves.clone()),
            Box::new(solve_seconds.clone()),
            Box::new(bids.clone()),
            Box::new(errors.clone()),
            Box::new(calls.clone()),
            Box::new(call_seconds.clone()),
            Box::new(build),
            Box::new(started),
            Box::new(resident.clone()),
        ];
        for c in all {
            registry.register(c).expect("registered once");
        }
        Metrics { registry, solves, solve_seconds, bids, readings, errors, calls, call_seconds, resident, warm_lookups }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        if let Some(bytes) = resident_bytes() {
            self.resident.set(bytes);
        }
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Counts a call of `method` that ended with `code` after `seconds`.
    pub fn rpc(&self, method: &str, code: &str, seconds: f64) {
        self.calls.with_label_values(&[method, code]).inc();
        self.call_seconds.with_label_values(&[method, code]).observe(seconds);
    }
}

/// Resident memory from `/proc/self/statm` (Linux; `None` elsewhere).
fn resident_bytes() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096.0)
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
