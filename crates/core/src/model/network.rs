//! The network: line flows −F ≤ f ≤ F; DC power flow f = base·(θ_from − θ_to)/x on lines
//! with a reactance (one reference angle per connected part of that sub-network);
//! transport (free flow within capacity) on lines without one; and the node balance
//!
//! Σ injections + flow in − flow out = demand − interrupted   (MWh, at every node and t),
//!
//! whose dual is the node's marginal price in yuan/MWh.

use crate::domain::schedule::{LineSchedule, NodeSchedule};
use crate::domain::Plant;

use super::builder::{Builder, Index};
use super::lp::{Family, Sense, Var};
use super::solution::{clean, Values};

impl Builder<'_> {
    /// Adds line flows, DC angles and the balance row of every node and interval.
    pub(crate) fn add_network(&mut self) {
        let dt = self.dt();
        let n_nodes = self.plant.nodes.len();
        let reference = dc_references(
            self.plant.nodes.len(),
            self.plant.lines.iter().filter_map(|l| l.reactance_pu.map(|_| (self.node(&l.from), self.node(&l.to)))),
        );
        // θ only for nodes on a reactance line, and not at each part's reference node.
        self.ix.angle = (0..n_nodes)
            .map(|n| {
                self.intervals()
                    .map(|_| match reference[n] {
                        Some(r) if r != n => Some(self.lp.var(f64::NEG_INFINITY, f64::INFINITY)),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        for line in &self.plant.lines {
            let (from, to) = (self.node(&line.from), self.node(&line.to));
            let subject = self.lp.subject(&line.name);
            let mut flows: Vec<Var> = Vec::with_capacity(self.h.len);
            for t in self.intervals() {
                let f = self.lp.var(-line.capacity_mw, line.capacity_mw);
                self.inject[to][t].push((f, dt));
                self.inject[from][t].push((f, -dt));
                if let Some(x) = line.reactance_pu {
                    let b = self.plant.base_mva / x;
                    let mut terms = vec![(f, 1.0)];
                    if let Some(a) = self.ix.angle[from][t] {
                        terms.push((a, -b));
                    }
                    if let Some(a) = self.ix.angle[to][t] {
                        terms.push((a, b));
                    }
                    self.lp.row(Family::DcFlow, subject, Some(t), terms, Sense::Eq, 0.0);
                }
                flows.push(f);
            }
            self.ix.flow.push(flows);
        }
        let inject = std::mem::take(&mut self.inject);
        for (n, per_t) in inject.into_iter().enumerate() {
            let subject = self.lp.subject(&self.plant.nodes[n].name);
            let rows = per_t
                .into_iter()
                .enumerate()
                .map(|(t, terms)| self.lp.row(Family::Balance, subject, Some(t), terms, Sense::Eq, self.demand[n][t]))
                .collect();
            self.ix.balance.push(rows);
        }
    }
}

/// For every node on a line with a reactance, the reference node of its connected part of
/// the reactance network (the lowest-numbered node of that part); `None` elsewhere.
fn dc_references(n: usize, edges: impl Iterator<Item = (usize, usize)>) -> Vec<Option<usize>> {
    let mut parent: Vec<usize> = (0..n).collect();
    let mut on_dc = vec![false; n];
    fn root(parent: &mut [usize], mut a: usize) -> usize {
        while parent[a] != a {
            parent[a] = parent[parent[a]];
            a = parent[a];
        }
        a
    }
    for (a, b) in edges {
        on_dc[a] = true;
        on_dc[b] = true;
        let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parent[hi] = lo;
    }
    (0..n).map(|k| on_dc[k].then(|| root(&mut parent, k))).collect()
}

/// The node prices: the duals of the balance rows, yuan/MWh, per node and interval (empty
/// per node when there are no duals).
pub(crate) fn read_prices(ix: &Index, duals: &[f64]) -> Vec<Vec<f64>> {
    ix.balance.iter().map(|rows| if duals.is_empty() { Vec::new() } else { rows.iter().map(|r| clean(duals[r.idx()])).collect() }).collect()
}

/// Reads the nodes (prices, DC angles) and the lines (flows, loading) back.
pub(crate) fn read_network(plant: &Plant, ix: &Index, prices: &[Vec<f64>], v: &Values<'_>) -> (Vec<NodeSchedule>, Vec<LineSchedule>) {
    let lines = plant
        .lines
        .iter()
        .zip(&ix.flow)
        .map(|(l, vars)| {
            let flow_mw = v.series(vars);
            let loading = flow_mw.iter().map(|f| if l.capacity_mw > 0.0 { f.abs() / l.capacity_mw } else { 0.0 }).collect();
            LineSchedule { name: l.name.clone(), from: l.from.clone(), to: l.to.clone(), flow_mw, loading }
        })
        .collect();
    let nodes = plant
        .nodes
        .iter()
        .enumerate()
        .map(|(k, n)| {
            let on_dc = plant.lines.iter().any(|l| l.reactance_pu.is_some() && (l.from == n.name || l.to == n.name));
            NodeSchedule {
                name: n.name.clone(),
                price: prices[k].clone(),
                angle_rad: if on_dc { ix.angle[k].iter().map(|a| a.map_or(0.0, |a| v.get(a))).collect() } else { Vec::new() },
            }
        })
        .collect();
    (nodes, lines)
}

#[cfg(test)]
mod tests {
    use super::dc_references;

    #[test]
    fn references_are_the_lowest_node_of_each_part() {
        let refs = dc_references(5, [(1, 2), (3, 4), (2, 0)].into_iter());
        assert_eq!(refs, vec![Some(0), Some(0), Some(0), Some(3), Some(3)]);
        let refs = dc_references(3, std::iter::empty());
        assert_eq!(refs, vec![None, None, None]);
    }
}
