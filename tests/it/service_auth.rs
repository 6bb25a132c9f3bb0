//! Authorization for every RPC and every role, plus health, reflection, overload,
//! graceful shutdown and a kill -9 of the server process.

use std::process::{Command, Stdio};
use std::time::Duration;

use tokio_stream::StreamExt;
use tonic::{Code, Status};
use vpp_dispatch::api::pb;
use vpp_dispatch::api::pb::dispatch_service_client::DispatchServiceClient;
use vpp_dispatch::api::pb::green_share_service_client::GreenShareServiceClient;
use vpp_dispatch::api::pb::ledger_service_client::LedgerServiceClient;
use vpp_dispatch::api::pb::market_service_client::MarketServiceClient;
use vpp_dispatch::api::pb::meter_service_client::MeterServiceClient;

use crate::repo;
use crate::service::{bid, config_text, future_day, req, temp_db, Running, BOT_A, BOT_B, HUANGCHUAN, METER, OPERATOR, SHIHE};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Nobody,
    Stranger,
    Operator,
    Shihe,
    BotA,
    Meter,
}

impl Who {
    fn token(self) -> Option<&'static str> {
        match self {
            Who::Nobody => None,
            Who::Stranger => Some("not-a-known-token"),
            Who::Operator => Some(OPERATOR),
            Who::Shihe => Some(SHIHE),
            Who::BotA => Some(BOT_A),
            Who::Meter => Some(METER),
        }
    }
}

const ALL: [Who; 6] = [Who::Nobody, Who::Stranger, Who::Operator, Who::Shihe, Who::BotA, Who::Meter];

/// `Ok(())` or the status code; a call "passes authorization" when its code is neither
/// UNAUTHENTICATED nor PERMISSION_DENIED (NOT_FOUND for a day with no schedule is a pass).
fn code<T>(r: Result<tonic::Response<T>, Status>) -> Result<(), (Code, String)> {
    r.map(|_| ()).map_err(|e| (e.code(), e.message().to_string()))
}

fn allowed(r: &Result<(), (Code, String)>) -> bool {
    !matches!(r, Err((Code::Unauthenticated | Code::PermissionDenied, _)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_checks_every_role() {
    let db = temp_db("auth");
    let server = Running::start(&db, "").await;
    let ch = server.channel().await;
    let (day, fc) = future_day(6);
    let h = fc.horizon(vpp_dispatch::domain::Plant::load(repo("models/xinyang.toml")).unwrap().tz());
    // Something to read: a bid of bot B and a published schedule.
    MarketServiceClient::new(ch.clone())
        .submit_bid(req(Some(BOT_B), bid("b-secret", "shihe", h.instant(9), pb::Side::Sell, 7.0, 333.0, false)))
        .await
        .unwrap();
    let forecast = Some(vpp_dispatch::api::forecast_to_pb(&fc));
    DispatchServiceClient::new(ch.clone())
        .submit_day_ahead(req(
            Some(OPERATOR),
            pb::SubmitDayAheadRequest { delivery_day: day.to_string(), forecast: forecast.clone(), options: None, stochastic: None },
        ))
        .await
        .unwrap();
    let d = day.to_string();
    let table: Vec<(&str, [bool; 6])> = vec![
        // (rpc, allowed for [Nobody, Stranger, Operator, Shihe, BotA, Meter])
        ("SubmitDayAhead", [false, false, true, false, false, false]),
        ("Replan", [false, false, true, false, false, false]),
        ("GetSchedule", [false, false, true, false, false, false]),
        ("GetScheduleInputs", [false, false, true, false, false, false]),
        ("ListSchedules", [false, false, true, false, false, false]),
        ("StreamSchedules", [false, false, true, false, false, false]),
        ("GetParkShare(own)", [false, false, true, true, false, false]),
        ("GetParkShare(other)", [false, false, true, false, false, false]),
        ("GetPlantShare", [false, false, true, true, false, false]),
        ("SubmitBid", [false, false, false, false, true, false]),
        ("AmendBid", [false, false, false, false, true, false]),
        ("CancelBid", [false, false, false, false, true, false]),
        ("ListBids", [false, false, true, false, true, false]),
        ("StreamAwards", [false, false, true, false, true, false]),
        ("GetSettlement", [false, false, true, false, true, false]),
        ("SubmitReadings", [false, false, false, false, false, true]),
        ("StreamReadings", [false, false, false, false, false, true]),
        ("GetParkLedger(own)", [false, false, true, true, false, false]),
        ("GetParkLedger(other)", [false, false, true, false, false, false]),
        ("StreamCertificates(own)", [false, false, true, true, false, false]),
        ("StreamCertificates(other)", [false, false, true, false, false, false]),
        ("GetReadingRevisions", [false, false, true, false, false, false]),
    ];
    for (rpc, expect) in table {
        for (k, who) in ALL.iter().enumerate() {
            let t = who.token();
            let mut dc = DispatchServiceClient::new(ch.clone()).max_decoding_message_size(64 << 20);
            let mut gc = GreenShareServiceClient::new(ch.clone());
            let mut mc = MarketServiceClient::new(ch.clone());
            let mut meters = MeterServiceClient::new(ch.clone());
            let mut lc = LedgerServiceClient::new(ch.clone());
            let reading = pb::Reading {
                meter: "shihe_park".into(),
                quantity: "consumption".into(),
                interval_start: fc_from(&h),
                value_mwh: 3.0,
                reason: String::new(),
            };
            let batch = pb::ReadingBatch { readings: vec![reading.clone()] };
            let ledger =
                |park: &str| pb::ParkLedgerRequest { park: park.into(), from_day: d.clone(), to_day: String::new(), statement_only: false };
            let r = match rpc {
                "SubmitDayAhead" => code(
                    dc.submit_day_ahead(req(
                        t,
                        pb::SubmitDayAheadRequest { delivery_day: d.clone(), forecast: forecast.clone(), options: None, stochastic: None },
                    ))
                    .await,
                ),
                "Replan" => {
                    code(dc.replan(req(t, pb::ReplanRequest { delivery_day: d.clone(), from: fc_from(&h), ..Default::default() })).await)
                }
                "GetSchedule" => code(dc.get_schedule(req(t, pb::GetScheduleRequest { delivery_day: d.clone(), version: 1 })).await),
                "GetScheduleInputs" => {
                    code(dc.get_schedule_inputs(req(t, pb::GetScheduleRequest { delivery_day: d.clone(), version: 1 })).await)
                }
                "ListSchedules" => {
                    code(dc.list_schedules(req(t, pb::ListSchedulesRequest { from_day: d.clone(), to_day: String::new() })).await)
                }
                "StreamSchedules" => {
                    match dc.stream_schedules(req(t, pb::StreamSchedulesRequest { from_day: d.clone(), to_day: String::new() })).await {
                        Ok(s) => {
                            let mut s = s.into_inner();
                            let first = tokio::time::timeout(Duration::from_secs(10), s.next()).await.unwrap().unwrap().unwrap();
                            assert_eq!(first.delivery_day, d);
                            Ok(())
                        }
                        Err(e) => Err((e.code(), e.message().to_string())),
                    }
                }
                "GetParkShare(own)" => code(
                    gc.get_park_share(req(
                        t,
                        pb::ParkShareRequest { park: "shihe_park".into(), from_day: d.clone(), to_day: String::new() },
                    ))
                    .await,
                ),
                "GetParkShare(other)" => code(
                    gc.get_park_share(req(
                        t,
                        pb::ParkShareRequest { park: "pingqiao_park".into(), from_day: d.clone(), to_day: String::new() },
                    ))
                    .await,
                ),
                "GetPlantShare" => {
                    code(gc.get_plant_share(req(t, pb::PlantShareRequest { from_day: d.clone(), to_day: String::new() })).await)
                }
                "SubmitBid" => code(mc.submit_bid(req(t, bid("a-1", "shihe", h.instant(9), pb::Side::Sell, 5.0, 300.0, false))).await),
                "AmendBid" => code(
                    mc.amend_bid(req(t, pb::AmendBidRequest { bid_id: "a-1".into(), quantity_mw: Some(6.0), price: Some(300.0) })).await,
                ),
                "CancelBid" => code(mc.cancel_bid(req(t, pb::CancelBidRequest { bid_id: "a-1".into() })).await),
                "ListBids" => code(mc.list_bids(req(t, pb::ListBidsRequest { delivery_day: d.clone() })).await),
                "StreamAwards" => match mc.stream_awards(req(t, pb::StreamAwardsRequest { delivery_day: d.clone() })).await {
                    Ok(_) => Ok(()),
                    Err(e) => Err((e.code(), e.message().to_string())),
                },
                "GetSettlement" => code(mc.get_settlement(req(t, pb::SettlementRequest { delivery_day: d.clone() })).await),
                "SubmitReadings" => code(meters.submit_readings(req(t, batch.clone())).await),
                "StreamReadings" => code(meters.stream_readings(req(t, tokio_stream::iter([batch.clone()]))).await),
                "GetParkLedger(own)" => code(lc.get_park_ledger(req(t, ledger("shihe_park"))).await),
                "GetParkLedger(other)" => code(lc.get_park_ledger(req(t, ledger("pingqiao_park"))).await),
                "StreamCertificates(own)" | "StreamCertificates(other)" => {
                    let park = if rpc.ends_with("(own)") { "shihe_park" } else { "pingqiao_park" };
                    match lc.stream_certificates(req(t, pb::CertificateStreamRequest { park: park.into(), from_day: d.clone() })).await {
                        Ok(_) => Ok(()),
                        Err(e) => Err((e.code(), e.message().to_string())),
                    }
                }
                "GetReadingRevisions" => code(
                    lc.get_reading_revisions(req(
                        t,
                        pb::ReadingKey {
                            meter: reading.meter.clone(),
                            quantity: reading.quantity.clone(),
                            interval_start: reading.interval_start,
                        },
                    ))
                    .await,
                ),
                other => unreachable!("{other}"),
            };
            assert_eq!(allowed(&r), expect[k], "{rpc} as {who:?}: {r:?}");
            if let Err((c, msg)) = &r {
                match who {
                    Who::Nobody | Who::Stranger => assert_eq!(*c, Code::Unauthenticated, "{rpc} as {who:?}"),
                    _ if !expect[k] => {
                        assert_eq!(*c, Code::PermissionDenied, "{rpc} as {who:?}");
                        for secret in ["b-secret", "333", "bot-b", "pingqiao"] {
                            assert!(!msg.contains(secret), "{rpc} as {who:?} leaks '{secret}': {msg}");
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    // A bot sees only its own bids, even when asking for the day's whole book.
    let mine = MarketServiceClient::new(ch.clone())
        .list_bids(req(Some(BOT_A), pb::ListBidsRequest { delivery_day: d.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert!(mine.bids.iter().all(|b| b.ack.as_ref().unwrap().bot == "bot-a"), "{mine:?}");
    // A bot cannot amend or cancel another bot's bid: for it, that bid does not exist.
    let e = MarketServiceClient::new(ch.clone())
        .cancel_bid(req(Some(BOT_A), pb::CancelBidRequest { bid_id: "b-secret".into() }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let _ = HUANGCHUAN;
    server.stop().await;
}

fn fc_from(h: &vpp_dispatch::domain::Horizon) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds: h.instant(18).timestamp(), nanos: 0 })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_need_no_files() {
    let db = temp_db("health");
    let server = Running::start(&db, "").await;
    let ch = server.channel().await;
    let mut h = tonic_health::pb::health_client::HealthClient::new(ch.clone());
    for svc in ["vpp.v1.DispatchService", "vpp.v1.GreenShareService", "vpp.v1.MarketService"] {
        let r = h.check(tonic_health::pb::HealthCheckRequest { service: svc.into() }).await.unwrap().into_inner();
        assert_eq!(r.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32, "{svc}");
    }
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::{
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse, ServerReflectionRequest,
    };
    let mut r = ServerReflectionClient::new(ch);
    let ask = ServerReflectionRequest { host: String::new(), message_request: Some(MessageRequest::ListServices(String::new())) };
    let mut replies = r.server_reflection_info(tokio_stream::iter(vec![ask])).await.unwrap().into_inner();
    let reply = replies.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else { panic!("{reply:?}") };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    for want in ["vpp.v1.DispatchService", "vpp.v1.GreenShareService", "vpp.v1.MarketService", "grpc.health.v1.Health"] {
        assert!(names.contains(&want), "{names:?}");
    }
    // Issue 12: v1alpha too (Python's grpcio-reflection, older grpcurl, Postman).
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as AlphaClient;
    use tonic_reflection::pb::v1alpha::{
        server_reflection_request::MessageRequest as AlphaRequest, server_reflection_response::MessageResponse as AlphaResponse,
        ServerReflectionRequest as AlphaAsk,
    };
    let mut r = AlphaClient::new(server.channel().await);
    let ask = AlphaAsk { host: String::new(), message_request: Some(AlphaRequest::ListServices(String::new())) };
    let mut replies = r.server_reflection_info(tokio_stream::iter(vec![ask])).await.expect("v1alpha answers").into_inner();
    let reply = replies.next().await.expect("a reply").expect("not an error");
    let Some(AlphaResponse::ListServicesResponse(list)) = reply.message_response else { panic!("{reply:?}") };
    assert!(list.service.iter().any(|s| s.name == "vpp.v1.MarketService"), "{list:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_refused_not_queued_and_bids_keep_flowing() {
    let db = temp_db("overload");
    let server = Running::start(&db, "[solver]\nmax_concurrent = 1\nmax_queued = 0\n").await;
    let ch = server.channel().await;
    let (_, bid_day) = future_day(7);
    let h = bid_day.horizon(vpp_dispatch::domain::Plant::load(repo("models/xinyang.toml")).unwrap().tz());
    // Slow solves: a frontier of many points, each for another day (a day is cleared once:
    // calls for one day wait for each other rather than for the solver).
    let slow = pb::SolveOptions { frontier_points: 40, ..Default::default() };
    let mut calls = Vec::new();
    for k in 0..4 {
        let (day, fc) = future_day(20 + k);
        let mut dc = DispatchServiceClient::new(ch.clone()).max_decoding_message_size(64 << 20);
        let r = req(
            Some(OPERATOR),
            pb::SubmitDayAheadRequest {
                delivery_day: day.to_string(),
                forecast: Some(vpp_dispatch::api::forecast_to_pb(&fc)),
                options: Some(slow),
                stochastic: None,
            },
        );
        calls.push(tokio::spawn(async move { dc.submit_day_ahead(r).await.map(|_| ()).map_err(|e| e.code()) }));
    }
    // While the solver is busy, bids are still acknowledged.
    let mut mc = MarketServiceClient::new(ch.clone());
    for k in 0..20 {
        mc.submit_bid(req(Some(BOT_A), bid(&format!("busy-{k}"), "shihe", h.instant(k % 24), pb::Side::Sell, 1.0, 300.0, false)))
            .await
            .unwrap();
    }
    let mut ok = 0;
    let mut refused = 0;
    for c in calls {
        match c.await.unwrap() {
            Ok(()) => ok += 1,
            Err(Code::ResourceExhausted) => refused += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(ok >= 1 && refused >= 1, "ok {ok}, refused {refused}");
    // A deadline the solve cannot meet is DEADLINE_EXCEEDED, not a hang (a day not yet cleared).
    let (day, fc) = future_day(24);
    let mut dc = DispatchServiceClient::new(ch.clone()).max_decoding_message_size(64 << 20);
    let mut r = req(
        Some(OPERATOR),
        pb::SubmitDayAheadRequest {
            delivery_day: day.to_string(),
            forecast: Some(vpp_dispatch::api::forecast_to_pb(&fc)),
            options: Some(pb::SolveOptions { frontier_points: 200, ..Default::default() }),
            stochastic: None,
        },
    );
    r.set_timeout(Duration::from_millis(50));
    let e = dc.submit_day_ahead(r).await.unwrap_err();
    // Issue 12: always DEADLINE_EXCEEDED, never the transport's CANCELLED "Timeout expired".
    assert_eq!(e.code(), Code::DeadlineExceeded, "{e:?}");
    server.stop().await;
}

/// Issue 12: a call still waiting when its deadline comes (here for the day's clearing lock,
/// which a slow solve of the same day holds) ends DEADLINE_EXCEEDED from the call layer,
/// never as the transport's CANCELLED "Timeout expired", however loaded the machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_still_waiting_at_its_deadline_is_deadline_exceeded() {
    let db = temp_db("waiting-deadline");
    let server = Running::start(&db, "").await;
    let ch = server.channel().await;
    let (day, fc) = future_day(30);
    let day_ahead = |options: Option<pb::SolveOptions>| {
        req(
            Some(OPERATOR),
            pb::SubmitDayAheadRequest {
                delivery_day: day.to_string(),
                forecast: Some(vpp_dispatch::api::forecast_to_pb(&fc)),
                options,
                stochastic: None,
            },
        )
    };
    // A frontier of 200 MILP points holds the day's lock for many seconds.
    let mut first = DispatchServiceClient::new(ch.clone()).max_decoding_message_size(64 << 20);
    let slow = day_ahead(Some(pb::SolveOptions { frontier_points: 200, milp: true, ..Default::default() }));
    let holder = tokio::spawn(async move { first.submit_day_ahead(slow).await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut second = DispatchServiceClient::new(ch.clone()).max_decoding_message_size(64 << 20);
    let mut waiting = day_ahead(None);
    waiting.set_timeout(Duration::from_millis(400));
    let started = std::time::Instant::now();
    let e = second.submit_day_ahead(waiting).await.unwrap_err();
    assert_eq!(e.code(), Code::DeadlineExceeded, "{e:?}");
    assert_eq!(e.message(), "the call's deadline passed before it finished", "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "answered after {:?}", started.elapsed());
    holder.abort();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_streams_and_keeps_the_data() {
    let db = temp_db("shutdown");
    let server = Running::start(&db, "").await;
    let ch = server.channel().await;
    let (day, fc) = future_day(8);
    let h = fc.horizon(vpp_dispatch::domain::Plant::load(repo("models/xinyang.toml")).unwrap().tz());
    let mut mc = MarketServiceClient::new(ch.clone());
    mc.submit_bid(req(Some(BOT_A), bid("kept", "shihe", h.instant(5), pb::Side::Sell, 3.0, 300.0, false))).await.unwrap();
    let mut stream =
        mc.stream_awards(req(Some(BOT_A), pb::StreamAwardsRequest { delivery_day: day.to_string() })).await.unwrap().into_inner();
    server.stop().await;
    let end = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("the stream ends");
    // Issue 12: a bot tells shutdown from the end of a day: UNAVAILABLE, not OK.
    match end {
        Some(Err(e)) => assert_eq!(e.code(), Code::Unavailable, "{e:?}"),
        other => panic!("the award stream must end with UNAVAILABLE at shutdown, got {other:?}"),
    }
    // Restarted on the same file, the bid is there.
    let server = Running::start(&db, "").await;
    let mut mc = MarketServiceClient::new(server.channel().await);
    let list = mc.list_bids(req(Some(BOT_A), pb::ListBidsRequest { delivery_day: day.to_string() })).await.unwrap().into_inner();
    assert_eq!(list.bids.len(), 1);
    server.stop().await;
}

/// The real binary, killed with SIGKILL while bots submit: every acknowledged bid is there
/// after a restart, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_bid() {
    let db = temp_db("kill9");
    let dir = db.parent().unwrap().to_path_buf();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = dir.join("config.toml");
    std::fs::write(&cfg, config_text(&db, &format!("listen = \"127.0.0.1:{port}\"\n"))).unwrap();
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_vpp"))
            .args(["serve", "--config", cfg.to_str().unwrap()])
            .current_dir(repo(""))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("vpp serve starts")
    };
    let mut child = spawn();
    let addr = format!("http://127.0.0.1:{port}");
    let connect = |addr: String| async move {
        for _ in 0..400 {
            if let Ok(c) = tonic::transport::Channel::from_shared(addr.clone()).unwrap().connect().await {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("server did not come up");
    };
    let ch = connect(addr.clone()).await;
    let (day, fc) = future_day(9);
    let h = fc.horizon(vpp_dispatch::domain::Plant::load(repo("models/xinyang.toml")).unwrap().tz());
    // Eight bots' worth of concurrent submitters; the process is killed under them.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for w in 0..8 {
        let ch = ch.clone();
        let acked = acked.clone();
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            let mut mc = MarketServiceClient::new(ch);
            for k in 0..100_000 {
                let id = format!("w{w}-{k}");
                match mc.submit_bid(req(Some(BOT_A), bid(&id, "shihe", h.instant(k % 24), pb::Side::Sell, 1.0, 300.0, false))).await {
                    Ok(_) => acked.lock().unwrap().push(id),
                    Err(_) => return,
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < 2_000 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().unwrap().clone();
    let mut child = spawn();
    let ch = connect(addr).await;
    let list = MarketServiceClient::new(ch)
        .list_bids(req(Some(BOT_A), pb::ListBidsRequest { delivery_day: day.to_string() }))
        .await
        .unwrap()
        .into_inner();
    let stored: std::collections::HashMap<String, usize> = list.bids.iter().fold(Default::default(), |mut m, b| {
        *m.entry(b.bid.as_ref().unwrap().bid_id.clone()).or_default() += 1;
        m
    });
    let lost: Vec<_> = acked.iter().filter(|id| !stored.contains_key(*id)).collect();
    assert!(lost.is_empty(), "{} of {} acknowledged bids lost, e.g. {:?}", lost.len(), acked.len(), &lost[..lost.len().min(5)]);
    assert!(stored.values().all(|&n| n == 1));
    eprintln!("kill -9: {} acknowledged before the kill, {} stored after restart", acked.len(), stored.len());
    child.kill().ok();
    let _ = child.wait();
}
