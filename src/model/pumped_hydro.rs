//! Pumped hydro (Wuyue, Dabping, Jingangshan): pumping and turbine limits and
//! efficiencies, reservoir limits, and natural inflow, which arrives green and may spill.

use super::builder::Builder;
use super::storage::StorageSpec;

impl Builder<'_> {
    /// Adds every pumped-hydro station as a colour-tracked storage with inflow.
    pub(crate) fn add_pumped_hydro(&mut self) {
        let forecast = self.forecast;
        for h in &self.plant.pumped_hydro {
            let spec = StorageSpec {
                name: &h.name,
                node: &h.node,
                charge_mw: h.pump_mw,
                discharge_mw: h.turbine_mw,
                e_min: h.e_min_mwh,
                e_max: h.e_max_mwh,
                e0: h.e0_mwh,
                green_fraction0: h.initial_green_fraction,
                eta_charge: h.eta_pump,
                eta_discharge: h.eta_turbine,
                loss_per_h: 0.0,
                min_generation_mw: None,
                inflow: forecast.inflow_mwh.get(&h.name).map(Vec::as_slice),
                variable_cost: h.variable_cost,
            };
            self.add_storage(&spec);
        }
    }
}
