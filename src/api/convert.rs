//! Conversions between the wire types (`pb`) and the domain, validating what comes in.
//! Proto types stop here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tonic::Status;

use crate::domain::schedule::BidStatus;
use crate::domain::stochastic::{Commitment, Evaluation};
use crate::domain::{limits, Bid, BidSide, Forecast, QuantileSeries, Quantiles, Scenario, Schedule};
use crate::model::{Objective, Options, Risk, StorageLevel};
use crate::service::{Acknowledged, Award, DayShare, ShareReport};
use crate::store::{BidState, ScheduleInfo};

use super::pb;
use super::status::invalid;

pub(crate) fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
}

/// An instant from the wire, within the accepted days (`domain::limits`).
pub(crate) fn instant(t: Option<&prost_types::Timestamp>, field: &str) -> Result<DateTime<Utc>, Status> {
    let t = t.ok_or_else(|| invalid(field, "is required"))?;
    let nanos = u32::try_from(t.nanos).map_err(|_| invalid(field, "has negative nanos"))?;
    let at = DateTime::from_timestamp(t.seconds, nanos).ok_or_else(|| invalid(field, "is out of range"))?;
    if !limits::instant_in_range(at) {
        return Err(invalid(field, format!("{} {}", at.to_rfc3339(), limits::day_range_text())));
    }
    Ok(at)
}

fn series(list: Vec<pb::Series>, field: &str) -> Result<BTreeMap<String, Vec<f64>>, Status> {
    let mut out = BTreeMap::new();
    for s in list {
        if out.insert(s.name.clone(), s.values).is_some() {
            return Err(invalid(&format!("{field}.{}", limits::short(&s.name)), "appears twice"));
        }
    }
    Ok(out)
}

/// A forecast from the wire; its time grid is checked here, before anything computes
/// with it (the rest by `Forecast::validate` against the plant).
pub fn forecast_from_pb(f: pb::Forecast) -> Result<Forecast, Status> {
    forecast(f)
}

/// A forecast from the wire; its time grid is checked here, before anything computes
/// with it.
pub(crate) fn forecast(f: pb::Forecast) -> Result<Forecast, Status> {
    let f = forecast_unchecked(f)?;
    f.validate_shape().map_err(|v| Status::invalid_argument(format!("invalid forecast:\n{v}")))?;
    Ok(f)
}

fn forecast_unchecked(f: pb::Forecast) -> Result<Forecast, Status> {
    Ok(Forecast {
        description: f.description,
        start: instant(f.start.as_ref(), "forecast.start")?,
        interval_minutes: f.interval_minutes,
        intervals: f.intervals as usize,
        availability: series(f.availability, "forecast.availability")?,
        demand_mw: series(f.demand_mw, "forecast.demand_mw")?,
        inflow_mwh: series(f.inflow_mwh, "forecast.inflow_mwh")?,
        interruptible_mw: series(f.interruptible_mw, "forecast.interruptible_mw")?,
        import_price: series(f.import_price, "forecast.import_price")?,
        bids: Vec::new(),
        scenarios: f
            .scenarios
            .into_iter()
            .enumerate()
            .map(|(k, s)| {
                Ok(Scenario {
                    name: s.name,
                    probability: s.probability,
                    availability: series(s.availability, &format!("forecast.scenarios[{k}].availability"))?,
                    demand_mw: series(s.demand_mw, &format!("forecast.scenarios[{k}].demand_mw"))?,
                })
            })
            .collect::<Result<_, Status>>()?,
        quantiles: match f.quantiles {
            None => None,
            Some(q) => {
                let level = |s: Option<pb::QuantileSeries>, name: &str| -> Result<QuantileSeries, Status> {
                    let s = s.unwrap_or_default();
                    Ok(QuantileSeries {
                        availability: series(s.availability, &format!("forecast.quantiles.{name}.availability"))?,
                        demand_mw: series(s.demand_mw, &format!("forecast.quantiles.{name}.demand_mw"))?,
                    })
                };
                Some(Quantiles { q10: level(q.q10, "q10")?, q50: level(q.q50, "q50")?, q90: level(q.q90, "q90")? })
            }
        },
    })
}

fn to_series(map: &BTreeMap<String, Vec<f64>>) -> Vec<pb::Series> {
    map.iter().map(|(name, values)| pb::Series { name: name.clone(), values: values.clone() }).collect()
}

/// The wire form of a forecast (for clients).
#[allow(unreachable_pub)]
pub fn forecast_to_pb(f: &Forecast) -> pb::Forecast {
    pb::Forecast {
        start: Some(timestamp(f.start)),
        interval_minutes: f.interval_minutes,
        intervals: f.intervals as u32,
        availability: to_series(&f.availability),
        demand_mw: to_series(&f.demand_mw),
        inflow_mwh: to_series(&f.inflow_mwh),
        interruptible_mw: to_series(&f.interruptible_mw),
        import_price: to_series(&f.import_price),
        description: f.description.clone(),
        scenarios: f
            .scenarios
            .iter()
            .map(|s| pb::Scenario {
                name: s.name.clone(),
                probability: s.probability,
                availability: to_series(&s.availability),
                demand_mw: to_series(&s.demand_mw),
            })
            .collect(),
        quantiles: f.quantiles.as_ref().map(|q| {
            let level =
                |s: &QuantileSeries| pb::QuantileSeries { availability: to_series(&s.availability), demand_mw: to_series(&s.demand_mw) };
            pb::Quantiles { q10: Some(level(&q.q10)), q50: Some(level(&q.q50)), q90: Some(level(&q.q90)) }
        }),
    }
}

impl From<Objective> for pb::Objective {
    fn from(o: Objective) -> pb::Objective {
        match o {
            Objective::GreenShare => pb::Objective::GreenShare,
            Objective::GreenEnergy => pb::Objective::GreenEnergy,
            Objective::Cost => pb::Objective::Cost,
        }
    }
}

/// A stored objective name on the wire (green-share for an unknown name).
pub(crate) fn objective_to_pb(o: &str) -> i32 {
    o.parse::<Objective>().map_or(pb::Objective::GreenShare, pb::Objective::from) as i32
}

pub(crate) fn options(o: Option<pb::SolveOptions>) -> Result<Options, Status> {
    let o = o.unwrap_or_default();
    let objective = match pb::Objective::try_from(o.objective) {
        Ok(pb::Objective::Unspecified | pb::Objective::GreenShare) => Objective::GreenShare,
        Ok(pb::Objective::GreenEnergy) => Objective::GreenEnergy,
        Ok(pb::Objective::Cost) => Objective::Cost,
        Err(_) => return Err(invalid("options.objective", format!("unknown value {}", o.objective))),
    };
    Ok(Options {
        objective,
        milp: o.milp,
        share_tolerance: o.share_tolerance.unwrap_or(1e-4),
        carbon_price: o.carbon_price,
        min_share: o.min_share,
        frontier_points: o.frontier_points as usize,
        ..Options::default()
    })
}

pub(crate) fn levels(list: Vec<pb::StorageLevel>) -> BTreeMap<String, StorageLevel> {
    list.into_iter().map(|l| (l.storage, StorageLevel { green_mwh: l.green_mwh, grey_mwh: l.grey_mwh })).collect()
}

pub(crate) fn side(s: i32) -> Result<BidSide, Status> {
    match pb::Side::try_from(s) {
        Ok(pb::Side::Sell) => Ok(BidSide::Sell),
        Ok(pb::Side::Buy) => Ok(BidSide::Buy),
        Ok(pb::Side::Curtail) => Ok(BidSide::Curtail),
        _ => Err(invalid("side", "must be SIDE_SELL, SIDE_BUY or SIDE_CURTAIL")),
    }
}

pub(crate) fn side_to_pb(s: BidSide) -> i32 {
    match s {
        BidSide::Sell => pb::Side::Sell as i32,
        BidSide::Buy => pb::Side::Buy as i32,
        BidSide::Curtail => pb::Side::Curtail as i32,
    }
}

pub(crate) fn bid_to_pb(b: &Bid) -> pb::Bid {
    pb::Bid {
        bid_id: b.id.clone(),
        node: b.node.clone(),
        interval_start: Some(timestamp(b.interval_start)),
        side: side_to_pb(b.side),
        quantity_mw: b.quantity_mw,
        price: b.price,
        green: b.green,
        park: b.park.clone().unwrap_or_default(),
    }
}

pub(crate) fn ack(a: &Acknowledged) -> pb::BidAck {
    let r = &a.record;
    pb::BidAck {
        bid_id: r.bid.id.clone(),
        bot: r.bid.bot.clone(),
        delivery_day: r.delivery_day.to_string(),
        revision: r.revision,
        state: match r.state {
            BidState::Active => pb::BidState::Active as i32,
            BidState::Cancelled => pb::BidState::Cancelled as i32,
        },
        acknowledged_at: Some(timestamp(r.acknowledged_at)),
        gate_closure: Some(timestamp(a.gate_closure)),
    }
}

/// A bid from the wire, its fields converted (the service checks it against the plant and
/// the market rules); its bot is the caller's, set by the service.
pub(crate) fn bid(b: pb::Bid) -> Result<Bid, Status> {
    Ok(Bid {
        interval_start: instant(b.interval_start.as_ref(), "interval_start")?,
        side: side(b.side)?,
        id: b.bid_id,
        bot: String::new(),
        node: b.node,
        quantity_mw: b.quantity_mw,
        price: b.price,
        green: b.green,
        park: (!b.park.is_empty()).then_some(b.park),
        firm: false,
        award_price: None,
    })
}

pub(crate) fn info(i: &ScheduleInfo, s: &Schedule) -> pb::ScheduleInfo {
    pb::ScheduleInfo {
        delivery_day: i.day.to_string(),
        version: i.version,
        published_at: Some(timestamp(i.published_at)),
        objective: objective_to_pb(&i.objective),
        horizon_start: s.intervals.first().map(|t| timestamp(*t)),
        intervals: s.intervals.len() as u32,
        interval_minutes: (s.dt_hours * 60.0).round() as u32,
        green_share: i.green_share,
        cost_yuan: i.cost_yuan,
        inputs_sha256: i.inputs_sha256.clone(),
        replans_version: i.replans_version,
    }
}

/// An award on the wire.
pub(crate) fn award(a: &Award) -> pb::Award {
    pb::Award {
        bid_id: a.bid_id.clone(),
        bot: a.bot.clone(),
        delivery_day: a.day.to_string(),
        schedule_version: a.version,
        interval_start: a.interval_start.map(timestamp),
        side: side_to_pb(a.side),
        node: a.node.clone(),
        quantity_mw: a.quantity_mw,
        price: a.price,
        accepted_mw: a.accepted_mw,
        status: match a.status {
            BidStatus::InTheMoney => pb::AwardStatus::InTheMoney as i32,
            BidStatus::Marginal => pb::AwardStatus::Marginal as i32,
            BidStatus::OutOfTheMoney => pb::AwardStatus::OutOfTheMoney as i32,
        },
        clearing_price: a.clearing_price,
        settlement_yuan: a.settlement_yuan,
        firm: a.firm,
    }
}

/// A share report on the wire.
pub(crate) fn share_report(r: ShareReport) -> pb::ShareReport {
    pb::ShareReport {
        subject: r.subject,
        served_mwh: r.served_mwh,
        green_mwh: r.green_mwh,
        share: r.share,
        certificates: r.certificates,
        demand_mwh: r.demand_mwh,
        interrupted_mwh: r.interrupted_mwh,
        days: r.days.into_iter().map(day_share).collect(),
    }
}

fn day_share(d: DayShare) -> pb::DayShare {
    pb::DayShare {
        day: d.day.to_string(),
        version: d.version,
        served_mwh: d.served_mwh,
        green_mwh: d.green_mwh,
        share: d.share,
        certificates: d.certificates,
        min_share: d.min_share,
        intervals: d
            .intervals
            .into_iter()
            .map(|i| pb::ShareInterval {
                start: Some(timestamp(i.start)),
                served_mwh: i.served_mwh,
                green_mwh: i.green_mwh,
                share: i.share,
                version: i.version,
                demand_mwh: i.demand_mwh,
                interrupted_mwh: i.interrupted_mwh,
            })
            .collect(),
        demand_mwh: d.demand_mwh,
        interrupted_mwh: d.interrupted_mwh,
        versions: d.versions,
    }
}

pub(crate) fn schedule(i: &ScheduleInfo, s: &Schedule, market_hours: f64) -> pb::Schedule {
    let t = &s.totals;
    pb::Schedule {
        info: Some(info(i, s)),
        intervals: s.intervals.iter().map(|t| timestamp(*t)).collect(),
        dt_hours: s.dt_hours,
        totals: Some(pb::Totals {
            green_share: t.green_share,
            green_mwh: t.green_mwh,
            served_mwh: t.served_mwh,
            grey_mwh: t.grey_mwh,
            curtailed_mwh: t.curtailed_mwh,
            interrupted_mwh: t.interrupted_mwh,
            imported_mwh: t.imported_mwh,
            exported_mwh: t.exported_mwh,
            cost_yuan: t.cost_yuan,
            co2_t: t.co2_t,
            certificates: t.certificates,
            green_premium_yuan_per_mwh: t.green_premium_yuan_per_mwh,
        }),
        parks: s
            .parks
            .iter()
            .map(|p| pb::ParkSchedule {
                name: p.name.clone(),
                node: p.node.clone(),
                demand_mw: p.demand_mw.clone(),
                interrupted_mw: p.interrupted_mw.clone(),
                curtailed_by_bids_mw: p.curtailed_by_bids_mw.clone(),
                served_mw: p.served_mw.clone(),
                green_mwh: p.green_mwh.clone(),
                share: p.share.clone(),
                min_share: p.min_share,
                served_total_mwh: p.served_mwh,
                green_total_mwh: p.green_total_mwh,
                share_total: p.share_total,
                own_green_mwh: p.own_green_mwh.clone(),
            })
            .collect(),
        renewables: s
            .renewables
            .iter()
            .map(|r| pb::RenewableSchedule {
                name: r.name.clone(),
                kind: r.kind.name().into(),
                asset_kind: asset_kind(r.kind.name()),
                park: r.park.clone().unwrap_or_default(),
                node: r.node.clone(),
                available_mw: r.available_mw.clone(),
                output_mw: r.output_mw.clone(),
                curtailed_mw: r.curtailed_mw.clone(),
            })
            .collect(),
        storages: s
            .storages
            .iter()
            .map(|st| pb::StorageSchedule {
                name: st.name.clone(),
                kind: st.kind.name().into(),
                asset_kind: asset_kind(st.kind.name()),
                park: st.park.clone().unwrap_or_default(),
                node: st.node.clone(),
                charge_mw: st.charge_mw.clone(),
                charge_green_mw: st.charge_green_mw.clone(),
                discharge_mw: st.discharge_mw.clone(),
                discharge_green_mw: st.discharge_green_mw.clone(),
                energy_green_mwh: st.energy_green_mwh.clone(),
                energy_grey_mwh: st.energy_grey_mwh.clone(),
            })
            .collect(),
        grids: s
            .grids
            .iter()
            .map(|g| pb::GridSchedule {
                name: g.name.clone(),
                node: g.node.clone(),
                import_mw: g.import_mw.clone(),
                export_mw: g.export_mw.clone(),
                import_price: g.import_price.clone(),
            })
            .collect(),
        lines: s
            .lines
            .iter()
            .map(|l| pb::LineSchedule {
                name: l.name.clone(),
                from: l.from.clone(),
                to: l.to.clone(),
                flow_mw: l.flow_mw.clone(),
                loading: l.loading.clone(),
            })
            .collect(),
        nodes: s.nodes.iter().map(|n| pb::NodeSchedule { name: n.name.clone(), price: n.price.clone() }).collect(),
        awards: crate::service::awards(s, i, market_hours).iter().map(award).collect(),
        green: s
            .green
            .iter()
            .map(|g| pb::GreenInterval {
                supply_mwh: g.supply_mwh,
                to_storage_mwh: g.to_storage_mwh,
                exported_mwh: g.exported_mwh,
                to_load_mwh: g.to_load_mwh,
                served_mwh: g.served_mwh,
                share: g.share,
            })
            .collect(),
        frontier: s.frontier.iter().map(|f| pb::FrontierPoint { share: f.share, cost_yuan: f.cost_yuan }).collect(),
        solver: Some(pb::SolverReport {
            backend: s.solver.backend.clone(),
            status: s.solver.status.clone(),
            milp: s.solver.milp,
            stage1_objective: s.solver.stage1_objective,
            objective: s.solver.objective,
            iterations: s.solver.iterations,
            solves: s.solver.solves,
            variables: s.solver.variables as u64,
            rows: s.solver.rows as u64,
            build_ms: s.solver.build_ms,
            solve_ms: s.solver.solve_ms,
            warm_started: s.solver.warm_started,
            options: s.solver.options.as_ref().map(|o| pb::SolvedWith {
                objective: o.objective.clone(),
                backend: o.backend.clone(),
                milp: o.milp,
                share_tolerance: o.share_tolerance,
                carbon_price_yuan_per_t: o.carbon_price_yuan_per_t,
                min_share: o.min_share,
                frontier_points: o.frontier_points.try_into().unwrap_or(u32::MAX),
                time_limit_s: o.time_limit_s,
                tie_break: o.tie_break.clone(),
            }),
        }),
        warnings: s.warnings.clone(),
        commitment: s.commitment.as_ref().map(commitment),
    }
}

fn commitment(c: &Commitment) -> pb::Commitment {
    let v = &c.valuation;
    pb::Commitment {
        imbalance_premium_yuan_per_mwh: c.imbalance_premium_yuan_per_mwh,
        intervals: c.intervals.iter().map(|t| timestamp(*t)).collect(),
        positions: c
            .first_stage
            .grids
            .iter()
            .map(|p| pb::GridPosition { grid: p.grid.clone(), position_mw: p.position_mw.clone() })
            .collect(),
        notices: c
            .first_stage
            .parks
            .iter()
            .map(|n| pb::ParkNotice { park: n.park.clone(), interrupted_mw: n.interrupted_mw.clone() })
            .collect(),
        imbalance: c
            .imbalance
            .iter()
            .map(|i| pb::GridImbalance { grid: i.grid.clone(), short_mw: i.short_mw.clone(), long_mw: i.long_mw.clone() })
            .collect(),
        imbalance_mwh: c.imbalance_mwh,
        valuation: Some(pb::Valuation {
            stochastic: Some(evaluation(&v.stochastic)),
            deterministic: Some(evaluation(&v.deterministic)),
            perfect_information: Some(evaluation(&v.perfect_information)),
            vss_green_share: v.vss.green_share,
            vss_cost_yuan: v.vss.cost_yuan,
            evpi_green_share: v.evpi.green_share,
            evpi_cost_yuan: v.evpi.cost_yuan,
            solves: v.solver.solves,
            total_ms: v.solver.total_ms,
        }),
    }
}

fn evaluation(e: &Evaluation) -> pb::Evaluation {
    pb::Evaluation {
        green_share: e.green_share,
        cost_yuan: e.cost_yuan,
        imbalance_mwh: e.imbalance_mwh,
        cvar_alpha: e.cvar_alpha,
        cvar_cost_yuan: e.cvar_cost_yuan,
        p10_green_share: e.p10_green_share,
        scenarios: e
            .scenarios
            .iter()
            .map(|s| pb::ScenarioOutcome {
                name: s.name.clone(),
                probability: s.probability,
                green_share: s.green_share,
                green_mwh: s.green_mwh,
                served_mwh: s.served_mwh,
                cost_yuan: s.cost_yuan,
                imbalance_mwh: s.imbalance_mwh,
            })
            .collect(),
    }
}

/// The imbalance premium of a stochastic day-ahead (yuan/MWh) and its risk options, or
/// `None` for a deterministic one. Every field checked here, by its wire name.
pub(crate) fn stochastic(o: Option<pb::StochasticOptions>) -> Result<Option<(f64, Risk)>, Status> {
    let Some(o) = o else { return Ok(None) };
    let premium = o.imbalance_premium_yuan_per_mwh.unwrap_or(crate::model::DEFAULT_IMBALANCE_PREMIUM);
    let max = limits::MAX_PRICE_YUAN_PER_MWH;
    if !premium.is_finite() || !(0.0..=max).contains(&premium) {
        return Err(invalid("stochastic.imbalance_premium_yuan_per_mwh", format!("must lie in [0, {max}] yuan/MWh, got {premium}")));
    }
    let risk =
        Risk { cvar_weight: o.cvar_weight, cvar_alpha: o.cvar_alpha.unwrap_or(Risk::default().cvar_alpha), p10_min_share: o.p10_min_share };
    let within = |field: &str, v: f64, hi: f64| {
        if v.is_finite() && (0.0..=hi).contains(&v) {
            Ok(())
        } else {
            Err(invalid(&format!("stochastic.{field}"), format!("must lie in [0, {hi}], got {v}")))
        }
    };
    within("cvar_weight", risk.cvar_weight, 1.0)?;
    within("cvar_alpha", risk.cvar_alpha, crate::model::MAX_CVAR_ALPHA)?;
    if let Some(m) = risk.p10_min_share {
        within("p10_min_share", m, 1.0)?;
    }
    Ok(Some((premium, risk)))
}

/// The wire kind of an asset, by its name: `pumped_hydro` is `ASSET_KIND_PUMPED_HYDRO`. A
/// kind the proto does not list yet is UNSPECIFIED on the wire (its `kind` text still says).
fn asset_kind(name: &str) -> i32 {
    pb::AssetKind::from_str_name(&format!("ASSET_KIND_{}", name.to_ascii_uppercase())).unwrap_or(pb::AssetKind::Unspecified) as i32
}
