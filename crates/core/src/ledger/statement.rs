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
use super::{ParkInterval, WH_PER_MWH};

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

impl Ledger {
    /// The statement of every park (plant order) over the ledger's days.
    pub fn statement(&self, plant: &Plant, options: &StatementOptions) -> Vec<ParkStatement> {
        let factor = options.grid_factor_t_per_mwh;
        plant
            .parks
            .iter()
            .enumerate()
            .map(|(p, park)| {
                let mut months: Vec<MonthStatement> = Vec::new();
                for d in &self.days {
                    let mut day = DayShare { day: d.day, consumption_wh: 0, cancelled_wh: 0, missing_intervals: 0, share: None };
                    let (mut own, mut pool) = (0, 0);
                    for i in &d.intervals {
                        match &i.parks[p] {
                            ParkInterval::Measured { consumption_wh, own_wh, pool_wh } => {
                                day.consumption_wh += consumption_wh;
                                own += own_wh;
                                pool += pool_wh;
                            }
                            ParkInterval::Missing { .. } => day.missing_intervals += 1,
                        }
                    }
                    day.cancelled_wh = own + pool;
                    day.share = share(day.cancelled_wh, day.consumption_wh);
                    let (year, month) = (d.day.year(), d.day.month());
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
                        m.consumption_wh += day.consumption_wh;
                        m.own_wh += own;
                        m.pool_wh += pool;
                        m.missing_intervals += day.missing_intervals;
                        m.days.push(day);
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
                ParkStatement { park: park.name.clone(), months }
            })
            .collect()
    }
}
