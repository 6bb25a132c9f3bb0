//! The builder every asset family adds to. It owns the LP under construction and the
//! per-node, per-interval sums (injections, green supply and use, served energy) that the
//! network and green families close at the end.

use std::collections::HashMap;

use crate::domain::forecast::Horizon;
use crate::domain::{Forecast, Plant};

use super::lp::{LinExpr, Lp, RowId, Var};
use super::Options;

/// Variables of one storage plant, per interval.
#[derive(Debug, Clone)]
pub(crate) struct StorageVars {
    pub(crate) charge: Vec<Var>,
    pub(crate) charge_green: Vec<Var>,
    pub(crate) discharge: Vec<Var>,
    pub(crate) discharge_green: Vec<Var>,
    pub(crate) spill: Vec<Option<Var>>,
    /// Energy at the end of interval t (E_{t+1}).
    pub(crate) energy_green: Vec<Var>,
    pub(crate) energy_grey: Vec<Var>,
    pub(crate) initial_green: f64,
    pub(crate) initial_grey: f64,
}

/// Where every variable and named row of the model is.
#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    /// Wind then PV, in plant order.
    pub(crate) renewable: Vec<Vec<Var>>,
    /// Pumped hydro then CAES, in plant order.
    pub(crate) storage: Vec<StorageVars>,
    pub(crate) interrupted: Vec<Vec<Var>>,
    pub(crate) import: Vec<Vec<Var>>,
    pub(crate) export: Vec<Vec<Var>>,
    pub(crate) export_green: Vec<Vec<Option<Var>>>,
    pub(crate) thermal: Vec<Vec<Var>>,
    pub(crate) flow: Vec<Vec<Var>>,
    pub(crate) angle: Vec<Vec<Option<Var>>>,
    pub(crate) bid: Vec<Var>,
    pub(crate) bid_green: Vec<Option<Var>>,
    /// Green energy delivered to loads in interval t, MWh.
    pub(crate) green_to_load: Vec<Var>,
    /// Balance row of node n at t.
    pub(crate) balance: Vec<Vec<RowId>>,
}

impl Index {
    /// Marks the variables that only say what colour energy is (green parts of charge,
    /// discharge, stored energy, exports and buys; green to load): fixing every other
    /// variable fixes the physical dispatch.
    pub(crate) fn colour_vars(&self, n: usize) -> Vec<bool> {
        let mut colour = vec![false; n];
        let mut mark = |v: &Var| colour[v.idx()] = true;
        for s in &self.storage {
            s.charge_green.iter().chain(&s.discharge_green).chain(&s.energy_green).chain(&s.energy_grey).for_each(&mut mark);
        }
        self.export_green.iter().flatten().flatten().for_each(&mut mark);
        self.bid_green.iter().flatten().for_each(&mut mark);
        self.green_to_load.iter().for_each(&mut mark);
        colour
    }
}

/// The model under construction.
pub(crate) struct Builder<'a> {
    pub(crate) plant: &'a Plant,
    pub(crate) forecast: &'a Forecast,
    pub(crate) options: &'a Options,
    pub(crate) h: Horizon,
    pub(crate) lp: Lp,
    pub(crate) ix: Index,
    node: HashMap<&'a str, usize>,
    /// Energy injected into node n at t (MWh terms; withdrawals negative).
    pub(crate) inject: Vec<Vec<Vec<(Var, f64)>>>,
    /// Demand of node n at t, MWh.
    pub(crate) demand: Vec<Vec<f64>>,
    /// Green energy available at t (MWh terms).
    pub(crate) green_supply: Vec<Vec<(Var, f64)>>,
    /// Green energy charged, exported or sold at t (MWh terms).
    pub(crate) green_use: Vec<Vec<(Var, f64)>>,
    /// Load reductions of park p at t (MW variables: interruptions, curtail bids).
    pub(crate) reductions: Vec<Vec<Vec<Var>>>,
    /// Operating cost, yuan (without carbon).
    pub(crate) cost: LinExpr,
    /// Emissions, tCO2.
    pub(crate) emissions: LinExpr,
    pub(crate) warnings: Vec<String>,
}

/// The finished model: the LP, where everything is, and the objective expressions.
#[derive(Debug, Clone)]
pub(crate) struct Built {
    pub(crate) lp: Lp,
    pub(crate) ix: Index,
    pub(crate) h: Horizon,
    /// N: green energy to loads, MWh.
    pub(crate) green: LinExpr,
    /// D: energy served to loads, MWh.
    pub(crate) served: LinExpr,
    /// Operating cost including the carbon price, yuan.
    pub(crate) cost: LinExpr,
    /// Emissions, tCO2.
    pub(crate) emissions: LinExpr,
    pub(crate) warnings: Vec<String>,
}

impl<'a> Builder<'a> {
    pub(crate) fn new(plant: &'a Plant, forecast: &'a Forecast, options: &'a Options) -> Builder<'a> {
        let h = forecast.horizon(plant.tz());
        let n = plant.nodes.len();
        let t = h.len;
        let node = plant.nodes.iter().enumerate().map(|(k, n)| (n.name.as_str(), k)).collect();
        Builder {
            plant,
            forecast,
            options,
            lp: Lp::default(),
            ix: Index::default(),
            node,
            inject: vec![vec![Vec::new(); t]; n],
            demand: vec![vec![0.0; t]; n],
            green_supply: vec![Vec::new(); t],
            green_use: vec![Vec::new(); t],
            reductions: vec![vec![Vec::new(); t]; plant.parks.len()],
            cost: LinExpr::default(),
            emissions: LinExpr::default(),
            warnings: Vec::new(),
            h,
        }
    }

    /// Index of a node by name (validated before building).
    pub(crate) fn node(&self, name: &str) -> usize {
        self.node.get(name).copied().unwrap_or(0)
    }

    pub(crate) fn dt(&self) -> f64 {
        self.h.dt
    }

    pub(crate) fn intervals(&self) -> std::ops::Range<usize> {
        0..self.h.len
    }

    /// Builds the whole model, one asset family after the other.
    pub(crate) fn build(mut self) -> Built {
        self.add_wind_pv();
        self.add_pumped_hydro();
        self.add_caes();
        self.add_loads();
        self.add_grid();
        self.add_thermal();
        self.add_bids();
        self.add_network();
        let (green, served) = self.add_green();
        let mut cost = std::mem::take(&mut self.cost);
        if self.options.carbon_price != 0.0 {
            cost = cost.plus(self.options.carbon_price, &self.emissions);
        }
        Built { lp: self.lp, ix: self.ix, h: self.h, green, served, cost, emissions: self.emissions, warnings: self.warnings }
    }
}
