//! The grid exchange (imports at time-of-use prices, a green fraction φ of imports,
//! exports split into green and grey) and optional thermal units (grey, must-run above
//! p_min). In MILP mode one binary per interval forbids importing and exporting at once
//! (which an LP would do wherever the export price beats the import price).

use super::builder::Builder;
use super::lp::{Family, Sense};

impl Builder<'_> {
    /// Adds import and export variables for every grid exchange.
    pub(crate) fn add_grid(&mut self) {
        let dt = self.dt();
        let tz = self.plant.tz();
        for g in &self.plant.grids {
            let node = self.node(&g.node);
            let subject = self.lp.subject(&g.name);
            let prices = self.forecast.import_price.get(&g.name);
            let (mut imp, mut exp, mut exp_green) = (Vec::new(), Vec::new(), Vec::new());
            for t in self.intervals() {
                let price = prices.map_or_else(|| g.tariff.price_at(self.h.instant(t), tz), |p| p[t]);
                let i = self.lp.var(0.0, g.import_cap_mw);
                let e = self.lp.var(0.0, g.export_cap_mw);
                self.inject[node][t].push((i, dt));
                self.inject[node][t].push((e, -dt));
                self.cost.add(i, price * dt);
                self.cost.add(e, -g.export_price * dt);
                self.emissions.add(i, g.carbon_intensity * dt);
                if g.green_fraction > 0.0 {
                    self.green_supply[t].push((i, g.green_fraction * dt));
                }
                let eg = (g.export_cap_mw > 0.0).then(|| {
                    let eg = self.lp.var(0.0, g.export_cap_mw);
                    self.lp.row(Family::ExportSplit, subject, Some(t), [(eg, 1.0), (e, -1.0)], Sense::Le, 0.0);
                    self.green_use[t].push((eg, dt));
                    eg
                });
                if self.options.milp && g.import_cap_mw > 0.0 && g.export_cap_mw > 0.0 {
                    let importing = self.lp.binary();
                    self.lp.row(Family::MilpImport, subject, Some(t), [(i, 1.0), (importing, -g.import_cap_mw)], Sense::Le, 0.0);
                    self.lp.row(Family::MilpExport, subject, Some(t), [(e, 1.0), (importing, g.export_cap_mw)], Sense::Le, g.export_cap_mw);
                }
                imp.push(i);
                exp.push(e);
                exp_green.push(eg);
            }
            self.ix.import.push(imp);
            self.ix.export.push(exp);
            self.ix.export_green.push(exp_green);
        }
    }

    /// Adds an output variable per interval for every thermal unit.
    pub(crate) fn add_thermal(&mut self) {
        let dt = self.dt();
        for u in &self.plant.thermal {
            let node = self.node(&u.node);
            let mut out = Vec::with_capacity(self.h.len);
            for t in self.intervals() {
                let p = self.lp.var(u.p_min_mw, u.p_max_mw);
                self.inject[node][t].push((p, dt));
                self.cost.add(p, u.marginal_cost * dt);
                self.emissions.add(p, u.carbon_intensity * dt);
                out.push(p);
            }
            self.ix.thermal.push(out);
        }
    }
}
