//! Compressed-air storage (Shawo 300 MW): compression and generation limits and
//! efficiencies, standing loss of the cavern, optional minimum generation when running.

use super::builder::Builder;
use super::storage::StorageSpec;

impl Builder<'_> {
    /// Adds every CAES plant as a colour-tracked storage with standing loss.
    pub(crate) fn add_caes(&mut self) {
        for s in &self.plant.caes {
            let spec = StorageSpec {
                name: &s.name,
                node: &s.node,
                charge_mw: s.compression_mw,
                discharge_mw: s.generation_mw,
                e_min: s.e_min_mwh,
                e_max: s.e_max_mwh,
                e0: s.e0_mwh,
                green_fraction0: s.initial_green_fraction,
                eta_charge: s.eta_charge,
                eta_discharge: s.eta_discharge,
                loss_per_h: s.standing_loss_per_h,
                min_generation_mw: s.min_generation_mw,
                inflow: None,
                variable_cost: s.variable_cost,
            };
            self.add_storage(&spec);
        }
    }
}
