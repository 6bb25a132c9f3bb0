//! Conversions between the wire types (`pb`) and the domain, validating what comes in.
//! Proto types stop here.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use tonic::Status;

use crate::domain::schedule::BidStatus;
use crate::domain::{limits, Bid, BidSide, Forecast, Schedule};
use crate::model::{Objective, Options, StorageLevel};
use crate::store::{BidRecord, BidState, ScheduleInfo};

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

/// A delivery day: exactly `YYYY-MM-DD` (no spaces, no sign), within the accepted days.
pub(crate) fn day(text: &str, field: &str) -> Result<NaiveDate, Status> {
    if text.is_empty() {
        return Err(invalid(field, "is required (YYYY-MM-DD)"));
    }
    let shaped = text.len() == 10 && text.bytes().enumerate().all(|(k, b)| if k == 4 || k == 7 { b == b'-' } else { b.is_ascii_digit() });
    let parsed = shaped.then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()).flatten();
    let day = parsed.ok_or_else(|| invalid(field, format!("{} is not a date YYYY-MM-DD", limits::quote(text))))?;
    if !limits::day_in_range(day) {
        return Err(invalid(field, format!("{day} {}", limits::day_range_text())));
    }
    Ok(day)
}

/// A day range; `to` empty means `from`. At most 366 days.
pub(crate) fn day_range(from: &str, to: &str) -> Result<(NaiveDate, NaiveDate), Status> {
    let a = day(from, "from_day")?;
    let b = if to.is_empty() { a } else { day(to, "to_day")? };
    if b < a {
        return Err(invalid("to_day", "is before from_day"));
    }
    if (b - a).num_days() > 366 {
        return Err(invalid("to_day", "a range covers at most 366 days"));
    }
    Ok((a, b))
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

fn side_to_pb(s: BidSide) -> i32 {
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

pub(crate) fn ack(r: &BidRecord, gate_closure: DateTime<Utc>) -> pb::BidAck {
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
        gate_closure: Some(timestamp(gate_closure)),
    }
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

/// The id a bid carries inside the LP: `bot/id#k` for the k-th solver interval of its
/// market interval. Bot names and bid ids contain neither `/` nor `#`.
pub(crate) fn lp_bid_id(bot: &str, id: &str, k: usize) -> String {
    format!("{bot}/{id}#{k}")
}

fn split_lp_bid_id(s: &str) -> Option<(&str, &str)> {
    let (head, _) = s.rsplit_once('#')?;
    head.split_once('/')
}

/// Awards per market bid, aggregated over the solver intervals its market interval spans:
/// accepted MW and clearing price are time-weighted means, settlement the sum.
pub(crate) fn awards(s: &Schedule, info: &ScheduleInfo, market_hours: f64) -> Vec<pb::Award> {
    let dt = s.dt_hours;
    let mut order: Vec<(String, String)> = Vec::new();
    let mut groups: HashMap<(String, String), Vec<&crate::domain::schedule::BidAward>> = HashMap::new();
    for a in &s.bids {
        let Some((bot, id)) = split_lp_bid_id(&a.id) else { continue };
        let key = (bot.to_string(), id.to_string());
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(a);
    }
    order
        .into_iter()
        .map(|key| {
            let parts = &groups[&key];
            let first = parts[0];
            let hours = (parts.len() as f64 * dt).max(dt).min(market_hours.max(dt));
            let accepted = parts.iter().map(|a| a.accepted_mw * dt).sum::<f64>() / hours;
            let price = parts.iter().map(|a| a.clearing_price * dt).sum::<f64>() / hours;
            let settlement = parts.iter().map(|a| a.settlement_yuan).sum();
            let status = if accepted <= 1e-6 {
                BidStatus::OutOfTheMoney
            } else if accepted >= first.quantity_mw - 1e-6 {
                BidStatus::InTheMoney
            } else {
                BidStatus::Marginal
            };
            pb::Award {
                bid_id: key.1.clone(),
                bot: key.0.clone(),
                delivery_day: info.day.to_string(),
                schedule_version: info.version,
                interval_start: first.interval_start.or_else(|| s.intervals.get(first.interval).copied()).map(timestamp),
                side: side_to_pb(first.side),
                node: first.node.clone(),
                quantity_mw: first.quantity_mw,
                price: first.price,
                accepted_mw: accepted,
                status: match status {
                    BidStatus::InTheMoney => pb::AwardStatus::InTheMoney as i32,
                    BidStatus::Marginal => pb::AwardStatus::Marginal as i32,
                    BidStatus::OutOfTheMoney => pb::AwardStatus::OutOfTheMoney as i32,
                },
                clearing_price: price,
                settlement_yuan: settlement,
                firm: first.firm,
            }
        })
        .collect()
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
        awards: awards(s, i, market_hours),
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
    }
}

/// The wire kind of an asset, by its name: `pumped_hydro` is `ASSET_KIND_PUMPED_HYDRO`. A
/// kind the proto does not list yet is UNSPECIFIED on the wire (its `kind` text still says).
fn asset_kind(name: &str) -> i32 {
    pb::AssetKind::from_str_name(&format!("ASSET_KIND_{}", name.to_ascii_uppercase())).unwrap_or(pb::AssetKind::Unspecified) as i32
}
