//! The monthly statement of each park: green cancelled, whole GECs, hourly-matched share
//! and Scope 2 emissions, per local month (the plant's zone) with its days.
//!
//! - **Consumption** counts only the park's intervals with data (a missing interval's
//!   consumption is unknown, so it is left out of every figure and counted apart).
//! - **GECs** (Green Electricity Certificates, 1 per MWh): whole certificates only. After
//!   each month the park holds ⌊cumulative cancelled MWh since the ledger began⌋; the month
//!   issues that less what earlier months issued, and the fraction carries over.
//! - **Hourly-matched share** = green cancelled / consumption over the intervals with data
//!   (each interval lies within one clock hour, and green is cancelled in the interval it
//!   was generated or released in, so this share is matched at least hourly).
//! - **Scope 2** (t CO2): location-based = consumption × grid factor; market-based =
//!   (consumption − green cancelled) × grid factor. The default factor is the Central China
//!   grid's 0.5271 t/MWh.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::domain::Plant;

use super::build::Ledger;
use super::{DayLedger, ParkInterval, WH_PER_MWH};

/// Central China grid emission factor, t CO2/MWh (2023).
pub const CENTRAL_CHINA_GRID_T_PER_MWH: f64 = 0.5271;

/// How a statement is made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatementOptions {
    /// Grid emission factor for Scope 2, t CO2/MWh.
    pub grid_factor_t_per_mwh: f64,
}

impl Default for StatementOptions {
    fn default() -> Self {
        StatementOptions { grid_factor_t_per_mwh: CENTRAL_CHINA_GRID_T_PER_MWH }
    }
}

/// One park's local day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayShare {
    /// The local day.
    pub day: NaiveDate,
    /// Consumption over the intervals with data, Wh.
    pub consumption_wh: u64,
    /// Green cancelled, Wh.
    pub cancelled_wh: u64,
    /// Intervals without data.
    pub missing_intervals: usize,
    /// cancelled / consumption; `None` without consumption.
    pub share: Option<f64>,
}

/// One park's local month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthStatement {
    /// Year.
    pub year: i32,
    /// Month, 1–12.
    pub month: u32,
    /// Consumption over the intervals with data, Wh.
    pub consumption_wh: u64,
    /// Green cancelled from behind the park's meter, Wh.
    pub own_wh: u64,
    /// Green cancelled from the pool, Wh.
    pub pool_wh: u64,
    /// Intervals without data.
    pub missing_intervals: usize,
    /// (own + pool) / consumption; `None` without consumption.
    pub share: Option<f64>,
    /// Whole GECs issued for this month.
    pub gec_issued: u64,
    /// Cancelled Wh carried to the next month (less than one MWh).
    pub carried_wh: u64,
    /// Location-based Scope 2, t CO2.
    pub location_based_t: f64,
    /// Market-based Scope 2, t CO2.
    pub market_based_t: f64,
    /// Its days.
    pub days: Vec<DayShare>,
}

impl MonthStatement {
    /// Green cancelled, Wh.
    pub fn cancelled_wh(&self) -> u64 {
        self.own_wh + self.pool_wh
    }
}

/// One park's statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkStatement {
    /// The park.
    pub park: String,
    /// Its months, in order.
    pub months: Vec<MonthStatement>,
}

fn share(cancelled: u64, consumption: u64) -> Option<f64> {
    (consumption > 0).then(|| cancelled as f64 / consumption as f64)
}

/// One park's totals over one local day: what a statement is made of, and what the
/// service keeps of each built day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkDay {
    /// Consumption over the intervals with data, Wh.
    pub consumption_wh: u64,
    /// Green cancelled from behind the park's meter, Wh.
    pub own_wh: u64,
    /// Green cancelled from the pool, Wh.
    pub pool_wh: u64,
    /// Intervals without data.
    pub missing_intervals: u32,
}

impl DayLedger {
    /// Each park's totals over the day, in plant order.
    pub fn park_days(&self, parks: usize) -> Vec<ParkDay> {
        let mut out = vec![ParkDay::default(); parks];
        for i in &self.intervals {
            for (d, p) in out.iter_mut().zip(&i.parks) {
                match p {
                    ParkInterval::Measured { consumption_wh, own_wh, pool_wh } => {
                        d.consumption_wh += consumption_wh;
                        d.own_wh += own_wh;
                        d.pool_wh += pool_wh;
                    }
                    ParkInterval::Missing { .. } => d.missing_intervals += 1,
                }
            }
        }
        out
    }
}

impl Ledger {
    /// The statement of every park (plant order) over the ledger's days.
    pub fn statement(&self, plant: &Plant, options: &StatementOptions) -> Vec<ParkStatement> {
        let days: Vec<(NaiveDate, Vec<ParkDay>)> = self.days.iter().map(|d| (d.day, d.park_days(plant.parks.len()))).collect();
        (0..plant.parks.len()).map(|p| park_statement(&plant.parks[p].name, days.iter().map(|(day, t)| (*day, t[p])), options)).collect()
    }
}

/// One park's statement from its totals of each day, in day order (the first day is where
/// the ledger began: GECs count cumulative cancelled MWh from there).
pub fn park_statement(park: &str, days: impl IntoIterator<Item = (NaiveDate, ParkDay)>, options: &StatementOptions) -> ParkStatement {
    let factor = options.grid_factor_t_per_mwh;
    let mut months: Vec<MonthStatement> = Vec::new();
    for (day, t) in days {
        let cancelled_wh = t.own_wh + t.pool_wh;
        let share_of_day = DayShare {
            day,
            consumption_wh: t.consumption_wh,
            cancelled_wh,
            missing_intervals: t.missing_intervals as usize,
            share: share(cancelled_wh, t.consumption_wh),
        };
        let (year, month) = (day.year(), day.month());
        if months.last().is_none_or(|m| (m.year, m.month) != (year, month)) {
            months.push(MonthStatement {
                year,
                month,
                consumption_wh: 0,
                own_wh: 0,
                pool_wh: 0,
                missing_intervals: 0,
                share: None,
                gec_issued: 0,
                carried_wh: 0,
                location_based_t: 0.0,
                market_based_t: 0.0,
                days: Vec::new(),
            });
        }
        if let Some(m) = months.last_mut() {
            m.consumption_wh += t.consumption_wh;
            m.own_wh += t.own_wh;
            m.pool_wh += t.pool_wh;
            m.missing_intervals += t.missing_intervals as usize;
            m.days.push(share_of_day);
        }
    }
    let (mut cumulative, mut issued) = (0u64, 0u64);
    for m in &mut months {
        cumulative += m.cancelled_wh();
        m.gec_issued = cumulative / WH_PER_MWH - issued;
        issued += m.gec_issued;
        m.carried_wh = cumulative - issued * WH_PER_MWH;
        m.share = share(m.cancelled_wh(), m.consumption_wh);
        m.location_based_t = m.consumption_wh as f64 / WH_PER_MWH as f64 * factor;
        m.market_based_t = (m.consumption_wh - m.cancelled_wh()) as f64 / WH_PER_MWH as f64 * factor;
    }
    ParkStatement { park: park.to_string(), months }
}

/// A park's figures over one calendar year (local), rolled up from its months.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YearStatement {
    /// The year.
    pub year: i32,
    /// Consumption over the intervals with data, Wh.
    pub consumption_wh: u64,
    /// Green cancelled from behind the park's meter, Wh.
    pub own_wh: u64,
    /// Green cancelled from the pool, Wh.
    pub pool_wh: u64,
    /// Intervals without data.
    pub missing_intervals: usize,
    /// (own + pool) / consumption; `None` without consumption.
    pub share: Option<f64>,
    /// Whole GECs issued over its months.
    pub gec_issued: u64,
    /// Location-based Scope 2, t CO2.
    pub location_based_t: f64,
    /// Market-based Scope 2, t CO2.
    pub market_based_t: f64,
}

impl ParkStatement {
    /// Its months rolled up by calendar year, in order.
    pub fn years(&self) -> Vec<YearStatement> {
        let mut out: Vec<YearStatement> = Vec::new();
        for m in &self.months {
            if out.last().is_none_or(|y| y.year != m.year) {
                out.push(YearStatement {
                    year: m.year,
                    consumption_wh: 0,
                    own_wh: 0,
                    pool_wh: 0,
                    missing_intervals: 0,
                    share: None,
                    gec_issued: 0,
                    location_based_t: 0.0,
                    market_based_t: 0.0,
                });
            }
            if let Some(y) = out.last_mut() {
                y.consumption_wh += m.consumption_wh;
                y.own_wh += m.own_wh;
                y.pool_wh += m.pool_wh;
                y.missing_intervals += m.missing_intervals;
                y.gec_issued += m.gec_issued;
                y.location_based_t += m.location_based_t;
                y.market_based_t += m.market_based_t;
            }
        }
        for y in &mut out {
            y.share = share(y.own_wh + y.pool_wh, y.consumption_wh);
        }
        out
    }
}
