//! Storage of every kind (pumped hydro, CAES, batteries) with colour tracking:
//!
//! E^c_{t+1} = (1 − σΔ)·E^c_t + η_ch·charge^c_t·Δ − discharge^c_t·Δ/η_dis (+ inflow_t − spill_t
//! for the green part of pumped hydro), for colour c ∈ {green, grey};
//! E_min ≤ E^green + E^grey ≤ E_max; at the end E_T ≥ target and E^green_T ≥ (initial green
//! fraction)·target, so a horizon never consumes green energy it did not store itself.
//! Costs: a variable cost per MWh discharged, and a cycle-ageing cost per MWh of throughput
//! (charged plus discharged). A storage behind a park's meter adds its green discharge to
//! that park's own green (see `green.rs`).
//! In MILP mode one binary per direction and interval forbids charging and discharging at
//! once and enforces a minimum generation when running.
//!
//! What the kinds differ in is data on [`Storage`]: only pumped hydro takes an inflow from
//! the forecast; the rest is the same rows for every kind.

use crate::domain::plant::Storage;
use crate::domain::schedule::StorageSchedule;

use super::builder::{Builder, StorageVars};
use super::lp::{Family, Sense, Var};
use super::solution::Values;

impl Builder<'_> {
    /// Adds every storage plant, in plant order.
    pub(crate) fn add_storages(&mut self) {
        for s in &self.plant.storage {
            self.add_storage(s);
        }
    }

    /// Adds the variables and rows of one storage plant.
    fn add_storage(&mut self, s: &Storage) {
        let inflow = if s.kind.has_inflow() { self.forecast.inflow_mwh.get(&s.name).map(Vec::as_slice) } else { None };
        let btm = s.park.as_deref().and_then(|p| self.plant.park_index(p));
        let dt = self.dt();
        let node = self.node(&s.node);
        let subject = self.lp.subject(&s.name);
        let (green0, grey0) = match self.options.initial.get(&s.name) {
            Some(level) => (level.green_mwh, level.grey_mwh),
            None => (s.e0_mwh * s.initial_green_fraction, s.e0_mwh * (1.0 - s.initial_green_fraction)),
        };
        let target = self.options.end_energy_mwh.get(&s.name).copied().unwrap_or(green0 + grey0);
        let keep = 1.0 - s.standing_loss_per_h * dt;
        let milp = self.options.milp;
        let t_len = self.h.len;
        let mut v = StorageVars {
            charge: Vec::with_capacity(t_len),
            charge_green: Vec::with_capacity(t_len),
            discharge: Vec::with_capacity(t_len),
            discharge_green: Vec::with_capacity(t_len),
            spill: Vec::with_capacity(t_len),
            energy_green: Vec::with_capacity(t_len),
            energy_grey: Vec::with_capacity(t_len),
            initial_green: green0,
            initial_grey: grey0,
        };
        let (mut prev_g, mut prev_k): (Option<Var>, Option<Var>) = (None, None);
        for t in self.intervals() {
            let c = self.lp.var(0.0, s.charge_mw);
            let cg = self.lp.var(0.0, s.charge_mw);
            let d = self.lp.var(0.0, s.discharge_mw);
            let dg = self.lp.var(0.0, s.discharge_mw);
            let eg = self.lp.var(0.0, s.e_max_mwh);
            let ek = self.lp.var(0.0, s.e_max_mwh);
            let inflow = inflow.map_or(0.0, |f| f[t]);
            let spill = (inflow > 0.0).then(|| self.lp.var(0.0, inflow));
            self.lp.row(Family::ChargeSplit, subject, Some(t), [(cg, 1.0), (c, -1.0)], Sense::Le, 0.0);
            self.lp.row(Family::DischargeSplit, subject, Some(t), [(dg, 1.0), (d, -1.0)], Sense::Le, 0.0);
            // Green: E^g_{t+1} − keep·E^g_t − η_ch·Δ·cg + Δ/η_dis·dg + spill = inflow.
            let mut green = vec![(eg, 1.0), (cg, -s.eta_charge * dt), (dg, dt / s.eta_discharge)];
            let mut green_rhs = inflow;
            match prev_g {
                Some(p) => green.push((p, -keep)),
                None => green_rhs += keep * green0,
            }
            if let Some(sp) = spill {
                green.push((sp, 1.0));
            }
            self.lp.row(Family::DynamicsGreen, subject, Some(t), green, Sense::Eq, green_rhs);
            // Grey: the same with the grey parts c − cg and d − dg.
            let mut grey =
                vec![(ek, 1.0), (c, -s.eta_charge * dt), (cg, s.eta_charge * dt), (d, dt / s.eta_discharge), (dg, -dt / s.eta_discharge)];
            let mut grey_rhs = 0.0;
            match prev_k {
                Some(p) => grey.push((p, -keep)),
                None => grey_rhs += keep * grey0,
            }
            self.lp.row(Family::DynamicsGrey, subject, Some(t), grey, Sense::Eq, grey_rhs);
            if s.e_min_mwh > 0.0 {
                self.lp.row(Family::EnergyMin, subject, Some(t), [(eg, 1.0), (ek, 1.0)], Sense::Ge, s.e_min_mwh);
            }
            self.lp.row(Family::EnergyMax, subject, Some(t), [(eg, 1.0), (ek, 1.0)], Sense::Le, s.e_max_mwh);
            if milp {
                let on_c = self.lp.binary();
                let on_d = self.lp.binary();
                self.lp.row(Family::MilpCharge, subject, Some(t), [(c, 1.0), (on_c, -s.charge_mw)], Sense::Le, 0.0);
                self.lp.row(Family::MilpDischarge, subject, Some(t), [(d, 1.0), (on_d, -s.discharge_mw)], Sense::Le, 0.0);
                self.lp.row(Family::MilpExclusive, subject, Some(t), [(on_c, 1.0), (on_d, 1.0)], Sense::Le, 1.0);
                if let Some(m) = s.min_generation_mw.filter(|m| *m > 0.0) {
                    self.lp.row(Family::MinGeneration, subject, Some(t), [(d, 1.0), (on_d, -m)], Sense::Ge, 0.0);
                }
            }
            self.inject[node][t].push((d, dt));
            self.inject[node][t].push((c, -dt));
            self.green_supply[t].push((dg, dt));
            self.green_use[t].push((cg, dt));
            if let Some(p) = btm {
                self.own_green[p][t].push((dg, dt));
            }
            self.cost.storage.add(d, (s.variable_cost + s.cycle_cost_yuan_per_mwh) * dt);
            self.cost.storage.add(c, s.cycle_cost_yuan_per_mwh * dt);
            v.charge.push(c);
            v.charge_green.push(cg);
            v.discharge.push(d);
            v.discharge_green.push(dg);
            v.spill.push(spill);
            v.energy_green.push(eg);
            v.energy_grey.push(ek);
            prev_g = Some(eg);
            prev_k = Some(ek);
        }
        if let (Some(eg), Some(ek)) = (prev_g, prev_k) {
            self.lp.row(Family::EndEnergy, subject, None, [(eg, 1.0), (ek, 1.0)], Sense::Ge, target);
            let total0 = green0 + grey0;
            let frac = if total0 > 0.0 { green0 / total0 } else { 0.0 };
            if frac > 0.0 {
                self.lp.row(Family::EndGreen, subject, None, [(eg, 1.0)], Sense::Ge, frac * target);
            }
        }
        if !milp && s.min_generation_mw.is_some_and(|m| m > 0.0) {
            self.warnings.push(format!(
                "{}: minimum generation {} MW is enforced only in the MILP mode (option milp, vpp solve --milp); this LP relaxes it",
                s.name,
                s.min_generation_mw.unwrap_or(0.0)
            ));
        }
        self.ix.storage.push(v);
    }
}

impl StorageVars {
    /// Reads this storage's results back: the series of the schedule.
    pub(crate) fn read(&self, s: &Storage, inflow: &[f64], v: &Values<'_>) -> StorageSchedule {
        let mut energy_green_mwh = vec![self.initial_green];
        energy_green_mwh.extend(v.series(&self.energy_green));
        let mut energy_grey_mwh = vec![self.initial_grey];
        energy_grey_mwh.extend(v.series(&self.energy_grey));
        StorageSchedule {
            name: s.name.clone(),
            kind: s.kind,
            node: s.node.clone(),
            park: s.park.clone(),
            charge_mw: v.series(&self.charge),
            charge_green_mw: v.series(&self.charge_green),
            discharge_mw: v.series(&self.discharge),
            discharge_green_mw: v.series(&self.discharge_green),
            inflow_mwh: inflow.to_vec(),
            spill_mwh: self.spill.iter().map(|sp| sp.map_or(0.0, |x| v.get(x))).collect(),
            energy_green_mwh,
            energy_grey_mwh,
        }
    }
}
