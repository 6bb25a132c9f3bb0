//! The builder every asset family adds to. It owns the LP under construction and the
//! per-node, per-interval sums (injections, green supply and use, served energy) that the
//! network and green families close at the end.

use std::collections::HashMap;

use crate::domain::forecast::Horizon;
use crate::domain::{Forecast, Plant};

use super::bids::{place_bids, BidPlace};
use super::lp::{LinExpr, Lp, RowId, Var};
use super::{DispatchError, Options};

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
    /// Storage plants, in plant order (`plant.storage`).
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
    /// Where each bid landed (interval, node, park).
    pub(crate) bid_places: Vec<BidPlace>,
    /// What parks with something behind their meter need from the pool for their minimum.
    pub(crate) park_need: Vec<Var>,
    /// Green energy delivered to loads in interval t, MWh.
    pub(crate) green_to_load: Vec<Var>,
    /// Park p's own green at t: green from behind its meter used on site, MWh (None for a
    /// park with nothing behind its meter).
    pub(crate) own_green: Vec<Vec<Option<Var>>>,
    /// Balance row of node n at t.
    pub(crate) balance: Vec<Vec<RowId>>,
}

impl Index {
    /// Park p's own green at t in the point `x`, MWh (0 for a park with nothing behind its
    /// meter).
    pub(crate) fn own_green_at(&self, p: usize, t: usize, x: &[f64]) -> f64 {
        self.own_green.get(p).and_then(|o| o[t]).map_or(0.0, |o| x[o.idx()])
    }

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
        self.own_green.iter().flatten().flatten().for_each(&mut mark);
        self.park_need.iter().for_each(&mut mark);
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
    /// Where each bid lands, resolved before any row is written.
    pub(crate) bid_places: Vec<BidPlace>,
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
    /// Green energy produced behind park p's meter at t (MWh terms: rooftop PV output,
    /// green discharge of storage behind the meter): the park's own green comes from it.
    pub(crate) own_green: Vec<Vec<Vec<(Var, f64)>>>,
    /// Operating cost by named part, yuan (without carbon).
    pub(crate) cost: CostParts,
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
    /// Operating cost including the carbon price, yuan: the sum of `cost_parts`.
    pub(crate) cost: LinExpr,
    /// The named parts `cost` is made of.
    pub(crate) cost_parts: CostParts,
    /// Emissions, tCO2.
    pub(crate) emissions: LinExpr,
    pub(crate) warnings: Vec<String>,
    /// The indices of further copies of the plant in the same LP (the scenarios after the
    /// first of a stochastic day-ahead, whose index is `ix`): the tie-break stages treat
    /// their columns like `ix`'s.
    pub(crate) more: Vec<Index>,
    /// Energy the canonical objective moves as little as possible beyond the families'
    /// own (real-time imbalance of a stochastic day-ahead), MW columns.
    pub(crate) moves: Vec<Var>,
}

impl Built {
    /// Every copy of the plant's index in the LP: `ix`, then `more`.
    pub(crate) fn indices(&self) -> impl Iterator<Item = &Index> {
        std::iter::once(&self.ix).chain(&self.more)
    }

    /// The colour columns of every copy of the plant (see [`Index::colour_vars`]).
    pub(crate) fn colour_vars(&self) -> Vec<bool> {
        let n = self.lp.cols.len();
        let mut colour = vec![false; n];
        for ix in self.indices() {
            for (c, own) in colour.iter_mut().zip(ix.colour_vars(n)) {
                *c |= own;
            }
        }
        colour
    }
}

/// The operating cost as named parts, each a linear expression in yuan. The LP's cost
/// objective is made of exactly these (with the carbon price times emissions), and the
/// schedule's cost breakdown evaluates each at the solution, so the two cannot drift.
#[derive(Debug, Clone, Default)]
pub(crate) struct CostParts {
    /// Imports at their interval's price.
    pub(crate) imports: LinExpr,
    /// Export revenue (enters the cost with a minus sign).
    pub(crate) export_revenue: LinExpr,
    /// Interruption compensation.
    pub(crate) interruption: LinExpr,
    /// Storage variable cost and cycle-ageing cost.
    pub(crate) storage: LinExpr,
    /// Thermal fuel cost.
    pub(crate) thermal: LinExpr,
    /// Paid to accepted sell and curtail bids.
    pub(crate) bids_paid: LinExpr,
    /// Received from accepted buy bids (enters the cost with a minus sign).
    pub(crate) bids_received: LinExpr,
}

impl CostParts {
    /// The whole cost: the parts with their signs, plus `carbon_price` × `emissions`.
    pub(crate) fn total(&self, carbon_price: f64, emissions: &LinExpr) -> LinExpr {
        let mut total = LinExpr::default()
            .plus(1.0, &self.imports)
            .plus(-1.0, &self.export_revenue)
            .plus(1.0, &self.interruption)
            .plus(1.0, &self.storage)
            .plus(1.0, &self.thermal)
            .plus(1.0, &self.bids_paid)
            .plus(-1.0, &self.bids_received);
        if carbon_price != 0.0 {
            total = total.plus(carbon_price, emissions);
        }
        total
    }
}

impl<'a> Builder<'a> {
    /// A builder for validated inputs. Every name the families look up (asset nodes, bid
    /// intervals, nodes and parks) is resolved here, so that a lookup that validation should
    /// have refused is an error, never a silent index 0.
    pub(crate) fn new(plant: &'a Plant, forecast: &'a Forecast, options: &'a Options) -> Result<Builder<'a>, DispatchError> {
        let h = forecast.horizon(plant.tz());
        let n = plant.nodes.len();
        let t = h.len;
        let node: HashMap<&str, usize> = plant.nodes.iter().enumerate().map(|(k, n)| (n.name.as_str(), k)).collect();
        let asset_nodes = plant
            .renewables()
            .map(|(_, r)| (&r.name, &r.node))
            .chain(plant.storage.iter().map(|s| (&s.name, &s.node)))
            .chain(plant.parks.iter().map(|p| (&p.name, &p.node)))
            .chain(plant.grids.iter().map(|g| (&g.name, &g.node)))
            .chain(plant.thermal.iter().map(|u| (&u.name, &u.node)))
            .chain(plant.lines.iter().flat_map(|l| [(&l.name, &l.from), (&l.name, &l.to)]));
        for (asset, at) in asset_nodes {
            if !node.contains_key(at.as_str()) {
                return Err(DispatchError::Solver(format!("unvalidated plant: {asset} is at unknown node '{at}'")));
            }
        }
        let bid_places = place_bids(plant, forecast, &h).map_err(|e| DispatchError::Solver(format!("unvalidated forecast: {e}")))?;
        Ok(Builder {
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
            own_green: vec![vec![Vec::new(); t]; plant.parks.len()],
            cost: CostParts::default(),
            emissions: LinExpr::default(),
            warnings: Vec::new(),
            bid_places,
            h,
        })
    }

    /// Index of a node by name; [`Builder::new`] checked that every asset's node exists.
    pub(crate) fn node(&self, name: &str) -> usize {
        self.node.get(name).copied().unwrap_or_default()
    }

    pub(crate) fn dt(&self) -> f64 {
        self.h.dt
    }

    pub(crate) fn intervals(&self) -> std::ops::Range<usize> {
        0..self.h.len
    }

    /// Continues building into `lp` (which already holds other copies of the plant: the
    /// scenarios of a stochastic day-ahead), so that every column keeps its number.
    pub(crate) fn into_lp(mut self, lp: Lp) -> Self {
        self.lp = lp;
        self
    }

    /// Builds the whole model, one asset family after the other.
    pub(crate) fn build(mut self) -> Built {
        self.add_wind_pv();
        self.add_storages();
        self.add_loads();
        self.add_grid();
        self.add_thermal();
        self.add_bids();
        self.add_network();
        let (green, served) = self.add_green();
        let cost = self.cost.total(self.options.carbon_price, &self.emissions);
        Built {
            lp: self.lp,
            ix: self.ix,
            h: self.h,
            green,
            served,
            cost,
            cost_parts: self.cost,
            emissions: self.emissions,
            warnings: self.warnings,
            more: Vec::new(),
            moves: Vec::new(),
        }
    }
}
