//! Wind farms and PV plants: output g_t ≤ a_t·P; curtailment a_t·P − g_t is implied.

use super::builder::Builder;

impl Builder<'_> {
    /// Adds an output variable per interval for every wind farm and PV plant.
    pub(crate) fn add_wind_pv(&mut self) {
        let dt = self.dt();
        for r in self.plant.wind.iter().chain(&self.plant.pv) {
            let node = self.node(&r.node);
            let avail = &self.forecast.availability[&r.name];
            let mut out = Vec::with_capacity(self.h.len);
            for t in self.intervals() {
                let g = self.lp.var(0.0, avail[t] * r.capacity_mw);
                self.inject[node][t].push((g, dt));
                self.green_supply[t].push((g, dt));
                out.push(g);
            }
            self.ix.renewable.push(out);
        }
    }
}
