//! The load tool against the real server on a loopback port: what it reports is what the
//! server stored, failures are counted by code (never hidden in the percentiles), and
//! `vpp load` exits non-zero when calls fail.

use std::collections::BTreeSet;

use chrono::Days;
use vpp_dispatch::api::pb;
use vpp_dispatch::api::pb::dispatch_service_client::DispatchServiceClient;
use vpp_dispatch::api::pb::market_service_client::MarketServiceClient;
use vpp_dispatch::domain::Plant;
use vpp_dispatch::loadgen::{self as load, BidLoad, Driver, LoadError, Percentiles, ShareLoad, SolveLoad};

use crate::repo;
use crate::service::{future_day, req, temp_db, Running, BOT_A, BOT_B, OPERATOR, SHIHE};

#[test]
fn percentiles_are_nearest_rank() {
    let mut samples: Vec<_> = (1..=100u64).rev().map(std::time::Duration::from_millis).collect();
    let p = Percentiles::of(&mut samples);
    assert_eq!((p.p50, p.p90, p.p99, p.max), (50.0, 90.0, 99.0, 100.0));
    assert!((p.mean - 50.5).abs() < 1e-9);
    let mut one = vec![std::time::Duration::from_millis(7)];
    let p = Percentiles::of(&mut one);
    assert_eq!((p.p50, p.p99, p.max), (7.0, 7.0, 7.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_runs_store_what_they_report() {
    let server = Running::start(&temp_db("load"), "").await;
    let addr = format!("http://{}", server.addr);
    let plant = Plant::load(repo("models/xinyang.toml")).unwrap();
    let tz = plant.tz();
    let driver = Driver::connect(&addr, 2, 8).await.expect("connects");

    // Bids over two bots: every one acknowledged and stored once, resubmission idempotent.
    let (day, fc) = future_day(5);
    let bids =
        BidLoad { tokens: vec![BOT_A.to_string(), BOT_B.to_string()], day, tz, node: "shihe".into(), prefix: "it-load".into(), count: 300 };
    let r = load::bids(&driver, bids.clone()).await.unwrap();
    assert_eq!((r.calls, r.ok), (300, 300), "{r}");
    assert!(r.errors.is_empty() && r.throughput_per_s > 0.0 && r.latency_ms.p50 <= r.latency_ms.p99);
    let again = load::bids(&driver, bids).await.unwrap();
    assert_eq!(again.ok, 300, "resubmitting the same ids is idempotent: {again}");
    let mut market = MarketServiceClient::new(server.channel().await);
    let all = market.list_bids(req(Some(OPERATOR), pb::ListBidsRequest { delivery_day: day.to_string() })).await.unwrap().into_inner();
    let ids: BTreeSet<_> = all.bids.iter().filter_map(|b| b.bid.as_ref()).map(|b| b.bid_id.clone()).collect();
    assert_eq!(all.bids.len(), 300, "each bid stored once");
    assert_eq!(ids, (0..300).map(|i| format!("it-load-{i}")).collect::<BTreeSet<_>>());
    let mine = market.list_bids(req(Some(BOT_A), pb::ListBidsRequest { delivery_day: day.to_string() })).await.unwrap().into_inner();
    assert_eq!(mine.bids.len(), 150, "bids are spread over the tokens");

    // Failures are counted by code, not hidden.
    let bad = BidLoad { tokens: vec![BOT_A.to_string()], day, tz, node: "atlantis".into(), prefix: "it-bad".into(), count: 20 };
    let r = load::bids(&driver, bad).await.unwrap();
    assert_eq!(r.ok, 0);
    assert_eq!(r.errors.get("InvalidArgument"), Some(&20), "{r}");

    // Solves: each on a day without a schedule, each published as version 1.
    let from = day + Days::new(30);
    let days = load::free_days(&driver, OPERATOR, from, 3).await.unwrap();
    assert_eq!(days, vec![from, from + Days::new(1), from + Days::new(2)]);
    let solves = SolveLoad { token: OPERATOR.into(), forecast: fc.clone(), tz, days: days.clone(), objective: pb::Objective::GreenShare };
    let r = load::solves(&Driver::connect(&addr, 1, 2).await.unwrap(), solves.clone()).await.unwrap();
    assert_eq!((r.calls, r.ok), (3, 3), "{r}");
    let again = load::solves(&driver, solves).await.unwrap();
    assert_eq!(again.errors.get("AlreadyExists"), Some(&3), "a day cleared before is not counted as a solve: {again}");
    let mut dispatch = DispatchServiceClient::new(server.channel().await).max_decoding_message_size(64 << 20);
    let listed = dispatch
        .list_schedules(req(
            Some(OPERATOR),
            pb::ListSchedulesRequest { from_day: from.to_string(), to_day: (from + Days::new(10)).to_string() },
        ))
        .await
        .unwrap()
        .into_inner();
    let published: Vec<_> = listed.schedules.iter().map(|s| (s.delivery_day.clone(), s.version)).collect();
    assert_eq!(published, days.iter().map(|d| (d.to_string(), 1)).collect::<Vec<_>>());
    let next = load::free_days(&driver, OPERATOR, from, 1).await.unwrap();
    assert_eq!(next, vec![from + Days::new(3)], "a second run skips days already scheduled");

    // Share queries, by the park's own manager.
    let r = load::shares(&driver, ShareLoad { token: SHIHE.into(), park: "shihe_park".into(), day: days[0], count: 50 }).await.unwrap();
    assert_eq!(r.ok, 50, "{r}");
    let r = load::shares(&driver, ShareLoad { token: SHIHE.into(), park: "huangchuan_zero_carbon".into(), day: days[0], count: 5 })
        .await
        .unwrap();
    assert_eq!(r.errors.get("PermissionDenied"), Some(&5), "another park's share is refused: {r}");

    // The command exits non-zero when calls fail, and says how many.
    let args = ["load", "--addr", &addr, "--concurrency", "2", "bids", "--token", "not-a-token", "--count", "4", "--day", &day.to_string()]
        .map(String::from);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_vpp")).current_dir(repo(".")).args(args).output()
    })
    .await
    .unwrap()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("4 of 4 calls failed"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 failed with Unauthenticated"));

    server.stop().await;
}

#[tokio::test]
async fn bad_settings_are_named() {
    let e = Driver::connect("http://127.0.0.1:1", 1, 0).await.unwrap_err();
    assert!(matches!(e, LoadError::Invalid { field: "concurrency", .. }), "{e}");
    let e = Driver::connect("http://127.0.0.1:1", 0, 1).await.unwrap_err();
    assert!(matches!(e, LoadError::Invalid { field: "connections", .. }), "{e}");
    let e = Driver::connect("http://127.0.0.1:1", 1, 1).await.unwrap_err();
    assert!(e.to_string().starts_with("cannot connect to http://127.0.0.1:1"), "{e}");
}
