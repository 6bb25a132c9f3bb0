//! The grid exchange (imports at time-of-use prices, a green fraction φ of imports,
//! exports split into green and grey) and optional thermal units (grey, must-run above
//! p_min). In MILP mode one binary per interval forbids importing and exporting at once
//! (which an LP would do wherever the export price beats the import price).

use crate::domain::schedule::{GridSchedule, ThermalSchedule};
use crate::domain::{Forecast, Horizon, Plant};

use super::builder::{Builder, Index};
use super::lp::{Family, Sense};
use super::solution::Values;

impl Builder<'_> {
    /// Adds import and export variables for every grid exchange.
    pub(crate) fn add_grid(&mut self) {
        let dt = self.dt();
        let tz = self.plant.tz();
        for g in &self.plant.grids {
            let node = self.node(&g.node);
            let subject = self.lp.subject(&g.name);
            let prices = import_prices(g, self.forecast, &self.h, tz);
            let (mut imp, mut exp, mut exp_green) = (Vec::new(), Vec::new(), Vec::new());
            for t in self.intervals() {
                let price = prices[t];
                let i = self.lp.var(0.0, g.import_cap_mw);
                let e = self.lp.var(0.0, g.export_cap_mw);
                self.inject[node][t].push((i, dt));
                self.inject[node][t].push((e, -dt));
                self.cost.imports.add(i, price * dt);
                self.cost.export_revenue.add(e, g.export_price * dt);
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
                self.cost.thermal.add(p, u.marginal_cost * dt);
                self.emissions.add(p, u.carbon_intensity * dt);
                out.push(p);
            }
            self.ix.thermal.push(out);
        }
    }
}

/// The import price of exchange `g` in every interval: the forecast's series where it gives
/// one, the tariff otherwise.
fn import_prices(g: &crate::domain::plant::GridExchange, forecast: &Forecast, h: &Horizon, tz: chrono_tz::Tz) -> Vec<f64> {
    match forecast.import_price.get(&g.name) {
        Some(p) => p.clone(),
        None => (0..h.len).map(|t| g.tariff.price_at(h.instant(t), tz)).collect(),
    }
}

/// Reads the grid exchanges and thermal units back.
pub(crate) fn read_grid(
    plant: &Plant,
    forecast: &Forecast,
    h: &Horizon,
    ix: &Index,
    v: &Values<'_>,
) -> (Vec<GridSchedule>, Vec<ThermalSchedule>) {
    let tz = plant.tz();
    let grids = plant
        .grids
        .iter()
        .enumerate()
        .map(|(k, g)| GridSchedule {
            name: g.name.clone(),
            node: g.node.clone(),
            import_mw: v.series(&ix.import[k]),
            export_mw: v.series(&ix.export[k]),
            export_green_mw: ix.export_green[k].iter().map(|e| e.map_or(0.0, |e| v.get(e))).collect(),
            import_price: import_prices(g, forecast, h, tz),
            export_price: g.export_price,
        })
        .collect();
    let thermal = plant
        .thermal
        .iter()
        .zip(&ix.thermal)
        .map(|(u, vars)| ThermalSchedule { name: u.name.clone(), node: u.node.clone(), output_mw: v.series(vars) })
        .collect();
    (grids, thermal)
}
