//! Wind farms and PV plants: output g_t ≤ a_t·P; curtailment a_t·P − g_t is implied. A plant
//! behind a park's meter (rooftop PV aggregated per park) adds its output to that park's
//! own green (see `green.rs`).

use crate::domain::schedule::RenewableSchedule;
use crate::domain::{Forecast, Plant};

use super::builder::Builder;
use super::lp::Var;
use super::solution::{clean, Values};

impl Builder<'_> {
    /// Adds an output variable per interval for every wind farm and PV plant.
    pub(crate) fn add_wind_pv(&mut self) {
        let dt = self.dt();
        for (_, r) in self.plant.renewables() {
            let node = self.node(&r.node);
            let btm = r.park.as_deref().and_then(|p| self.plant.park_index(p));
            let avail = &self.forecast.availability[&r.name];
            let mut out = Vec::with_capacity(self.h.len);
            for t in self.intervals() {
                let g = self.lp.var(0.0, avail[t] * r.capacity_mw);
                self.inject[node][t].push((g, dt));
                self.green_supply[t].push((g, dt));
                if let Some(p) = btm {
                    self.own_green[p][t].push((g, dt));
                }
                out.push(g);
            }
            self.ix.renewable.push(out);
        }
    }
}

/// Reads every renewable's results back, in plant order (wind, then PV).
pub(crate) fn read_renewables(plant: &Plant, forecast: &Forecast, vars: &[Vec<Var>], v: &Values<'_>) -> Vec<RenewableSchedule> {
    plant
        .renewables()
        .zip(vars)
        .map(|((kind, r), vars)| {
            let available_mw: Vec<f64> = forecast.availability[&r.name].iter().map(|a| a * r.capacity_mw).collect();
            let output_mw = v.series(vars);
            let curtailed_mw = available_mw.iter().zip(&output_mw).map(|(a, g)| clean(a - g)).collect();
            RenewableSchedule {
                name: r.name.clone(),
                kind,
                node: r.node.clone(),
                park: r.park.clone(),
                available_mw,
                output_mw,
                curtailed_mw,
            }
        })
        .collect()
}
