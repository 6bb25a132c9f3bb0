//! Measured green power: meter readings in (from any edge: gRPC, MQTT, a CSV file), each
//! checked against the plant, stored exactly once per (meter, quantity, interval) with
//! corrections as revisions; and each park's ledger out, built from the readings alone by
//! `ledger` (certificates, hourly-matched share, monthly GECs, Scope 2).

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

use crate::domain::limits;
use crate::ledger::{self, Destination, Origin, ParkInterval, ParkStatement, Quantity, Readings, StatementOptions};
use crate::store::{NewReading, ReadingOutcome, ReadingRecord};

use super::ledger::LedgerBuild;
use super::{auth, Error, Principal, Reader, Service};

/// Most readings in one call or message batch.
pub const MAX_READINGS_PER_BATCH: usize = 10_000;
/// Longest correction reason, characters.
const MAX_REASON_CHARS: usize = 500;

/// Rules of the meters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterRules {
    /// The readings' interval (15 or 60 minutes; divides an hour). Every reading is on this
    /// grid, so that a park's ledger is one grid.
    pub interval_minutes: u32,
}

impl Default for MeterRules {
    fn default() -> Self {
        MeterRules { interval_minutes: 15 }
    }
}

/// A reading as it comes in, before it is checked.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterReading {
    /// The meter: a wind farm, PV plant, storage, park or grid exchange of the plant.
    pub meter: String,
    /// What it read (`output`, `charge`, `discharge`, `soc`, `consumption`, `import`,
    /// `export`).
    pub quantity: String,
    /// Start of the interval.
    pub interval_start: DateTime<Utc>,
    /// The energy, MWh.
    pub value_mwh: f64,
    /// For a correction: why the earlier value was wrong.
    pub reason: Option<String>,
}

impl MeterReading {
    /// Every reading `r` holds, as it would come in (with `reason` for corrections).
    pub fn all_of(r: &Readings, reason: Option<&str>) -> Vec<MeterReading> {
        r.entries()
            .iter()
            .map(|e| MeterReading {
                meter: e.meter.to_string(),
                quantity: e.quantity.name().to_string(),
                interval_start: r.instant(e.t),
                value_mwh: e.wh as f64 / ledger::WH_PER_MWH as f64,
                reason: reason.map(str::to_string),
            })
            .collect()
    }
}

/// What became of one reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The outcome (a conflict is a refusal of this reading only).
    pub outcome: ReadingOutcome,
}

impl Accepted {
    /// The stored revision the outcome names.
    pub fn record(&self) -> &ReadingRecord {
        match &self.outcome {
            ReadingOutcome::Created(r) | ReadingOutcome::Existing(r) | ReadingOutcome::Corrected(r) | ReadingOutcome::Conflict(r) => r,
        }
    }
}

/// What a meter (or the service's own MQTT bridge) may do (from [`Service::meter`]).
pub struct Meters<'a> {
    pub(super) svc: &'a Service,
}

impl Meters<'_> {
    /// Checks every reading of a batch (all problems at once, naming `readings[k].field`;
    /// nothing is stored when one is bad), then stores them in one transaction: a first
    /// reading, a redelivery (answered with what is stored), a correction (a different
    /// value with a reason: the next revision) or a conflict (a different value without a
    /// reason: refused, nothing changes).
    pub async fn submit(&self, batch: Vec<MeterReading>, source: &str) -> Result<Vec<Accepted>, Error> {
        let svc = self.svc;
        if batch.is_empty() {
            return Err(Error::invalid("readings", "must hold at least one reading"));
        }
        if batch.len() > MAX_READINGS_PER_BATCH {
            return Err(Error::invalid("readings", format!("at most {MAX_READINGS_PER_BATCH} per call, got {}", batch.len())));
        }
        let received_at = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap_or_default();
        let mut problems = Vec::new();
        let mut out = Vec::with_capacity(batch.len());
        for (k, r) in batch.into_iter().enumerate() {
            match check(svc, k, r, source, received_at) {
                Ok(new) => out.push(new),
                Err(mut p) => problems.append(&mut p),
            }
        }
        if !problems.is_empty() {
            let n = problems.len();
            return Err(Error::Invalid(super::error::bounded(format!("{n} bad reading(s), nothing stored:\n{}", problems.join("\n")))));
        }
        let outcomes = svc.store.put_readings(out).await?;
        if outcomes.iter().any(|o| matches!(o, ReadingOutcome::Created(_) | ReadingOutcome::Corrected(_))) {
            svc.ledger.changed.notify_one();
        }
        for o in &outcomes {
            let kind = match o {
                ReadingOutcome::Created(_) => "created",
                ReadingOutcome::Existing(_) => "existing",
                ReadingOutcome::Corrected(_) => "corrected",
                ReadingOutcome::Conflict(_) => "conflict",
            };
            svc.metrics.readings.with_label_values(&[source, kind]).inc();
        }
        Ok(outcomes.into_iter().map(|outcome| Accepted { outcome }).collect())
    }
}

/// One reading checked against the plant and the meter rules.
fn check(svc: &Service, k: usize, r: MeterReading, source: &str, received_at: DateTime<Utc>) -> Result<NewReading, Vec<String>> {
    let mut p = Vec::new();
    let f = |field: &str| format!("readings[{k}].{field}");
    let step = svc.meters.interval_minutes;
    let dt = f64::from(step) / 60.0;
    let quantity = Quantity::parse(&r.quantity);
    let range = match quantity {
        None => {
            p.push(format!("{}: {} is not one of {}", f("quantity"), limits::quote(&r.quantity), Quantity::names()));
            None
        }
        Some(q) => {
            let range = q.range_wh(&svc.plant, &r.meter, dt);
            if range.is_none() {
                p.push(format!("{}: no {} named {} in plant {}", f("meter"), q.meter(), limits::quote(&r.meter), svc.plant.name));
            }
            range
        }
    };
    let start = r.interval_start;
    if start.nanosecond() != 0 || start.second() != 0 || !start.minute().is_multiple_of(step) || !limits::instant_in_range(start) {
        p.push(format!(
            "{}: {} is not the start of a {step}-minute interval {}",
            f("interval_start"),
            start.to_rfc3339(),
            limits::day_range_text()
        ));
    }
    let value_wh = match ledger::mwh_to_wh(r.value_mwh) {
        Ok(wh) => Some(wh as i64),
        Err(e) => {
            p.push(format!("{}: {e}", f("value_mwh")));
            None
        }
    };
    if let (Some(v), Some(max)) = (value_wh, range) {
        if v > max {
            p.push(format!(
                "{}: {} MWh is beyond what this meter can read in {step} minutes ({} MWh)",
                f("value_mwh"),
                r.value_mwh,
                max as f64 / 1e6
            ));
        }
    }
    let reason = r.reason.filter(|s| !s.trim().is_empty());
    if reason.as_ref().is_some_and(|s| s.chars().count() > MAX_REASON_CHARS) {
        p.push(format!("{}: at most {MAX_REASON_CHARS} characters", f("reason")));
    }
    match (p.is_empty(), value_wh) {
        (true, Some(value_wh)) => Ok(NewReading {
            meter: r.meter,
            quantity: r.quantity,
            interval_start: start,
            interval_minutes: step,
            value_wh,
            reason,
            source: source.to_string(),
            received_at,
        }),
        _ => Err(p),
    }
}

/// One interval of a park's ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerInterval {
    /// Its start.
    pub start: DateTime<Utc>,
    /// Consumption, own green and pool green, Wh; `None` when a reading it needs is missing.
    pub measured: Option<(u64, u64, u64)>,
    /// What is missing (field paths), when it is.
    pub missing: Vec<String>,
}

/// A certificate (part) cancelled for a park.
#[derive(Debug, Clone, PartialEq)]
pub struct Cancelled {
    /// The certificate.
    pub certificate_id: String,
    /// The asset that produced (or the storage that released) it.
    pub asset: String,
    /// Its interval.
    pub interval_start: DateTime<Utc>,
    /// Released from storage.
    pub from_storage: bool,
    /// Behind the park's own meter.
    pub own_meter: bool,
    /// Wh cancelled for the park.
    pub wh: u64,
}

/// Most days a certificate stream sends before it follows new ones.
const MAX_CATCH_UP_DAYS: usize = 366;

/// The certificates cancelled for a park in one local day.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateDay {
    /// The day.
    pub day: NaiveDate,
    /// Every certificate (part) cancelled for the park that day, in issue order.
    pub certificates: Vec<Cancelled>,
    /// This day was sent before on this stream; this list replaces that one.
    pub replaces: bool,
}

/// The certificate parts of `certificates` cancelled for `park`.
fn cancelled_for<'a>(certificates: impl Iterator<Item = &'a ledger::Certificate>, park: &str) -> Vec<Cancelled> {
    let mut out = Vec::new();
    for c in certificates {
        for pl in &c.placements {
            if let Destination::Cancelled { park: to, via } = &pl.to {
                if to == park {
                    out.push(Cancelled {
                        certificate_id: c.id.clone(),
                        asset: c.asset.clone(),
                        interval_start: c.interval_start,
                        from_storage: matches!(c.origin, Origin::Storage { .. }),
                        own_meter: *via == ledger::Via::OwnMeter,
                        wh: pl.wh,
                    });
                }
            }
        }
    }
    out
}

/// Each of `days` (in order) with the certificates cancelled for `park`, built again from
/// the readings of the run of days they span.
async fn certificate_days(kept: &super::ledger::Kept, park: &str, days: &[NaiveDate]) -> Result<Vec<CertificateDay>, Error> {
    let (Some(&from), Some(&to), Some(first)) = (days.first(), days.last(), kept.first_day().await?) else { return Ok(Vec::new()) };
    let built = kept.range(first, from, to).await?;
    Ok(built
        .days
        .iter()
        .filter(|d| days.contains(&d.day))
        .map(|d| CertificateDay { day: d.day, certificates: cancelled_for(d.certificates.iter(), park), replaces: false })
        .collect())
}

/// A park's measured ledger over a day range.
#[derive(Debug, Clone, PartialEq)]
pub struct ParkLedger {
    /// The park's monthly statement (months the range touches; roll them up by year with
    /// `ParkStatement::years`).
    pub statement: ParkStatement,
    /// Interval by interval (asked for with `detail`).
    pub intervals: Vec<LedgerInterval>,
    /// The certificates cancelled for it (asked for with `detail`).
    pub certificates: Vec<Cancelled>,
    /// What the published schedules planned for the park, by month (the days of the range
    /// with a schedule): ((year, month), served MWh, green MWh).
    pub planned: Vec<((i32, u32), f64, f64)>,
}

impl ParkLedger {
    /// The planned share of a month, if a schedule covered any of its days.
    pub fn planned_share(&self, year: i32, month: u32) -> Option<f64> {
        self.planned.iter().find(|(k, ..)| *k == (year, month)).and_then(|(_, served, green)| (*served > 0.0).then(|| green / served))
    }
}

impl Reader<'_> {
    /// A park's measured ledger over the local days `from_day ..= to_day`: the monthly
    /// statement of every month the range touches (whole months: each covers its days from
    /// where the ledger began through `to_day`, GECs counted cumulatively from there),
    /// rolled up by year, and with `detail` every interval and every certificate (part)
    /// cancelled for the park in the range. The ledger is brought up to date first (only the
    /// days whose readings changed are built again). NOT_FOUND when no reading is stored
    /// for the range.
    pub async fn park_ledger(&self, park: &str, from_day: &str, to_day: &str, detail: bool) -> Result<ParkLedger, Error> {
        auth::require_park(self.who, park)?;
        let svc = self.svc;
        let plant = &svc.plant;
        let Some(p) = plant.parks.iter().position(|x| x.name == park) else {
            return Err(Error::invalid("park", format!("no park named {} in plant {}", limits::quote(park), plant.name)));
        };
        let (from, to) = super::day_range(from_day, to_day)?;
        let no_readings = || Error::NotFound(format!("no meter readings for {from} .. {to}"));
        let chain = svc.ledger.chain().await?.ok_or_else(no_readings)?;
        let (Some(first), Some(last)) = (chain.first(), chain.days.last().map(|d| d.0)) else { return Err(no_readings()) };
        if to < first || from > last {
            return Err(no_readings());
        }
        let mut statement = ledger::park_statement(park, super::ledger::park_days(&chain, p, to), &StatementOptions::default());
        statement.months.retain(|m| (m.year, m.month) >= (from.year(), from.month()));
        let (mut intervals, mut certificates) = (Vec::new(), Vec::new());
        if detail {
            let built = svc.ledger.range(first, from.max(first), to.min(last)).await?;
            intervals = built
                .intervals()
                .map(|i| match &i.parks[p] {
                    ParkInterval::Measured { consumption_wh, own_wh, pool_wh } => {
                        LedgerInterval { start: i.start, measured: Some((*consumption_wh, *own_wh, *pool_wh)), missing: Vec::new() }
                    }
                    ParkInterval::Missing { what } => LedgerInterval { start: i.start, measured: None, missing: what.clone() },
                })
                .collect();
            certificates = cancelled_for(built.certificates(), park);
        }
        // What was planned: each day's whole (stitched) schedule, as the share service says,
        // over the statement's days that have one.
        let start = statement.months.first().and_then(|m| NaiveDate::from_ymd_opt(m.year, m.month, 1)).unwrap_or(from);
        let mut scheduled: Vec<NaiveDate> = svc.store.list_schedules(start, to).await?.into_iter().map(|i| i.day).collect();
        scheduled.dedup();
        let mut planned: Vec<((i32, u32), f64, f64)> = Vec::new();
        for day in scheduled {
            let versions = svc.day_versions(day).await?;
            let Some(version) = versions.last().map(|l| l.0.version) else { continue };
            let d = super::DayVersions { day, versions };
            if let Some(share) = super::park_day(day, version, &d.whole(plant)?, park) {
                let key = (day.year(), day.month());
                match planned.iter_mut().find(|(k, ..)| *k == key) {
                    Some((_, served, green)) => {
                        *served += share.served_mwh;
                        *green += share.green_mwh;
                    }
                    None => planned.push((key, share.served_mwh, share.green_mwh)),
                }
            }
        }
        Ok(ParkLedger { statement, intervals, certificates, planned })
    }

    /// The certificates cancelled for a park, day by day from `from_day`: first every day
    /// the ledger holds, then each day again whenever the ledger builds it (new readings,
    /// corrections; a day already sent comes whole again with `replaces`). Ends with
    /// UNAVAILABLE at shutdown, or when the stream falls behind (reconnect from the last
    /// day received).
    pub async fn watch_certificates(&self, park: &str, from_day: &str) -> Result<super::Stream<CertificateDay>, Error> {
        auth::require_park(self.who, park)?;
        let svc = self.svc;
        if svc.plant.park_index(park).is_none() {
            return Err(Error::invalid("park", format!("no park named {} in plant {}", limits::quote(park), svc.plant.name)));
        }
        let from = super::day(from_day, "from_day")?;
        let kept = svc.ledger.clone();
        // Subscribe before catching up: a build in between is sent, maybe twice (whole).
        let mut events = kept.built.subscribe();
        let days: Vec<NaiveDate> =
            kept.chain().await?.map(|c| c.days.into_iter().map(|d| d.0).filter(|d| *d >= from).collect()).unwrap_or_default();
        if days.len() > MAX_CATCH_UP_DAYS {
            return Err(Error::invalid(
                "from_day",
                format!("at most {MAX_CATCH_UP_DAYS} days back; the ledger holds {} from {from}", days.len()),
            ));
        }
        let existing = certificate_days(&kept, park, &days).await?;
        let (park, shutdown) = (park.to_string(), svc.shutdown.clone());
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut sent: std::collections::BTreeSet<NaiveDate> = std::collections::BTreeSet::new();
            for d in existing {
                sent.insert(d.day);
                if tx.send(Ok(d)).await.is_err() {
                    return;
                }
            }
            loop {
                let Some(event) = super::next_event(&shutdown, &tx, &mut events).await else { return };
                let days: Vec<NaiveDate> = match event {
                    Ok(build) => build.recomputed.into_iter().filter(|d| *d >= from).collect(),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let last = sent.last().map_or_else(|| from.to_string(), ToString::to_string);
                        let _ = tx.send(Err(Error::Unavailable(format!("the stream fell behind; reconnect from {last}")))).await;
                        return;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let items = match certificate_days(&kept, &park, &days).await {
                    Ok(items) => items,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                for mut d in items {
                    d.replaces = !sent.insert(d.day);
                    if tx.send(Ok(d)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(tokio_stream::wrappers::ReceiverStream::new(rx))
    }
}

impl Service {
    /// A meter's view (the `meter` role), or PERMISSION_DENIED.
    pub fn meter(&self, who: &Principal) -> Result<Meters<'_>, Error> {
        auth::require_meter(who)?;
        Ok(Meters { svc: self })
    }
}

impl super::Operator<'_> {
    /// Brings the measured ledger up to date now (it is otherwise built when first read):
    /// what was computed again.
    pub async fn update_ledger(&self) -> Result<LedgerBuild, Error> {
        self.svc.ledger.update().await
    }

    /// Every revision of one reading, oldest first (the audit trail of its corrections).
    pub async fn reading_revisions(&self, meter: &str, quantity: &str, start: DateTime<Utc>) -> Result<Vec<ReadingRecord>, Error> {
        if Quantity::parse(quantity).is_none() {
            return Err(Error::invalid("quantity", format!("{} is not one of {}", limits::quote(quantity), Quantity::names())));
        }
        Ok(self.svc.store.reading_revisions(meter, quantity, start).await?)
    }
}
