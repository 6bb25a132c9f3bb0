//! Explains an infeasible request. Every requirement row (node balances, storage limits
//! and end targets, minimum green shares) gets slack variables at unit cost and the model
//! is solved again; each row whose slack is used is a reason, told in an operator's words
//! with the asset, the interval and the amount missing. Physics and definitions stay hard.

use crate::domain::{Forecast, Plant};

use super::builder::Built;
use super::lp::{Family, LinExpr, Sense};
use super::solver::{self, Direction};
use super::{Diagnosis, DispatchError, Options};

/// Slack below this (MWh) is solver noise, not a reason.
const NOISE: f64 = 1e-6;

pub(crate) fn explain(plant: &Plant, forecast: &Forecast, options: &Options, b: &Built) -> DispatchError {
    let mut lp = b.lp.clone();
    let mut objective = LinExpr::default();
    // (row, slack that adds to the left side, slack that subtracts)
    let mut slacks = Vec::new();
    for k in 0..lp.rows.len() {
        let row = lp.rows[k].clone();
        if !row.name.family.elastic() {
            continue;
        }
        let up = matches!(row.sense, Sense::Ge | Sense::Eq).then(|| lp.var(0.0, f64::INFINITY));
        let down = matches!(row.sense, Sense::Le | Sense::Eq).then(|| lp.var(0.0, f64::INFINITY));
        // Rebuild the row with its slacks appended (rows are contiguous in `coefs`).
        let mut terms: Vec<_> = lp.terms(&row).to_vec();
        if let Some(s) = up {
            terms.push((s, 1.0));
            // A shortfall is blamed on a node with demand rather than on one it is merely
            // carried through.
            let weight = if row.name.family == Family::Balance && row.rhs <= 0.0 { 1.01 } else { 1.0 };
            objective.add(s, weight);
        }
        if let Some(s) = down {
            terms.push((s, -1.0));
            objective.add(s, 1.0);
        }
        let start = lp.coefs.len();
        lp.coefs.extend(terms);
        lp.rows[k].start = start;
        lp.rows[k].end = lp.coefs.len();
        slacks.push((k, up, down));
    }
    if options.cancel.is_cancelled() {
        return DispatchError::Cancelled;
    }
    let sol = match solver::solve(&lp, &objective, Direction::Minimise, options.backend, false, options.time_limit_s, false) {
        Ok(sol) => sol,
        Err(e) => {
            return DispatchError::Solver(format!(
                "the request is infeasible and its elastic re-solve failed too ({e:?}); a physical limit contradicts itself"
            ))
        }
    };
    let h = &b.h;
    let dt = h.dt;
    let mut out = Vec::new();
    for (k, up, down) in slacks {
        let row = &lp.rows[k];
        let short = up.map_or(0.0, |s| sol.x[s.idx()]);
        let excess = down.map_or(0.0, |s| sol.x[s.idx()]);
        if short <= NOISE && excess <= NOISE {
            continue;
        }
        let subject = lp.subjects[row.name.subject as usize].clone();
        let t = row.name.t.map(|t| t as usize);
        let when = t.map(|t| h.label(t)).unwrap_or_default();
        let (amount, message) = match row.name.family {
            Family::Balance if short > NOISE => {
                let demand_mw = row.rhs / dt;
                let mw = short / dt;
                let parks: Vec<&str> = plant.parks.iter().filter(|p| p.node == subject).map(|p| p.name.as_str()).collect();
                let who = match parks.as_slice() {
                    [] => format!("node {subject}"),
                    [one] => format!("park {one}"),
                    many => format!("parks {}", many.join(", ")),
                };
                (
                    mw,
                    format!(
                        "{who} cannot be served at {when}: demand {demand_mw:.1} MW at node {subject}, supply, storage, import and line limits allow at most {:.1} MW (short {mw:.1} MW)",
                        demand_mw - mw
                    ),
                )
            }
            Family::Balance => {
                let mw = excess / dt;
                (mw, format!("node {subject} has {mw:.1} MW at {when} that no load, storage, line or export can take (must-run output)"))
            }
            Family::EnergyMin => {
                (short, format!("storage {subject} falls {short:.1} MWh below its minimum energy {:.1} MWh by the end of {when}", row.rhs))
            }
            Family::EnergyMax => {
                (excess, format!("storage {subject} exceeds its maximum energy {:.1} MWh by {excess:.1} MWh at the end of {when}", row.rhs))
            }
            Family::EndEnergy => (short, format!("storage {subject} cannot end the horizon at {:.1} MWh: {short:.1} MWh short", row.rhs)),
            Family::EndGreen => {
                (short, format!("storage {subject} cannot end the horizon with {:.1} MWh of green energy: {short:.1} MWh short", row.rhs))
            }
            Family::ParkMinShare => {
                // One reason per park that is short, by the allocation rule: the green the
                // relaxed dispatch delivers is water-filled, and each park below its
                // minimum is short by the difference.
                if let Some(t) = t {
                    for (name, owed, missing) in park_shortfalls(plant, forecast, b, &sol.x, t) {
                        out.push(Diagnosis {
                            family: row.name.family.label().to_string(),
                            subject: name.clone(),
                            interval: Some(t),
                            at: Some(h.instant(t)),
                            shortfall: missing,
                            message: format!(
                                "park {name} cannot get its minimum green share of {:.0}% at {when}: {missing:.1} MWh of green energy missing",
                                owed * 100.0
                            ),
                        });
                    }
                }
                continue;
            }
            Family::PlantMinShare => (
                short,
                format!(
                    "the plant cannot reach its minimum green share {:.1}%: {short:.1} MWh of green energy missing",
                    options.min_share.unwrap_or(0.0) * 100.0
                ),
            ),
            other => (short.max(excess), format!("{} [{subject}] {when} cannot be met", other.label())),
        };
        out.push(Diagnosis {
            family: row.name.family.label().to_string(),
            subject,
            interval: t,
            at: t.map(|t| h.instant(t)),
            shortfall: amount,
            message,
        });
    }
    if out.is_empty() {
        return DispatchError::Solver(format!(
            "the solver reported the request for {} infeasible, but relaxing every requirement violates none (numerical trouble)",
            forecast.start.to_rfc3339()
        ));
    }
    out.sort_by(|a, b| b.shortfall.total_cmp(&a.shortfall));
    DispatchError::Infeasible(out)
}

/// The parks short of their minimum share at `t` in the relaxed dispatch `x`: (park,
/// minimum, MWh missing), by the schedule's allocation rule (own green first, then the
/// pool water-filled).
fn park_shortfalls(plant: &Plant, forecast: &Forecast, b: &Built, x: &[f64], t: usize) -> Vec<(String, f64, f64)> {
    let dt = b.h.dt;
    let mut served: Vec<f64> = plant.parks.iter().map(|p| forecast.demand_mw[&p.name][t] * dt).collect();
    for (p, vars) in b.ix.interrupted.iter().enumerate() {
        served[p] -= x[vars[t].idx()] * dt;
    }
    for (place, v) in b.ix.bid_places.iter().zip(&b.ix.bid) {
        if let (Some(p), true) = (place.park, place.t == t) {
            served[p] -= x[v.idx()] * dt;
        }
    }
    let alpha: Vec<f64> = plant.parks.iter().map(|p| p.min_green_share.unwrap_or(0.0)).collect();
    let green = x[b.ix.green_to_load[t].idx()];
    let own: Vec<f64> = (0..plant.parks.len()).map(|p| b.ix.own_green_at(p, t, x)).collect();
    let got = super::green::allocate(&served, &alpha, &own, green);
    plant
        .parks
        .iter()
        .enumerate()
        .filter_map(|(p, park)| {
            let missing = alpha[p] * served[p] - got[p];
            (missing > NOISE).then(|| (park.name.clone(), alpha[p], missing))
        })
        .collect()
}
