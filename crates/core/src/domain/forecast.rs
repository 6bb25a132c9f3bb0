//! Forecasts for one horizon (availability, demand, inflow, prices) and the horizon's
//! time grid: UTC instants, interval length, local delivery days.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::bid::{Bid, BidSide};
use super::limits;
use super::plant::Plant;
use super::validation::{Collector, ValidationErrors};

/// Forecasts for a horizon of `intervals` intervals of `interval_minutes`, starting at
/// `start`. Every series has one value per interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forecast {
    /// Free text: what day this is and how it was made.
    #[serde(default)]
    pub description: String,
    /// Start of the first interval (any RFC 3339 offset; kept as UTC).
    pub start: DateTime<Utc>,
    /// Interval length in minutes; must divide a day (15, 30, 60, …).
    pub interval_minutes: u32,
    /// Number of intervals.
    pub intervals: usize,
    /// Availability a_t ∈ [0, 1] of each wind farm and PV plant (every one is required).
    #[serde(default)]
    pub availability: BTreeMap<String, Vec<f64>>,
    /// Demand of each park, MW (every park is required).
    #[serde(default)]
    pub demand_mw: BTreeMap<String, Vec<f64>>,
    /// Natural inflow of each pumped-hydro station, MWh per interval (default 0).
    #[serde(default)]
    pub inflow_mwh: BTreeMap<String, Vec<f64>>,
    /// Interruptible limit of a park per interval, MW (default: the plant's constant).
    #[serde(default)]
    pub interruptible_mw: BTreeMap<String, Vec<f64>>,
    /// Import price of a grid exchange per interval, yuan/MWh (default: its tariff).
    #[serde(default)]
    pub import_price: BTreeMap<String, Vec<f64>>,
    /// Bids to clear with the schedule.
    #[serde(default)]
    pub bids: Vec<Bid>,
    /// What the weather and the loads may do instead of the point forecast: explicit
    /// scenarios with probabilities (adding up to 1). The deterministic solve ignores them;
    /// the stochastic day-ahead and the backtests use them ([`Forecast::outcomes`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenarios: Vec<Scenario>,
    /// Or quantiles of each series (10 %, 50 %, 90 %), read as three scenarios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantiles: Option<Quantiles>,
}

/// Most scenarios a forecast may carry.
pub const MAX_SCENARIOS: usize = 1000;

/// One possible outcome of the horizon. A series it does not give is the point forecast's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Unique within the forecast.
    pub name: String,
    /// Probability, > 0; a forecast's scenarios add up to 1.
    pub probability: f64,
    /// Availability of wind farms and PV plants, in [0, 1].
    #[serde(default)]
    pub availability: BTreeMap<String, Vec<f64>>,
    /// Demand of parks, MW.
    #[serde(default)]
    pub demand_mw: BTreeMap<String, Vec<f64>>,
}

/// Series of one quantile level. A series it does not give is the point forecast's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantileSeries {
    /// Availability of wind farms and PV plants, in [0, 1].
    #[serde(default)]
    pub availability: BTreeMap<String, Vec<f64>>,
    /// Demand of parks, MW.
    #[serde(default)]
    pub demand_mw: BTreeMap<String, Vec<f64>>,
}

/// Quantiles of each series: `q10` is the value outcomes fall below with probability 0.1
/// (what is often called P90 in energy yield reports), `q50` the median, `q90` the value
/// they fall below with probability 0.9.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quantiles {
    /// 10 % quantile.
    pub q10: QuantileSeries,
    /// Median.
    pub q50: QuantileSeries,
    /// 90 % quantile.
    pub q90: QuantileSeries,
}

/// Swanson's rule: the weights that make three scenarios at the 10 %, 50 % and 90 %
/// quantiles reproduce the mean of a wide family of distributions.
pub const SWANSON_WEIGHTS: [f64; 3] = [0.3, 0.4, 0.3];

/// Why a forecast file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ForecastError {
    /// The file could not be read.
    #[error("cannot read forecast file {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        reason: std::io::Error,
    },
    /// The file is not valid JSON for a forecast.
    #[error("forecast file {path} is not a valid forecast: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
}

impl Forecast {
    /// Reads and parses a forecast file (JSON). Validation against a plant is separate.
    pub fn load(path: impl AsRef<Path>) -> Result<Forecast, ForecastError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ForecastError::Io { path: shown.clone(), reason: source })?;
        serde_json::from_str(&text).map_err(|e| ForecastError::Parse { path: shown, message: e.to_string() })
    }

    /// The time grid of this forecast, read in the plant's zone.
    pub fn horizon(&self, tz: Tz) -> Horizon {
        Horizon::new(self.start, self.interval_minutes, self.intervals, tz)
    }

    /// Checks the forecast against `plant`: every series present where required, of the
    /// horizon's length, finite and in range; every bid well-formed. Reports all problems.
    pub fn validate(&self, plant: &Plant) -> Result<(), ValidationErrors> {
        self.validate_shape()?;
        let mut c = Collector::default();
        let t = self.intervals;
        let renewables: Vec<&str> = plant.wind.iter().chain(&plant.pv).map(|r| r.name.as_str()).collect();
        let parks: Vec<&str> = plant.parks.iter().map(|p| p.name.as_str()).collect();
        let hydro: Vec<&str> = plant.storage.iter().filter(|s| s.kind.has_inflow()).map(|s| s.name.as_str()).collect();
        let grids: Vec<&str> = plant.grids.iter().map(|g| g.name.as_str()).collect();
        check_series(&mut c, "availability", &self.availability, &renewables, true, t, Unit::Fraction, "wind farm or PV plant");
        check_series(&mut c, "demand_mw", &self.demand_mw, &parks, true, t, Unit::Mw, "park");
        check_series(&mut c, "inflow_mwh", &self.inflow_mwh, &hydro, false, t, Unit::Mwh, "pumped-hydro station");
        check_series(&mut c, "interruptible_mw", &self.interruptible_mw, &parks, false, t, Unit::Mw, "park");
        for (name, series) in &self.import_price {
            let f = format!("import_price.{}", limits::short(name));
            if !grids.contains(&name.as_str()) {
                c.push(f, format!("no grid exchange named {} in plant {}", limits::quote(name), plant.name));
            } else if series.len() != t {
                c.push(f, format!("has {} values, the horizon has {t} intervals", series.len()));
            } else {
                for (k, v) in series.iter().enumerate() {
                    c.price(&format!("{f}[{k}]"), *v);
                }
            }
        }
        if c.is_empty() {
            self.validate_bids(plant, &mut c);
        }
        self.validate_uncertainty(&renewables, &parks, &mut c);
        c.finish()
    }

    /// The forecast's intervals `k .. k + len` (cut to its end): every series, scenario
    /// and quantile sliced, the bids whose interval starts inside kept.
    pub fn window(&self, k: usize, len: usize) -> Forecast {
        let k = k.min(self.intervals);
        let end = (k + len).min(self.intervals);
        let slice = |m: &BTreeMap<String, Vec<f64>>| -> BTreeMap<String, Vec<f64>> {
            m.iter().map(|(n, v)| (n.clone(), v.get(k..end.min(v.len())).unwrap_or_default().to_vec())).collect()
        };
        let h = self.horizon(chrono_tz::Tz::UTC);
        let (from, to) = (h.instant(k), h.instant(end));
        Forecast {
            description: self.description.clone(),
            start: from,
            interval_minutes: self.interval_minutes,
            intervals: end - k,
            availability: slice(&self.availability),
            demand_mw: slice(&self.demand_mw),
            inflow_mwh: slice(&self.inflow_mwh),
            interruptible_mw: slice(&self.interruptible_mw),
            import_price: slice(&self.import_price),
            bids: self.bids.iter().filter(|b| b.interval_start >= from && b.interval_start < to).cloned().collect(),
            scenarios: self
                .scenarios
                .iter()
                .map(|s| Scenario {
                    name: s.name.clone(),
                    probability: s.probability,
                    availability: slice(&s.availability),
                    demand_mw: slice(&s.demand_mw),
                })
                .collect(),
            quantiles: self.quantiles.as_ref().map(|q| {
                let level = |s: &QuantileSeries| QuantileSeries { availability: slice(&s.availability), demand_mw: slice(&s.demand_mw) };
                Quantiles { q10: level(&q.q10), q50: level(&q.q50), q90: level(&q.q90) }
            }),
        }
    }

    /// This forecast on a coarser grid of `minutes` per interval (a multiple of its own,
    /// dividing its horizon): power series (availability, demand, interruptible limit) and
    /// import prices averaged over each coarse interval, inflows (energy per interval)
    /// summed. Without bids, scenarios or quantiles: a point forecast for planning at the
    /// coarse grid. `None` when `minutes` is not such a multiple.
    pub fn coarsened(&self, minutes: u32) -> Option<Forecast> {
        let own = self.interval_minutes;
        if own == 0 || minutes < own || !minutes.is_multiple_of(own) || !1440u32.is_multiple_of(minutes) {
            return None;
        }
        let factor = (minutes / own) as usize;
        if !self.intervals.is_multiple_of(factor) {
            return None;
        }
        let fold = |m: &BTreeMap<String, Vec<f64>>, mean: bool| -> BTreeMap<String, Vec<f64>> {
            let scale = if mean { 1.0 / factor as f64 } else { 1.0 };
            m.iter().map(|(n, v)| (n.clone(), v.chunks(factor).map(|c| c.iter().sum::<f64>() * scale).collect())).collect()
        };
        Some(Forecast {
            description: format!("{} (every {minutes} min)", self.description),
            start: self.start,
            interval_minutes: minutes,
            intervals: self.intervals / factor,
            availability: fold(&self.availability, true),
            demand_mw: fold(&self.demand_mw, true),
            inflow_mwh: fold(&self.inflow_mwh, false),
            interruptible_mw: fold(&self.interruptible_mw, true),
            import_price: fold(&self.import_price, true),
            bids: Vec::new(),
            scenarios: Vec::new(),
            quantiles: None,
        })
    }

    /// The outcomes the forecast describes, with their probabilities: its scenarios; or its
    /// quantiles as three scenarios `q10`, `q50`, `q90` weighted by Swanson's rule (every
    /// series at the same quantile at once: comonotone, the widest reading); or the point
    /// forecast alone (`point`, probability 1). Each outcome is a whole forecast (the
    /// point forecast with the scenario's series in place), without scenarios.
    pub fn outcomes(&self) -> Vec<(String, f64, Forecast)> {
        let with = |availability: &BTreeMap<String, Vec<f64>>, demand: &BTreeMap<String, Vec<f64>>| {
            let mut f = Forecast { scenarios: Vec::new(), quantiles: None, ..self.clone() };
            for (k, v) in availability {
                f.availability.insert(k.clone(), v.clone());
            }
            for (k, v) in demand {
                f.demand_mw.insert(k.clone(), v.clone());
            }
            f
        };
        if !self.scenarios.is_empty() {
            return self.scenarios.iter().map(|s| (s.name.clone(), s.probability, with(&s.availability, &s.demand_mw))).collect();
        }
        if let Some(q) = &self.quantiles {
            return [("q10", &q.q10), ("q50", &q.q50), ("q90", &q.q90)]
                .into_iter()
                .zip(SWANSON_WEIGHTS)
                .map(|((name, s), p)| (name.to_string(), p, with(&s.availability, &s.demand_mw)))
                .collect();
        }
        vec![("point".to_string(), 1.0, with(&BTreeMap::new(), &BTreeMap::new()))]
    }

    /// Scenarios and quantiles: known series of the horizon's length and in range,
    /// probabilities positive and adding up to 1, names unique, quantiles in order.
    fn validate_uncertainty(&self, renewables: &[&str], parks: &[&str], c: &mut Collector) {
        let t = self.intervals;
        if !self.scenarios.is_empty() && self.quantiles.is_some() {
            c.push("quantiles", "give scenarios or quantiles, not both");
        }
        if self.scenarios.len() > MAX_SCENARIOS {
            c.push("scenarios", format!("at most {MAX_SCENARIOS} scenarios, got {}", self.scenarios.len()));
            return;
        }
        let mut names = std::collections::HashSet::new();
        let mut total = 0.0;
        for (k, s) in self.scenarios.iter().enumerate() {
            let f = if s.name.trim().is_empty() { format!("scenarios[{k}]") } else { format!("scenarios[{}]", limits::short(&s.name)) };
            if s.name.trim().is_empty() {
                c.push(format!("{f}.name"), "must not be empty");
            } else if !names.insert(s.name.as_str()) {
                c.push(format!("{f}.name"), "duplicate scenario name");
            }
            if !(s.probability.is_finite() && s.probability > 0.0 && s.probability <= 1.0) {
                c.push(format!("{f}.probability"), format!("must lie in (0, 1], got {}", s.probability));
            } else {
                total += s.probability;
            }
            check_series(c, &format!("{f}.availability"), &s.availability, renewables, false, t, Unit::Fraction, "wind farm or PV plant");
            check_series(c, &format!("{f}.demand_mw"), &s.demand_mw, parks, false, t, Unit::Mw, "park");
        }
        if !self.scenarios.is_empty() && c.is_empty() && (total - 1.0).abs() > 1e-6 {
            c.push("scenarios", format!("the probabilities add up to {total}, not 1"));
        }
        if let Some(q) = &self.quantiles {
            for (name, s) in [("q10", &q.q10), ("q50", &q.q50), ("q90", &q.q90)] {
                let f = format!("quantiles.{name}");
                check_series(
                    c,
                    &format!("{f}.availability"),
                    &s.availability,
                    renewables,
                    false,
                    t,
                    Unit::Fraction,
                    "wind farm or PV plant",
                );
                check_series(c, &format!("{f}.demand_mw"), &s.demand_mw, parks, false, t, Unit::Mw, "park");
            }
            if c.is_empty() {
                let outcomes = self.outcomes();
                let (lo, mid, hi) = (&outcomes[0].2, &outcomes[1].2, &outcomes[2].2);
                for (field, a, b, m) in [
                    ("availability", &lo.availability, &hi.availability, &mid.availability),
                    ("demand_mw", &lo.demand_mw, &hi.demand_mw, &mid.demand_mw),
                ] {
                    for (name, series) in m {
                        let (Some(l), Some(h)) = (a.get(name), b.get(name)) else { continue };
                        if let Some(k) = (0..series.len()).find(|&k| !(l[k] <= series[k] + 1e-9 && series[k] <= h[k] + 1e-9)) {
                            c.push(
                                format!("quantiles.{field}.{}[{k}]", limits::short(name)),
                                format!("q10 ≤ q50 ≤ q90 fails: {} / {} / {}", l[k], series[k], h[k]),
                            );
                        }
                    }
                }
            }
        }
    }

    /// Checks the time grid alone (interval length, count, start and end within the
    /// accepted days); nothing may compute a [`Horizon`] of a forecast before this passes.
    pub fn validate_shape(&self) -> Result<(), ValidationErrors> {
        let mut c = Collector::default();
        let minutes_ok = self.interval_minutes > 0 && 1440 % self.interval_minutes == 0;
        if !minutes_ok {
            c.push("interval_minutes", format!("must divide a day (15, 30, 60, …), got {}", self.interval_minutes));
        }
        if self.intervals == 0 {
            c.push("intervals", "the horizon needs at least one interval");
        } else if self.intervals > limits::MAX_INTERVALS {
            c.push("intervals", format!("at most {} intervals (a leap year at 15 min), got {}", limits::MAX_INTERVALS, self.intervals));
        }
        if !limits::instant_in_range(self.start) {
            c.push("start", format!("{} {}", self.start.to_rfc3339(), limits::day_range_text()));
        } else if c.is_empty() {
            let end = self.start + Duration::minutes(i64::from(self.interval_minutes) * self.intervals as i64);
            if !limits::instant_in_range(end) {
                c.push("intervals", format!("the horizon would end at {}, which {}", end.to_rfc3339(), limits::day_range_text()));
            }
        }
        c.finish()
    }

    fn validate_bids(&self, plant: &Plant, c: &mut Collector) {
        let horizon = self.horizon(plant.tz());
        // A bid is (bot, id); split onto shorter intervals, its parts share that identity and
        // differ by interval.
        let mut ids = std::collections::HashSet::new();
        for (k, b) in self.bids.iter().enumerate() {
            let p = if b.id.is_empty() { format!("bids[{k}]") } else { format!("bids[{}]", limits::short(&b.label())) };
            if b.id.trim().is_empty() {
                c.push(format!("{p}.id"), "must not be empty");
            } else if !ids.insert((b.bot.as_str(), b.id.as_str(), b.interval_start)) {
                c.push(format!("{p}.id"), "duplicate bid id (the same bot, id and interval twice)");
            }
            if plant.node_index(&b.node).is_none() {
                c.push(format!("{p}.node"), format!("unknown node '{}'", b.node));
            }
            c.power(&format!("{p}.quantity_mw"), b.quantity_mw);
            c.price(&format!("{p}.price"), b.price);
            if horizon.index_of(b.interval_start).is_none() {
                c.push(
                    format!("{p}.interval_start"),
                    format!(
                        "{} is not the start of an interval of the horizon {} .. {} ({} min steps)",
                        b.interval_start.to_rfc3339(),
                        horizon.start.to_rfc3339(),
                        horizon.end().to_rfc3339(),
                        horizon.step_minutes
                    ),
                );
            }
            if b.green && b.side != BidSide::Sell {
                c.push(format!("{p}.green"), "only sell bids can be green");
            }
            if b.side == BidSide::Curtail {
                if let Err(msg) = curtail_park(plant, b) {
                    c.push(format!("{p}.park"), msg);
                }
            } else if b.park.is_some() {
                c.push(format!("{p}.park"), "only curtail bids name a park");
            }
        }
    }
}

/// Local midnight starting `day` in `tz`, as a UTC instant (the earlier one if midnight
/// occurs twice; midnight read as UTC if the zone skips it).
pub fn local_midnight(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    use chrono::TimeZone;
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&midnight).earliest().map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
}

/// The park whose load a curtail bid reduces: the one it names, or the only park at its node.
pub fn curtail_park(plant: &Plant, bid: &Bid) -> Result<usize, String> {
    let at_node: Vec<usize> = (0..plant.parks.len()).filter(|&k| plant.parks[k].node == bid.node).collect();
    match (&bid.park, at_node.as_slice()) {
        (Some(name), _) => match plant.parks.iter().position(|p| &p.name == name) {
            Some(k) if plant.parks[k].node == bid.node => Ok(k),
            Some(_) => Err(format!("park '{name}' is not at node '{}'", bid.node)),
            None => Err(format!("unknown park '{name}'")),
        },
        (None, [k]) => Ok(*k),
        (None, []) => Err(format!("a curtail bid needs a park at its node, and node '{}' has none", bid.node)),
        (None, _) => Err(format!("node '{}' has several parks; name the one to curtail", bid.node)),
    }
}

/// What the values of a series are, for their range.
#[derive(Clone, Copy)]
enum Unit {
    /// A fraction in [0, 1] (availability).
    Fraction,
    /// A power in [0, MAX_POWER_MW].
    Mw,
    /// An energy in [0, MAX_ENERGY_MWH].
    Mwh,
}

#[allow(clippy::too_many_arguments)]
fn check_series(
    c: &mut Collector,
    field: &str,
    map: &BTreeMap<String, Vec<f64>>,
    known: &[&str],
    required: bool,
    t: usize,
    unit: Unit,
    what: &str,
) {
    for name in known {
        if required && !map.contains_key(*name) {
            c.push(format!("{field}.{name}"), format!("missing: every {what} needs a series"));
        }
    }
    for (name, series) in map {
        let f = format!("{field}.{}", limits::short(name));
        if !known.contains(&name.as_str()) {
            c.push(f, format!("no {what} of that name in the plant"));
            continue;
        }
        if series.len() != t {
            c.push(f, format!("has {} values, the horizon has {t} intervals", series.len()));
            continue;
        }
        for (k, v) in series.iter().enumerate() {
            let fk = format!("{f}[{k}]");
            match unit {
                Unit::Fraction => c.within(&fk, *v, 0.0, 1.0),
                Unit::Mw => c.power(&fk, *v),
                Unit::Mwh => c.energy(&fk, *v),
            }
        }
    }
}

/// The time grid of a horizon.
#[derive(Debug, Clone, PartialEq)]
pub struct Horizon {
    /// Start of the first interval.
    pub start: DateTime<Utc>,
    /// Interval length in minutes.
    pub step_minutes: u32,
    /// Number of intervals T.
    pub len: usize,
    /// Interval length Δ in hours.
    pub dt: f64,
    /// Zone in which local days and clock times are read.
    pub tz: Tz,
}

impl Horizon {
    /// A grid of `len` intervals of `step_minutes` from `start`.
    pub fn new(start: DateTime<Utc>, step_minutes: u32, len: usize, tz: Tz) -> Horizon {
        Horizon { start, step_minutes, len, dt: f64::from(step_minutes) / 60.0, tz }
    }

    /// Start of interval `t`.
    pub fn instant(&self, t: usize) -> DateTime<Utc> {
        self.start + Duration::minutes(i64::from(self.step_minutes) * t as i64)
    }

    /// End of the last interval.
    pub fn end(&self) -> DateTime<Utc> {
        self.instant(self.len)
    }

    /// The interval that starts exactly at `at`, if any.
    pub fn index_of(&self, at: DateTime<Utc>) -> Option<usize> {
        let minutes = (at - self.start).num_seconds();
        let step = i64::from(self.step_minutes) * 60;
        if step == 0 || minutes < 0 || minutes % step != 0 {
            return None;
        }
        let t = (minutes / step) as usize;
        (t < self.len).then_some(t)
    }

    /// Local delivery day of interval `t`.
    pub fn local_date(&self, t: usize) -> NaiveDate {
        self.instant(t).with_timezone(&self.tz).date_naive()
    }

    /// Local clock label of interval `t`: `HH:MM` for a horizon within one day, otherwise
    /// `YYYY-MM-DD HH:MM`.
    pub fn label(&self, t: usize) -> String {
        let local = self.instant(t).with_timezone(&self.tz);
        if self.local_date(0) == self.local_date(self.len.saturating_sub(1)) {
            local.format("%H:%M").to_string()
        } else {
            local.format("%Y-%m-%d %H:%M").to_string()
        }
    }

    /// Groups interval indices by local day, in order.
    pub fn days(&self) -> Vec<(NaiveDate, Vec<usize>)> {
        let mut days: Vec<(NaiveDate, Vec<usize>)> = Vec::new();
        for t in 0..self.len {
            let d = self.local_date(t);
            match days.last_mut() {
                Some((day, ts)) if *day == d => ts.push(t),
                _ => days.push((d, vec![t])),
            }
        }
        days
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quarter_hours() -> Forecast {
        let series = |v: &[f64]| BTreeMap::from([("a".to_string(), v.to_vec())]);
        Forecast {
            description: "two hours".into(),
            start: DateTime::parse_from_rfc3339("2026-04-01T00:00:00+08:00").map(|t| t.with_timezone(&Utc)).unwrap_or_default(),
            interval_minutes: 15,
            intervals: 8,
            availability: series(&[0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 0.5, 0.5]),
            demand_mw: series(&[10.0, 10.0, 10.0, 10.0, 20.0, 30.0, 20.0, 10.0]),
            inflow_mwh: series(&[1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 1.0]),
            interruptible_mw: BTreeMap::new(),
            import_price: series(&[100.0, 100.0, 300.0, 300.0, 0.0, 0.0, 0.0, 0.0]),
            bids: Vec::new(),
            scenarios: Vec::new(),
            quantiles: None,
        }
    }

    /// Power and prices are averaged over an hour, energy per interval summed.
    #[test]
    fn coarsened_averages_power_and_sums_energy() {
        let h = quarter_hours().coarsened(60).expect("an hour is a multiple of 15 minutes");
        assert_eq!((h.interval_minutes, h.intervals, h.start), (60, 2, quarter_hours().start));
        assert_eq!(h.availability["a"], vec![0.375, 0.75]);
        assert_eq!(h.demand_mw["a"], vec![10.0, 20.0]);
        assert_eq!(h.inflow_mwh["a"], vec![10.0, 1.0]);
        assert_eq!(h.import_price["a"], vec![200.0, 0.0]);
    }

    /// Only a multiple of the interval that divides a day and the horizon.
    #[test]
    fn coarsened_refuses_grids_that_do_not_fit() {
        let f = quarter_hours();
        for minutes in [10, 45, 90, 7 * 60] {
            assert!(f.coarsened(minutes).is_none(), "{minutes} min");
        }
        assert!(f.coarsened(30).is_some());
    }
}
