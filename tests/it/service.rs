//! The service over a real socket: the real server on a loopback port, real tonic clients,
//! a real SQLite file. A full day (bots bid, the operator publishes, awards stream out, a
//! park manager reads its share), authorization for every RPC and role, malformed input,
//! idempotent bids, re-plans, overload, shutdown, and a kill -9 of the process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{Days, NaiveDate, TimeZone, Utc};
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic::{Code, Request};
use vpp_dispatch::api::pb;
use vpp_dispatch::api::pb::dispatch_service_client::DispatchServiceClient;
use vpp_dispatch::api::pb::green_share_service_client::GreenShareServiceClient;
use vpp_dispatch::api::pb::market_service_client::MarketServiceClient;
use vpp_dispatch::domain::{Forecast, Plant, Schedule};
use vpp_dispatch::server::{self, Listeners, RawConfig};

use crate::checker::{assert_valid, Asked};
use crate::{near, repo};

pub(crate) const OPERATOR: &str = "operator-token-1";
pub(crate) const SHIHE: &str = "shihe-manager-token";
pub(crate) const HUANGCHUAN: &str = "huangchuan-manager-token";
pub(crate) const BOT_A: &str = "bot-a-token-xyz";
pub(crate) const BOT_B: &str = "bot-b-token-xyz";
pub(crate) const METER: &str = "meter-token-xyz";

pub(crate) fn temp_db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vpp-it-{}-{name}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("vpp.sqlite")
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

pub(crate) fn config_text(db: &std::path::Path, extra: &str) -> String {
    config_for(&db.display().to_string(), extra)
}

/// A config over `database` (a SQLite path or a PostgreSQL URL) with the test tokens.
pub(crate) fn config_for(database: &str, extra: &str) -> String {
    format!(
        r#"
plant = "{plant}"
database = "{database}"
metrics_listen = "off"
{extra}
[[token]]
token = "{OPERATOR}"
role = "operator"
[[token]]
token = "{SHIHE}"
role = "park_manager"
park = "shihe_park"
[[token]]
token = "{HUANGCHUAN}"
role = "park_manager"
park = "huangchuan_zero_carbon"
[[token]]
token = "{BOT_A}"
role = "bot"
bot = "bot-a"
[[token]]
token = "{BOT_B}"
role = "bot"
bot = "bot-b"
[[token]]
token = "{METER}"
role = "meter"
name = "logger-1"
"#,
        plant = repo("models/xinyang.toml").display(),
    )
}

/// A server running in this process on a loopback port.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), server::ServerError>>,
}

impl Running {
    pub(crate) async fn start(db: &std::path::Path, extra: &str) -> Running {
        Running::start_on(&db.display().to_string(), extra).await
    }

    /// A server over `database`: a SQLite path or a PostgreSQL URL.
    pub(crate) async fn start_on(database: &str, extra: &str) -> Running {
        let raw: RawConfig = toml::from_str(&config_for(database, extra)).expect("config parses");
        let config = raw.validate().expect("config is valid");
        let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = grpc.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server::run(config, Listeners { grpc, metrics: None, web: None }, async {
            let _ = stopped.await;
        }));
        let r = Running { addr, stop: Some(stop), task };
        // Wait until it answers health checks.
        for _ in 0..200 {
            if let Ok(ch) = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await {
                let mut h = tonic_health::pb::health_client::HealthClient::new(ch);
                if h.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.is_ok() {
                    return r;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("server did not come up");
    }

    pub(crate) async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr)).unwrap().connect().await.unwrap()
    }

    pub(crate) async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let done = tokio::time::timeout(Duration::from_secs(60), self.task).await.expect("server stops");
        done.expect("server task").expect("server ran cleanly");
    }
}

pub(crate) fn req<T>(token: Option<&str>, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    if let Some(t) = token {
        r.metadata_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    r
}

pub(crate) fn plant() -> Plant {
    Plant::load(repo("models/xinyang.toml")).unwrap()
}

/// A delivery day a few days ahead (bids still open), and the summer fixture moved onto it.
pub(crate) fn future_day(days_ahead: u64) -> (NaiveDate, Forecast) {
    let plant = plant();
    let tz = plant.tz();
    let day = Utc::now().with_timezone(&tz).date_naive() + Days::new(days_ahead);
    let mut fc = Forecast::load(repo("fixtures/forecasts/summer-peak-60.json")).unwrap();
    fc.start = tz.from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap()).unwrap().with_timezone(&Utc);
    (day, fc)
}

pub(crate) fn bid(id: &str, node: &str, at: chrono::DateTime<Utc>, side: pb::Side, mw: f64, price: f64, green: bool) -> pb::Bid {
    pb::Bid {
        bid_id: id.into(),
        node: node.into(),
        interval_start: Some(prost_types::Timestamp { seconds: at.timestamp(), nanos: 0 }),
        side: side as i32,
        quantity_mw: mw,
        price,
        green,
        park: String::new(),
    }
}

pub(crate) fn day_ahead(day: NaiveDate, fc: &Forecast, options: pb::SolveOptions) -> pb::SubmitDayAheadRequest {
    pb::SubmitDayAheadRequest {
        delivery_day: day.to_string(),
        forecast: Some(vpp_dispatch::api::forecast_to_pb(fc)),
        options: Some(options),
        stochastic: None,
    }
}

/// Version 1 of `day` as stored (its inputs), solved again in process from those inputs
/// alone (from scratch), the schedule checked: `(inputs, forecast, schedule)`.
pub(crate) async fn resolve_stored(
    dispatch: &mut DispatchServiceClient<Channel>,
    day: NaiveDate,
) -> (pb::ScheduleInputs, Forecast, Schedule) {
    let inputs = dispatch
        .get_schedule_inputs(req(Some(OPERATOR), pb::GetScheduleRequest { delivery_day: day.to_string(), version: 1 }))
        .await
        .unwrap()
        .into_inner();
    let plant = Plant::from_toml(&inputs.plant_toml).unwrap();
    let fc: Forecast = serde_json::from_str(&inputs.forecast_json).unwrap();
    let options: vpp_dispatch::model::Options = serde_json::from_str(&inputs.options_json).unwrap();
    let again: Schedule = vpp_dispatch::model::solve(&plant, &fc, &options).unwrap();
    assert_valid(&plant, &fc, &Asked::default(), &again);
    (inputs, fc, again)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_day() {
    let db = temp_db("day");
    let server = Running::start(&db, "").await;
    let ch = server.channel().await;
    let (day, fc) = future_day(3);
    let h = fc.horizon(plant().tz());
    let mut market_a = MarketServiceClient::new(ch.clone());
    let mut market_b = MarketServiceClient::new(ch.clone());
    let mut dispatch = DispatchServiceClient::new(ch.clone()).max_decoding_message_size(64 << 20);
    let mut green = GreenShareServiceClient::new(ch.clone());

    // Bots bid: a cheap evening sell, a green midday sell, a dear sell, a curtail offer.
    let bids_a = [
        bid("a-evening", "shihe", h.instant(19), pb::Side::Sell, 50.0, 100.0, false),
        bid("a-dear", "shihe", h.instant(3), pb::Side::Sell, 40.0, 1200.0, false),
    ];
    let bids_b = [
        bid("b-green", "huangchuan", h.instant(12), pb::Side::Sell, 30.0, 550.0, true),
        bid("b-curtail", "pingqiao", h.instant(20), pb::Side::Curtail, 20.0, 60.0, false),
    ];
    for b in &bids_a {
        let ack = market_a.submit_bid(req(Some(BOT_A), b.clone())).await.unwrap().into_inner();
        assert_eq!(ack.bot, "bot-a");
        assert_eq!(ack.delivery_day, day.to_string());
        assert_eq!(ack.revision, 1);
    }
    for b in &bids_b {
        market_b.submit_bid(req(Some(BOT_B), b.clone())).await.unwrap();
    }
    // Bot A listens for its awards before the clearing.
    let mut awards_a =
        market_a.stream_awards(req(Some(BOT_A), pb::StreamAwardsRequest { delivery_day: day.to_string() })).await.unwrap().into_inner();

    // The operator publishes the day-ahead schedule.
    let options = pb::SolveOptions { objective: pb::Objective::GreenShare as i32, ..Default::default() };
    let cleared = dispatch.submit_day_ahead(req(Some(OPERATOR), day_ahead(day, &fc, options))).await.unwrap();
    assert_eq!(cleared.metadata().get(vpp_dispatch::api::CLEARING_HEADER).unwrap(), "new");
    let s = cleared.into_inner();
    let info = s.info.clone().unwrap();
    assert_eq!(info.version, 1);
    assert_eq!(info.intervals, 24);
    assert_eq!(s.awards.len(), 4);

    // Bot A receives exactly its two awards, matching the schedule's.
    let mut got = Vec::new();
    for _ in 0..2 {
        let a = tokio::time::timeout(Duration::from_secs(30), awards_a.next()).await.expect("award arrives").unwrap().unwrap();
        got.push(a);
    }
    got.sort_by(|x, y| x.bid_id.cmp(&y.bid_id));
    assert_eq!(got.iter().map(|a| a.bid_id.as_str()).collect::<Vec<_>>(), ["a-dear", "a-evening"]);
    for a in &got {
        assert_eq!(a.bot, "bot-a");
        let same = s.awards.iter().find(|x| x.bid_id == a.bid_id).unwrap();
        assert_eq!(a, same);
    }
    let evening = got.iter().find(|a| a.bid_id == "a-evening").unwrap();
    assert!(near(evening.accepted_mw, 50.0, 1e-9), "a 100 yuan/MWh sell at the evening peak is taken: {evening:?}");
    assert_eq!(evening.status, pb::AwardStatus::InTheMoney as i32);
    assert!(near(evening.settlement_yuan, evening.accepted_mw * evening.clearing_price, 1e-9));
    let dear = got.iter().find(|a| a.bid_id == "a-dear").unwrap();
    assert!(dear.accepted_mw < 1e-6 && dear.status == pb::AwardStatus::OutOfTheMoney as i32, "{dear:?}");

    // The stored inputs re-solve to the same figures, and the schedule checks.
    let (inputs, stored_fc, again) = resolve_stored(&mut dispatch, day).await;
    assert_eq!(stored_fc.bids.len(), 4, "the cleared bids are part of the inputs");
    let totals = s.totals.unwrap();
    assert!(near(again.totals.green_share, totals.green_share, 1e-9));
    assert!(near(again.totals.cost_yuan, totals.cost_yuan, 1e-9));
    assert_eq!(
        inputs.info.unwrap().inputs_sha256,
        vpp_dispatch::store::inputs_sha256(&inputs.plant_toml, &inputs.forecast_json, &inputs.options_json)
    );

    // The park manager reads the park's share: it is the schedule's, hour by hour.
    let report = green
        .get_park_share(req(
            Some(SHIHE),
            pb::ParkShareRequest { park: "shihe_park".into(), from_day: day.to_string(), to_day: String::new() },
        ))
        .await
        .unwrap()
        .into_inner();
    let park = s.parks.iter().find(|p| p.name == "shihe_park").unwrap();
    assert!(near(report.share, park.share_total, 1e-12));
    assert_eq!(report.days.len(), 1);
    let d = &report.days[0];
    assert_eq!(d.version, 1);
    assert_eq!(d.intervals.len(), 24);
    for (t, i) in d.intervals.iter().enumerate() {
        assert!(near(i.green_mwh, park.green_mwh[t], 1e-12) && near(i.share, park.share[t], 1e-12));
    }
    assert_eq!(report.certificates, (park.green_total_mwh + 1e-6).floor() as u64);
    // And the plant's share.
    let plant_report = green
        .get_plant_share(req(Some(HUANGCHUAN), pb::PlantShareRequest { from_day: day.to_string(), to_day: String::new() }))
        .await
        .unwrap()
        .into_inner();
    assert!(near(plant_report.share, totals.green_share, 1e-12));

    // The day is cleared once: asking again (even with other options) returns the same
    // day-ahead schedule, without a new version or new awards.
    let again = dispatch
        .submit_day_ahead(req(
            Some(OPERATOR),
            day_ahead(day, &fc, pb::SolveOptions { objective: pb::Objective::Cost as i32, ..Default::default() }),
        ))
        .await
        .unwrap();
    assert_eq!(again.metadata().get(vpp_dispatch::api::CLEARING_HEADER).unwrap(), "existing");
    let again = again.into_inner();
    assert_eq!(again.info, s.info, "the same version and inputs");
    assert_eq!(again.awards, s.awards);
    let no_more = tokio::time::timeout(Duration::from_millis(500), awards_a.next()).await;
    assert!(no_more.is_err(), "no second award stream: {no_more:?}");

    // A re-plan from 12:00 with Wuyue fuller makes version 2; version 1 stays readable.
    let from = h.instant(12);
    let replan = pb::ReplanRequest {
        delivery_day: day.to_string(),
        from: Some(prost_types::Timestamp { seconds: from.timestamp(), nanos: 0 }),
        levels: vec![pb::StorageLevel { storage: "wuyue".into(), green_mwh: 1000.0, grey_mwh: 4000.0 }],
        forecast: None,
        options: None,
    };
    let v2 = dispatch.replan(req(Some(OPERATOR), replan)).await.unwrap().into_inner();
    let v2info = v2.info.clone().unwrap();
    assert_eq!((v2info.version, v2info.replans_version, v2info.intervals), (2, 1, 12));
    let wuyue = v2.storages.iter().find(|s| s.name == "wuyue").unwrap();
    assert_eq!(wuyue.energy_green_mwh[0], 1000.0);
    // Issue 13: asset kinds are typed on the wire, and behind-the-meter assets name their park.
    assert_eq!((wuyue.asset_kind(), wuyue.kind.as_str(), wuyue.park.as_str()), (pb::AssetKind::PumpedHydro, "pumped_hydro", ""));
    let park_battery = v2.storages.iter().find(|s| s.name == "huangchuan_park_battery").expect("the park battery");
    assert_eq!((park_battery.asset_kind(), park_battery.park.as_str()), (pb::AssetKind::Battery, "huangchuan_zero_carbon"));
    let rooftop = v2.renewables.iter().find(|r| r.name == "yudongnan_rooftop_pv").expect("the rooftop PV");
    assert_eq!((rooftop.asset_kind(), rooftop.park.as_str()), (pb::AssetKind::Pv, "yudongnan_hitech"));
    assert!(v2.renewables.iter().any(|r| r.asset_kind() == pb::AssetKind::Wind));
    let firm = v2.awards.iter().find(|a| a.bid_id == "a-evening").expect("the evening award is carried as firm");
    assert!(near(firm.accepted_mw, 50.0, 1e-9));
    // Issue 11 (3): a firm award keeps the price it was awarded at, and so its settlement;
    // every version lists every bid of the day, with its state.
    assert!(firm.firm, "{firm:?}");
    assert_eq!((firm.clearing_price, firm.settlement_yuan), (evening.clearing_price, evening.settlement_yuan), "{firm:?} vs {evening:?}");
    let mut ids: Vec<&str> = v2.awards.iter().map(|a| a.bid_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["a-dear", "a-evening", "b-curtail", "b-green"], "every bid in version 2");
    let v2_dear = v2.awards.iter().find(|a| a.bid_id == "a-dear").expect("listed");
    assert!(v2_dear.accepted_mw < 1e-6 && v2_dear.status == pb::AwardStatus::OutOfTheMoney as i32 && !v2_dear.firm, "{v2_dear:?}");
    for a in &s.awards {
        let again = v2.awards.iter().find(|x| x.bid_id == a.bid_id).expect("listed");
        assert!(near(again.accepted_mw, a.accepted_mw, 1e-9) && near(again.settlement_yuan, a.settlement_yuan, 1e-9), "{a:?} vs {again:?}");
    }
    let v1 = dispatch
        .get_schedule(req(Some(OPERATOR), pb::GetScheduleRequest { delivery_day: day.to_string(), version: 1 }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v1.info.unwrap().version, 1);
    assert!(near(v1.totals.unwrap().green_share, totals.green_share, 1e-12));
    let listed = dispatch
        .list_schedules(req(Some(OPERATOR), pb::ListSchedulesRequest { from_day: day.to_string(), to_day: String::new() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.schedules.iter().map(|i| i.version).collect::<Vec<_>>(), [1, 2]);
    // The latest is what the park manager now sees.
    let latest = green
        .get_park_share(req(
            Some(SHIHE),
            pb::ParkShareRequest { park: "shihe_park".into(), from_day: day.to_string(), to_day: String::new() },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(latest.days[0].version, 2);
    // Issue 11 (1): the day is the whole day, the firm past of version 1 stitched to the
    // re-planned remainder of version 2, each hour saying which.
    let whole = &latest.days[0];
    assert_eq!(whole.versions, [1, 2]);
    assert_eq!(whole.intervals.len(), 24);
    let v2park = v2.parks.iter().find(|p| p.name == "shihe_park").expect("park");
    let (mut served, mut green) = (0.0, 0.0);
    for (t, i) in whole.intervals.iter().enumerate() {
        let (want_version, want_green) = if t < 12 { (1, park.green_mwh[t]) } else { (2, v2park.green_mwh[t - 12]) };
        assert_eq!(i.version, want_version, "hour {t}");
        assert!(near(i.green_mwh, want_green, 1e-12), "hour {t}: {} vs {want_green}", i.green_mwh);
        assert!(near(i.demand_mwh, i.served_mwh + i.interrupted_mwh, 1e-9), "hour {t}: demand = served + interrupted");
        served += i.served_mwh;
        green += i.green_mwh;
    }
    assert!(near(whole.served_mwh, served, 1e-9) && near(whole.green_mwh, green, 1e-9));
    assert!(near(whole.share, green / served, 1e-12));
    let v2served: f64 = v2park.served_mw.iter().sum::<f64>();
    assert!(whole.served_mwh > v2served + 1.0, "more than the re-planned half day: {} vs {v2served}", whole.served_mwh);
    // After the re-plan, SubmitDayAhead still answers with the day-ahead version.
    let still = dispatch.submit_day_ahead(req(Some(OPERATOR), day_ahead(day, &fc, Default::default()))).await.unwrap().into_inner();
    assert_eq!(still.info.unwrap().version, 1);
    server.stop().await;
}

/// Issue 16: warm starts across requests, over the wire. The second day-ahead of the same
/// shape starts from the first one's basis (its SolverReport says so) and is the schedule a
/// cold solve of its stored inputs gives; with `warm_start_shapes = 0` every solve is cold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_aheads_start_from_the_last_basis_of_their_shape() {
    for (extra, warm) in [("", true), ("[solver]\nwarm_start_shapes = 0\n", false)] {
        let db = temp_db("warm");
        let server = Running::start(&db, extra).await;
        let mut dispatch = DispatchServiceClient::new(server.channel().await).max_decoding_message_size(64 << 20);
        let (first_day, first) = future_day(5);
        let (day, mut fc) = future_day(6);
        let start = fc.start;
        fc = Forecast { start, ..Forecast::load(repo("fixtures/forecasts/windy-winter-60.json")).unwrap() };
        let one = dispatch.submit_day_ahead(req(Some(OPERATOR), day_ahead(first_day, &first, Default::default()))).await.unwrap();
        assert!(!one.into_inner().solver.unwrap().warm_started, "the server's first solve starts cold");
        let s = dispatch.submit_day_ahead(req(Some(OPERATOR), day_ahead(day, &fc, Default::default()))).await.unwrap().into_inner();
        assert_eq!(s.solver.as_ref().unwrap().warm_started, warm, "config {extra:?}");
        let (_, _, cold) = resolve_stored(&mut dispatch, day).await;
        assert!(!cold.solver.warm_started);
        let totals = s.totals.unwrap();
        assert!(near(totals.green_share, cold.totals.green_share, 1e-9), "{} vs {}", totals.green_share, cold.totals.green_share);
        assert!(near(totals.cost_yuan, cold.totals.cost_yuan, 1e-9), "{} vs {}", totals.cost_yuan, cold.totals.cost_yuan);
        for (p, c) in s.parks.iter().zip(&cold.parks) {
            assert!(near(p.share_total, c.share_total, 1e-7), "{}: {} vs {}", p.name, p.share_total, c.share_total);
        }
        server.stop().await;
    }
}

/// A bid is (bot, id) all the way through the LP: two bots may use the same id in the same
/// hour, and on a 15-minute day each hourly bid is cleared as four LP bids that keep that
/// identity (no `bot/id#k` string), grouped back into one award per bot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bids_keep_their_identity_through_the_lp() {
    let db = temp_db("identity");
    let server = Running::start(&db, "").await;
    let ch = server.channel().await;
    let plant = plant();
    let tz = plant.tz();
    let day = Utc::now().with_timezone(&tz).date_naive() + Days::new(3);
    let mut fc = Forecast::load(repo("fixtures/forecasts/summer-peak-15.json")).unwrap();
    fc.start = tz.from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap()).unwrap().with_timezone(&Utc);
    let h = fc.horizon(tz);
    assert_eq!(h.len, 96);
    let mut market = MarketServiceClient::new(ch.clone());
    let evening = h.instant(19 * 4);
    market.submit_bid(req(Some(BOT_A), bid("same", "shihe", evening, pb::Side::Sell, 50.0, 100.0, false))).await.unwrap();
    market.submit_bid(req(Some(BOT_B), bid("same", "shihe", evening, pb::Side::Sell, 30.0, 1200.0, false))).await.unwrap();

    let mut dispatch = DispatchServiceClient::new(ch.clone()).max_decoding_message_size(64 << 20);
    let options = pb::SolveOptions { objective: pb::Objective::GreenShare as i32, ..Default::default() };
    let s = dispatch.submit_day_ahead(req(Some(OPERATOR), day_ahead(day, &fc, options))).await.unwrap().into_inner();

    // The LP saw each bot's bid as four quarter-hour parts under its own (bot, id).
    let inputs = dispatch
        .get_schedule_inputs(req(Some(OPERATOR), pb::GetScheduleRequest { delivery_day: day.to_string(), version: 1 }))
        .await
        .unwrap()
        .into_inner();
    let stored: Forecast = serde_json::from_str(&inputs.forecast_json).unwrap();
    let mut parts: Vec<(String, String, i64)> =
        stored.bids.iter().map(|b| (b.bot.clone(), b.id.clone(), (b.interval_start - evening).num_minutes())).collect();
    parts.sort();
    let expected: Vec<(String, String, i64)> =
        ["bot-a", "bot-b"].iter().flat_map(|bot| [0, 15, 30, 45].map(|m| (bot.to_string(), "same".to_string(), m))).collect();
    assert_eq!(parts, expected);

    // One award per bot, each with the bot's id and its own figures: bot A's cheap offer
    // taken in full, bot B's at the price cap not at all.
    let mut awards = s.awards.clone();
    awards.sort_by(|x, y| x.bot.cmp(&y.bot));
    assert_eq!(awards.iter().map(|a| (a.bot.as_str(), a.bid_id.as_str())).collect::<Vec<_>>(), [("bot-a", "same"), ("bot-b", "same")]);
    assert!(near(awards[0].accepted_mw, 50.0, 1e-9) && near(awards[0].quantity_mw, 50.0, 0.0), "{:?}", awards[0]);
    assert!(awards[1].accepted_mw < 1e-6 && near(awards[1].quantity_mw, 30.0, 0.0), "{:?}", awards[1]);
    assert_eq!(awards[0].interval_start.as_ref().map(|t| t.seconds), Some(evening.timestamp()));

    // Each bot's award stream carries only its own.
    for (token, bot) in [(BOT_A, "bot-a"), (BOT_B, "bot-b")] {
        let mut stream =
            market.stream_awards(req(Some(token), pb::StreamAwardsRequest { delivery_day: day.to_string() })).await.unwrap().into_inner();
        let a = tokio::time::timeout(Duration::from_secs(30), stream.next()).await.expect("award arrives").unwrap().unwrap();
        assert_eq!((a.bot.as_str(), a.bid_id.as_str()), (bot, "same"));
        assert_eq!(&a, awards.iter().find(|x| x.bot == bot).unwrap());
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bids_are_idempotent_and_close_at_the_gate() {
    let db = temp_db("bids");
    let server = Running::start(&db, "").await;
    let mut m = MarketServiceClient::new(server.channel().await);
    let (day, fc) = future_day(4);
    let h = fc.horizon(plant().tz());
    let b = bid("same", "shihe", h.instant(8), pb::Side::Buy, 10.0, 300.0, false);
    let first = m.submit_bid(req(Some(BOT_A), b.clone())).await.unwrap().into_inner();
    let again = m.submit_bid(req(Some(BOT_A), b.clone())).await.unwrap().into_inner();
    assert_eq!(first, again, "the same id and payload return the original acknowledgement");
    let mut other = b.clone();
    other.price = 301.0;
    let e = m.submit_bid(req(Some(BOT_A), other)).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
    // Another bot may use the same id: it is another bid.
    m.submit_bid(req(Some(BOT_B), b.clone())).await.unwrap();
    let mine = m.list_bids(req(Some(BOT_A), pb::ListBidsRequest { delivery_day: day.to_string() })).await.unwrap().into_inner();
    assert_eq!(mine.bids.len(), 1, "stored once");
    assert_eq!(mine.bids[0].bid.as_ref().unwrap().price, 300.0, "the conflicting payload changed nothing");
    let all = m.list_bids(req(Some(OPERATOR), pb::ListBidsRequest { delivery_day: day.to_string() })).await.unwrap().into_inner();
    assert_eq!(all.bids.len(), 2);
    // Amend and cancel.
    let amended = m
        .amend_bid(req(Some(BOT_A), pb::AmendBidRequest { bid_id: "same".into(), quantity_mw: Some(12.0), price: Some(310.0) }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(amended.revision, 2);
    // Issue 11 (5): a price-only amendment keeps the quantity; an empty one is refused.
    let price_only = m
        .amend_bid(req(Some(BOT_A), pb::AmendBidRequest { bid_id: "same".into(), quantity_mw: None, price: Some(320.0) }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(price_only.revision, 3);
    let mine = m.list_bids(req(Some(BOT_A), pb::ListBidsRequest { delivery_day: day.to_string() })).await.unwrap().into_inner();
    let b = mine.bids[0].bid.as_ref().unwrap();
    assert_eq!((b.quantity_mw, b.price), (12.0, 320.0));
    let e = m.amend_bid(req(Some(BOT_A), pb::AmendBidRequest { bid_id: "same".into(), quantity_mw: None, price: None })).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let cancelled = m.cancel_bid(req(Some(BOT_A), pb::CancelBidRequest { bid_id: "same".into() })).await.unwrap().into_inner();
    assert_eq!(cancelled.state, pb::BidState::Cancelled as i32);
    let e = m
        .amend_bid(req(Some(BOT_A), pb::AmendBidRequest { bid_id: "same".into(), quantity_mw: Some(1.0), price: Some(310.0) }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    let e = m.cancel_bid(req(Some(BOT_A), pb::CancelBidRequest { bid_id: "nope".into() })).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    // Past the gate: yesterday's delivery closed long ago.
    let (past, pfc) = future_day(0);
    let ph = pfc.horizon(plant().tz());
    let e = m.submit_bid(req(Some(BOT_A), bid("late", "shihe", ph.instant(23), pb::Side::Sell, 5.0, 300.0, false))).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains(&format!("bids for {past} closed at")), "{}", e.message());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_gets_the_documented_code() {
    let db = temp_db("bad");
    let server = Running::start(&db, "").await;
    let ch = server.channel().await;
    let mut m = MarketServiceClient::new(ch.clone());
    let mut g = GreenShareServiceClient::new(ch.clone());
    let mut d = DispatchServiceClient::new(ch.clone());
    let (day, fc) = future_day(5);
    let h = fc.horizon(plant().tz());
    let base = bid("x1", "shihe", h.instant(10), pb::Side::Sell, 10.0, 300.0, false);
    let cases: Vec<(&str, pb::Bid, &str)> = vec![
        ("NaN quantity", pb::Bid { quantity_mw: f64::NAN, ..base.clone() }, "quantity_mw: must be a finite number"),
        ("negative quantity", pb::Bid { quantity_mw: -3.0, ..base.clone() }, "quantity_mw: must be positive"),
        ("price above the cap", pb::Bid { price: 5000.0, ..base.clone() }, "price: must lie in [50, 1200]"),
        ("unknown node", pb::Bid { node: "atlantis".into(), ..base.clone() }, "node: no node named 'atlantis'"),
        (
            "wrong interval",
            pb::Bid { interval_start: Some(prost_types::Timestamp { seconds: h.instant(10).timestamp() + 900, nanos: 0 }), ..base.clone() },
            "is not the start of a 60-minute market interval",
        ),
        ("no side", pb::Bid { side: 0, ..base.clone() }, "side: must be"),
        ("bad id", pb::Bid { bid_id: "a/b".into(), ..base.clone() }, "bid_id: must be"),
        ("green buy", pb::Bid { side: pb::Side::Buy as i32, green: true, ..base.clone() }, "green: only sell bids can be green"),
        (
            "curtail without a park",
            pb::Bid { side: pb::Side::Curtail as i32, node: "xinyang_500kv".into(), ..base.clone() },
            "park: a curtail bid needs a park",
        ),
    ];
    for (what, b, want) in cases {
        let e = m.submit_bid(req(Some(BOT_A), b)).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{what}: {e:?}");
        assert!(e.message().contains(want), "{what}: {}", e.message());
    }
    let e = g
        .get_park_share(req(
            Some(OPERATOR),
            pb::ParkShareRequest { park: "gotham".into(), from_day: day.to_string(), to_day: String::new() },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("park: no park named 'gotham'"));
    let e = g
        .get_park_share(req(
            Some(OPERATOR),
            pb::ParkShareRequest { park: "shihe_park".into(), from_day: "2026-13-01".into(), to_day: String::new() },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = g
        .get_park_share(req(
            Some(OPERATOR),
            pb::ParkShareRequest { park: "shihe_park".into(), from_day: day.to_string(), to_day: String::new() },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "nothing published yet");
    // A forecast that does not cover the day, one with NaN, one of the wrong length.
    let mut short = fc.clone();
    short.intervals = 23;
    for v in short.demand_mw.values_mut().chain(short.availability.values_mut()) {
        v.pop();
    }
    let e = d.submit_day_ahead(req(Some(OPERATOR), day_ahead(day, &short, Default::default()))).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("forecast: must cover exactly the delivery day"), "{}", e.message());
    let mut nan = fc.clone();
    nan.demand_mw.get_mut("shihe_park").unwrap()[5] = f64::NAN;
    let e = d.submit_day_ahead(req(Some(OPERATOR), day_ahead(day, &nan, Default::default()))).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("demand_mw.shihe_park[5]: must be a finite number"), "{}", e.message());
    let e = d
        .submit_day_ahead(req(Some(OPERATOR), day_ahead(day, &fc, pb::SolveOptions { min_share: Some(2.0), ..Default::default() })))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("min_share: must lie in [0, 1]"), "{}", e.message());
    // An infeasible request is FAILED_PRECONDITION with the diagnosis.
    let e = d
        .submit_day_ahead(req(
            Some(OPERATOR),
            day_ahead(day, &fc, pb::SolveOptions { objective: pb::Objective::Cost as i32, min_share: Some(0.99), ..Default::default() }),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("the plant cannot reach its minimum green share 99.0%"), "{}", e.message());
    // A 5 MiB message.
    let mut huge = fc.clone();
    huge.description = "x".repeat(5 << 20);
    let e = d.submit_day_ahead(req(Some(OPERATOR), day_ahead(day, &huge, Default::default()))).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
    // Nothing was published by any of these.
    let listed = d
        .list_schedules(req(Some(OPERATOR), pb::ListSchedulesRequest { from_day: day.to_string(), to_day: String::new() }))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.schedules.is_empty());
    server.stop().await;
}
