//! The load tool behind `vpp load`: drives a running server over gRPC with bid
//! submissions, day-ahead solves or green-share queries at a given concurrency, and reports
//! throughput and exact latency percentiles (every latency is kept and sorted).
//!
//! Every call is a real call: a bid counts as done when its acknowledgement (which the
//! server sends only after the bid is durably committed) has arrived; a solve when the
//! published schedule has come back. Failed calls are counted by gRPC code, never hidden
//! in the percentiles.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate};
use chrono_tz::Tz;
use serde::Serialize;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::Request;

use crate::api::pb;
use crate::api::pb::dispatch_service_client::DispatchServiceClient;
use crate::api::pb::green_share_service_client::GreenShareServiceClient;
use crate::api::pb::market_service_client::MarketServiceClient;
use crate::domain::{local_midnight, Forecast};

/// What a load run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `bids`, `solves` or `shares`.
    pub kind: String,
    /// Calls made.
    pub calls: usize,
    /// Calls that succeeded.
    pub ok: usize,
    /// Failed calls by gRPC code name.
    pub errors: BTreeMap<String, usize>,
    /// Concurrent callers.
    pub concurrency: usize,
    /// HTTP/2 connections they shared.
    pub connections: usize,
    /// Wall time of the run, seconds.
    pub wall_s: f64,
    /// Successful calls per second of wall time.
    pub throughput_per_s: f64,
    /// Latency percentiles of successful calls, milliseconds.
    pub latency_ms: Percentiles,
}

/// Exact latency percentiles, milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples` (sorted here).
    pub fn of(samples: &mut [Duration]) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let rank = |p: f64| {
            let k = ((p / 100.0) * samples.len() as f64).ceil() as usize;
            ms(samples[k.clamp(1, samples.len()) - 1])
        };
        let mean = samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len() as f64;
        Percentiles { p50: rank(50.0), p90: rank(90.0), p99: rank(99.0), max: ms(samples[samples.len() - 1]), mean }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} ok of {} in {:.2} s at concurrency {} over {} connection(s): {:.1}/s; latency ms p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  mean {:.2}",
            self.kind,
            self.ok,
            self.calls,
            self.wall_s,
            self.concurrency,
            self.connections,
            self.throughput_per_s,
            self.latency_ms.p50,
            self.latency_ms.p90,
            self.latency_ms.p99,
            self.latency_ms.max,
            self.latency_ms.mean
        )?;
        for (code, n) in &self.errors {
            write!(f, "\n  {n} failed with {code}")?;
        }
        Ok(())
    }
}

/// Why a load run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The server could not be reached.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Address tried.
        addr: String,
        /// Transport error.
        source: tonic::transport::Error,
    },
    /// A setting is unusable.
    #[error("{field}: {problem}")]
    Invalid {
        /// Which setting.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A preparatory call failed.
    #[error("{what}: {status}")]
    Call {
        /// Which call.
        what: &'static str,
        /// Its status.
        status: tonic::Status,
    },
}

/// Connections and caller count shared by every kind of run.
#[derive(Debug, Clone)]
pub struct Driver {
    channels: Vec<Channel>,
    /// Concurrent callers.
    pub concurrency: usize,
}

impl Driver {
    /// Opens `connections` HTTP/2 connections to `addr` for `concurrency` callers.
    pub async fn connect(addr: &str, connections: usize, concurrency: usize) -> Result<Driver, LoadError> {
        if connections == 0 {
            return Err(LoadError::Invalid { field: "connections", problem: "must be at least 1".into() });
        }
        if concurrency == 0 {
            return Err(LoadError::Invalid { field: "concurrency", problem: "must be at least 1".into() });
        }
        let mut channels = Vec::with_capacity(connections);
        for _ in 0..connections {
            let endpoint = Channel::from_shared(addr.to_string())
                .map_err(|e| LoadError::Invalid { field: "addr", problem: e.to_string() })?
                .tcp_nodelay(true);
            let channel = endpoint.connect().await.map_err(|source| LoadError::Connect { addr: addr.to_string(), source })?;
            channels.push(channel);
        }
        Ok(Driver { channels, concurrency })
    }

    fn channel(&self, worker: usize) -> Channel {
        self.channels[worker % self.channels.len()].clone()
    }

    /// Runs `count` calls of `call(channel, i)` on `concurrency` workers and measures them.
    async fn run<F, Fut>(&self, kind: &str, count: usize, call: F) -> Report
    where
        F: Fn(Channel, usize) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), tonic::Status>> + Send,
    {
        let call = Arc::new(call);
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut workers = Vec::with_capacity(self.concurrency);
        for w in 0..self.concurrency {
            let (call, next, channel) = (call.clone(), next.clone(), self.channel(w));
            workers.push(tokio::spawn(async move {
                let mut ok = Vec::new();
                let mut errors: BTreeMap<String, usize> = BTreeMap::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let t = Instant::now();
                    match call(channel.clone(), i).await {
                        Ok(()) => ok.push(t.elapsed()),
                        Err(status) => {
                            tracing::debug!(call = i, %status, "load call failed");
                            *errors.entry(format!("{:?}", status.code())).or_default() += 1;
                        }
                    }
                }
                (ok, errors)
            }));
        }
        let mut samples = Vec::with_capacity(count);
        let mut errors: BTreeMap<String, usize> = BTreeMap::new();
        for w in workers {
            match w.await {
                Ok((ok, errs)) => {
                    samples.extend(ok);
                    for (k, v) in errs {
                        *errors.entry(k).or_default() += v;
                    }
                }
                Err(e) => *errors.entry(format!("worker panicked: {e}")).or_default() += 1,
            }
        }
        let wall = started.elapsed().as_secs_f64();
        let ok = samples.len();
        Report {
            kind: kind.to_string(),
            calls: count,
            ok,
            errors,
            concurrency: self.concurrency,
            connections: self.channels.len(),
            wall_s: wall,
            throughput_per_s: if wall > 0.0 { ok as f64 / wall } else { 0.0 },
            latency_ms: Percentiles::of(&mut samples),
        }
    }
}

fn authorized<T>(token: &str, msg: T) -> Result<Request<T>, tonic::Status> {
    let mut req = Request::new(msg);
    let value: MetadataValue<_> =
        format!("Bearer {token}").parse().map_err(|_| tonic::Status::invalid_argument("the token is not a valid header value"))?;
    req.metadata_mut().insert("authorization", value);
    Ok(req)
}

/// What a bid run submits.
#[derive(Debug, Clone)]
pub struct BidLoad {
    /// Bot tokens; call `i` uses token `i % len` (spread bids over bots).
    pub tokens: Vec<String>,
    /// Delivery day of every bid (must be before its gate closure).
    pub day: NaiveDate,
    /// Plant time zone, to place bids on the day's hours.
    pub tz: Tz,
    /// Node of every bid.
    pub node: String,
    /// Prefix of the bid ids; ids are `{prefix}-{i}`, so use a fresh prefix per run.
    pub prefix: String,
    /// Bids to submit.
    pub count: usize,
}

/// Submits `count` green sell bids (1 MW at 300 yuan/MWh), spread over the day's 24 hours,
/// each acknowledged durably by the server.
pub async fn bids(driver: &Driver, load: BidLoad) -> Result<Report, LoadError> {
    if load.tokens.is_empty() {
        return Err(LoadError::Invalid { field: "token", problem: "at least one bot token is needed".into() });
    }
    let start = local_midnight(load.tz, load.day);
    let load = Arc::new(load);
    let count = load.count;
    Ok(driver
        .run("bids", count, move |channel, i| {
            let load = load.clone();
            async move {
                let at = start + chrono::Duration::hours((i % 24) as i64);
                let bid = pb::Bid {
                    bid_id: format!("{}-{i}", load.prefix),
                    node: load.node.clone(),
                    interval_start: Some(prost_types::Timestamp { seconds: at.timestamp(), nanos: 0 }),
                    side: pb::Side::Sell as i32,
                    quantity_mw: 1.0,
                    price: 300.0,
                    green: true,
                    park: String::new(),
                };
                let token = &load.tokens[i % load.tokens.len()];
                let ack = MarketServiceClient::new(channel).submit_bid(authorized(token, bid)?).await?.into_inner();
                if ack.revision != 1 {
                    return Err(tonic::Status::internal(format!("bid {} came back at revision {}", ack.bid_id, ack.revision)));
                }
                Ok(())
            }
        })
        .await)
}

/// What a solve run asks for.
#[derive(Debug, Clone)]
pub struct SolveLoad {
    /// Operator token.
    pub token: String,
    /// A one-day forecast, moved onto each delivery day.
    pub forecast: Forecast,
    /// Plant time zone.
    pub tz: Tz,
    /// Delivery days, one day-ahead request each (days that have no schedule yet, so each
    /// request is a fresh clearing and solve).
    pub days: Vec<NaiveDate>,
    /// Objective.
    pub objective: pb::Objective,
}

/// `span` consecutive days from the first day at or after `from` after which no day has a
/// published schedule (so a solve run does real solves, even on a database earlier runs
/// used).
pub async fn free_days(driver: &Driver, token: &str, from: NaiveDate, span: usize) -> Result<Vec<NaiveDate>, LoadError> {
    let mut client = DispatchServiceClient::new(driver.channel(0));
    let mut first = from;
    // ListSchedules covers at most 366 days per call: walk windows until one is empty.
    loop {
        let req = pb::ListSchedulesRequest { from_day: first.to_string(), to_day: (first + Days::new(365)).to_string() };
        let listed = client
            .list_schedules(authorized(token, req).map_err(|status| LoadError::Call { what: "list schedules", status })?)
            .await
            .map_err(|status| LoadError::Call { what: "list schedules", status })?
            .into_inner();
        match listed.schedules.iter().filter_map(|s| s.delivery_day.parse::<NaiveDate>().ok()).max() {
            Some(last) => first = last + Days::new(1),
            None => break,
        }
    }
    Ok((0..span as u64).map(|k| first + Days::new(k)).collect())
}

/// Requests one day-ahead schedule per day of `load.days` and checks each came back
/// solved for its day.
pub async fn solves(driver: &Driver, load: SolveLoad) -> Result<Report, LoadError> {
    let local_day = load.forecast.start.with_timezone(&load.tz).date_naive();
    if local_midnight(load.tz, local_day) != load.forecast.start {
        return Err(LoadError::Invalid { field: "forecast.start", problem: "must be a local midnight of the plant".into() });
    }
    let count = load.days.len();
    let load = Arc::new(load);
    Ok(driver
        .run("solves", count, move |channel, i| {
            let load = load.clone();
            async move {
                let day = load.days[i];
                let mut fc = load.forecast.clone();
                fc.start = local_midnight(load.tz, day);
                let req = pb::SubmitDayAheadRequest {
                    delivery_day: day.to_string(),
                    forecast: Some(crate::api::forecast_to_pb(&fc)),
                    options: Some(pb::SolveOptions { objective: load.objective as i32, ..Default::default() }),
                    stochastic: None,
                };
                let reply = DispatchServiceClient::new(channel)
                    .max_decoding_message_size(64 << 20)
                    .submit_day_ahead(authorized(&load.token, req)?)
                    .await?;
                // A day cleared before answers at once with the stored schedule: not a solve.
                if reply.metadata().get(crate::api::CLEARING_HEADER).is_some_and(|v| v.as_bytes() == b"existing") {
                    return Err(tonic::Status::already_exists(format!("{day} was already cleared: no solve was made")));
                }
                let s = reply.into_inner();
                let info = s.info.unwrap_or_default();
                if info.delivery_day != day.to_string() || info.version == 0 {
                    return Err(tonic::Status::internal(format!("asked for {day}, got {} v{}", info.delivery_day, info.version)));
                }
                Ok(())
            }
        })
        .await)
}

/// What a share run asks for.
#[derive(Debug, Clone)]
pub struct ShareLoad {
    /// Operator or the park's manager.
    pub token: String,
    /// Park.
    pub park: String,
    /// Day with a published schedule.
    pub day: NaiveDate,
    /// Queries to make.
    pub count: usize,
}

/// Reads a park's hourly green share `count` times and checks each answer covers the day.
pub async fn shares(driver: &Driver, load: ShareLoad) -> Result<Report, LoadError> {
    let count = load.count;
    let load = Arc::new(load);
    Ok(driver
        .run("shares", count, move |channel, _| {
            let load = load.clone();
            async move {
                let req = pb::ParkShareRequest { park: load.park.clone(), from_day: load.day.to_string(), to_day: String::new() };
                let r = GreenShareServiceClient::new(channel).get_park_share(authorized(&load.token, req)?).await?.into_inner();
                if r.days.len() != 1 || r.days[0].intervals.is_empty() {
                    return Err(tonic::Status::internal(format!("expected one day with intervals, got {} days", r.days.len())));
                }
                Ok(())
            }
        })
        .await)
}
