//! Industrial-park loads: demand d_t, interruption i_t ≤ min(I_t, d_t), a daily cap on
//! interrupted energy (per local day), compensation per MWh interrupted.

use super::builder::Builder;
use super::lp::{Family, Sense};

impl Builder<'_> {
    /// Adds demand to each park's node and an interruption variable per interval.
    pub(crate) fn add_loads(&mut self) {
        let dt = self.dt();
        let days = self.h.days();
        for (p, park) in self.plant.parks.iter().enumerate() {
            let node = self.node(&park.node);
            let subject = self.lp.subject(&park.name);
            let demand = &self.forecast.demand_mw[&park.name];
            let limit = self.forecast.interruptible_mw.get(&park.name);
            let mut vars = Vec::with_capacity(self.h.len);
            for t in self.intervals() {
                let cap = limit.map_or(park.interruptible_mw, |l| l[t]).min(demand[t]);
                let i = self.lp.var(0.0, cap);
                self.demand[node][t] += demand[t] * dt;
                self.inject[node][t].push((i, dt));
                self.reductions[p][t].push(i);
                self.cost.interruption.add(i, park.compensation_yuan_per_mwh * dt);
                vars.push(i);
            }
            if let Some(cap) = park.daily_interruptible_mwh {
                for (_, ts) in &days {
                    let terms: Vec<_> = ts.iter().map(|&t| (vars[t], dt)).collect();
                    self.lp.row(Family::DailyInterrupt, subject, Some(ts[0]), terms, Sense::Le, cap);
                }
            }
            self.ix.interrupted.push(vars);
        }
    }
}
