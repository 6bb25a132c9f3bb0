//! `vpp client`: a small gRPC client for people and scripts.

use anyhow::Context;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use vpp_dispatch::api::pb;
use vpp_dispatch::domain::Forecast;

use super::ClientCall;

fn with_token<T>(token: &str, msg: T) -> anyhow::Result<tonic::Request<T>> {
    let mut req = tonic::Request::new(msg);
    let value: MetadataValue<_> = format!("Bearer {token}").parse().context("the token is not a valid header value")?;
    req.metadata_mut().insert("authorization", value);
    Ok(req)
}

/// `NOT_FOUND: no schedule published for 2026-12-02`: the gRPC code as the API
/// documents it, then the server's message.
fn status_text(s: &tonic::Status) -> String {
    let debug = format!("{:?}", s.code());
    let mut code = String::new();
    for (k, ch) in debug.chars().enumerate() {
        if ch.is_ascii_uppercase() && k > 0 {
            code.push('_');
        }
        code.push(ch.to_ascii_uppercase());
    }
    format!("{code}: {}", s.message())
}

/// `message` as JSON by the protobuf JSON mapping, through the API's own descriptors.
fn json<M: prost::Message>(message: &M, name: &str) -> anyhow::Result<String> {
    let pool = prost_reflect::DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).context("the API's descriptors")?;
    let descriptor = pool.get_message_by_name(name).with_context(|| format!("no message {name} in the API"))?;
    let dynamic = prost_reflect::DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())?;
    Ok(serde_json::to_string_pretty(&dynamic)?)
}

/// `day` and an optional last day as the wire's `from_day` and `to_day` (empty: the
/// same day), read in the forms [`super::local_day`] accepts.
fn days(day: &str, to: Option<&str>, tz: chrono_tz::Tz) -> anyhow::Result<(String, String)> {
    let to_day = match to {
        Some(to) => super::local_day(to, tz)?.to_string(),
        None => String::new(),
    };
    Ok((super::local_day(day, tz)?.to_string(), to_day))
}

/// Prints what a server stream sends, one item a line (JSON on one line when asked),
/// until it ends or `count` items came.
async fn follow<M: prost::Message + Default>(
    mut stream: tonic::Streaming<M>,
    count: Option<usize>,
    as_json: bool,
    name: &str,
    summary: impl Fn(&M),
) -> anyhow::Result<()> {
    let mut seen = 0;
    while count.is_none_or(|n| seen < n) {
        let Some(item) = stream.message().await? else { break };
        if as_json {
            println!("{}", json(&item, name)?.replace('\n', " "));
        } else {
            summary(&item);
        }
        seen += 1;
    }
    Ok(())
}

/// Prints `message` as JSON when asked, else runs `summary`.
fn show<M: prost::Message>(as_json: bool, message: &M, name: &str, summary: impl FnOnce(&M)) -> anyhow::Result<()> {
    if as_json {
        println!("{}", json(message, name)?);
    } else {
        summary(message);
    }
    Ok(())
}

pub(super) fn run(addr: String, token: String, as_json: bool, call: ClientCall) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        match calls(addr, token, as_json, call).await {
            Err(e) => match e.downcast_ref::<tonic::Status>() {
                Some(status) => Err(anyhow::anyhow!(status_text(status))),
                None => Err(e),
            },
            ok => ok,
        }
    })
}

/// A local time with its zone: `2026-12-02 19:00 CST`.
fn local(t: &prost_types::Timestamp, tz: chrono_tz::Tz) -> String {
    chrono::DateTime::from_timestamp(t.seconds, 0).map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()).unwrap_or_default()
}

async fn calls(addr: String, token: String, as_json: bool, call: ClientCall) -> anyhow::Result<()> {
    let tz = super::cli_zone();
    {
        let channel = Channel::from_shared(addr.clone())?.connect().await.with_context(|| format!("cannot connect to {addr}"))?;
        match call {
            ClientCall::DayAhead { day, forecast, objective, stochastic, imbalance_premium, cvar_weight, cvar_alpha, p10_min_share } => {
                let fc = Forecast::load(&forecast)?;
                let req = pb::SubmitDayAheadRequest {
                    delivery_day: super::local_day(&day, tz)?.to_string(),
                    forecast: Some(vpp_dispatch::api::forecast_to_pb(&fc)),
                    options: Some(pb::SolveOptions { objective: pb::Objective::from(objective) as i32, ..Default::default() }),
                    stochastic: stochastic.then_some(pb::StochasticOptions {
                        imbalance_premium_yuan_per_mwh: imbalance_premium,
                        cvar_weight,
                        cvar_alpha,
                        p10_min_share,
                    }),
                };
                let mut c = pb::dispatch_service_client::DispatchServiceClient::new(channel).max_decoding_message_size(64 << 20);
                let s = c.submit_day_ahead(with_token(&token, req)?).await?.into_inner();
                show(as_json, &s, "vpp.v1.Schedule", print_schedule)?;
            }
            ClientCall::Schedule { day, version } => {
                let mut c = pb::dispatch_service_client::DispatchServiceClient::new(channel).max_decoding_message_size(64 << 20);
                let delivery_day = super::local_day(&day, tz)?.to_string();
                let s = c.get_schedule(with_token(&token, pb::GetScheduleRequest { delivery_day, version })?).await?.into_inner();
                show(as_json, &s, "vpp.v1.Schedule", print_schedule)?;
            }
            ClientCall::Readings { model, file, reason } => {
                let plant = vpp_dispatch::domain::Plant::load(&model)?;
                let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
                let name = file.display().to_string();
                let r = vpp_dispatch::ledger::readings_from_csv(&plant, &name, &text, None)
                    .map_err(|e| anyhow::anyhow!("readings {name} are refused:\n{e}"))?;
                let all: Vec<pb::Reading> = r
                    .entries()
                    .into_iter()
                    .map(|e| pb::Reading {
                        meter: e.meter.into(),
                        quantity: e.quantity.name().into(),
                        interval_start: Some(prost_types::Timestamp { seconds: r.instant(e.t).timestamp(), nanos: 0 }),
                        value_mwh: e.wh as f64 / vpp_dispatch::ledger::WH_PER_MWH as f64,
                        reason: reason.clone().unwrap_or_default(),
                    })
                    .collect();
                let batches: Vec<pb::ReadingBatch> = all.chunks(10_000).map(|c| pb::ReadingBatch { readings: c.to_vec() }).collect();
                let mut c = pb::meter_service_client::MeterServiceClient::new(channel);
                let acks = c.stream_readings(with_token(&token, tokio_stream::iter(batches))?).await?.into_inner();
                show(as_json, &acks, "vpp.v1.ReadingAcks", |a| {
                    println!(
                        "{}: {} readings: {} created, {} existing, {} corrected, {} conflicts",
                        name,
                        all.len(),
                        a.created,
                        a.existing,
                        a.corrected,
                        a.conflicts
                    )
                })?;
            }
            ClientCall::Ledger { park, day, to, statement_only } => {
                let mut c = pb::ledger_service_client::LedgerServiceClient::new(channel).max_decoding_message_size(256 << 20);
                let (from_day, to_day) = days(&day, to.as_deref(), tz)?;
                let r = c
                    .get_park_ledger(with_token(&token, pb::ParkLedgerRequest { park, from_day, to_day, statement_only })?)
                    .await?
                    .into_inner();
                show(as_json, &r, "vpp.v1.ParkLedger", |r| {
                    if !statement_only {
                        println!("{}: {} certificates cancelled", r.park, r.certificates.len());
                    }
                    for m in &r.months {
                        let pct = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{:.2} %", 100.0 * x));
                        let share = format!("{} (planned {}, deviation {})", pct(m.share), pct(m.planned_share), pct(m.deviation));
                        println!(
                            "  {}: consumed {:.3} MWh, green {:.3} MWh (own {:.3}, pool {:.3}), hourly-matched {share}, {} GEC (carried {:.3} MWh), {} missing intervals",
                            m.month,
                            m.consumption_mwh,
                            m.green_mwh,
                            m.own_green_mwh,
                            m.pool_green_mwh,
                            m.gec_issued,
                            m.carried_mwh,
                            m.missing_intervals
                        );
                    }
                    for y in &r.years {
                        let share = y.share.map_or_else(|| "-".to_string(), |x| format!("{:.2} %", 100.0 * x));
                        println!(
                            "  {}: consumed {:.3} MWh, green {:.3} MWh, hourly-matched {share}, {} GEC, Scope 2 {:.1} t location-based, {:.1} t market-based",
                            y.year, y.consumption_mwh, y.green_mwh, y.gec_issued, y.scope2_location_t, y.scope2_market_t
                        );
                    }
                })?;
            }
            ClientCall::Share { park, day, to } => {
                let mut c = pb::green_share_service_client::GreenShareServiceClient::new(channel);
                let (from_day, to_day) = days(&day, to.as_deref(), tz)?;
                let req = pb::ParkShareRequest { park, from_day, to_day };
                let r = c.get_park_share(with_token(&token, req)?).await?.into_inner();
                show(as_json, &r, "vpp.v1.ShareReport", |r| print_report(r, tz))?;
            }
            ClientCall::Replan { day, from, levels, forecast } => {
                let from = super::local_instant(&from, tz)?;
                let mut parsed = Vec::new();
                for l in levels {
                    let (name, rest) = l.split_once('=').with_context(|| format!("--level {l}: write name=green_mwh/grey_mwh"))?;
                    let (g, k) = rest.split_once('/').with_context(|| format!("--level {l}: write name=green_mwh/grey_mwh"))?;
                    parsed.push(pb::StorageLevel {
                        storage: name.to_string(),
                        green_mwh: g.trim().parse().with_context(|| format!("--level {l}: green MWh"))?,
                        grey_mwh: k.trim().parse().with_context(|| format!("--level {l}: grey MWh"))?,
                    });
                }
                let forecast = match forecast {
                    Some(path) => Some(vpp_dispatch::api::forecast_to_pb(&Forecast::load(&path)?)),
                    None => None,
                };
                let req = pb::ReplanRequest {
                    delivery_day: super::local_day(&day, tz)?.to_string(),
                    from: Some(prost_types::Timestamp { seconds: from.timestamp(), nanos: 0 }),
                    levels: parsed,
                    forecast,
                    options: None,
                };
                let mut c = pb::dispatch_service_client::DispatchServiceClient::new(channel).max_decoding_message_size(64 << 20);
                let s = c.replan(with_token(&token, req)?).await?.into_inner();
                show(as_json, &s, "vpp.v1.Schedule", print_schedule)?;
            }
            ClientCall::Schedules { day, to } => {
                let (from_day, to_day) = days(&day, to.as_deref(), tz)?;
                let req = pb::ListSchedulesRequest { from_day, to_day };
                let mut c = pb::dispatch_service_client::DispatchServiceClient::new(channel);
                let list = c.list_schedules(with_token(&token, req)?).await?.into_inner();
                show(as_json, &list, "vpp.v1.ListSchedulesResponse", |list| {
                    for i in &list.schedules {
                        print_info(i, tz);
                    }
                })?;
            }
            ClientCall::Inputs { day, version, out_dir } => {
                let req = pb::GetScheduleRequest { delivery_day: super::local_day(&day, tz)?.to_string(), version };
                let mut c = pb::dispatch_service_client::DispatchServiceClient::new(channel).max_decoding_message_size(64 << 20);
                let inputs = c.get_schedule_inputs(with_token(&token, req)?).await?.into_inner();
                std::fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
                for (name, text) in
                    [("plant.toml", &inputs.plant_toml), ("forecast.json", &inputs.forecast_json), ("options.json", &inputs.options_json)]
                {
                    let path = out_dir.join(name);
                    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
                }
                let info = inputs.info.clone().unwrap_or_default();
                println!(
                    "{} v{}: inputs written to {} (sha256 {}); re-solve with: vpp solve --model {}/plant.toml --forecast {}/forecast.json",
                    info.delivery_day,
                    info.version,
                    out_dir.display(),
                    info.inputs_sha256,
                    out_dir.display(),
                    out_dir.display()
                );
            }
            ClientCall::WatchSchedules { day, to, count } => {
                let (from_day, to_day) = days(&day, to.as_deref(), tz)?;
                let req = pb::StreamSchedulesRequest { from_day, to_day };
                let mut c = pb::dispatch_service_client::DispatchServiceClient::new(channel);
                let stream = c.stream_schedules(with_token(&token, req)?).await?.into_inner();
                follow(stream, count, as_json, "vpp.v1.ScheduleInfo", |info| print_info(info, tz)).await?;
            }
            ClientCall::WatchAwards { day, count } => {
                let req = pb::StreamAwardsRequest { delivery_day: super::local_day(&day, tz)?.to_string() };
                let mut c = pb::market_service_client::MarketServiceClient::new(channel);
                let stream = c.stream_awards(with_token(&token, req)?).await?.into_inner();
                follow(stream, count, as_json, "vpp.v1.Award", |a| {
                    let at = a.interval_start.as_ref().map(|t| local(t, tz)).unwrap_or_default();
                    println!(
                        "v{} {}/{} {at}: {:.1} of {:.1} MW at {:.1} yuan/MWh, settlement {:.1} yuan{}",
                        a.schedule_version,
                        a.bot,
                        a.bid_id,
                        a.accepted_mw,
                        a.quantity_mw,
                        a.clearing_price,
                        a.settlement_yuan,
                        if a.firm { " (firm)" } else { "" }
                    );
                })
                .await?;
            }
            ClientCall::Amend { id, mw, price } => {
                anyhow::ensure!(mw.is_some() || price.is_some(), "give --mw, --price or both");
                let mut c = pb::market_service_client::MarketServiceClient::new(channel);
                let ack = c.amend_bid(with_token(&token, pb::AmendBidRequest { bid_id: id, quantity_mw: mw, price })?).await?.into_inner();
                show(as_json, &ack, "vpp.v1.BidAck", |ack| {
                    println!("bid {} amended for {} (revision {})", ack.bid_id, ack.delivery_day, ack.revision)
                })?;
            }
            ClientCall::Cancel { id } => {
                let mut c = pb::market_service_client::MarketServiceClient::new(channel);
                let ack = c.cancel_bid(with_token(&token, pb::CancelBidRequest { bid_id: id })?).await?.into_inner();
                show(as_json, &ack, "vpp.v1.BidAck", |ack| {
                    println!("bid {} cancelled for {} (revision {})", ack.bid_id, ack.delivery_day, ack.revision)
                })?;
            }
            ClientCall::ListBids { day } => {
                let mut c = pb::market_service_client::MarketServiceClient::new(channel);
                let req = pb::ListBidsRequest { delivery_day: super::local_day(&day, tz)?.to_string() };
                let list = c.list_bids(with_token(&token, req)?).await?.into_inner();
                if as_json {
                    println!("{}", json(&list, "vpp.v1.ListBidsResponse")?);
                    return Ok(());
                }
                println!("{} bid(s)", list.bids.len());
                for r in &list.bids {
                    let (b, ack) = (r.bid.clone().unwrap_or_default(), r.ack.clone().unwrap_or_default());
                    let at = b.interval_start.as_ref().map(|t| local(t, tz)).unwrap_or_default();
                    let state = pb::BidState::try_from(ack.state).map_or("unknown".to_string(), |s| format!("{s:?}").to_lowercase());
                    let side = pb::Side::try_from(b.side).map_or("?".to_string(), |s| format!("{s:?}").to_lowercase());
                    println!(
                        "  {:<20} {:<8} {at}  {side:<7} {:>8.1} MW at {:>7.1} yuan/MWh{}  revision {}  {state}",
                        format!("{}/{}", ack.bot, b.bid_id),
                        b.node,
                        b.quantity_mw,
                        b.price,
                        if b.green { " green" } else { "" },
                        ack.revision
                    );
                }
            }
            ClientCall::PlantShare { day, to } => {
                let mut c = pb::green_share_service_client::GreenShareServiceClient::new(channel);
                let (from_day, to_day) = days(&day, to.as_deref(), tz)?;
                let req = pb::PlantShareRequest { from_day, to_day };
                let r = c.get_plant_share(with_token(&token, req)?).await?.into_inner();
                show(as_json, &r, "vpp.v1.ShareReport", |r| print_report(r, tz))?;
            }
            ClientCall::Bid { id, node, at, side, mw, price, green, park } => {
                let side = match side.as_str() {
                    "sell" => pb::Side::Sell,
                    "buy" => pb::Side::Buy,
                    "curtail" => pb::Side::Curtail,
                    other => anyhow::bail!("--side must be sell, buy or curtail, got '{other}'"),
                };
                let bid = pb::Bid {
                    bid_id: id,
                    node,
                    interval_start: Some(prost_types::Timestamp { seconds: super::local_instant(&at, tz)?.timestamp(), nanos: 0 }),
                    side: side as i32,
                    quantity_mw: mw,
                    price,
                    green,
                    park: park.unwrap_or_default(),
                };
                let mut c = pb::market_service_client::MarketServiceClient::new(channel);
                let ack = c.submit_bid(with_token(&token, bid)?).await?.into_inner();
                show(as_json, &ack, "vpp.v1.BidAck", |ack| {
                    println!("bid {} acknowledged for {} (revision {})", ack.bid_id, ack.delivery_day, ack.revision)
                })?;
            }
        }
        Ok(())
    }
}

fn print_report(r: &pb::ShareReport, tz: chrono_tz::Tz) {
    println!(
        "{}: {:.2} % green ({:.1} of {:.1} MWh served; demand {:.1} MWh, interrupted {:.1} MWh; {} certificates)",
        r.subject,
        r.share * 100.0,
        r.green_mwh,
        r.served_mwh,
        r.demand_mwh,
        r.interrupted_mwh,
        r.certificates
    );
    for d in &r.days {
        let versions: Vec<String> = d.versions.iter().map(|v| format!("v{v}")).collect();
        println!("{} (schedule {}): {:.2} %", d.day, versions.join(" + "), d.share * 100.0);
        for i in &d.intervals {
            let at = i.start.as_ref().map(|t| local(t, tz)).unwrap_or_default();
            println!(
                "  {at}  v{}  demand {:>8.1}  interrupted {:>6.1}  served {:>8.1}  green {:>8.1} MWh  {:>6.2} %",
                i.version,
                i.demand_mwh,
                i.interrupted_mwh,
                i.served_mwh,
                i.green_mwh,
                i.share * 100.0
            );
        }
    }
}

fn print_info(i: &pb::ScheduleInfo, tz: chrono_tz::Tz) {
    let at = i.published_at.as_ref().map(|t| local(t, tz)).unwrap_or_default();
    let replans = if i.replans_version > 0 { format!(", re-plans v{}", i.replans_version) } else { String::new() };
    println!(
        "{} v{}: published {at}, {} intervals of {} min, green share {:.2} %, cost {:.0} yuan{replans}",
        i.delivery_day,
        i.version,
        i.intervals,
        i.interval_minutes,
        i.green_share * 100.0,
        i.cost_yuan
    );
}

fn print_schedule(s: &pb::Schedule) {
    let info = s.info.clone().unwrap_or_default();
    let t = s.totals.unwrap_or_default();
    println!(
        "{} v{}: green share {:.2} %, cost {:.0} yuan, CO2 {:.1} t, {} certificates",
        info.delivery_day,
        info.version,
        t.green_share * 100.0,
        t.cost_yuan,
        t.co2_t,
        t.certificates
    );
    for p in &s.parks {
        println!("  {:<26} {:>8.2} %", p.name, p.share_total * 100.0);
    }
    for a in &s.awards {
        println!("  award {} ({}): {:.1} of {:.1} MW at {:.1} yuan/MWh", a.bid_id, a.bot, a.accepted_mw, a.quantity_mw, a.clearing_price);
    }
    if let Some(c) = &s.commitment {
        let v = c.valuation.clone().unwrap_or_default();
        let e = |e: Option<pb::Evaluation>| e.map_or((0.0, 0.0), |e| (e.green_share * 100.0, e.cost_yuan));
        let (rp, eev, ws) = (e(v.stochastic.clone()), e(v.deterministic), e(v.perfect_information));
        println!(
            "  committed to a stochastic plan over {} scenarios (imbalance premium {:.0} yuan/MWh); this version's imbalance {:.1} MWh",
            v.stochastic.map_or(0, |e| e.scenarios.len()),
            c.imbalance_premium_yuan_per_mwh,
            c.imbalance_mwh
        );
        println!(
            "  expected share / cost: plan {:.3} % / {:.0} yuan, deterministic plan {:.3} % / {:.0}, perfect information {:.3} % / {:.0}",
            rp.0, rp.1, eev.0, eev.1, ws.0, ws.1
        );
        println!(
            "  VSS {:+.3} share points, {:+.0} yuan; EVPI {:+.3} share points, {:+.0} yuan",
            v.vss_green_share * 100.0,
            v.vss_cost_yuan,
            v.evpi_green_share * 100.0,
            v.evpi_cost_yuan
        );
    }
}
