//! Where the power served to a park (or to all parks) came from, interval by interval: a view
//! derived from a [`Schedule`] alone. It feeds the stacked chart of the web page and of
//! `vpp solve --plot`.
//!
//! # How the stack is derived
//!
//! The schedule fixes, for every interval, how much of each park's served energy is green
//! (its allocation `ParkSchedule::green_mwh`; for the plant `GreenInterval::to_load_mwh`) and
//! what every source produced. It does not say which source fed which load: green matching
//! is plant-wide, one pool per interval (README, "hourly matching is plant-wide"). The stack
//! therefore shares each colour's pool out in proportion to what the sources put into it
//! (proportional sharing), interval by interval:
//!
//! - the **green part** g of a load is split over the green sources in proportion to their
//!   green supply in that interval: wind output, PV output, green storage discharge
//!   (`discharge_green_mw`), the green part of grid imports and accepted green sell bids.
//!   The green part of imports (φ·import) is not stored per grid; it is what
//!   `GreenInterval::supply_mwh` holds beyond the other four, so it is taken as that
//!   difference (never below zero).
//! - the **grey part** (served − g) is split over the grey sources in proportion to their
//!   output: grey storage discharge (`discharge_mw − discharge_green_mw`), grey imports
//!   (import − its green part), and "other grey": thermal output and accepted grey sell
//!   bids.
//!
//! Green energy pumped into storage or exported leaves the pool with the pool's mix, and so
//! does grey. The layers of a load add up to its served power exactly; the parks' layers add
//! up to the plant's, because the parks' green allocations add up to the plant's green
//! energy to loads. Should a pool be empty while a load still has energy of that colour
//! (possible only by rounding), the remainder goes to "other green" or "other grey" rather
//! than be dropped. Values are average MW over each interval (MWh / Δ).

use super::bid::BidSide;
use super::plant::RenewableKind;
use super::schedule::Schedule;

/// A layer of the stack, bottom first in [`Source::ALL`] order: green sources, then grey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Wind farms' output.
    Wind,
    /// PV plants' output.
    Pv,
    /// Green energy discharged by pumped hydro and CAES.
    StorageGreen,
    /// The green part φ of grid imports.
    GridGreen,
    /// Accepted green sell bids ("other green"; also any rounding remainder).
    OtherGreen,
    /// Grey energy discharged by pumped hydro and CAES.
    StorageGrey,
    /// Grid imports less their green part.
    GridGrey,
    /// Thermal units and accepted grey sell bids ("other grey"; also any rounding remainder).
    OtherGrey,
}

impl Source {
    /// Every layer, bottom first.
    pub const ALL: [Source; 8] = [
        Source::Wind,
        Source::Pv,
        Source::StorageGreen,
        Source::GridGreen,
        Source::OtherGreen,
        Source::StorageGrey,
        Source::GridGrey,
        Source::OtherGrey,
    ];

    /// Stable identifier (JSON keys, element ids).
    pub fn key(self) -> &'static str {
        match self {
            Source::Wind => "wind",
            Source::Pv => "pv",
            Source::StorageGreen => "storage_green",
            Source::GridGreen => "grid_green",
            Source::OtherGreen => "other_green",
            Source::StorageGrey => "storage_grey",
            Source::GridGrey => "grid_grey",
            Source::OtherGrey => "other_grey",
        }
    }

    /// What a chart's legend says.
    pub fn label(self) -> &'static str {
        match self {
            Source::Wind => "Wind",
            Source::Pv => "PV",
            Source::StorageGreen => "Storage (green)",
            Source::GridGreen => "Grid (green part)",
            Source::OtherGreen => "Green sell bids",
            Source::StorageGrey => "Storage (grey)",
            Source::GridGrey => "Grid (grey)",
            Source::OtherGrey => "Thermal and grey bids",
        }
    }

    /// Counts as green energy.
    pub fn green(self) -> bool {
        matches!(self, Source::Wind | Source::Pv | Source::StorageGreen | Source::GridGreen | Source::OtherGreen)
    }

    /// Fill colour (`#rrggbb`), the same in the page and the SVG.
    pub fn colour(self) -> &'static str {
        match self {
            Source::Wind => "#3182bd",
            Source::Pv => "#f2b701",
            Source::StorageGreen => "#31a354",
            Source::GridGreen => "#a1d99b",
            Source::OtherGreen => "#74c476",
            Source::StorageGrey => "#8c6bb1",
            Source::GridGrey => "#636363",
            Source::OtherGrey => "#bdbdbd",
        }
    }

    /// Shown even when zero all day (the five a reader looks for); the others only when
    /// they carry energy.
    pub fn always_shown(self) -> bool {
        matches!(self, Source::Wind | Source::Pv | Source::StorageGreen | Source::StorageGrey | Source::GridGrey)
    }
}

/// One layer's series.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Which source.
    pub source: Source,
    /// Average MW per interval.
    pub mw: Vec<f64>,
}

/// The stack of one load (a park, or all parks together).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceStack {
    /// Every layer of [`Source::ALL`], in that order.
    pub layers: Vec<Layer>,
}

impl SourceStack {
    /// The layer of a source.
    pub fn layer(&self, source: Source) -> &[f64] {
        self.layers.iter().find(|l| l.source == source).map_or(&[], |l| l.mw.as_slice())
    }

    /// Height of the stack in interval `t`, MW (the served power).
    pub fn total(&self, t: usize) -> f64 {
        self.layers.iter().map(|l| l.mw.get(t).copied().unwrap_or(0.0)).sum()
    }

    /// The layers worth drawing: the five always shown, and any other that is not zero.
    pub fn shown(&self) -> impl Iterator<Item = &Layer> {
        self.layers.iter().filter(|l| l.source.always_shown() || l.mw.iter().any(|v| v.abs() > 1e-9))
    }
}

/// What each source put into the green and the grey pool in one interval, MWh.
struct Pools {
    green: [(Source, f64); 5],
    grey: [(Source, f64); 3],
}

fn pools(s: &Schedule, t: usize) -> Pools {
    let dt = s.dt_hours;
    let at = |v: &[f64]| v.get(t).copied().unwrap_or(0.0) * dt;
    let wind: f64 = s.renewables.iter().filter(|r| r.kind == RenewableKind::Wind).map(|r| at(&r.output_mw)).sum();
    let pv: f64 = s.renewables.iter().filter(|r| r.kind != RenewableKind::Wind).map(|r| at(&r.output_mw)).sum();
    let storage_green: f64 = s.storages.iter().map(|st| at(&st.discharge_green_mw)).sum();
    let storage_all: f64 = s.storages.iter().map(|st| at(&st.discharge_mw)).sum();
    let sells = s.bids.iter().filter(|b| b.interval == t && b.side == BidSide::Sell);
    let (mut bids_green, mut bids_grey) = (0.0, 0.0);
    for b in sells {
        if b.green {
            bids_green += b.accepted_mw * dt;
        } else {
            bids_grey += b.accepted_mw * dt;
        }
    }
    let imports: f64 = s.grids.iter().map(|g| at(&g.import_mw)).sum();
    let supply = s.green.get(t).map_or(0.0, |g| g.supply_mwh);
    let rest = supply - wind - pv - storage_green - bids_green;
    // The remainder is φ·import; below rounding noise it is zero.
    let grid_green = if rest > 1e-9 * supply.abs().max(1.0) { rest.min(imports) } else { 0.0 };
    let thermal: f64 = s.thermal.iter().map(|u| at(&u.output_mw)).sum();
    Pools {
        green: [
            (Source::Wind, wind),
            (Source::Pv, pv),
            (Source::StorageGreen, storage_green),
            (Source::GridGreen, grid_green),
            (Source::OtherGreen, bids_green),
        ],
        grey: [
            (Source::StorageGrey, (storage_all - storage_green).max(0.0)),
            (Source::GridGrey, (imports - grid_green).max(0.0)),
            (Source::OtherGrey, thermal + bids_grey),
        ],
    }
}

/// Shares `amount` out over `pool` in proportion; an empty pool leaves it to `remainder`.
fn share_out(amount: f64, pool: &[(Source, f64)], remainder: Source, out: &mut Vec<(Source, f64)>) {
    let total: f64 = pool.iter().map(|(_, v)| v.max(0.0)).sum();
    if amount <= 0.0 {
        return;
    }
    if total <= 1e-9 {
        out.push((remainder, amount));
        return;
    }
    for &(src, v) in pool {
        out.push((src, amount * v.max(0.0) / total));
    }
}

/// The stack of a load whose green and served energy per interval (MWh) are given.
fn stack(s: &Schedule, green_mwh: impl Fn(usize) -> f64, served_mwh: impl Fn(usize) -> f64) -> SourceStack {
    let n = s.intervals.len();
    let dt = s.dt_hours;
    let mut layers: Vec<Layer> = Source::ALL.iter().map(|&source| Layer { source, mw: vec![0.0; n] }).collect();
    let mut parts = Vec::with_capacity(Source::ALL.len());
    for t in 0..n {
        let p = pools(s, t);
        let served = served_mwh(t).max(0.0);
        let green = green_mwh(t).clamp(0.0, served);
        parts.clear();
        share_out(green, &p.green, Source::OtherGreen, &mut parts);
        share_out(served - green, &p.grey, Source::OtherGrey, &mut parts);
        for &(src, mwh) in &parts {
            if let Some(layer) = layers.iter_mut().find(|l| l.source == src) {
                layer.mw[t] += if dt > 0.0 { mwh / dt } else { 0.0 };
            }
        }
    }
    SourceStack { layers }
}

/// Where the power served to all parks came from.
pub fn plant_stack(s: &Schedule) -> SourceStack {
    stack(s, |t| s.green.get(t).map_or(0.0, |g| g.to_load_mwh), |t| s.green.get(t).map_or(0.0, |g| g.served_mwh))
}

/// Where the power served to one park came from; `None` when the schedule has no such park.
pub fn park_stack(s: &Schedule, park: &str) -> Option<SourceStack> {
    let p = s.parks.iter().find(|p| p.name == park)?;
    Some(stack(s, |t| p.green_mwh.get(t).copied().unwrap_or(0.0), |t| p.served_mw.get(t).copied().unwrap_or(0.0) * s.dt_hours))
}

/// Local start times (`HH:MM`) of the schedule's intervals, for chart axes.
pub fn interval_labels(s: &Schedule, tz: chrono_tz::Tz) -> Vec<String> {
    s.intervals.iter().map(|t| t.with_timezone(&tz).format("%H:%M").to_string()).collect()
}

/// Local times of the T+1 points of storage energy (each interval's start and the horizon's
/// end), the end written `24:00` when it is the next midnight.
pub fn point_labels(s: &Schedule, tz: chrono_tz::Tz) -> Vec<String> {
    let mut out = interval_labels(s, tz);
    if let Some(last) = s.intervals.last() {
        let end = *last + chrono::Duration::milliseconds((s.dt_hours * 3_600_000.0).round() as i64);
        let text = end.with_timezone(&tz).format("%H:%M").to_string();
        out.push(if text == "00:00" { "24:00".to_string() } else { text });
    }
    out
}
