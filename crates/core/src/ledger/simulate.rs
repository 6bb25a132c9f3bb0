//! A meter simulator: a schedule played back as the readings its meters would give, with
//! forecast error and noise on what the weather and the loads decide, and dropped
//! readings, so the ledger's whole loop (plan → readings → certificates → statement) runs
//! in tests and benchmarks without a field. Deterministic for a seed.
//!
//! What is measured: each renewable's output, its scheduled output × (1 + e) with e drawn
//! uniformly from ±`noise` per asset and interval, capped at its capacity; each park's
//! consumption, its scheduled served energy × (1 + e) likewise; storages and grid
//! exchanges as scheduled (charge, discharge, state of charge at the interval's end,
//! import, export). `dropped` park-consumption readings, picked by the seed, are left
//! missing.

use crate::domain::plant::Plant;
use crate::domain::Schedule;

use super::{mwh_to_wh, GridReading, Readings, StorageReading};

/// How the simulator perturbs the schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Simulation {
    /// Seed of every draw.
    pub seed: u64,
    /// Relative error bound on renewable output and park consumption (0.05 = ±5 %).
    pub noise: f64,
    /// Park consumption readings left missing.
    pub dropped: usize,
}

/// A deterministic draw in [0, 1) for (seed, stream, index) (splitmix64).
fn draw(seed: u64, stream: u64, index: u64) -> f64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// MWh → Wh for a reading (a value the schedule made cannot be refused: clamped at 0).
fn wh(mwh: f64) -> Option<i64> {
    mwh_to_wh(mwh.max(0.0)).ok().map(|v| v as i64)
}

/// The readings of `schedule`'s meters, perturbed as `sim` says. Refused when the
/// schedule's interval is not a whole number of minutes dividing an hour, or when it does
/// not fit the plant.
pub fn simulate(plant: &Plant, schedule: &Schedule, sim: &Simulation) -> Result<Readings, String> {
    let n = schedule.intervals.len();
    let minutes = (schedule.dt_hours * 60.0).round();
    if n == 0 || !(1.0..=60.0).contains(&minutes) || 60 % (minutes as u32) != 0 || (minutes / 60.0 - schedule.dt_hours).abs() > 1e-9 {
        return Err(format!("the schedule's interval ({} h) must be whole minutes dividing an hour", schedule.dt_hours));
    }
    if !(0.0..1.0).contains(&sim.noise) {
        return Err(format!("noise must lie in [0, 1), got {}", sim.noise));
    }
    let dt = schedule.dt_hours;
    let mut r = Readings::empty(plant, schedule.intervals[0], minutes as u32, n);
    let factor = |stream: u64, t: usize| 1.0 + sim.noise * (2.0 * draw(sim.seed, stream, t as u64) - 1.0);
    for (k, (_, asset)) in plant.renewables().enumerate() {
        let s = schedule
            .renewables
            .iter()
            .find(|x| x.name == asset.name)
            .ok_or_else(|| format!("the schedule has no renewable {}", asset.name))?;
        let series = (0..n).map(|t| wh((s.output_mw[t] * dt * factor(k as u64, t)).min(asset.capacity_mw * dt))).collect();
        r.output_wh.insert(asset.name.clone(), series);
    }
    for st in &plant.storage {
        let s = schedule.storages.iter().find(|x| x.name == st.name).ok_or_else(|| format!("the schedule has no storage {}", st.name))?;
        let series = (0..n)
            .map(|t| StorageReading {
                charge_wh: wh(s.charge_mw[t] * dt),
                discharge_wh: wh(s.discharge_mw[t] * dt),
                soc_wh: wh((s.energy_green_mwh[t + 1] + s.energy_grey_mwh[t + 1]).min(st.e_max_mwh)),
            })
            .collect();
        r.storage.insert(st.name.clone(), series);
    }
    let parks = 1000;
    for (p, park) in plant.parks.iter().enumerate() {
        let s = schedule.parks.iter().find(|x| x.name == park.name).ok_or_else(|| format!("the schedule has no park {}", park.name))?;
        let series = (0..n).map(|t| wh(s.served_mw[t] * dt * factor(parks + p as u64, t))).collect();
        r.consumption_wh.insert(park.name.clone(), series);
    }
    for g in &plant.grids {
        let s = schedule.grids.iter().find(|x| x.name == g.name).ok_or_else(|| format!("the schedule has no grid exchange {}", g.name))?;
        let series = (0..n).map(|t| GridReading { import_wh: wh(s.import_mw[t] * dt), export_wh: wh(s.export_mw[t] * dt) }).collect();
        r.grid.insert(g.name.clone(), series);
    }
    // Dropped readings: distinct (park, interval) pairs picked by the seed.
    let slots = plant.parks.len() * n;
    let mut dropped = 0;
    let mut k = 0u64;
    while dropped < sim.dropped.min(slots) {
        let pick = (draw(sim.seed, 2000, k) * slots as f64) as usize % slots.max(1);
        k += 1;
        let (p, t) = (pick / n, pick % n);
        if let Some(v) = r.consumption_wh.get_mut(&plant.parks[p].name).and_then(|s| s.get_mut(t)) {
            if v.is_some() {
                *v = None;
                dropped += 1;
            }
        }
    }
    Ok(r)
}

/// `count` late corrections of `r`'s park consumption readings, picked by `seed` among the
/// readings present: each value × (1 + e), e drawn from ±[1 %, 5 %]. The result holds only
/// the corrected values (every other reading missing), on `r`'s grid: what a utility sends
/// afterwards, with a reason.
pub fn late_corrections(plant: &Plant, r: &Readings, seed: u64, count: usize) -> Readings {
    let mut late = Readings::empty(plant, r.start, r.interval_minutes, r.intervals);
    let present: Vec<(&String, usize, i64)> =
        r.consumption_wh.iter().flat_map(|(park, s)| s.iter().enumerate().filter_map(move |(t, v)| v.map(|v| (park, t, v)))).collect();
    let mut k = 0u64;
    let mut done = 0;
    while done < count.min(present.len()) {
        let (park, t, v) = present[(draw(seed, 3000, k) * present.len() as f64) as usize % present.len()];
        let u = draw(seed, 3001, k);
        k += 1;
        let e = if u < 0.5 { -(0.01 + 0.08 * u) } else { 0.01 + 0.08 * (u - 0.5) };
        if let Some(slot) = late.consumption_wh.get_mut(park).and_then(|s| s.get_mut(t)) {
            if slot.is_none() {
                *slot = Some(((v as f64) * (1.0 + e)).round().max(0.0) as i64);
                done += 1;
            }
        }
    }
    late
}
