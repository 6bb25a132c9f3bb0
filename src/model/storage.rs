//! Storage with colour tracking, shared by pumped hydro and CAES:
//!
//! E^c_{t+1} = (1 − σΔ)·E^c_t + η_ch·charge^c_t·Δ − discharge^c_t·Δ/η_dis (+ inflow_t − spill_t
//! for the green part of hydro), for colour c ∈ {green, grey};
//! E_min ≤ E^green + E^grey ≤ E_max; at the end E_T ≥ target and E^green_T ≥ (initial green
//! fraction)·target, so a horizon never consumes green energy it did not store itself.
//! In MILP mode one binary per direction and interval forbids charging and discharging at
//! once and enforces a minimum generation when running.

use super::builder::{Builder, StorageVars};
use super::lp::{Family, Sense, Var};

/// One storage plant as the model sees it.
#[derive(Debug, Clone)]
pub(crate) struct StorageSpec<'s> {
    pub(crate) name: &'s str,
    pub(crate) node: &'s str,
    pub(crate) charge_mw: f64,
    pub(crate) discharge_mw: f64,
    pub(crate) e_min: f64,
    pub(crate) e_max: f64,
    pub(crate) e0: f64,
    pub(crate) green_fraction0: f64,
    pub(crate) eta_charge: f64,
    pub(crate) eta_discharge: f64,
    pub(crate) loss_per_h: f64,
    pub(crate) min_generation_mw: Option<f64>,
    pub(crate) inflow: Option<&'s [f64]>,
    pub(crate) variable_cost: f64,
}

impl Builder<'_> {
    /// Adds the variables and rows of one storage plant.
    pub(crate) fn add_storage(&mut self, s: &StorageSpec<'_>) {
        let dt = self.dt();
        let node = self.node(s.node);
        let subject = self.lp.subject(s.name);
        let (green0, grey0) = match self.options.initial.get(s.name) {
            Some(level) => (level.green_mwh, level.grey_mwh),
            None => (s.e0 * s.green_fraction0, s.e0 * (1.0 - s.green_fraction0)),
        };
        let target = self.options.end_energy_mwh.get(s.name).copied().unwrap_or(green0 + grey0);
        let keep = 1.0 - s.loss_per_h * dt;
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
            let eg = self.lp.var(0.0, s.e_max);
            let ek = self.lp.var(0.0, s.e_max);
            let inflow = s.inflow.map_or(0.0, |f| f[t]);
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
            let mut grey = vec![
                (ek, 1.0),
                (c, -s.eta_charge * dt),
                (cg, s.eta_charge * dt),
                (d, dt / s.eta_discharge),
                (dg, -dt / s.eta_discharge),
            ];
            let mut grey_rhs = 0.0;
            match prev_k {
                Some(p) => grey.push((p, -keep)),
                None => grey_rhs += keep * grey0,
            }
            self.lp.row(Family::DynamicsGrey, subject, Some(t), grey, Sense::Eq, grey_rhs);
            if s.e_min > 0.0 {
                self.lp.row(Family::EnergyMin, subject, Some(t), [(eg, 1.0), (ek, 1.0)], Sense::Ge, s.e_min);
            }
            self.lp.row(Family::EnergyMax, subject, Some(t), [(eg, 1.0), (ek, 1.0)], Sense::Le, s.e_max);
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
            self.cost.add(d, s.variable_cost * dt);
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
