//! What the `vpp` command prints: a readable summary of a schedule (shares, energy,
//! cost, CO2, certificates, per-asset energy and a compact table by hour, or by day for
//! long horizons).

use std::fmt::Write as _;

use chrono::Timelike;

use crate::domain::plant::RenewableKind;
use crate::domain::{Plant, Schedule};

/// The summary `vpp solve` prints.
pub fn summary(plant: &Plant, s: &Schedule) -> String {
    let mut o = String::new();
    let t = &s.totals;
    let dt = s.dt_hours;
    let hours = s.intervals.len() as f64 * dt;
    let tz = plant.tz();
    let first = local_start(&s.intervals, tz);
    let _ = writeln!(
        o,
        "plant {}  objective {}  from {first}  {} intervals of {} min ({hours} h)",
        s.plant,
        s.objective,
        s.intervals.len(),
        dt * 60.0
    );
    let _ = writeln!(
        o,
        "solver {} {}{}: {} solve(s), {} Dinkelbach iteration(s), {} variables, {} rows, build {:.1} ms, solve {:.1} ms",
        s.solver.backend,
        s.solver.status,
        if s.solver.milp { " (MILP)" } else { "" },
        s.solver.solves,
        s.solver.iterations,
        s.solver.variables,
        s.solver.rows,
        s.solver.build_ms,
        s.solver.solve_ms
    );
    let _ = writeln!(o);
    let _ = writeln!(o, "green share       {:>10.2} %", t.green_share * 100.0);
    let _ = writeln!(o, "served            {:>10.1} MWh   green {:.1} MWh   grey {:.1} MWh", t.served_mwh, t.green_mwh, t.grey_mwh);
    let _ = writeln!(o, "curtailed         {:>10.1} MWh   interrupted {:.1} MWh", t.curtailed_mwh, t.interrupted_mwh);
    let _ = writeln!(o, "imported          {:>10.1} MWh   exported {:.1} MWh", t.imported_mwh, t.exported_mwh);
    let _ = writeln!(o, "cost              {:>10.0} yuan  (imports {:.0}, exports −{:.0}, interruption {:.0}, storage {:.0}, thermal {:.0}, bids {:.0} − {:.0}, carbon {:.0})",
        t.cost_yuan, t.cost.imports, t.cost.export_revenue, t.cost.interruption, t.cost.storage, t.cost.thermal, t.cost.bids_paid, t.cost.bids_received, t.cost.carbon);
    let _ = writeln!(o, "CO2               {:>10.1} t", t.co2_t);
    let _ = writeln!(o, "certificates      {:>10}", t.certificates);
    if let Some(p) = t.green_premium_yuan_per_mwh {
        let _ = writeln!(o, "green premium     {:>10.1} yuan per green MWh", p);
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "{:<26} {:>10} {:>10} {:>8} {:>8}", "park", "served MWh", "green MWh", "share %", "min %");
    for p in &s.parks {
        let min = p.min_share.map_or("-".to_string(), |a| format!("{:.1}", a * 100.0));
        let _ = writeln!(o, "{:<26} {:>10.1} {:>10.1} {:>8.2} {:>8}", p.name, p.served_mwh, p.green_total_mwh, p.share_total * 100.0, min);
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "{:<26} {:>12} {:>12} {:>10}", "renewable", "avail MWh", "output MWh", "curt MWh");
    for r in &s.renewables {
        let sum = |v: &[f64]| v.iter().sum::<f64>() * dt;
        let _ = writeln!(
            o,
            "{:<26} {:>12.1} {:>12.1} {:>10.1}",
            format!("{} ({})", r.name, r.kind.name()),
            sum(&r.available_mw),
            sum(&r.output_mw),
            sum(&r.curtailed_mw)
        );
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "{:<26} {:>10} {:>10} {:>10} {:>10} {:>12}", "storage", "in MWh", "out MWh", "E0 MWh", "E_T MWh", "E_T green");
    for st in &s.storages {
        let sum = |v: &[f64]| v.iter().sum::<f64>() * dt;
        let e = |k: usize| st.energy_green_mwh[k] + st.energy_grey_mwh[k];
        let last = st.energy_green_mwh.len() - 1;
        let _ = writeln!(
            o,
            "{:<26} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>12.1}",
            st.name,
            sum(&st.charge_mw),
            sum(&st.discharge_mw),
            e(0),
            e(last),
            st.energy_green_mwh[last]
        );
    }
    if !s.bids.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(o, "{:<16} {:>8} {:>9} {:>9} {:>10} {:>10}  status", "bid", "side", "qty MW", "acc MW", "price", "clearing");
        for b in &s.bids {
            let _ = writeln!(
                o,
                "{:<16} {:>8} {:>9.1} {:>9.1} {:>10.1} {:>10.1}  {:?}",
                b.id,
                format!("{:?}", b.side).to_lowercase(),
                b.quantity_mw,
                b.accepted_mw,
                b.price,
                b.clearing_price,
                b.status
            );
        }
    }
    if !s.frontier.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(o, "frontier: share %  cost yuan");
        for p in &s.frontier {
            let _ = writeln!(o, "          {:>7.2}  {:>12.0}", p.share * 100.0, p.cost_yuan);
        }
    }
    let _ = writeln!(o);
    o.push_str(&table(plant, s));
    for w in &s.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    o
}

/// The first interval's start in the plant's zone, as the summaries' headers show it.
fn local_start(intervals: &[chrono::DateTime<chrono::Utc>], tz: chrono_tz::Tz) -> String {
    intervals.first().map(|i| i.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()).unwrap_or_default()
}

/// Average MW per hour (or per day for horizons over two days).
fn table(plant: &Plant, s: &Schedule) -> String {
    let tz = plant.tz();
    let dt = s.dt_hours;
    let by_day = s.intervals.len() as f64 * dt > 48.0;
    let key = |k: usize| {
        let local = s.intervals[k].with_timezone(&tz);
        if by_day {
            local.format("%Y-%m-%d").to_string()
        } else if s.intervals.len() as f64 * dt > 24.0 {
            local.format("%m-%d %H:00").to_string()
        } else {
            format!("{:02}:00", local.hour())
        }
    };
    let price_node = plant.grids.first().and_then(|g| s.nodes.iter().position(|n| n.name == g.node));
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for k in 0..s.intervals.len() {
        let label = key(k);
        match groups.last_mut() {
            Some((l, ks)) if *l == label => ks.push(k),
            _ => groups.push((label, vec![k])),
        }
    }
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<12} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>7} {:>8}",
        if by_day { "day (MW avg)" } else { "hour (MW)" },
        "demand",
        "served",
        "wind",
        "pv",
        "storage",
        "import",
        "export",
        "green%",
        "price"
    );
    for (label, ks) in groups {
        let n = ks.len() as f64;
        let avg = |f: &dyn Fn(usize) -> f64| ks.iter().map(|&k| f(k)).sum::<f64>() / n;
        let demand = avg(&|k| s.parks.iter().map(|p| p.demand_mw[k]).sum());
        let served = avg(&|k| s.parks.iter().map(|p| p.served_mw[k]).sum());
        let wind = avg(&|k| s.renewables.iter().filter(|r| r.kind == RenewableKind::Wind).map(|r| r.output_mw[k]).sum());
        let pv = avg(&|k| s.renewables.iter().filter(|r| r.kind == RenewableKind::Pv).map(|r| r.output_mw[k]).sum());
        let storage = avg(&|k| s.storages.iter().map(|st| st.discharge_mw[k] - st.charge_mw[k]).sum());
        let import = avg(&|k| s.grids.iter().map(|g| g.import_mw[k]).sum());
        let export = avg(&|k| s.grids.iter().map(|g| g.export_mw[k]).sum());
        let green: f64 = ks.iter().map(|&k| s.green[k].to_load_mwh).sum();
        let served_e: f64 = ks.iter().map(|&k| s.green[k].served_mwh).sum();
        let share = if served_e > 0.0 { green / served_e * 100.0 } else { 0.0 };
        let price = price_node.and_then(|p| {
            let prices = &s.nodes[p].price;
            (!prices.is_empty()).then(|| avg(&|k| prices[k]))
        });
        let price = price.map_or("-".to_string(), |p| format!("{p:.1}"));
        let _ = writeln!(
            o,
            "{label:<12} {demand:>8.1} {served:>8.1} {wind:>8.1} {pv:>8.1} {storage:>9.1} {import:>8.1} {export:>8.1} {share:>7.1} {price:>8}"
        );
    }
    o
}

/// The summary `vpp solve --stochastic` prints: the three evaluations (stochastic plan,
/// deterministic plan, perfect information), VSS and EVPI, each scenario and the first
/// stage by interval.
pub fn stochastic_summary(plant: &Plant, p: &crate::domain::stochastic::StochasticPlan) -> String {
    let mut o = String::new();
    let tz = plant.tz();
    let first = local_start(&p.intervals, tz);
    let _ = writeln!(
        o,
        "plant {}  stochastic day-ahead  objective {}  from {first}  {} intervals  {} scenario(s)  imbalance premium {} yuan/MWh",
        p.plant,
        p.objective,
        p.intervals.len(),
        p.scenarios.len(),
        p.imbalance_premium_yuan_per_mwh
    );
    let _ = writeln!(
        o,
        "solver {}: {} solve(s), stochastic LP {} variables × {} rows, {:.1} ms in all",
        p.solver.backend, p.solver.solves, p.solver.variables, p.solver.rows, p.solver.total_ms
    );
    let _ = writeln!(o);
    let cvar = format!("CVaR{:.0} yuan", p.stochastic.cvar_alpha * 100.0);
    let _ = writeln!(o, "{:<26} {:>10} {:>14} {:>14} {:>14} {:>10}", "expected", "share %", "cost yuan", "imbalance MWh", cvar, "P10 %");
    for (name, e) in [
        ("stochastic plan", &p.stochastic),
        ("deterministic plan (EEV)", &p.deterministic),
        ("perfect information (WS)", &p.perfect_information),
    ] {
        let _ = writeln!(
            o,
            "{:<26} {:>10.3} {:>14.0} {:>14.1} {:>14.0} {:>10.3}",
            name,
            e.green_share * 100.0,
            e.cost_yuan,
            e.imbalance_mwh,
            e.cvar_cost_yuan,
            e.p10_green_share * 100.0
        );
    }
    let _ = writeln!(o, "{:<26} {:>10.3} {:>14.0}", "VSS", p.vss.green_share * 100.0, p.vss.cost_yuan);
    let _ = writeln!(o, "{:<26} {:>10.3} {:>14.0}", "EVPI", p.evpi.green_share * 100.0, p.evpi.cost_yuan);
    let _ = writeln!(o);
    let _ = writeln!(o, "{:<20} {:>8} {:>10} {:>14} {:>14}", "scenario", "prob", "share %", "cost yuan", "imbalance MWh");
    for s in &p.stochastic.scenarios {
        let _ = writeln!(
            o,
            "{:<20} {:>8.4} {:>10.3} {:>14.0} {:>14.1}",
            s.name,
            s.probability,
            s.green_share * 100.0,
            s.cost_yuan,
            s.imbalance_mwh
        );
    }
    let _ = writeln!(o);
    let _ = write!(o, "{:<6}", "hour");
    for g in &p.first_stage.grids {
        let _ = write!(o, " {:>16}", format!("{} MW", g.grid));
    }
    for n in p.first_stage.parks.iter().filter(|n| n.interrupted_mw.iter().any(|v| *v > 0.0)) {
        let _ = write!(o, " {:>16}", format!("{} cut MW", n.park));
    }
    let _ = writeln!(o);
    for (t, at) in p.intervals.iter().enumerate() {
        let _ = write!(o, "{:<6}", at.with_timezone(&tz).format("%H:%M"));
        for g in &p.first_stage.grids {
            let _ = write!(o, " {:>16.1}", g.position_mw[t]);
        }
        for n in p.first_stage.parks.iter().filter(|n| n.interrupted_mw.iter().any(|v| *v > 0.0)) {
            let _ = write!(o, " {:>16.1}", n.interrupted_mw[t]);
        }
        let _ = writeln!(o);
    }
    for w in &p.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    o
}

/// The summary `vpp backtest` prints: each policy's realised figures for the whole run
/// against the perfect-foresight bound, what the stochastic policy gained, and the days
/// (day by day up to 31 days, by month beyond).
pub fn backtest_summary(r: &crate::backtest::Report) -> String {
    use crate::backtest::{Figures, Policy, PERFECT_FORESIGHT};
    let mut o = String::new();
    let days = r.outcomes.first().map_or(0, |x| x.days.len());
    let (from, to) = r.outcomes.first().map_or((String::new(), String::new()), |x| {
        (x.days.first().map(|d| d.day.to_string()).unwrap_or_default(), x.days.last().map(|d| d.day.to_string()).unwrap_or_default())
    });
    let _ = writeln!(
        o,
        "plant {}  backtest  objective {}  {days} day(s) {from} .. {to}  re-planned every {} min  imbalance premium {} yuan/MWh",
        r.plant, r.objective, r.interval_minutes, r.imbalance_premium_yuan_per_mwh
    );
    let _ = writeln!(
        o,
        "truth seed {}  stochastic: {} scenarios (seed {}) reduced to {}  {} dispatch solves in {:.1} s",
        r.truth_seed,
        r.scenarios,
        r.seed,
        r.reduce,
        r.solves,
        r.total_ms / 1e3
    );
    let _ = writeln!(o);
    let row = |o: &mut String, name: &str, f: &Figures| {
        let _ = writeln!(
            o,
            "{:<20} {:>9.3} {:>13.0} {:>14.1} {:>14.1} {:>13.1}",
            name,
            f.green_share * 100.0,
            f.cost_yuan,
            f.imbalance_mwh,
            f.curtailed_mwh,
            f.interrupted_mwh
        );
    };
    let _ = writeln!(
        o,
        "{:<20} {:>9} {:>13} {:>14} {:>14} {:>13}",
        "realised", "share %", "cost yuan", "imbalance MWh", "curtailed MWh", "interrupt MWh"
    );
    for x in &r.outcomes {
        row(&mut o, &x.policy, &x.total);
    }
    let total = |p: &str| r.outcome(p).map(|x| x.total);
    if let (Some(s), Some(d)) = (total(Policy::Stochastic.name()), total(Policy::Deterministic.name())) {
        let _ = writeln!(
            o,
            "{:<20} {:>9.3} {:>13.0}   (share in % points; cost saved)",
            "stochastic gain",
            (s.green_share - d.green_share) * 100.0,
            d.cost_yuan - s.cost_yuan
        );
    }
    if let Some(b) = total(PERFECT_FORESIGHT) {
        for x in r.outcomes.iter().filter(|x| x.policy != PERFECT_FORESIGHT) {
            let _ = writeln!(
                o,
                "{:<20} {:>9.3} {:>13.0}   ({} below the bound)",
                "gap to the bound",
                (b.green_share - x.total.green_share) * 100.0,
                x.total.cost_yuan - b.cost_yuan,
                x.policy
            );
        }
    }
    let _ = writeln!(o);
    // Rows: each day, or each month (the figures of its days together).
    let monthly = days > 31;
    let mut labels: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<Figures>> = vec![Vec::new(); r.outcomes.len()];
    if let Some(first) = r.outcomes.first() {
        let mut start = 0;
        while start < first.days.len() {
            let key = |k: usize| if monthly { first.days[k].day.format("%Y-%m").to_string() } else { first.days[k].day.to_string() };
            let label = key(start);
            let end = (start..first.days.len()).find(|&k| key(k) != label).unwrap_or(first.days.len());
            for (x, out) in r.outcomes.iter().zip(rows.iter_mut()) {
                out.push(Figures::total(x.days[start..end].iter().map(|d| &d.figures)));
            }
            labels.push(label);
            start = end;
        }
    }
    let _ = write!(o, "{:<12}", if monthly { "month" } else { "day" });
    for x in &r.outcomes {
        let _ = write!(o, " {:>18} {:>12}", format!("{} %", short_policy(&x.policy)), "imbal MWh");
    }
    let _ = writeln!(o);
    for (k, label) in labels.iter().enumerate() {
        let _ = write!(o, "{label:<12}");
        for out in &rows {
            let _ = write!(o, " {:>18.2} {:>12.1}", out[k].green_share * 100.0, out[k].imbalance_mwh);
        }
        let _ = writeln!(o);
    }
    o
}

fn short_policy(p: &str) -> &str {
    match p {
        "deterministic" => "determ.",
        "stochastic" => "stoch.",
        "perfect-foresight" => "perfect",
        other => other,
    }
}
