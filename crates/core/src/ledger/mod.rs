//! The measured green-power ledger: meter readings in, granular certificates out. Pure,
//! synchronous and deterministic; every quantity is an integer number of Wh, so every
//! balance below holds exactly, not to a tolerance.
//!
//! What it owns: the reading types and their validation against a [`Plant`]
//! ([`readings`]), the interval-by-interval ledger built day by day with the storages'
//! colour carried from one day to the next ([`build`]), and the monthly statement per park
//! ([`statement`]).
//!
//! # The rules
//!
//! In every interval t of Δ hours (readings on a fixed UTC grid whose interval divides an
//! hour, so that every interval lies within one clock hour), in this order:
//!
//! 1. **Issuance.** Every measured wind or PV output w > 0 issues one certificate of w Wh,
//!    id `G-{asset}-{YYYYMMDDTHHMMZ}` (the interval's UTC start), origin
//!    [`Origin::Direct`]. A zero or missing reading issues nothing: no certificate is ever
//!    issued for energy that was not measured.
//! 2. **Storage releases** (first in, first out). Each storage holds a queue of
//!    [`Layer`]s of *stored* Wh (the unit of its state-of-charge meter, as in the plant:
//!    stored energy rises by η_ch × charge and falls by discharge / η_dis). A discharge of
//!    d metered Wh draws r = ⌈d / η_dis⌉ stored Wh from the oldest layers first; the d Wh
//!    are split over the layers drawn from in proportion to what each gave (cumulative
//!    floors, so they add up to d exactly). The green part issues one certificate
//!    `S-{storage}-{YYYYMMDDTHHMMZ}`, origin [`Origin::Storage`] naming the certificates
//!    that fed the layers drawn from. A discharge beyond what the queue holds can only be
//!    energy charged in the same interval: it is released grey (the charge's colour is
//!    decided after the releases, so it cannot be promised before).
//! 3. **Cancellation.** Each park's own green — the certificates of the renewables and
//!    storages behind its meter — is cancelled against its measured consumption first
//!    ([`Via::OwnMeter`]). The rest of the interval's certificates (the pool) go to the
//!    parks by `model::green::allocate`, the schedule's rule: water-filling over
//!    what each park still consumes, raised to its minimum share where it has one. The
//!    allocation is computed in f64 and made integer by the largest-remainder rule: every
//!    park gets ⌊its exact amount⌋, the Wh left go one each to the parks with the largest
//!    fractional parts (ties: the earlier park in the plant), never above what a park
//!    still consumes ([`Via::Pool`]). The certificates are poured into these amounts in a
//!    fixed order: storage releases first (in the plant's storage order), then direct
//!    certificates (wind, then PV, in plant order); destinations in plant park order. A
//!    certificate is split wherever an amount ends.
//! 4. **Charging.** What green is left charges the storages: min(left, Σ charge) Wh,
//!    shared over the charging storages pro rata to their metered charge (largest
//!    remainder, ties to the earlier storage). The rest of each charge is grey. The charge
//!    enters the storage's queue as a green layer of ⌊η_ch × green charge⌋ stored Wh
//!    (queued first: charging takes green first) and a grey layer of the rest of
//!    ⌊η_ch × charge⌋. The certificates poured into a storage are its layer's sources.
//! 5. **Export** of what is still left, up to the measured exports (pro rata over the
//!    grid exchanges, same remainder rule); the rest is [`Destination::Unallocated`].
//!
//! So every Wh of every certificate ends in exactly one place: cancelled for a park (own
//! or pool), stored into a storage, exported or unallocated ([`Certificate::placements`]
//! add up to its Wh).
//!
//! **Losses.** A storage's measured loss in an interval is soc_before + charge − discharge
//! − soc_after (all in Wh). Following the Granular Foundation's storage methodology (and
//! MODEL.md), each batch carries its own conversion losses: ⌊η_ch × charge⌋ is what is
//! stored of a charge, and a release of d Wh costs ⌈d / η_dis⌉ stored Wh of the layers it
//! draws from. What the state-of-charge reading says is missing beyond that (the standing
//! loss) is taken from every layer pro rata to its size (largest remainder, ties to the
//! older layer). Where the reading says the store holds *more* than that accounting (a
//! meter error, or an efficiency better than the plant's), the excess enters the queue as
//! a grey layer: green never appears from nowhere. Hence a storage never releases more
//! green than it was charged with, less its losses, and after every interval its queue
//! adds up exactly to its state-of-charge reading.
//!
//! **Grid imports** are grey in the ledger, even where the plant gives a grid exchange a
//! `green_fraction`: green in imports is certified by whoever generated it, not by this
//! plant, so the ledger issues and cancels no certificate for it. Thermal units are grey.
//!
//! **Opening state.** A build starts from a [`StorageState`]: an explicit one (the closing
//! state of the previous build, so that day-by-day builds chain), or
//! [`StorageState::unread`], where each storage's opening level is inferred from its first
//! complete interval (soc_after + ⌈d/η_dis⌉ − ⌊η_ch × c⌋, no standing loss in it) and is
//! green by the storage's `initial_green_fraction` (rounded down). Green in an opening
//! layer was green before the ledger began: its release names no source certificate.
//!
//! # Missing readings
//!
//! A missing reading (`None`) is never filled. What a gap affects:
//!
//! - a park's consumption: that park is [`ParkInterval::Missing`]; its consumption and its
//!   own green count nowhere, and the certificates behind its meter stay unallocated (where
//!   that energy went is not known); the pool is shared over the other parks;
//! - a renewable's output: no certificate for it; the park behind whose meter it sits (if
//!   any) is missing, as above; a plant of the pool only leaves the pool smaller;
//! - any of a storage's charge, discharge or state of charge: the storage is
//!   [`StorageInterval::Missing`] (no release, no charge of certificates, its behind-the-
//!   meter park missing); its layers cannot be followed across the gap, so the green it
//!   held is written off there, and it restarts grey at its next complete interval;
//! - a grid exchange's export: nothing is exported through it (green left stays
//!   unallocated). Imports are read only for validation.
//!
//! # Days and corrections
//!
//! The ledger is built day by day (local days in the plant's zone, [`Plant::tz`]), each day
//! from the previous day's closing [`StorageState`]. [`Ledger::rebuild_from`] takes
//! corrected readings and recomputes from the first corrected day forward, stopping as soon
//! as a day closes with the storage state of the previous build and no later day's readings
//! changed: a correction touches only the days it affects.

pub mod build;
pub mod csv;
pub mod meter;
pub mod readings;
pub mod simulate;
pub mod statement;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::Plant;

pub use build::{Ledger, Rebuilt};
pub use csv::{certificates_csv, readings_from_csv, readings_to_csv, statement_csv, READINGS_HEADER};
pub use meter::{Entry, Quantity};
pub use readings::{mwh_to_wh, EnergyError, GridReading, Readings, StorageReading};
pub use simulate::{late_corrections, simulate, Simulation};
pub use statement::{
    park_statement, DayShare, MonthStatement, ParkDay, ParkStatement, StatementOptions, YearStatement, CENTRAL_CHINA_GRID_T_PER_MWH,
};

/// Wh per MWh.
pub const WH_PER_MWH: u64 = 1_000_000;

/// One granular certificate: the green energy of one asset in one interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// Unique and deterministic: `G-{asset}-{YYYYMMDDTHHMMZ}` or `S-{storage}-{…}`.
    pub id: String,
    /// The renewable (direct) or storage (release) that produced the energy.
    pub asset: String,
    /// Start of the interval, UTC.
    pub interval_start: DateTime<Utc>,
    /// Energy, Wh.
    pub wh: u64,
    /// Where the energy came from.
    pub origin: Origin,
    /// Where every Wh of it went; adds up to `wh`.
    pub placements: Vec<Placement>,
}

/// Where a certificate's energy came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Measured at a wind farm or PV plant.
    Direct,
    /// Released by a storage from green layers, which were fed by `sources` (certificate
    /// ids, oldest first; empty for green held before the ledger began).
    Storage {
        /// The storage.
        storage: String,
        /// The certificates that fed the green layers released.
        sources: Vec<String>,
    },
}

/// A part of a certificate and where it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// Where.
    pub to: Destination,
    /// How much, Wh.
    pub wh: u64,
}

/// The one place a Wh of a certificate ends in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    /// Cancelled against a park's consumption.
    Cancelled {
        /// The park.
        park: String,
        /// Behind its own meter, or from the pool.
        via: Via,
    },
    /// Charged into a storage (it comes back, less losses, as a storage certificate).
    Stored {
        /// The storage.
        storage: String,
    },
    /// Exported to the wider grid.
    Exported {
        /// The grid exchange.
        grid: String,
    },
    /// Used by nobody the ledger can name (no consumption, storage or export measured to
    /// take it, or behind the meter of a park whose consumption is missing).
    Unallocated,
}

/// How a park came by cancelled green.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// From behind its own meter.
    OwnMeter,
    /// From the plant's pool.
    Pool,
}

/// A part of a storage's content, in stored Wh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// Green (backed by `sources`) or grey.
    pub green: bool,
    /// Stored energy, Wh.
    pub wh: u64,
    /// Certificates that fed it (green layers only; empty for opening green).
    pub sources: Vec<String>,
}

/// What the ledger knows of one storage's content between intervals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stored {
    /// No reading yet: the opening level is inferred from the first complete interval,
    /// green by the storage's `initial_green_fraction`.
    Unread,
    /// Lost across a gap in its readings: restarts grey at the next complete interval.
    Lost,
    /// The queue, oldest first; adds up to the last state-of-charge reading.
    Layers(Vec<Layer>),
}

/// The content of every storage at an instant, by storage name. Two builds agree on a day
/// when they close it with equal states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageState {
    /// Each storage's content.
    pub storages: BTreeMap<String, Stored>,
}

impl StorageState {
    /// Nothing read yet for any storage of `plant`.
    pub fn unread(plant: &Plant) -> StorageState {
        StorageState { storages: plant.storage.iter().map(|s| (s.name.clone(), Stored::Unread)).collect() }
    }

    /// Green stored Wh of `storage` (0 unless its layers are known).
    pub fn green_wh(&self, storage: &str) -> u64 {
        match self.storages.get(storage) {
            Some(Stored::Layers(layers)) => layers.iter().filter(|l| l.green).map(|l| l.wh).sum(),
            _ => 0,
        }
    }
}

/// A park in one interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParkInterval {
    /// Every reading its figure depends on was there.
    Measured {
        /// Measured consumption, Wh.
        consumption_wh: u64,
        /// Green cancelled from behind its own meter, Wh.
        own_wh: u64,
        /// Green cancelled from the pool, Wh.
        pool_wh: u64,
    },
    /// Some reading was missing; `what` names each by its field path.
    Missing {
        /// The missing readings.
        what: Vec<String>,
    },
}

impl ParkInterval {
    /// Green cancelled (own and pool), Wh; 0 when missing.
    pub fn cancelled_wh(&self) -> u64 {
        match self {
            ParkInterval::Measured { own_wh, pool_wh, .. } => own_wh + pool_wh,
            ParkInterval::Missing { .. } => 0,
        }
    }
}

/// A storage in one interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageInterval {
    /// All three readings were there.
    Measured(StorageFlows),
    /// Some reading was missing; its green was written off.
    Missing {
        /// The missing readings, by field path.
        what: Vec<String>,
        /// Green stored Wh written off at the gap.
        green_written_off_wh: u64,
    },
}

/// A storage's colour accounting for one complete interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageFlows {
    /// Metered charge, Wh.
    pub charge_wh: u64,
    /// Metered green charge (certificates placed into it), Wh.
    pub charge_green_wh: u64,
    /// Metered discharge, Wh.
    pub discharge_wh: u64,
    /// Metered green discharge (the Wh of its storage certificate), Wh.
    pub released_green_wh: u64,
    /// State of charge at the end of the interval (reading), Wh.
    pub soc_wh: u64,
    /// Measured loss soc_before + charge − discharge − soc_after, Wh (negative where the
    /// reading shows more than charge and discharge explain).
    pub loss_wh: i64,
    /// Stored green lost in the interval (conversion at charge and release, standing loss,
    /// green charged and discharged within the interval), Wh.
    pub green_lost_wh: u64,
    /// Green stored at the end of the interval, Wh.
    pub green_stored_wh: u64,
}

/// One interval of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntervalLedger {
    /// Index on the readings' grid.
    pub t: usize,
    /// Start, UTC.
    pub start: DateTime<Utc>,
    /// Each park, in plant order.
    pub parks: Vec<ParkInterval>,
    /// Each storage, in plant order.
    pub storages: Vec<StorageInterval>,
    /// Green exported through each grid exchange, Wh, in plant order.
    pub exported_wh: Vec<u64>,
    /// Green left unallocated, Wh.
    pub unallocated_wh: u64,
}

/// One local day of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayLedger {
    /// The local day.
    pub day: NaiveDate,
    /// The storages' content at its start.
    pub opening: StorageState,
    /// Its intervals, in order.
    pub intervals: Vec<IntervalLedger>,
    /// The certificates issued in it, in interval order (releases, then direct).
    pub certificates: Vec<Certificate>,
    /// The storages' content at its end.
    pub closing: StorageState,
}

/// `YYYYMMDDTHHMMZ`, the instant part of certificate ids.
pub(crate) fn id_instant(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%MZ").to_string()
}
