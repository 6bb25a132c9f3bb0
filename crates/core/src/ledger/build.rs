//! The ledger, interval by interval and day by day, by the rules at the top of
//! [`crate::ledger`]; and its rebuild after corrected readings.

use chrono::NaiveDate;

use crate::domain::plant::{Plant, Storage};
use crate::domain::validation::{Collector, ValidationErrors};
use crate::model::green::allocate;

use super::readings::{Metered, Readings};
use super::{
    id_instant, Certificate, DayLedger, Destination, IntervalLedger, Layer, Origin, ParkInterval, Placement, StorageFlows, StorageInterval,
    StorageState, Stored, Via,
};

/// A ledger over a run of readings: one [`DayLedger`] per local day, each built from the
/// previous day's closing storage state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    /// The readings it was built from.
    pub readings: Readings,
    /// Its days, in order.
    pub days: Vec<DayLedger>,
}

/// What a rebuild did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rebuilt {
    /// The days computed again.
    pub recomputed: Vec<NaiveDate>,
    /// The days whose ledger came out different.
    pub changed: Vec<NaiveDate>,
}

impl Ledger {
    /// Validates `readings` against `plant` and builds the ledger from the storage state
    /// `opening` (see [`StorageState::unread`] for a first build).
    pub fn build(plant: &Plant, readings: Readings, opening: StorageState) -> Result<Ledger, ValidationErrors> {
        readings.validate(plant)?;
        check_opening(plant, &opening)?;
        let m = readings.metered(plant);
        let mut days = Vec::new();
        let mut state = opening;
        for (day, ts) in readings.horizon(plant).days() {
            let built = build_day(plant, &readings, &m, day, &ts, state);
            state = built.closing.clone();
            days.push(built);
        }
        Ok(Ledger { readings, days })
    }

    /// The storages' content at the end of the last day: the opening of the next build.
    pub fn closing(&self) -> &StorageState {
        // A validated run of readings has at least one interval, so at least one day.
        &self.days[self.days.len() - 1].closing
    }

    /// Every certificate, in issue order.
    pub fn certificates(&self) -> impl Iterator<Item = &Certificate> {
        self.days.iter().flat_map(|d| &d.certificates)
    }

    /// Every interval, in order.
    pub fn intervals(&self) -> impl Iterator<Item = &IntervalLedger> {
        self.days.iter().flat_map(|d| &d.intervals)
    }

    /// Takes corrected `readings` (on the same grid) and recomputes from the local day
    /// `from` forward (refused when readings of an earlier day changed too). A later day is computed again only where its opening state or its
    /// own readings differ from the previous build's; so the rebuild stops as soon as a day
    /// closes with the previous build's storage state and no later readings changed.
    pub fn rebuild_from(&mut self, plant: &Plant, readings: Readings, from: NaiveDate) -> Result<Rebuilt, ValidationErrors> {
        readings.validate(plant)?;
        let mut c = Collector::default();
        if (readings.start, readings.interval_minutes, readings.intervals)
            != (self.readings.start, self.readings.interval_minutes, self.readings.intervals)
        {
            c.push(
                "readings.start",
                format!(
                    "a correction keeps the ledger's grid ({} × {} min from {}), got {} × {} min from {}",
                    self.readings.intervals,
                    self.readings.interval_minutes,
                    self.readings.start.to_rfc3339(),
                    readings.intervals,
                    readings.interval_minutes,
                    readings.start.to_rfc3339()
                ),
            );
        }
        let first = self.days.iter().position(|d| d.day == from);
        if first.is_none() {
            c.push("from", format!("{from} is not a day of the ledger"));
        }
        c.finish()?;
        let first = first.unwrap_or_default();
        let m = readings.metered(plant);
        let old = self.readings.metered(plant);
        let days = readings.horizon(plant).days();
        let corrected: Vec<bool> = days.iter().map(|(_, ts)| ts.iter().any(|&t| m.differs_at(&old, t))).collect();
        if let Some(i) = corrected[..first].iter().position(|&x| x) {
            let mut c = Collector::default();
            c.push("from", format!("the readings of {} changed too, before {from}: rebuild from there", days[i].0));
            c.finish()?;
        }
        let mut out = Rebuilt::default();
        let mut opening = self.days[first].opening.clone();
        for (i, (day, ts)) in days.iter().enumerate().skip(first) {
            if i > first && opening == self.days[i].opening && !corrected[i] {
                if !corrected[i..].iter().any(|&x| x) {
                    break;
                }
                opening = self.days[i].closing.clone();
                continue;
            }
            let built = build_day(plant, &readings, &m, *day, ts, opening);
            out.recomputed.push(*day);
            if built != self.days[i] {
                out.changed.push(*day);
            }
            opening = built.closing.clone();
            self.days[i] = built;
        }
        self.readings = readings;
        Ok(out)
    }
}

/// An opening state names every storage of the plant and nothing else.
fn check_opening(plant: &Plant, opening: &StorageState) -> Result<(), ValidationErrors> {
    let mut c = Collector::default();
    for s in &plant.storage {
        if !opening.storages.contains_key(&s.name) {
            c.push(format!("opening.{}", s.name), "missing: the opening state needs every storage (`unread` if unknown)");
        }
    }
    for name in opening.storages.keys() {
        if plant.storage(name).is_none() {
            c.push(format!("opening.{name}"), format!("no storage of that name in plant {}", plant.name));
        }
    }
    c.finish()
}

/// One local day from its opening state.
pub(crate) fn build_day(plant: &Plant, r: &Readings, m: &Metered, day: NaiveDate, ts: &[usize], opening: StorageState) -> DayLedger {
    let mut stores: Vec<Stored> = plant.storage.iter().map(|s| opening.storages.get(&s.name).cloned().unwrap_or(Stored::Unread)).collect();
    let mut certificates = Vec::new();
    let intervals = ts.iter().map(|&t| interval(plant, r, m, t, &mut stores, &mut certificates)).collect();
    let closing = StorageState { storages: plant.storage.iter().map(|s| s.name.clone()).zip(stores).collect() };
    DayLedger { day, opening, intervals, certificates, closing }
}

/// Who sits behind a park's meter: the owner park of each certificate of an interval.
fn owner(plant: &Plant, park: Option<&String>) -> Option<usize> {
    park.and_then(|p| plant.park_index(p))
}

/// A storage's complete interval, between its release and its charge.
struct Open {
    k: usize,
    charge: u64,
    discharge: u64,
    soc: u64,
    /// Stored Wh before the interval.
    before: u64,
    /// Layers left after the release.
    layers: Vec<Layer>,
    /// Stored Wh the release needed beyond the queue (taken from this interval's charge).
    shortfall: u64,
    released_green_wh: u64,
    green_lost_wh: u64,
}

/// One interval: releases, issuance, cancellation, charging, export (mod.rs, rules 1–5).
fn interval(plant: &Plant, r: &Readings, m: &Metered, t: usize, stores: &mut [Stored], certs: &mut Vec<Certificate>) -> IntervalLedger {
    let at = r.instant(t);
    let stamp = id_instant(at);
    let first = certs.len();
    // Owner park of each certificate of this interval, by position from `first`.
    let mut owners: Vec<Option<usize>> = Vec::new();

    // Rule 2: storage releases.
    let mut open: Vec<Open> = Vec::new();
    let mut storage_out: Vec<Option<StorageInterval>> = vec![None; plant.storage.len()];
    let mut storage_missing: Vec<Vec<String>> = vec![Vec::new(); plant.storage.len()];
    for (k, s) in plant.storage.iter().enumerate() {
        let (charge, discharge, soc) = (m.charge[k][t], m.discharge[k][t], m.soc[k][t]);
        let (Some(charge), Some(discharge), Some(soc)) = (charge, discharge, soc) else {
            let what: Vec<String> = [("charge_wh", charge), ("discharge_wh", discharge), ("soc_wh", soc)]
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(f, _)| r.path("storage", &s.name, t, f))
                .collect();
            let written_off = match &stores[k] {
                Stored::Layers(layers) => layers.iter().filter(|l| l.green).map(|l| l.wh).sum(),
                _ => 0,
            };
            if let Stored::Layers(_) = stores[k] {
                stores[k] = Stored::Lost;
            }
            storage_missing[k] = what.clone();
            storage_out[k] = Some(StorageInterval::Missing { what, green_written_off_wh: written_off });
            continue;
        };
        let mut layers = match std::mem::replace(&mut stores[k], Stored::Lost) {
            Stored::Layers(layers) => layers,
            Stored::Unread => opening_layers(s, charge, discharge, soc, s.initial_green_fraction),
            Stored::Lost => opening_layers(s, charge, discharge, soc, 0.0),
        };
        let before: u64 = layers.iter().map(|l| l.wh).sum();
        let need = ceil_div_eta(discharge, s.eta_discharge);
        let (pieces, shortfall) = release(&mut layers, need);
        // The metered discharge split over what each piece gave (the shortfall is grey).
        let mut weights: Vec<u64> = pieces.iter().map(|p| p.wh).collect();
        weights.push(shortfall);
        let metered = cumulative_split(discharge, &weights);
        let mut released_green_wh = 0;
        let mut released_green_stored = 0;
        let mut sources: Vec<String> = Vec::new();
        for (p, out) in pieces.iter().zip(&metered) {
            if p.green {
                released_green_wh += out;
                released_green_stored += p.wh;
                for id in &p.sources {
                    if !sources.contains(id) {
                        sources.push(id.clone());
                    }
                }
            }
        }
        if released_green_wh > 0 {
            certs.push(Certificate {
                id: format!("S-{}-{stamp}", s.name),
                asset: s.name.clone(),
                interval_start: at,
                wh: released_green_wh,
                origin: Origin::Storage { storage: s.name.clone(), sources },
                placements: Vec::new(),
            });
            owners.push(owner(plant, s.park.as_ref()));
        }
        open.push(Open {
            k,
            charge,
            discharge,
            soc,
            before,
            layers,
            shortfall,
            released_green_wh,
            green_lost_wh: released_green_stored - released_green_wh,
        });
    }

    // Rule 1: issuance.
    for (j, (_, g)) in plant.renewables().enumerate() {
        if let Some(wh) = m.output[j][t].filter(|&wh| wh > 0) {
            certs.push(Certificate {
                id: format!("G-{}-{stamp}", g.name),
                asset: g.name.clone(),
                interval_start: at,
                wh,
                origin: Origin::Direct,
                placements: Vec::new(),
            });
            owners.push(owner(plant, g.park.as_ref()));
        }
    }
    let issued = &mut certs[first..];
    let mut rem: Vec<u64> = issued.iter().map(|c| c.wh).collect();

    // Rule 4 of "Missing readings": which parks' figures are complete.
    let np = plant.parks.len();
    let mut missing: Vec<Vec<String>> = vec![Vec::new(); np];
    for (p, park) in plant.parks.iter().enumerate() {
        if m.consumption[p][t].is_none() {
            missing[p].push(r.path("park", &park.name, t, "consumption_wh"));
        }
    }
    for (j, (kind, g)) in plant.renewables().enumerate() {
        if let (Some(p), None) = (owner(plant, g.park.as_ref()), m.output[j][t]) {
            missing[p].push(r.path(kind.name(), &g.name, t, "output_wh"));
        }
    }
    for (k, s) in plant.storage.iter().enumerate() {
        if let Some(p) = owner(plant, s.park.as_ref()) {
            missing[p].extend(storage_missing[k].iter().cloned());
        }
    }
    let consumption: Vec<u64> = (0..np).map(|p| if missing[p].is_empty() { m.consumption[p][t].unwrap_or(0) } else { 0 }).collect();

    // Rule 3: own green first; a missing park's own green stays unallocated.
    let mut own = vec![0u64; np];
    let mut unallocated_wh: u64 = 0;
    for p in 0..np {
        let mine: Vec<usize> = (0..issued.len()).filter(|&j| owners[j] == Some(p)).collect();
        if missing[p].is_empty() {
            own[p] = pour(
                issued,
                &mut rem,
                &mine,
                consumption[p],
                &Destination::Cancelled { park: plant.parks[p].name.clone(), via: Via::OwnMeter },
            )
            .iter()
            .map(|(_, wh)| wh)
            .sum();
        } else {
            unallocated_wh += pour(issued, &mut rem, &mine, u64::MAX, &Destination::Unallocated).iter().map(|(_, wh)| wh).sum::<u64>();
        }
    }
    // The pool, by the schedule's allocation rule made integer.
    let order: Vec<usize> = (0..issued.len()).collect();
    let still: Vec<u64> = (0..np).map(|p| consumption[p] - own[p]).collect();
    let target = rem.iter().sum::<u64>().min(still.iter().sum());
    let mut pool = vec![0u64; np];
    if target > 0 {
        let served: Vec<f64> = consumption.iter().map(|&c| c as f64).collect();
        let alpha: Vec<f64> = plant.parks.iter().map(|p| p.min_green_share.unwrap_or(0.0)).collect();
        let own_f: Vec<f64> = own.iter().map(|&o| o as f64).collect();
        let exact: Vec<f64> =
            allocate(&served, &alpha, &own_f, own_f.iter().sum::<f64>() + target as f64).iter().zip(&own_f).map(|(a, o)| a - o).collect();
        for (p, wh) in integerise(target, &exact, &still).into_iter().enumerate() {
            let to = Destination::Cancelled { park: plant.parks[p].name.clone(), via: Via::Pool };
            pool[p] = pour(issued, &mut rem, &order, wh, &to).iter().map(|(_, wh)| wh).sum();
        }
    }

    // Rule 4: what is left charges the storages, pro rata to their charge.
    let left: u64 = rem.iter().sum();
    let charges: Vec<u64> = open.iter().map(|o| o.charge).collect();
    let into = largest_remainder(left.min(charges.iter().sum()), &charges);
    let mut fed: Vec<Vec<(usize, u64)>> = Vec::new();
    for (o, wh) in open.iter().zip(into) {
        fed.push(pour(issued, &mut rem, &order, wh, &Destination::Stored { storage: plant.storage[o.k].name.clone() }));
    }

    // Rule 5: export up to the measured exports, the rest unallocated.
    let exports: Vec<u64> = (0..plant.grids.len()).map(|g| m.export[g][t].unwrap_or(0)).collect();
    let left: u64 = rem.iter().sum();
    let out = largest_remainder(left.min(exports.iter().sum()), &exports);
    let mut exported_wh: Vec<u64> = Vec::new();
    for (g, wh) in plant.grids.iter().zip(out) {
        exported_wh
            .push(pour(issued, &mut rem, &order, wh, &Destination::Exported { grid: g.name.clone() }).iter().map(|(_, wh)| wh).sum());
    }
    unallocated_wh += pour(issued, &mut rem, &order, u64::MAX, &Destination::Unallocated).iter().map(|(_, wh)| wh).sum::<u64>();

    // The charges enter the queues; the state-of-charge reading settles the standing loss.
    for (o, fed) in open.into_iter().zip(fed) {
        let s = &plant.storage[o.k];
        let green_in: u64 = fed.iter().map(|(_, wh)| wh).sum();
        let sources: Vec<String> = fed.iter().map(|&(j, _)| issued[j].id.clone()).collect();
        let k = o.k;
        let flows = charge(s, o, green_in, sources, &mut stores[k]);
        storage_out[k] = Some(StorageInterval::Measured(flows));
    }

    let parks = (0..np)
        .map(|p| {
            if missing[p].is_empty() {
                ParkInterval::Measured { consumption_wh: consumption[p], own_wh: own[p], pool_wh: pool[p] }
            } else {
                ParkInterval::Missing { what: std::mem::take(&mut missing[p]) }
            }
        })
        .collect();
    let storages =
        storage_out.into_iter().map(|s| s.unwrap_or(StorageInterval::Missing { what: Vec::new(), green_written_off_wh: 0 })).collect();
    IntervalLedger { t, start: at, parks, storages, exported_wh, unallocated_wh }
}

/// Rule 4 and the losses: appends the interval's charge (green first) to the queue, takes
/// what the release needed beyond the old queue from it (grey first), then settles the
/// queue on the state-of-charge reading (standing loss pro rata, an unexplained gain grey).
fn charge(s: &Storage, o: Open, green_in: u64, sources: Vec<String>, store: &mut Stored) -> StorageFlows {
    let mut layers = o.layers;
    let mut green_lost = o.green_lost_wh;
    let stored = floor_eta(o.charge, s.eta_charge);
    let mut green = floor_eta(green_in, s.eta_charge).min(stored);
    green_lost += green_in - green;
    let mut grey = stored - green;
    // Charged and discharged within the interval: released grey, so taken grey first.
    let from_grey = o.shortfall.min(grey);
    grey -= from_grey;
    let from_green = (o.shortfall - from_grey).min(green);
    green -= from_green;
    green_lost += from_green;
    layers.push(Layer { green: true, wh: green, sources });
    layers.push(Layer { green: false, wh: grey, sources: Vec::new() });
    let total: u64 = layers.iter().map(|l| l.wh).sum();
    if total > o.soc {
        let sizes: Vec<u64> = layers.iter().map(|l| l.wh).collect();
        for (l, cut) in layers.iter_mut().zip(largest_remainder(total - o.soc, &sizes)) {
            l.wh -= cut;
            if l.green {
                green_lost += cut;
            }
        }
    } else if total < o.soc {
        layers.push(Layer { green: false, wh: o.soc - total, sources: Vec::new() });
    }
    let layers = tidy(layers);
    let green_stored_wh = layers.iter().filter(|l| l.green).map(|l| l.wh).sum();
    *store = Stored::Layers(layers);
    let loss_wh = o.before as i64 + o.charge as i64 - o.discharge as i64 - o.soc as i64;
    StorageFlows {
        charge_wh: o.charge,
        charge_green_wh: green_in,
        discharge_wh: o.discharge,
        released_green_wh: o.released_green_wh,
        soc_wh: o.soc,
        loss_wh,
        green_lost_wh: green_lost,
        green_stored_wh,
    }
}

/// The opening queue inferred from a storage's first complete interval:
/// soc_after + ⌈d/η_dis⌉ − ⌊η_ch·c⌋ (no standing loss in it), green by `green_fraction`
/// (rounded down, queued first).
fn opening_layers(s: &Storage, charge: u64, discharge: u64, soc: u64, green_fraction: f64) -> Vec<Layer> {
    let before = (soc + ceil_div_eta(discharge, s.eta_discharge)).saturating_sub(floor_eta(charge, s.eta_charge));
    let green = floor_eta(before, green_fraction.clamp(0.0, 1.0));
    tidy(vec![Layer { green: true, wh: green, sources: Vec::new() }, Layer { green: false, wh: before - green, sources: Vec::new() }])
}

/// Takes `need` stored Wh from the oldest layers first; returns the pieces taken (oldest
/// first) and what the queue could not give.
fn release(layers: &mut Vec<Layer>, need: u64) -> (Vec<Layer>, u64) {
    let mut pieces = Vec::new();
    let mut need = need;
    let mut k = 0;
    while need > 0 && k < layers.len() {
        let take = need.min(layers[k].wh);
        if take > 0 {
            pieces.push(Layer { green: layers[k].green, wh: take, sources: layers[k].sources.clone() });
            layers[k].wh -= take;
            need -= take;
        }
        k += 1;
    }
    layers.retain(|l| l.wh > 0);
    (pieces, need)
}

/// Drops empty layers and merges neighbouring grey ones.
fn tidy(layers: Vec<Layer>) -> Vec<Layer> {
    let mut out: Vec<Layer> = Vec::with_capacity(layers.len());
    for l in layers.into_iter().filter(|l| l.wh > 0) {
        match out.last_mut() {
            Some(last) if !last.green && !l.green => last.wh += l.wh,
            _ => out.push(l),
        }
    }
    out
}

/// Pours up to `amount` Wh from the certificates `order` (in that order, what each has
/// left in `rem`) into `to`; returns (certificate, Wh) of each part poured.
fn pour(certs: &mut [Certificate], rem: &mut [u64], order: &[usize], amount: u64, to: &Destination) -> Vec<(usize, u64)> {
    let mut parts = Vec::new();
    let mut amount = amount;
    for &j in order {
        if amount == 0 {
            break;
        }
        let take = rem[j].min(amount);
        if take == 0 {
            continue;
        }
        rem[j] -= take;
        amount -= take;
        match certs[j].placements.last_mut() {
            Some(last) if &last.to == to => last.wh += take,
            _ => certs[j].placements.push(Placement { to: to.clone(), wh: take }),
        }
        parts.push((j, take));
    }
    parts
}

/// `x`, or the integer it is within a few ulps of: 2,000,000 × 0.9 is 1,800,000 Wh on paper
/// and must not become 1,799,999 through the binary 0.9.
fn snap(x: f64) -> f64 {
    let r = x.round();
    if (x - r).abs() <= 4.0 * f64::EPSILON * x.abs().max(1.0) {
        r
    } else {
        x
    }
}

/// ⌊η·wh⌋ (η in [0, 1]).
fn floor_eta(wh: u64, eta: f64) -> u64 {
    (snap(wh as f64 * eta).floor() as u64).min(wh)
}

/// ⌈wh/η⌉ (η in (0, 1]).
fn ceil_div_eta(wh: u64, eta: f64) -> u64 {
    (snap(wh as f64 / eta).ceil() as u64).max(wh)
}

/// `total` split over `weights` pro rata, in integers: every part gets ⌊total·w/W⌋ and the
/// Wh left go one each to the largest remainders (ties: the earlier part). All zero when
/// the weights are.
pub(crate) fn largest_remainder(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut out: Vec<u64> = weights.iter().map(|&w| (u128::from(total) * u128::from(w) / sum) as u64).collect();
    let rest: Vec<u128> = weights.iter().map(|&w| u128::from(total) * u128::from(w) % sum).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| rest[b].cmp(&rest[a]).then(a.cmp(&b)));
    let short = total - out.iter().sum::<u64>();
    for &k in order.iter().take(short as usize) {
        out[k] += 1;
    }
    out
}

/// `total` split in the proportions of `weights` by cumulative floors: part k is
/// ⌊total·W_k/W⌋ − ⌊total·W_(k−1)/W⌋ with W_k the running sum, so the parts add up to
/// `total` and none exceeds its weight when `total` ≤ W.
fn cumulative_split(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut run = 0u128;
    let mut before = 0u64;
    weights
        .iter()
        .map(|&w| {
            run += u128::from(w);
            let upto = (u128::from(total) * run / sum) as u64;
            let part = upto - before;
            before = upto;
            part
        })
        .collect()
}

/// The exact (f64) allocation made integer: ⌊x⌋ each, capped, then one Wh each to the
/// largest fractional parts (ties: the earlier park) until the parts add up to `target`
/// (≤ Σ caps); never above a cap.
pub(crate) fn integerise(target: u64, exact: &[f64], caps: &[u64]) -> Vec<u64> {
    let exact: Vec<f64> = exact.iter().map(|&x| snap(x.max(0.0))).collect();
    let mut out: Vec<u64> = exact.iter().zip(caps).map(|(x, &c)| (x.floor() as u64).min(c)).collect();
    let frac: Vec<f64> = exact.iter().map(|x| x - x.floor()).collect();
    let mut sum: u64 = out.iter().sum();
    let mut order: Vec<usize> = (0..exact.len()).collect();
    order.sort_by(|&a, &b| frac[b].total_cmp(&frac[a]).then(a.cmp(&b)));
    // Rounding of the f64 allocation may overshoot by a few Wh: take back from the
    // smallest fractional parts first.
    while sum > target {
        let Some(&k) = order.iter().rev().find(|&&k| out[k] > 0) else { break };
        out[k] -= 1;
        sum -= 1;
    }
    while sum < target {
        let before = sum;
        for &k in &order {
            if sum == target {
                break;
            }
            if out[k] < caps[k] {
                out[k] += 1;
                sum += 1;
            }
        }
        if sum == before {
            break;
        }
    }
    out
}

impl Metered {
    /// True when any reading of interval `t` differs.
    pub(crate) fn differs_at(&self, other: &Metered, t: usize) -> bool {
        let series = |a: &Vec<Vec<Option<u64>>>, b: &Vec<Vec<Option<u64>>>| a.iter().zip(b).any(|(x, y)| x.get(t) != y.get(t));
        series(&self.output, &other.output)
            || series(&self.charge, &other.charge)
            || series(&self.discharge, &other.discharge)
            || series(&self.soc, &other.soc)
            || series(&self.consumption, &other.consumption)
            || series(&self.export, &other.export)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_remainder_adds_up_and_breaks_ties_to_the_earlier() {
        assert_eq!(largest_remainder(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(largest_remainder(2, &[1, 1, 1]), vec![1, 1, 0]);
        assert_eq!(largest_remainder(7, &[0, 0]), vec![0, 0]);
        assert_eq!(largest_remainder(5, &[3, 0, 2]), vec![3, 0, 2]);
        assert_eq!(largest_remainder(0, &[3, 2]), vec![0, 0]);
    }

    #[test]
    fn cumulative_split_adds_up_within_the_weights() {
        let parts = cumulative_split(2_250_000, &[1_000_000, 1_500_000]);
        assert_eq!(parts, vec![900_000, 1_350_000]);
        let parts = cumulative_split(10, &[3, 3, 3, 3]);
        assert_eq!(parts.iter().sum::<u64>(), 10);
        assert!(parts.iter().all(|&p| p <= 3), "{parts:?}");
    }

    #[test]
    fn integerise_hits_the_target_under_the_caps() {
        assert_eq!(integerise(10, &[3.5, 3.5, 3.0], &[10, 10, 10]), vec![4, 3, 3]);
        assert_eq!(integerise(5, &[2.9999999, 2.0000001], &[3, 2]), vec![3, 2]);
        assert_eq!(integerise(4, &[1.0, 3.0], &[1, 5]), vec![1, 3]);
        // An allocation that overshoots by a rounding error gives back the smallest part.
        assert_eq!(integerise(4, &[2.0000001, 2.0000002], &[5, 5]), vec![2, 2]);
    }

    #[test]
    fn release_is_oldest_first() {
        let mut q = vec![Layer { green: false, wh: 4, sources: vec![] }, Layer { green: true, wh: 4, sources: vec!["G-w".into()] }];
        let (pieces, short) = release(&mut q, 6);
        assert_eq!(short, 0);
        assert_eq!(pieces.iter().map(|p| (p.green, p.wh)).collect::<Vec<_>>(), vec![(false, 4), (true, 2)]);
        assert_eq!(q, vec![Layer { green: true, wh: 2, sources: vec!["G-w".into()] }]);
        let (_, short) = release(&mut q, 5);
        assert_eq!((short, q.len()), (3, 0));
    }
}
