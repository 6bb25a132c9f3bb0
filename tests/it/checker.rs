//! An independent checker of schedules: it re-derives every balance, limit, storage
//! dynamic (both colours), line flow, hourly green match, park allocation and total from
//! the plant, the forecast and the schedule alone. It shares no code with `model`.

use std::collections::BTreeMap;

use vpp_dispatch::domain::{BidSide, Forecast, Plant, Schedule};

/// Absolute tolerance per unit of magnitude.
pub(crate) const TOL: f64 = 1e-6;

/// What a request asked beyond the plant's defaults.
#[derive(Default, Clone)]
pub(crate) struct Asked {
    pub(crate) initial: BTreeMap<String, (f64, f64)>,
    pub(crate) end_energy: BTreeMap<String, f64>,
    pub(crate) carbon_price: f64,
    /// Green energy a storage must end with, where not its start's green fraction of its
    /// end target (a day lived by re-plans: the last re-plan's start fraction).
    pub(crate) end_green: BTreeMap<String, f64>,
}

impl Asked {
    /// What `options` ask: start levels, end targets, carbon price.
    pub(crate) fn of(options: &vpp_dispatch::model::Options) -> Asked {
        Asked {
            initial: options.initial.iter().map(|(k, l)| (k.clone(), (l.green_mwh, l.grey_mwh))).collect(),
            end_energy: options.end_energy_mwh.clone(),
            carbon_price: options.carbon_price,
            end_green: BTreeMap::new(),
        }
    }
}

struct Report {
    errors: Vec<String>,
}

// The comparisons are negated on purpose: a NaN on either side fails the check.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
impl Report {
    fn close(&mut self, what: impl Fn() -> String, got: f64, want: f64, scale: f64) {
        if !((got - want).abs() <= TOL * scale.abs().max(1.0)) || !got.is_finite() {
            self.errors.push(format!("{}: got {got}, want {want}", what()));
        }
    }
    fn le(&mut self, what: impl Fn() -> String, a: f64, b: f64, scale: f64) {
        if !(a <= b + TOL * scale.abs().max(1.0)) {
            self.errors.push(format!("{}: {a} exceeds {b}", what()));
        }
    }
}

/// Checks a schedule; returns every violation found.
pub(crate) fn check(plant: &Plant, fc: &Forecast, asked: &Asked, s: &Schedule) -> Result<(), Vec<String>> {
    let mut r = Report { errors: Vec::new() };
    let t_len = fc.intervals;
    let dt = f64::from(fc.interval_minutes) / 60.0;
    r.close(|| "dt_hours".into(), s.dt_hours, dt, 1.0);
    assert_eq!(s.intervals.len(), t_len, "interval count");
    let tz: chrono_tz::Tz = plant.timezone.parse().unwrap();

    // Net injection per node and interval (MW), from every asset of the schedule.
    let node_ix = |name: &str| plant.nodes.iter().position(|n| n.name == name).expect("node of an asset");
    let mut net = vec![vec![0.0f64; t_len]; plant.nodes.len()];
    let mut scale = vec![vec![1.0f64; t_len]; plant.nodes.len()];
    let mut add = |n: usize, t: usize, v: f64| {
        net[n][t] += v;
        scale[n][t] += v.abs();
    };

    // Wind and PV.
    let mut green_supply = vec![0.0; t_len];
    // Green produced behind each park's meter (rooftop PV output, green discharge of its
    // storage), MWh per interval: the park's own green comes from it.
    let mut own_produced = vec![vec![0.0; t_len]; plant.parks.len()];
    for (k, rp) in plant.wind.iter().chain(&plant.pv).enumerate() {
        let sr = &s.renewables[k];
        assert_eq!(sr.name, rp.name);
        let n = node_ix(&rp.node);
        for t in 0..t_len {
            let avail = fc.availability[&rp.name][t] * rp.capacity_mw;
            let g = sr.output_mw[t];
            r.le(|| format!("{} output ≥ 0 at {t}", rp.name), 0.0, g, avail);
            r.le(|| format!("{} output ≤ available at {t}", rp.name), g, avail, avail);
            r.close(|| format!("{} curtailment at {t}", rp.name), sr.curtailed_mw[t], avail - g, avail);
            add(n, t, g);
            green_supply[t] += g * dt;
            if let Some(park) = &rp.park {
                let p = plant.park_index(park).expect("a known park");
                own_produced[p][t] += g * dt;
            }
        }
    }

    // Storage of every kind, both colours.
    struct St<'a> {
        name: &'a str,
        node: &'a str,
        cmax: f64,
        dmax: f64,
        emin: f64,
        emax: f64,
        e0: f64,
        frac: f64,
        eta_c: f64,
        eta_d: f64,
        loss: f64,
    }
    let specs: Vec<St> = plant
        .storage
        .iter()
        .map(|h| St {
            name: &h.name,
            node: &h.node,
            cmax: h.charge_mw,
            dmax: h.discharge_mw,
            emin: h.e_min_mwh,
            emax: h.e_max_mwh,
            e0: h.e0_mwh,
            frac: h.initial_green_fraction,
            eta_c: h.eta_charge,
            eta_d: h.eta_discharge,
            loss: h.standing_loss_per_h,
        })
        .collect();
    let mut green_to_storage = vec![0.0; t_len];
    // Grey energy present (imports × (1 − φ), thermal, grey discharge, grey sell bids) and
    // grey energy used (charged, exported, bought, served) per interval, MWh.
    let mut grey_supply = vec![0.0; t_len];
    let mut grey_use = vec![0.0; t_len];
    for (k, st) in specs.iter().enumerate() {
        let ss = &s.storages[k];
        assert_eq!(ss.name, st.name);
        let n = node_ix(st.node);
        let (g0, k0) = asked.initial.get(st.name).copied().unwrap_or((st.e0 * st.frac, st.e0 * (1.0 - st.frac)));
        r.close(|| format!("{} initial green", st.name), ss.energy_green_mwh[0], g0, st.emax);
        r.close(|| format!("{} initial grey", st.name), ss.energy_grey_mwh[0], k0, st.emax);
        let keep = 1.0 - st.loss * dt;
        let has_inflow = plant.storage[k].kind.has_inflow();
        let inflow = fc.inflow_mwh.get(st.name).filter(|_| has_inflow).cloned().unwrap_or_else(|| vec![0.0; t_len]);
        for t in 0..t_len {
            let (c, cg, d, dg) = (ss.charge_mw[t], ss.charge_green_mw[t], ss.discharge_mw[t], ss.discharge_green_mw[t]);
            let name = st.name;
            r.le(|| format!("{name} charge ≥ 0 at {t}"), 0.0, c, st.cmax);
            r.le(|| format!("{name} charge ≤ max at {t}"), c, st.cmax, st.cmax);
            r.le(|| format!("{name} green charge in [0, charge] at {t}"), 0.0, cg, st.cmax);
            r.le(|| format!("{name} green charge ≤ charge at {t}"), cg, c, st.cmax);
            r.le(|| format!("{name} discharge ≥ 0 at {t}"), 0.0, d, st.dmax);
            r.le(|| format!("{name} discharge ≤ max at {t}"), d, st.dmax, st.dmax);
            r.le(|| format!("{name} green discharge ≥ 0 at {t}"), 0.0, dg, st.dmax);
            r.le(|| format!("{name} green discharge ≤ discharge at {t}"), dg, d, st.dmax);
            let spill = ss.spill_mwh[t];
            r.le(|| format!("{name} spill in [0, inflow] at {t}"), 0.0, spill, inflow[t]);
            r.le(|| format!("{name} spill ≤ inflow at {t}"), spill, inflow[t], inflow[t]);
            let (eg, ek) = (ss.energy_green_mwh[t], ss.energy_grey_mwh[t]);
            let (eg1, ek1) = (ss.energy_green_mwh[t + 1], ss.energy_grey_mwh[t + 1]);
            let want_g = keep * eg + st.eta_c * cg * dt - dg * dt / st.eta_d + inflow[t] - spill;
            let want_k = keep * ek + st.eta_c * (c - cg) * dt - (d - dg) * dt / st.eta_d;
            r.close(|| format!("{name} green energy dynamics at {t}"), eg1, want_g, st.emax);
            r.close(|| format!("{name} grey energy dynamics at {t}"), ek1, want_k, st.emax);
            r.le(|| format!("{name} green energy ≥ 0 at {}", t + 1), 0.0, eg1, st.emax);
            r.le(|| format!("{name} grey energy ≥ 0 at {}", t + 1), 0.0, ek1, st.emax);
            r.le(|| format!("{name} energy ≥ E_min at {}", t + 1), st.emin, eg1 + ek1, st.emax);
            r.le(|| format!("{name} energy ≤ E_max at {}", t + 1), eg1 + ek1, st.emax, st.emax);
            add(n, t, d - c);
            green_supply[t] += dg * dt;
            green_to_storage[t] += cg * dt;
            if let Some(park) = &plant.storage[k].park {
                let p = plant.park_index(park).expect("a known park");
                own_produced[p][t] += dg * dt;
            }
            grey_supply[t] += (d - dg) * dt;
            grey_use[t] += (c - cg) * dt;
        }
        let target = asked.end_energy.get(st.name).copied().unwrap_or(g0 + k0);
        let end = ss.energy_green_mwh[t_len] + ss.energy_grey_mwh[t_len];
        r.le(|| format!("{} ends at ≥ target", st.name), target, end, st.emax);
        let frac0 = if g0 + k0 > 0.0 { g0 / (g0 + k0) } else { 0.0 };
        let green_target = asked.end_green.get(st.name).copied().unwrap_or(frac0 * target);
        r.le(|| format!("{} ends with its green share", st.name), green_target, ss.energy_green_mwh[t_len], st.emax);
    }

    // Bids.
    let mut curtail_by_park = vec![vec![0.0; t_len]; plant.parks.len()];
    let mut green_exported = vec![0.0; t_len];
    let mut paid = 0.0;
    let mut received = 0.0;
    for (b, a) in fc.bids.iter().zip(&s.bids) {
        assert_eq!(b.id, a.id);
        let t = ((b.interval_start - fc.start).num_minutes() / i64::from(fc.interval_minutes)) as usize;
        assert_eq!(a.interval, t, "bid {} interval", b.id);
        r.le(|| format!("bid {} accepted ≥ 0", b.id), 0.0, a.accepted_mw, b.quantity_mw);
        r.le(|| format!("bid {} accepted ≤ quantity", b.id), a.accepted_mw, b.quantity_mw, b.quantity_mw);
        let n = node_ix(&b.node);
        match b.side {
            BidSide::Sell => {
                add(n, t, a.accepted_mw);
                if b.green {
                    green_supply[t] += a.accepted_mw * dt;
                } else {
                    grey_supply[t] += a.accepted_mw * dt;
                }
                paid += a.accepted_mw * dt * b.price;
            }
            BidSide::Buy => {
                add(n, t, -a.accepted_mw);
                r.le(|| format!("bid {} green part ≤ accepted", b.id), a.accepted_green_mw, a.accepted_mw, b.quantity_mw);
                green_exported[t] += a.accepted_green_mw * dt;
                grey_use[t] += (a.accepted_mw - a.accepted_green_mw) * dt;
                received += a.accepted_mw * dt * b.price;
            }
            BidSide::Curtail => {
                let p = match &b.park {
                    Some(name) => plant.parks.iter().position(|p| &p.name == name).unwrap(),
                    None => plant.parks.iter().position(|p| p.node == b.node).unwrap(),
                };
                curtail_by_park[p][t] += a.accepted_mw;
                paid += a.accepted_mw * dt * b.price;
            }
        }
    }

    // Parks: interruption limits, served energy, demand at nodes.
    let mut served_t = vec![0.0; t_len];
    let mut interruption_cost = 0.0;
    for (p, park) in plant.parks.iter().enumerate() {
        let sp = &s.parks[p];
        assert_eq!(sp.name, park.name);
        let n = node_ix(&park.node);
        for t in 0..t_len {
            let d = fc.demand_mw[&park.name][t];
            let limit = fc.interruptible_mw.get(&park.name).map_or(park.interruptible_mw, |l| l[t]).min(d);
            let i = sp.interrupted_mw[t];
            r.le(|| format!("{} interrupted ≥ 0 at {t}", park.name), 0.0, i, d);
            r.le(|| format!("{} interrupted ≤ limit at {t}", park.name), i, limit, d);
            r.close(|| format!("{} curtailed by bids at {t}", park.name), sp.curtailed_by_bids_mw[t], curtail_by_park[p][t], d);
            let served = d - i - curtail_by_park[p][t];
            r.le(|| format!("{} served ≥ 0 at {t}", park.name), 0.0, served, d);
            r.close(|| format!("{} served at {t}", park.name), sp.served_mw[t], served, d);
            add(n, t, -served);
            served_t[t] += served * dt;
            interruption_cost += i * dt * park.compensation_yuan_per_mwh;
        }
        if let Some(cap) = park.daily_interruptible_mwh {
            let mut days: BTreeMap<chrono::NaiveDate, f64> = BTreeMap::new();
            for t in 0..t_len {
                let day = s.intervals[t].with_timezone(&tz).date_naive();
                *days.entry(day).or_default() += sp.interrupted_mw[t] * dt;
            }
            for (day, e) in days {
                r.le(|| format!("{} daily interruption cap on {day}", park.name), e, cap, cap);
            }
        }
    }

    // Grid exchanges and thermal units.
    let mut import_cost = 0.0;
    let mut export_revenue = 0.0;
    let mut co2 = 0.0;
    for (k, g) in plant.grids.iter().enumerate() {
        let sg = &s.grids[k];
        let n = node_ix(&g.node);
        for t in 0..t_len {
            let (imp, exp, eg) = (sg.import_mw[t], sg.export_mw[t], sg.export_green_mw[t]);
            r.le(|| format!("{} import in [0, cap] at {t}", g.name), 0.0, imp, g.import_cap_mw);
            r.le(|| format!("{} import ≤ cap at {t}", g.name), imp, g.import_cap_mw, g.import_cap_mw);
            r.le(|| format!("{} export ≥ 0 at {t}", g.name), 0.0, exp, g.export_cap_mw);
            r.le(|| format!("{} export ≤ cap at {t}", g.name), exp, g.export_cap_mw, g.export_cap_mw);
            r.le(|| format!("{} green export ≥ 0 at {t}", g.name), 0.0, eg, g.export_cap_mw);
            r.le(|| format!("{} green export ≤ export at {t}", g.name), eg, exp, g.export_cap_mw);
            let price = fc.import_price.get(&g.name).map_or_else(|| g.tariff.price_at(s.intervals[t], tz), |p| p[t]);
            r.close(|| format!("{} import price at {t}", g.name), sg.import_price[t], price, price);
            add(n, t, imp - exp);
            green_supply[t] += g.green_fraction * imp * dt;
            grey_supply[t] += (1.0 - g.green_fraction) * imp * dt;
            green_exported[t] += eg * dt;
            grey_use[t] += (exp - eg) * dt;
            import_cost += imp * dt * price;
            export_revenue += exp * dt * g.export_price;
            co2 += imp * dt * g.carbon_intensity;
        }
    }
    let mut thermal_cost = 0.0;
    for (k, u) in plant.thermal.iter().enumerate() {
        let n = node_ix(&u.node);
        for t in 0..t_len {
            let p = s.thermal[k].output_mw[t];
            r.le(|| format!("{} ≥ p_min at {t}", u.name), u.p_min_mw, p, u.p_max_mw);
            r.le(|| format!("{} ≤ p_max at {t}", u.name), p, u.p_max_mw, u.p_max_mw);
            add(n, t, p);
            grey_supply[t] += p * dt;
            thermal_cost += p * dt * u.marginal_cost;
            co2 += p * dt * u.carbon_intensity;
        }
    }

    // Lines: limits and DC flow.
    for (k, l) in plant.lines.iter().enumerate() {
        let sl = &s.lines[k];
        let (a, b) = (node_ix(&l.from), node_ix(&l.to));
        for t in 0..t_len {
            let f = sl.flow_mw[t];
            r.le(|| format!("line {} |flow| ≤ capacity at {t}", l.name), f.abs(), l.capacity_mw, l.capacity_mw);
            if let Some(x) = l.reactance_pu {
                let angle = |n: usize| s.nodes[n].angle_rad.get(t).copied().unwrap_or(0.0);
                let want = plant.base_mva * (angle(a) - angle(b)) / x;
                r.close(|| format!("line {} DC flow at {t}", l.name), f, want, l.capacity_mw);
            }
            add(a, t, -f);
            add(b, t, f);
        }
    }

    // Node balances.
    for (n, node) in plant.nodes.iter().enumerate() {
        for t in 0..t_len {
            r.close(|| format!("balance of node {} at {t}", node.name), net[n][t], 0.0, scale[n][t]);
        }
    }

    // Hourly green matching, and what the schedule reports of it.
    let mut green_total = 0.0;
    let mut served_total = 0.0;
    for t in 0..t_len {
        let g = &s.green[t];
        let sc = green_supply[t] + served_t[t];
        r.close(|| format!("green supply at {t}"), g.supply_mwh, green_supply[t], sc);
        r.close(|| format!("green to storage at {t}"), g.to_storage_mwh, green_to_storage[t], sc);
        r.close(|| format!("green exported at {t}"), g.exported_mwh, green_exported[t], sc);
        r.close(|| format!("served at {t}"), g.served_mwh, served_t[t], sc);
        r.le(|| format!("green to load ≥ 0 at {t}"), 0.0, g.to_load_mwh, sc);
        // Colour is conserved: every green MWh supplied is used as green (none is labelled
        // grey), and grey is used only as far as grey sources exist in the interval.
        r.close(
            || format!("green conserved at {t} (green used = green supplied)"),
            g.to_load_mwh + green_to_storage[t] + green_exported[t],
            green_supply[t],
            sc,
        );
        let grey_used = grey_use[t] + served_t[t] - g.to_load_mwh;
        r.le(|| format!("grey used ≤ grey sources at {t}"), grey_used, grey_supply[t], sc);
        r.close(|| format!("grey conserved at {t}"), grey_used, grey_supply[t], sc);
        r.le(|| format!("green to load ≤ served at {t}"), g.to_load_mwh, served_t[t], sc);
        // Park allocation adds up and respects minimum shares.
        let mut alloc = 0.0;
        for (p, park) in plant.parks.iter().enumerate() {
            let sp = &s.parks[p];
            let served = sp.served_mw[t] * dt;
            r.le(|| format!("{} green ≥ 0 at {t}", park.name), 0.0, sp.green_mwh[t], served);
            r.le(|| format!("{} green ≤ served at {t}", park.name), sp.green_mwh[t], served, served);
            if let Some(a) = park.min_green_share {
                r.le(|| format!("{} minimum share at {t}", park.name), a * served, sp.green_mwh[t], served);
            }
            alloc += sp.green_mwh[t];
        }
        r.close(|| format!("park allocations add up at {t}"), alloc, g.to_load_mwh, sc);
        // Own green first (issue 13): at most what was produced behind the park's meter and
        // what it served, and part of its green; all of it wherever the green to load covers
        // every park's own green and the other parks' minimums.
        let own: Vec<f64> = s.parks.iter().map(|sp| sp.own_green_mwh.get(t).copied().unwrap_or(0.0)).collect();
        let mut fits = 0.0;
        for (p, park) in plant.parks.iter().enumerate() {
            let sp = &s.parks[p];
            let served = sp.served_mw[t] * dt;
            let most = served.min(own_produced[p][t]);
            fits += most.max(park.min_green_share.unwrap_or(0.0) * served);
            r.le(|| format!("{} own green ≥ 0 at {t}", park.name), 0.0, own[p], served);
            r.le(|| format!("{} own green ≤ produced behind its meter and served at {t}", park.name), own[p], most, served);
            r.le(|| format!("{} own green is part of its green at {t}", park.name), own[p], sp.green_mwh[t], served);
        }
        r.le(|| format!("own green within green to load at {t}"), own.iter().sum(), g.to_load_mwh, sc);
        if fits <= g.to_load_mwh + TOL * sc.max(1.0) {
            for (p, park) in plant.parks.iter().enumerate() {
                let most = (s.parks[p].served_mw[t] * dt).min(own_produced[p][t]);
                r.close(|| format!("{} gets its own green first at {t}", park.name), own[p], most, sc);
            }
        }
        // Water-filling of the pool (green to load less own green) over what each park still
        // serves: one common share θ, raised to what each park's minimum still asks, capped
        // at 1; where the pool cannot reach the minimums, equal shares up to them.
        let parks: Vec<(f64, f64, f64, &str)> = plant
            .parks
            .iter()
            .zip(&s.parks)
            .enumerate()
            .map(|(p, (park, sp))| {
                let served = sp.served_mw[t] * dt;
                let rest = served - own[p];
                let still =
                    if rest > 1e-9 { ((park.min_green_share.unwrap_or(0.0) * served - own[p]).max(0.0) / rest).min(1.0) } else { 0.0 };
                (rest, still, sp.green_mwh[t] - own[p], park.name.as_str())
            })
            .filter(|(rest, ..)| *rest > 1e-9)
            .collect();
        let pool = g.to_load_mwh - own.iter().sum::<f64>();
        let floor: f64 = parks.iter().map(|(sv, a, ..)| sv * a).sum();
        let share = |(sv, _, g, _): &(f64, f64, f64, &str)| g / sv;
        if pool >= floor - TOL * sc.max(1.0) {
            let theta = parks.iter().map(share).fold(1.0f64, f64::min);
            for p in &parks {
                let want = p.1.max(theta).min(1.0) * p.0;
                r.close(|| format!("{} water-filled green at {t}", p.3), p.2, want, p.0);
            }
        } else {
            let theta = parks.iter().map(share).fold(0.0f64, f64::max);
            for p in &parks {
                let want = p.1.min(theta) * p.0;
                r.close(|| format!("{} green up to its minimum at {t}", p.3), p.2, want, p.0);
            }
        }
        green_total += g.to_load_mwh;
        served_total += served_t[t];
    }
    for sp in &s.parks {
        r.close(|| format!("{} green total", sp.name), sp.green_total_mwh, sp.green_mwh.iter().sum(), sp.served_mwh);
        r.close(|| format!("{} served total", sp.name), sp.served_mwh, sp.served_mw.iter().sum::<f64>() * dt, sp.served_mwh);
    }

    // Totals and cost.
    let tt = &s.totals;
    r.close(|| "total green".into(), tt.green_mwh, green_total, served_total);
    r.close(|| "total served".into(), tt.served_mwh, served_total, served_total);
    let share = if served_total > 0.0 { green_total / served_total } else { 0.0 };
    r.close(|| "green share".into(), tt.green_share, share, 1.0);
    r.close(|| "grey".into(), tt.grey_mwh, served_total - green_total, served_total);
    r.close(|| "co2".into(), tt.co2_t, co2, co2);
    if tt.certificates as f64 > green_total + 1e-6 || (tt.certificates as f64) < green_total - 1.0 {
        r.errors.push(format!("certificates {} for {green_total} MWh green", tt.certificates));
    }
    // Storage: a variable cost per MWh discharged, a cycle-ageing cost per MWh charged or
    // discharged.
    let storage_cost: f64 = plant
        .storage
        .iter()
        .zip(&s.storages)
        .map(|(ps, st)| {
            ps.variable_cost * st.discharge_mw.iter().sum::<f64>() * dt
                + ps.cycle_cost_yuan_per_mwh * (st.charge_mw.iter().sum::<f64>() + st.discharge_mw.iter().sum::<f64>()) * dt
        })
        .sum();
    let cost = import_cost - export_revenue + interruption_cost + storage_cost + thermal_cost + paid - received + asked.carbon_price * co2;
    let cost_scale = import_cost.abs() + export_revenue + interruption_cost + paid + received + 1.0;
    r.close(|| "total cost".into(), tt.cost_yuan, cost, cost_scale);
    r.close(|| "solver objective equals the cost".into(), s.solver.objective, cost, cost_scale);
    // Issue 13: the breakdown is made of the objective's own parts and adds up to it.
    let b = &tt.cost;
    let parts = b.imports - b.export_revenue + b.interruption + b.storage + b.thermal + b.bids_paid - b.bids_received + b.carbon;
    r.close(|| "cost breakdown adds up to the objective".into(), parts, s.solver.objective, cost_scale);
    r.close(|| "storage cost".into(), b.storage, storage_cost, cost_scale);
    r.close(|| "import cost".into(), b.imports, import_cost, cost_scale);
    r.close(|| "interruption cost".into(), b.interruption, interruption_cost, cost_scale);

    if r.errors.is_empty() {
        Ok(())
    } else {
        Err(r.errors)
    }
}

/// The published JSON Schema of schedule files (`docs/schedule.schema.json`), compiled once.
fn schedule_schema() -> &'static jsonschema::Validator {
    static SCHEMA: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(|| {
        let text = std::fs::read_to_string(crate::repo("docs/schedule.schema.json")).expect("docs/schedule.schema.json");
        let schema: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
        jsonschema::validator_for(&schema).expect("the schema compiles")
    })
}

/// Issue 10: every schedule a test obtains, written as JSON, matches the published schema.
pub(crate) fn assert_matches_schema(s: &Schedule) {
    let json = serde_json::to_value(s).expect("a schedule serialises");
    let errors: Vec<String> = schedule_schema().iter_errors(&json).take(10).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "the schedule does not match docs/schedule.schema.json:\n{}", errors.join("\n"));
}

/// Panics with every violation when the schedule does not check.
pub(crate) fn assert_valid(plant: &Plant, fc: &Forecast, asked: &Asked, s: &Schedule) {
    assert_matches_schema(s);
    if let Err(errors) = check(plant, fc, asked, s) {
        let shown: Vec<_> = errors.iter().take(20).cloned().collect();
        panic!("schedule fails {} check(s):\n{}", errors.len(), shown.join("\n"));
    }
}
