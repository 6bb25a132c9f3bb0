//! Green shares for park managers and operators: what share of a park's (or the plant's)
//! power is green, by interval and by day. A day is always the whole day: each interval
//! from the latest version that covers it, so after a re-plan the firm past of the earlier
//! version is stitched to the re-planned remainder (and each interval says which version it
//! is). The gRPC service and the page answer with these same figures.

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::stitch::{stitch, Stitched};
use crate::domain::{limits, Schedule};
use crate::store::ScheduleInfo;

use super::{auth, decode_schedule, Error, Principal, Service};

/// What share readers may do (from [`Service::reader`]): operators and park managers.
pub struct Reader<'a> {
    pub(super) svc: &'a Service,
    pub(super) who: &'a Principal,
}

/// One interval of a day's share, MWh.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareInterval {
    /// Its start.
    pub start: DateTime<Utc>,
    /// The schedule version it comes from.
    pub version: u32,
    /// Energy served.
    pub served_mwh: f64,
    /// Green energy of what was served.
    pub green_mwh: f64,
    /// `green / served` (0 when nothing was served).
    pub share: f64,
    /// Demand before interruptions.
    pub demand_mwh: f64,
    /// Interrupted (by the plan and by curtail bids).
    pub interrupted_mwh: f64,
}

/// One whole day of a park's or the plant's green share.
#[derive(Debug, Clone, PartialEq)]
pub struct DayShare {
    /// The delivery day.
    pub day: NaiveDate,
    /// Its latest version.
    pub version: u32,
    /// Sums over the day, MWh.
    pub served_mwh: f64,
    /// Green served.
    pub green_mwh: f64,
    /// The share of the sums.
    pub share: f64,
    /// Whole green certificates (1 MWh each) the green energy makes.
    pub certificates: u64,
    /// The park's minimum share, if it has one.
    pub min_share: Option<f64>,
    /// Demand before interruptions.
    pub demand_mwh: f64,
    /// Interrupted.
    pub interrupted_mwh: f64,
    /// The versions the intervals come from, ascending.
    pub versions: Vec<u32>,
    /// Interval by interval.
    pub intervals: Vec<ShareInterval>,
}

/// Several days of a park's or the plant's green share.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareReport {
    /// The park's or the plant's name.
    pub subject: String,
    /// Sums over the days, MWh.
    pub served_mwh: f64,
    /// Green served.
    pub green_mwh: f64,
    /// The share of the sums.
    pub share: f64,
    /// Whole green certificates.
    pub certificates: u64,
    /// Demand before interruptions.
    pub demand_mwh: f64,
    /// Interrupted.
    pub interrupted_mwh: f64,
    /// Day by day.
    pub days: Vec<DayShare>,
}

/// Every published version of one day, oldest first.
pub struct DayVersions {
    /// The day.
    pub day: NaiveDate,
    /// Its versions, oldest first.
    pub versions: Vec<(ScheduleInfo, Schedule)>,
}

impl DayVersions {
    /// The latest version.
    pub fn latest(&self) -> Option<&(ScheduleInfo, Schedule)> {
        self.versions.last()
    }

    /// The whole day, stitched from the versions (`domain::stitch`).
    pub fn whole(&self, plant: &crate::domain::Plant) -> Result<Stitched, Error> {
        let list: Vec<(u32, &Schedule)> = self.versions.iter().map(|(i, s)| (i.version, s)).collect();
        stitch(plant, &list).ok_or_else(|| Error::Internal("the day's schedule versions do not fit together".into()))
    }
}

impl Reader<'_> {
    /// The caller.
    pub fn principal(&self) -> &Principal {
        self.who
    }

    /// A park's share over a day range; the park rule is applied before the park is looked
    /// up.
    pub async fn park_share(&self, park: &str, from_day: &str, to_day: &str) -> Result<ShareReport, Error> {
        auth::require_park(self.who, park)?;
        let plant = &self.svc.plant;
        if !plant.parks.iter().any(|p| p.name == park) {
            return Err(Error::invalid("park", format!("no park named {} in plant {}", limits::quote(park), plant.name)));
        }
        let mut days = Vec::new();
        for d in self.days(from_day, to_day).await? {
            let version = d.latest().map_or(0, |l| l.0.version);
            days.extend(park_day(d.day, version, &d.whole(plant)?, park));
        }
        Ok(report(park.to_string(), days))
    }

    /// The plant's share over a day range.
    pub async fn plant_share(&self, from_day: &str, to_day: &str) -> Result<ShareReport, Error> {
        let mut days = Vec::new();
        for d in self.days(from_day, to_day).await? {
            let version = d.latest().map_or(0, |l| l.0.version);
            days.push(plant_day(d.day, version, &d.whole(&self.svc.plant)?));
        }
        Ok(report(self.svc.plant.name.clone(), days))
    }

    /// One park's whole day (stitched) with its latest version's record and its share:
    /// what the page's park view shows. NOT_FOUND when the day or the park is not there.
    pub async fn park_whole_day(&self, day: &str, park: &str) -> Result<(ScheduleInfo, Stitched, DayShare), Error> {
        auth::require_park(self.who, park)?;
        let plant = &self.svc.plant;
        if !plant.parks.iter().any(|p| p.name == park) {
            return Err(Error::NotFound(format!("no park named {} in plant {}", limits::quote(park), plant.name)));
        }
        let (day, info, stitched) = self.svc.whole_day(day).await?;
        let share = park_day(day, info.version, &stitched, park)
            .ok_or_else(|| Error::NotFound(format!("the {day} schedule has no park {}", limits::quote(park))))?;
        Ok((info, stitched, share))
    }

    /// The latest version of every day in `from ..= to` that has one, newest day first.
    pub async fn latest_versions(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<ScheduleInfo>, Error> {
        let mut latest: Vec<ScheduleInfo> = Vec::new();
        for i in self.svc.store.list_schedules(from, to).await? {
            match latest.iter_mut().find(|l| l.day == i.day) {
                Some(l) if l.version < i.version => *l = i,
                Some(_) => {}
                None => latest.push(i),
            }
        }
        latest.sort_by_key(|i| std::cmp::Reverse(i.day));
        Ok(latest)
    }

    /// Every version of every day in the range that has one; NOT_FOUND when none has.
    async fn days(&self, from: &str, to: &str) -> Result<Vec<DayVersions>, Error> {
        let (from, to) = super::day_range(from, to)?;
        let mut out = Vec::new();
        let mut day = from;
        while day <= to {
            let versions = self.svc.day_versions(day).await?;
            if !versions.is_empty() {
                out.push(DayVersions { day, versions });
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        if out.is_empty() {
            return Err(Error::NotFound(format!("no schedule published for {from} .. {to}")));
        }
        Ok(out)
    }
}

impl Service {
    /// Every published version of a day, decoded, oldest first (empty when none).
    pub(super) async fn day_versions(&self, day: NaiveDate) -> Result<Vec<(ScheduleInfo, Schedule)>, Error> {
        let Some(latest) = self.latest(day).await? else { return Ok(Vec::new()) };
        let mut out = Vec::with_capacity(latest.0.version as usize);
        for v in 1..latest.0.version {
            if let Some(r) = self.store.schedule(day, Some(v)).await? {
                out.push((r.info, decode_schedule(&r.schedule_json)?));
            }
        }
        out.push(latest);
        Ok(out)
    }

    /// The whole day, stitched from every version, with the latest version's record, or
    /// NOT_FOUND.
    pub(super) async fn whole_day(&self, day: &str) -> Result<(NaiveDate, ScheduleInfo, Stitched), Error> {
        let day = super::day(day, "day")?;
        let d = DayVersions { day, versions: self.day_versions(day).await? };
        let info = d.latest().map(|l| l.0.clone()).ok_or_else(|| Error::NotFound(format!("no schedule published for {day}")))?;
        Ok((day, info, d.whole(&self.plant)?))
    }
}

/// One whole day of a park's green share; `None` when the day has no such park.
pub fn park_day(day: NaiveDate, version: u32, w: &Stitched, park: &str) -> Option<DayShare> {
    let s = &w.schedule;
    let p = s.parks.iter().find(|p| p.name == park)?;
    let dt = s.dt_hours;
    let rows = (0..s.intervals.len()).map(|t| {
        let interrupted = (p.interrupted_mw[t] + p.curtailed_by_bids_mw[t]) * dt;
        (s.intervals[t], w.versions[t], p.served_mw[t] * dt, p.green_mwh[t], p.demand_mw[t] * dt, interrupted)
    });
    Some(day_share(day, version, rows, p.min_share))
}

/// One whole day of the plant's green share.
pub fn plant_day(day: NaiveDate, version: u32, w: &Stitched) -> DayShare {
    let s = &w.schedule;
    let dt = s.dt_hours;
    let rows = (0..s.intervals.len()).map(|t| {
        let demand: f64 = s.parks.iter().map(|p| p.demand_mw[t] * dt).sum();
        let interrupted: f64 = s.parks.iter().map(|p| (p.interrupted_mw[t] + p.curtailed_by_bids_mw[t]) * dt).sum();
        (s.intervals[t], w.versions[t], s.green[t].served_mwh, s.green[t].to_load_mwh, demand, interrupted)
    });
    day_share(day, version, rows, None)
}

/// Whole certificates (1 MWh) of `green_mwh`.
fn certificates(green_mwh: f64) -> u64 {
    (green_mwh + 1e-6).floor().max(0.0) as u64
}

fn ratio(green: f64, served: f64) -> f64 {
    if served > 0.0 {
        green / served
    } else {
        0.0
    }
}

/// A day from its rows — (start, version, served, green, demand, interrupted), MWh —:
/// sums, the share of the sums, the versions used.
fn day_share(
    day: NaiveDate,
    version: u32,
    rows: impl Iterator<Item = (DateTime<Utc>, u32, f64, f64, f64, f64)>,
    min_share: Option<f64>,
) -> DayShare {
    let intervals: Vec<ShareInterval> = rows
        .map(|(start, version, served_mwh, green_mwh, demand_mwh, interrupted_mwh)| ShareInterval {
            start,
            version,
            served_mwh,
            green_mwh,
            share: ratio(green_mwh, served_mwh),
            demand_mwh,
            interrupted_mwh,
        })
        .collect();
    let sum = |f: fn(&ShareInterval) -> f64| intervals.iter().map(f).sum::<f64>();
    let (served, green) = (sum(|i| i.served_mwh), sum(|i| i.green_mwh));
    let mut versions: Vec<u32> = intervals.iter().map(|i| i.version).collect();
    versions.sort_unstable();
    versions.dedup();
    DayShare {
        day,
        version,
        served_mwh: served,
        green_mwh: green,
        share: ratio(green, served),
        certificates: certificates(green),
        min_share,
        demand_mwh: sum(|i| i.demand_mwh),
        interrupted_mwh: sum(|i| i.interrupted_mwh),
        versions,
        intervals,
    }
}

fn report(subject: String, days: Vec<DayShare>) -> ShareReport {
    let sum = |f: fn(&DayShare) -> f64| days.iter().map(f).sum::<f64>();
    let (served, green) = (sum(|d| d.served_mwh), sum(|d| d.green_mwh));
    ShareReport {
        subject,
        served_mwh: served,
        green_mwh: green,
        share: ratio(green, served),
        certificates: certificates(green),
        demand_mwh: sum(|d| d.demand_mwh),
        interrupted_mwh: sum(|d| d.interrupted_mwh),
        days,
    }
}
