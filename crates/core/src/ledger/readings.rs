//! Meter readings for a run of intervals and their validation against a plant: every
//! problem named by its field path, e.g.
//! `readings[park=huangchuan_zero_carbon, t=2026-12-01T03:00:00Z].consumption_wh`.
//!
//! Readings are integer Wh (`i64`, so that a negative reading can be refused by name rather
//! than by a parser); `None` is a missing reading. Each series has one value per interval.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::limits;
use crate::domain::plant::Plant;
use crate::domain::validation::{Collector, ValidationErrors};
use crate::domain::Horizon;

use super::WH_PER_MWH;

/// Why an energy in MWh cannot be an integer number of Wh.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum EnergyError {
    /// Below zero.
    #[error("an energy must not be negative, got {mwh} MWh")]
    Negative {
        /// The value.
        mwh: f64,
    },
    /// NaN or infinite.
    #[error("an energy must be a finite number, got {mwh} MWh")]
    NotFinite {
        /// The value.
        mwh: f64,
    },
    /// Beyond [`limits::MAX_ENERGY_MWH`].
    #[error("an energy must not exceed {} MWh, got {mwh} MWh", limits::MAX_ENERGY_MWH)]
    TooLarge {
        /// The value.
        mwh: f64,
    },
}

/// MWh → Wh, rounded to the nearest Wh (halves away from zero).
pub fn mwh_to_wh(mwh: f64) -> Result<u64, EnergyError> {
    if !mwh.is_finite() {
        return Err(EnergyError::NotFinite { mwh });
    }
    if mwh < 0.0 {
        return Err(EnergyError::Negative { mwh });
    }
    if mwh > limits::MAX_ENERGY_MWH {
        return Err(EnergyError::TooLarge { mwh });
    }
    // Within 1e8 MWh = 1e14 Wh an f64 holds every integer exactly.
    Ok((mwh * WH_PER_MWH as f64).round() as u64)
}

/// One storage's meters in one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageReading {
    /// Energy taken in (at the terminals), Wh.
    #[serde(default)]
    pub charge_wh: Option<i64>,
    /// Energy given out (at the terminals), Wh.
    #[serde(default)]
    pub discharge_wh: Option<i64>,
    /// Stored energy at the end of the interval, Wh.
    #[serde(default)]
    pub soc_wh: Option<i64>,
}

/// One grid exchange's meters in one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridReading {
    /// Energy imported, Wh.
    #[serde(default)]
    pub import_wh: Option<i64>,
    /// Energy exported, Wh.
    #[serde(default)]
    pub export_wh: Option<i64>,
}

/// Readings of every meter of a plant over `intervals` intervals of `interval_minutes`
/// from `start`. Every wind farm, PV plant, storage, park and grid exchange of the plant
/// needs a series (with `None` where a reading is missing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readings {
    /// Start of the first interval, UTC; on the interval grid.
    pub start: DateTime<Utc>,
    /// Interval length in minutes; divides an hour.
    pub interval_minutes: u32,
    /// Number of intervals.
    pub intervals: usize,
    /// Output of each wind farm and PV plant, Wh.
    #[serde(default)]
    pub output_wh: BTreeMap<String, Vec<Option<i64>>>,
    /// Each storage's meters.
    #[serde(default)]
    pub storage: BTreeMap<String, Vec<StorageReading>>,
    /// Consumption of each park (gross: what its load took, whatever fed it), Wh.
    #[serde(default)]
    pub consumption_wh: BTreeMap<String, Vec<Option<i64>>>,
    /// Each grid exchange's meters.
    #[serde(default)]
    pub grid: BTreeMap<String, Vec<GridReading>>,
}

/// Validated readings in plant order, as the ledger reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Metered {
    /// Per renewable ([`Plant::renewables`] order), per interval.
    pub(crate) output: Vec<Vec<Option<u64>>>,
    /// Per storage: charge, discharge, state of charge.
    pub(crate) charge: Vec<Vec<Option<u64>>>,
    pub(crate) discharge: Vec<Vec<Option<u64>>>,
    pub(crate) soc: Vec<Vec<Option<u64>>>,
    /// Per park.
    pub(crate) consumption: Vec<Vec<Option<u64>>>,
    /// Per grid exchange.
    pub(crate) export: Vec<Vec<Option<u64>>>,
}

impl Readings {
    /// Readings for every meter of `plant`, all missing.
    pub fn empty(plant: &Plant, start: DateTime<Utc>, interval_minutes: u32, intervals: usize) -> Readings {
        Readings {
            start,
            interval_minutes,
            intervals,
            output_wh: plant.renewables().map(|(_, r)| (r.name.clone(), vec![None; intervals])).collect(),
            storage: plant.storage.iter().map(|s| (s.name.clone(), vec![StorageReading::default(); intervals])).collect(),
            consumption_wh: plant.parks.iter().map(|p| (p.name.clone(), vec![None; intervals])).collect(),
            grid: plant.grids.iter().map(|g| (g.name.clone(), vec![GridReading::default(); intervals])).collect(),
        }
    }

    /// The `len` intervals from interval `from` (clipped to the readings), as readings of
    /// their own: a day's readings for a day-by-day build.
    pub fn window(&self, from: usize, len: usize) -> Readings {
        let from = from.min(self.intervals);
        let to = (from + len).min(self.intervals);
        fn cut<T: Clone>(map: &BTreeMap<String, Vec<T>>, from: usize, to: usize) -> BTreeMap<String, Vec<T>> {
            map.iter().map(|(k, v)| (k.clone(), v.get(from..to).map(<[T]>::to_vec).unwrap_or_default())).collect()
        }
        Readings {
            start: self.instant(from),
            interval_minutes: self.interval_minutes,
            intervals: to - from,
            output_wh: cut(&self.output_wh, from, to),
            storage: cut(&self.storage, from, to),
            consumption_wh: cut(&self.consumption_wh, from, to),
            grid: cut(&self.grid, from, to),
        }
    }

    /// The readings' time grid, read in the plant's zone.
    pub fn horizon(&self, plant: &Plant) -> Horizon {
        Horizon::new(self.start, self.interval_minutes, self.intervals, plant.tz())
    }

    /// Start of interval `t`.
    pub fn instant(&self, t: usize) -> DateTime<Utc> {
        self.start + Duration::minutes(i64::from(self.interval_minutes) * t as i64)
    }

    /// The field path of a reading: `readings[{table}={name}, t={instant}].{field}`.
    pub fn path(&self, table: &str, name: &str, t: usize, field: &str) -> String {
        format!("readings[{table}={}, t={}].{field}", limits::short(name), self.instant(t).to_rfc3339_opts(SecondsFormat::Secs, true))
    }

    /// Checks the readings against `plant`: the grid, a series for every meter and none
    /// for anything else, every series of the right length, every value at least zero and
    /// within its meter's physical range. Reports all problems at once.
    pub fn validate(&self, plant: &Plant) -> Result<(), ValidationErrors> {
        self.validate_shape()?;
        let mut c = Collector::default();
        let dt = f64::from(self.interval_minutes) / 60.0;
        // The most a meter of `mw` can read in one interval, Wh (its physical range).
        let range = |mw: f64| (mw * dt * WH_PER_MWH as f64).ceil() as i64;
        let consumption_range = range(limits::MAX_POWER_MW);

        let renewables: Vec<(&str, &str, i64, String)> = plant
            .renewables()
            .map(|(k, r)| (k.name(), r.name.as_str(), range(r.capacity_mw), format!("capacity_mw {} MW", r.capacity_mw)))
            .collect();
        self.unknown_keys(&mut c, "output_wh", self.output_wh.keys(), renewables.iter().map(|r| r.1), "wind farm or PV plant", plant);
        for (table, name, max, why) in &renewables {
            if let Some(series) = self.series(&mut c, "output_wh", name, self.output_wh.get(*name), "wind farm and PV plant") {
                for (t, v) in series.iter().enumerate() {
                    self.value(&mut c, table, name, t, "output_wh", *v, *max, why);
                }
            }
        }

        self.unknown_keys(&mut c, "storage", self.storage.keys(), plant.storage.iter().map(|s| s.name.as_str()), "storage", plant);
        for s in &plant.storage {
            if let Some(series) = self.series(&mut c, "storage", &s.name, self.storage.get(&s.name), "storage") {
                let e_max = mwh_to_wh(s.e_max_mwh).map_or(i64::MAX, |v| v as i64);
                for (t, r) in series.iter().enumerate() {
                    self.value(
                        &mut c,
                        "storage",
                        &s.name,
                        t,
                        "charge_wh",
                        r.charge_wh,
                        range(s.charge_mw),
                        &format!("charge_mw {} MW", s.charge_mw),
                    );
                    let why = format!("discharge_mw {} MW", s.discharge_mw);
                    self.value(&mut c, "storage", &s.name, t, "discharge_wh", r.discharge_wh, range(s.discharge_mw), &why);
                    self.soc(&mut c, &s.name, t, r.soc_wh, e_max, s.e_max_mwh);
                }
            }
        }

        self.unknown_keys(&mut c, "consumption_wh", self.consumption_wh.keys(), plant.parks.iter().map(|p| p.name.as_str()), "park", plant);
        for p in &plant.parks {
            if let Some(series) = self.series(&mut c, "consumption_wh", &p.name, self.consumption_wh.get(&p.name), "park") {
                let why = format!("the largest accepted power, {} MW", limits::MAX_POWER_MW);
                for (t, v) in series.iter().enumerate() {
                    self.value(&mut c, "park", &p.name, t, "consumption_wh", *v, consumption_range, &why);
                }
            }
        }

        self.unknown_keys(&mut c, "grid", self.grid.keys(), plant.grids.iter().map(|g| g.name.as_str()), "grid exchange", plant);
        for g in &plant.grids {
            if let Some(series) = self.series(&mut c, "grid", &g.name, self.grid.get(&g.name), "grid exchange") {
                for (t, r) in series.iter().enumerate() {
                    let why = format!("import_cap_mw {} MW", g.import_cap_mw);
                    self.value(&mut c, "grid", &g.name, t, "import_wh", r.import_wh, range(g.import_cap_mw), &why);
                    let why = format!("export_cap_mw {} MW", g.export_cap_mw);
                    self.value(&mut c, "grid", &g.name, t, "export_wh", r.export_wh, range(g.export_cap_mw), &why);
                }
            }
        }
        c.finish()
    }

    /// Checks the time grid alone: an interval that divides an hour, a start on that grid,
    /// a length within the accepted range.
    pub fn validate_shape(&self) -> Result<(), ValidationErrors> {
        let mut c = Collector::default();
        let minutes_ok = self.interval_minutes > 0 && 60 % self.interval_minutes == 0;
        if !minutes_ok {
            c.push("readings.interval_minutes", format!("must divide an hour (15, 30, 60, …), got {}", self.interval_minutes));
        }
        if self.intervals == 0 {
            c.push("readings.intervals", "needs at least one interval");
        } else if self.intervals > limits::MAX_INTERVALS {
            c.push("readings.intervals", format!("at most {} intervals, got {}", limits::MAX_INTERVALS, self.intervals));
        }
        if !limits::instant_in_range(self.start) {
            c.push("readings.start", format!("{} {}", self.start.to_rfc3339(), limits::day_range_text()));
        } else if minutes_ok
            && (self.start.timestamp().rem_euclid(i64::from(self.interval_minutes) * 60) != 0 || self.start.timestamp_subsec_nanos() != 0)
        {
            c.push("readings.start", format!("{} is not on the {}-minute grid", self.start.to_rfc3339(), self.interval_minutes));
        } else if c.is_empty() && !limits::instant_in_range(self.instant(self.intervals)) {
            c.push(
                "readings.intervals",
                format!("the readings would end at {}, which {}", self.instant(self.intervals).to_rfc3339(), limits::day_range_text()),
            );
        }
        c.finish()
    }

    /// The validated readings in plant order. Call after [`Readings::validate`] passed.
    pub(crate) fn metered(&self, plant: &Plant) -> Metered {
        let n = self.intervals;
        let wh = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok());
        let plain = |map: &BTreeMap<String, Vec<Option<i64>>>, name: &str| -> Vec<Option<u64>> {
            map.get(name).map_or_else(|| vec![None; n], |s| s.iter().map(|v| wh(*v)).collect())
        };
        let store = |name: &str, f: fn(&StorageReading) -> Option<i64>| -> Vec<Option<u64>> {
            self.storage.get(name).map_or_else(|| vec![None; n], |s| s.iter().map(|r| wh(f(r))).collect())
        };
        Metered {
            output: plant.renewables().map(|(_, r)| plain(&self.output_wh, &r.name)).collect(),
            charge: plant.storage.iter().map(|s| store(&s.name, |r| r.charge_wh)).collect(),
            discharge: plant.storage.iter().map(|s| store(&s.name, |r| r.discharge_wh)).collect(),
            soc: plant.storage.iter().map(|s| store(&s.name, |r| r.soc_wh)).collect(),
            consumption: plant.parks.iter().map(|p| plain(&self.consumption_wh, &p.name)).collect(),
            export: plant
                .grids
                .iter()
                .map(|g| self.grid.get(&g.name).map_or_else(|| vec![None; n], |s| s.iter().map(|r| wh(r.export_wh)).collect()))
                .collect(),
        }
    }

    fn unknown_keys<'a>(
        &self,
        c: &mut Collector,
        field: &str,
        keys: impl Iterator<Item = &'a String>,
        known: impl Iterator<Item = &'a str>,
        what: &str,
        plant: &Plant,
    ) {
        let known: Vec<&str> = known.collect();
        for name in keys {
            if !known.contains(&name.as_str()) {
                c.push(format!("readings.{field}.{}", limits::short(name)), format!("no {what} of that name in plant {}", plant.name));
            }
        }
    }

    fn series<'a, T>(&self, c: &mut Collector, field: &str, name: &str, series: Option<&'a Vec<T>>, what: &str) -> Option<&'a Vec<T>> {
        let f = format!("readings.{field}.{}", limits::short(name));
        match series {
            None => {
                c.push(f, format!("missing: every {what} needs a series (null marks a missing reading)"));
                None
            }
            Some(s) if s.len() != self.intervals => {
                c.push(f, format!("has {} values, the readings have {} intervals", s.len(), self.intervals));
                None
            }
            Some(s) => Some(s),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn value(&self, c: &mut Collector, table: &str, name: &str, t: usize, field: &str, v: Option<i64>, max: i64, why: &str) {
        match v {
            Some(v) if v < 0 => c.push(self.path(table, name, t, field), format!("must not be negative, got {v} Wh")),
            Some(v) if v > max => c.push(
                self.path(table, name, t, field),
                format!("{v} Wh is beyond the meter's physical range of {max} Wh ({why} × {} min)", self.interval_minutes),
            ),
            _ => {}
        }
    }

    fn soc(&self, c: &mut Collector, name: &str, t: usize, v: Option<i64>, e_max: i64, e_max_mwh: f64) {
        match v {
            Some(v) if v < 0 => c.push(self.path("storage", name, t, "soc_wh"), format!("must not be negative, got {v} Wh")),
            Some(v) if v > e_max => c.push(
                self.path("storage", name, t, "soc_wh"),
                format!("{v} Wh is above the storage's e_max_mwh {e_max_mwh} MWh ({e_max} Wh)"),
            ),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mwh_to_wh_rounds_to_nearest_and_names_refusals() {
        assert_eq!(mwh_to_wh(1.0), Ok(1_000_000));
        assert_eq!(mwh_to_wh(0.0000004), Ok(0));
        assert_eq!(mwh_to_wh(0.0000005), Ok(1));
        assert_eq!(mwh_to_wh(12.3456789), Ok(12_345_679));
        assert_eq!(mwh_to_wh(-0.1), Err(EnergyError::Negative { mwh: -0.1 }));
        assert!(matches!(mwh_to_wh(f64::NAN), Err(EnergyError::NotFinite { .. })));
        assert!(matches!(mwh_to_wh(f64::INFINITY), Err(EnergyError::NotFinite { .. })));
        assert!(matches!(mwh_to_wh(1e9), Err(EnergyError::TooLarge { .. })));
    }
}
