//! The web page and its JSON API over real sockets: the real server on loopback ports (gRPC
//! and web), a schedule published through the real gRPC API, the API read with a plain HTTP
//! client, and the page driven in headless Chromium through chromedriver. Screenshots go to
//! `target/test-artifacts/web/`.
//!
//! Also the derivation of the stacked source chart (`domain::sources`) on a real solve.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::Value;
use tokio::net::TcpListener;
use tonic::transport::Channel;
use vpp_dispatch::api::pb;
use vpp_dispatch::api::pb::dispatch_service_client::DispatchServiceClient;
use vpp_dispatch::api::pb::green_share_service_client::GreenShareServiceClient;
use vpp_dispatch::domain::sources::{park_stack, plant_stack, Source};
use vpp_dispatch::domain::{Bid, BidSide, Forecast, Plant};
use vpp_dispatch::server::{self, Listeners, RawConfig};

use crate::service::{config_text, future_day, req, temp_db, BOT_A, HUANGCHUAN, OPERATOR, SHIHE};
use crate::{near, repo};

// ------------------------------------------------------------------------------------------
// A server with the web page on.

struct WebServer {
    grpc: SocketAddr,
    web: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), server::ServerError>>,
}

impl WebServer {
    async fn start(name: &str) -> WebServer {
        let db = temp_db(name);
        let raw: RawConfig = toml::from_str(&config_text(&db, "")).expect("config parses");
        let config = raw.validate().expect("config is valid");
        let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let web = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (grpc_addr, web_addr) = (grpc.local_addr().unwrap(), web.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server::run(config, Listeners { grpc, metrics: None, web: Some(web) }, async {
            let _ = stopped.await;
        }));
        let s = WebServer { grpc: grpc_addr, web: web_addr, stop: Some(stop), task };
        let http = http();
        for _ in 0..200 {
            if let Ok((status, ..)) = try_get(&http, &s.url("/"), None).await {
                if status == StatusCode::OK {
                    return s;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the web page did not come up");
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.web)
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.grpc)).unwrap().connect().await.unwrap()
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let done = tokio::time::timeout(Duration::from_secs(60), self.task).await.expect("server stops");
        done.expect("server task").expect("server ran cleanly");
    }
}

// ------------------------------------------------------------------------------------------
// A plain HTTP client.

type Http = hyper_util::client::legacy::Client<HttpConnector, Empty<Bytes>>;

fn http() -> Http {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

async fn try_get(http: &Http, url: &str, token: Option<&str>) -> Result<(StatusCode, HeaderMap, Bytes), String> {
    let mut b = axum::http::Request::get(url);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let response = http.request(b.body(Empty::new()).map_err(|e| e.to_string())?).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((status, headers, body))
}

/// GET a JSON answer: status and body.
async fn get(http: &Http, url: &str, token: Option<&str>) -> (StatusCode, Value) {
    let (status, headers, body) = try_get(http, url, token).await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(headers.get("content-type").map(|v| v.to_str().unwrap()), Some("application/json"), "GET {url}");
    assert_eq!(headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"), "GET {url}: API answers are not cached");
    if status == StatusCode::UNAUTHORIZED {
        assert_eq!(headers.get("www-authenticate").map(|v| v.to_str().unwrap()), Some("Bearer realm=\"vpp\""));
    }
    let json = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {}", String::from_utf8_lossy(&body)));
    (status, json)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}")).iter().map(f).collect()
}

/// A refusal carries the error and nothing else.
fn assert_refusal(body: &Value, status: StatusCode, what: &str) {
    let obj = body.as_object().unwrap_or_else(|| panic!("{what}: {body}"));
    assert_eq!(obj.len(), 2, "{what}: a refusal carries no data: {body}");
    assert_eq!(obj["status"].as_u64(), Some(u64::from(status.as_u16())), "{what}: {body}");
    assert!(obj["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: {body}");
}

// ------------------------------------------------------------------------------------------
// Publishing through the gRPC API.

async fn publish(ch: &Channel, day: NaiveDate, fc: &Forecast) -> pb::Schedule {
    let mut dispatch = DispatchServiceClient::new(ch.clone()).max_decoding_message_size(64 << 20);
    let request = pb::SubmitDayAheadRequest {
        delivery_day: day.to_string(),
        forecast: Some(vpp_dispatch::api::forecast_to_pb(fc)),
        options: Some(pb::SolveOptions { objective: pb::Objective::GreenShare as i32, ..Default::default() }),
        stochastic: None,
    };
    dispatch.submit_day_ahead(req(Some(OPERATOR), request)).await.expect("the operator publishes").into_inner()
}

async fn park_share(ch: &Channel, token: &str, park: &str, day: NaiveDate) -> pb::DayShare {
    let mut green = GreenShareServiceClient::new(ch.clone());
    let request = pb::ParkShareRequest { park: park.into(), from_day: day.to_string(), to_day: String::new() };
    let mut report = green.get_park_share(req(Some(token), request)).await.expect("gRPC park share").into_inner();
    assert_eq!(report.days.len(), 1);
    report.days.remove(0)
}

async fn plant_share(ch: &Channel, day: NaiveDate) -> pb::DayShare {
    let mut green = GreenShareServiceClient::new(ch.clone());
    let request = pb::PlantShareRequest { from_day: day.to_string(), to_day: String::new() };
    let mut report = green.get_plant_share(req(Some(OPERATOR), request)).await.expect("gRPC plant share").into_inner();
    report.days.remove(0)
}

/// The JSON `share` object equals the gRPC `DayShare`, number for number.
fn assert_same_share(json: &Value, grpc: &pb::DayShare, what: &str) {
    assert!(near(f(&json["served_mwh"]), grpc.served_mwh, 1e-12), "{what}: served");
    assert!(near(f(&json["green_mwh"]), grpc.green_mwh, 1e-12), "{what}: green");
    assert!(near(f(&json["share"]), grpc.share, 1e-12), "{what}: share");
    assert_eq!(json["certificates"].as_u64(), Some(grpc.certificates), "{what}: certificates");
    assert_eq!(json["min_share"].as_f64(), grpc.min_share, "{what}: min share");
    let intervals = json["intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), grpc.intervals.len(), "{what}: intervals");
    for (t, (j, g)) in intervals.iter().zip(&grpc.intervals).enumerate() {
        let start = g.start.as_ref().unwrap();
        let start = Utc.timestamp_opt(start.seconds, 0).unwrap().to_rfc3339();
        assert_eq!(j["start"].as_str(), Some(start.as_str()), "{what}: interval {t} start");
        assert!(near(f(&j["served_mwh"]), g.served_mwh, 1e-12), "{what}: interval {t} served");
        assert!(near(f(&j["green_mwh"]), g.green_mwh, 1e-12), "{what}: interval {t} green");
        assert!(near(f(&j["share"]), g.share, 1e-12), "{what}: interval {t} share");
    }
}

/// The stack of sources: every layer there once, the layers add up to the served power, the
/// green ones to the green energy.
fn assert_stack_adds_up(sources: &Value, share: &pb::DayShare, dt: f64, what: &str) {
    let layers = sources["layers"].as_array().unwrap();
    let keys: Vec<&str> = layers.iter().map(|l| l["key"].as_str().unwrap()).collect();
    assert_eq!(keys, Source::ALL.iter().map(|s| s.key()).collect::<Vec<_>>(), "{what}");
    for (t, i) in share.intervals.iter().enumerate() {
        let total: f64 = layers.iter().map(|l| f(&l["mw"][t])).sum();
        let green: f64 = layers.iter().filter(|l| l["green"].as_bool() == Some(true)).map(|l| f(&l["mw"][t])).sum();
        assert!(near(total, i.served_mwh / dt, 1e-9), "{what}: interval {t}: stack {total} vs served {}", i.served_mwh / dt);
        assert!(near(green, i.green_mwh / dt, 1e-9), "{what}: interval {t}: green layers {green} vs green {}", i.green_mwh / dt);
    }
}

// ------------------------------------------------------------------------------------------
// The API.

/// Issue 14: a park's monthly statement for an auditor, as a printable page and as CSV,
/// from the measured ledger: the certificate ids and figures `LedgerService` gives, to the
/// park's manager and operators only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monthly_statement_prints_the_ledger_with_its_certificates() {
    let server = WebServer::start("statement").await;
    let ch = server.channel().await;
    let plant = Plant::load(repo("models/xinyang.toml")).unwrap();
    let (day, readings) = crate::meters::day_of_readings(&plant);
    let mut meters = vpp_dispatch::api::pb::meter_service_client::MeterServiceClient::new(ch.clone());
    meters.submit_readings(req(Some(crate::service::METER), pb::ReadingBatch { readings: crate::meters::wire(&readings) })).await.unwrap();
    let park = "huangchuan_zero_carbon";
    let month = day.format("%Y-%m").to_string();
    let (first, last) = (day.with_day(1).unwrap(), day.with_day(1).unwrap() + chrono::Months::new(1) - chrono::Days::new(1));
    let ledger = vpp_dispatch::api::pb::ledger_service_client::LedgerServiceClient::new(ch.clone())
        .max_decoding_message_size(64 << 20)
        .get_park_ledger(req(
            Some(HUANGCHUAN),
            pb::ParkLedgerRequest { park: park.into(), from_day: first.to_string(), to_day: last.to_string(), statement_only: false },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!ledger.certificates.is_empty());

    let http = http();
    let html_url = server.url(&format!("/api/v1/parks/{park}/statement.html?month={month}"));
    let (status, headers, body) = try_get(&http, &html_url, Some(HUANGCHUAN)).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get("content-type").unwrap(), "text/html; charset=utf-8");
    let page = String::from_utf8(body.to_vec()).unwrap();
    assert!(page.contains(&format!("Certificates cancelled ({})", ledger.certificates.len())), "{}", &page[..400.min(page.len())]);
    for c in &ledger.certificates {
        assert!(page.contains(&format!("<code>{}</code>", c.certificate_id)), "{} missing", c.certificate_id);
    }
    assert!(page.contains(&format!("<td>{}</td>", ledger.months[0].gec_issued)));

    let csv_url = server.url(&format!("/api/v1/parks/{park}/statement.csv?month={month}"));
    let (status, headers, body) = try_get(&http, &csv_url, Some(OPERATOR)).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("content-disposition").unwrap().to_str().unwrap().contains(&format!("statement-{park}-{month}.csv")));
    let text = String::from_utf8(body.to_vec()).unwrap();
    let (summary, certs) = text.split_once("\n\n").unwrap();
    let fields: Vec<&str> = summary.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(fields[0], park);
    assert_eq!(fields[8].parse::<u64>().unwrap(), ledger.months[0].gec_issued);
    assert!((fields[5].parse::<f64>().unwrap() - ledger.months[0].green_mwh).abs() < 1e-6);
    let rows: Vec<&str> = certs.lines().skip(1).collect();
    assert_eq!(rows.len(), ledger.certificates.len());
    let total: f64 = rows.iter().map(|r| r.rsplit(',').next().unwrap().parse::<f64>().unwrap()).sum();
    assert!((total - ledger.months[0].green_mwh).abs() < 1e-6, "{total}");

    // Another park's manager, a bot: refused; a bad month: named.
    let (status, _, _) = try_get(&http, &html_url, Some(SHIHE)).await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = try_get(&http, &csv_url, Some(BOT_A)).await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = get(&http, &server.url(&format!("/api/v1/parks/{park}/statement.csv?month=2026-13")), Some(OPERATOR)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("month: '2026-13' is not a month YYYY-MM"), "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_gives_the_grpc_numbers_to_whom_grpc_would() {
    let server = WebServer::start("web-api").await;
    let http = http();
    let ch = server.channel().await;
    let (day, fc) = future_day(3);
    let park_url = |park: &str| server.url(&format!("/api/v1/days/{day}/parks/{park}"));
    let plant_url = server.url(&format!("/api/v1/days/{day}/plant"));

    // Before anything is published: no days, and a 404 that says so.
    let (status, days) = get(&http, &server.url("/api/v1/days"), Some(SHIHE)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(days["days"], Value::Array(Vec::new()));
    let (status, body) = get(&http, &park_url("shihe_park"), Some(SHIHE)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains(&format!("no schedule published for {day}")), "{body}");

    let schedule = publish(&ch, day, &fc).await;
    let dt = schedule.dt_hours;

    // Issue 11 (6): the operator's set-points as CSV, one row per interval, asset and
    // quantity, the numbers of the schedule; nobody else may download them.
    let csv_url = server.url(&format!("/api/v1/days/{day}/setpoints.csv"));
    let (status, headers, body) = try_get(&http, &csv_url, Some(OPERATOR)).await.expect("GET");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get("content-type").map(|v| v.to_str().unwrap()), Some("text/csv; charset=utf-8"));
    let csv = String::from_utf8(body.to_vec()).expect("UTF-8");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("start_utc,start_local,version,kind,asset,node,quantity,unit,value"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let per_interval = 2 * schedule.renewables.len() + 3 * schedule.storages.len() + 2 * schedule.grids.len() + 2 * schedule.parks.len(); // (no thermal units in Xinyang)
    assert_eq!(rows.len(), schedule.intervals.len() * per_interval);
    let wuyue = schedule.storages.iter().find(|st| st.name == "wuyue").expect("wuyue");
    for (t, want) in wuyue.discharge_mw.iter().enumerate() {
        let at = Utc.timestamp_opt(schedule.intervals[t].seconds, 0).unwrap().to_rfc3339();
        let row = rows.iter().find(|r| r[0] == at && r[4] == "wuyue" && r[6] == "discharge").expect("a wuyue discharge row");
        assert!(near(row[8].parse::<f64>().unwrap(), *want, 1e-9), "{row:?} vs {want}");
    }
    for who in [SHIHE, HUANGCHUAN] {
        let (status, _, _) = try_get(&http, &csv_url, Some(who)).await.expect("GET");
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    // Who may call what: (token, path, expected status).
    let stranger = Some("not-a-known-token");
    let matrix: Vec<(Option<&str>, String, StatusCode)> = vec![
        (None, server.url("/api/v1/me"), StatusCode::UNAUTHORIZED),
        (stranger, server.url("/api/v1/me"), StatusCode::UNAUTHORIZED),
        (Some(BOT_A), server.url("/api/v1/me"), StatusCode::FORBIDDEN),
        (Some(SHIHE), server.url("/api/v1/me"), StatusCode::OK),
        (Some(OPERATOR), server.url("/api/v1/me"), StatusCode::OK),
        (None, server.url("/api/v1/days"), StatusCode::UNAUTHORIZED),
        (Some(BOT_A), server.url("/api/v1/days"), StatusCode::FORBIDDEN),
        (Some(HUANGCHUAN), server.url("/api/v1/days"), StatusCode::OK),
        (None, park_url("shihe_park"), StatusCode::UNAUTHORIZED),
        (stranger, park_url("shihe_park"), StatusCode::UNAUTHORIZED),
        (Some(BOT_A), park_url("shihe_park"), StatusCode::FORBIDDEN),
        (Some(SHIHE), park_url("shihe_park"), StatusCode::OK),
        (Some(HUANGCHUAN), park_url("shihe_park"), StatusCode::FORBIDDEN),
        (Some(SHIHE), park_url("huangchuan_zero_carbon"), StatusCode::FORBIDDEN),
        (Some(OPERATOR), park_url("shihe_park"), StatusCode::OK),
        (Some(OPERATOR), park_url("huangchuan_zero_carbon"), StatusCode::OK),
        // A park manager learns nothing about parks that are not theirs, not even whether
        // they exist; an operator is told.
        (Some(SHIHE), park_url("gotham"), StatusCode::FORBIDDEN),
        (Some(OPERATOR), park_url("gotham"), StatusCode::NOT_FOUND),
        (None, plant_url.clone(), StatusCode::UNAUTHORIZED),
        (Some(BOT_A), plant_url.clone(), StatusCode::FORBIDDEN),
        (Some(SHIHE), plant_url.clone(), StatusCode::FORBIDDEN),
        (Some(OPERATOR), plant_url.clone(), StatusCode::OK),
        (Some(OPERATOR), server.url("/api/v1/days/2026-13-01/plant"), StatusCode::BAD_REQUEST),
        (Some(SHIHE), server.url("/api/v1/days/tomorrow/parks/shihe_park"), StatusCode::BAD_REQUEST),
        (Some(OPERATOR), server.url(&format!("/api/v1/days/{}/plant", day + chrono::Days::new(1))), StatusCode::NOT_FOUND),
        (Some(OPERATOR), server.url("/api/v1/days?from_day=2026-01-01&to_day=2025-01-01"), StatusCode::BAD_REQUEST),
        (Some(OPERATOR), server.url("/api/v1/nothing"), StatusCode::NOT_FOUND),
    ];
    for (token, url, want) in &matrix {
        let (status, body) = get(&http, url, *token).await;
        assert_eq!(status, *want, "GET {url} as {token:?}: {body}");
        if !status.is_success() {
            assert_refusal(&body, status, url);
        }
    }

    // Who am I, and which parks may I pick.
    let (_, me) = get(&http, &server.url("/api/v1/me"), Some(HUANGCHUAN)).await;
    assert_eq!(me["role"], "park_manager");
    assert_eq!(me["park"], "huangchuan_zero_carbon");
    assert_eq!(me["plant_view"], false);
    let parks: Vec<&str> = me["parks"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(parks, ["huangchuan_zero_carbon"]);
    assert_eq!(me["parks"][0]["min_share"].as_f64(), Some(0.35));
    let (_, me) = get(&http, &server.url("/api/v1/me"), Some(OPERATOR)).await;
    assert_eq!((me["role"].as_str(), me["plant_view"].as_bool()), (Some("operator"), Some(true)));
    let all: Vec<&str> = me["parks"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(all, schedule.parks.iter().map(|p| p.name.as_str()).collect::<Vec<_>>());

    // The park's day: the gRPC numbers, the schedule's storage and price.
    for (token, park) in [(SHIHE, "shihe_park"), (HUANGCHUAN, "huangchuan_zero_carbon"), (OPERATOR, "pingqiao_park")] {
        let grpc = park_share(&ch, token, park, day).await;
        let (status, view) = get(&http, &park_url(park), Some(token)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (view["day"].as_str(), view["version"].as_u64(), view["park"].as_str()),
            (Some(day.to_string().as_str()), Some(1), Some(park))
        );
        assert_same_share(&view["share"], &grpc, park);
        assert_stack_adds_up(&view["sources"], &grpc, dt, park);
        let p = schedule.parks.iter().find(|p| p.name == park).unwrap();
        assert_eq!(view["node"].as_str(), Some(p.node.as_str()));
        let node = schedule.nodes.iter().find(|n| n.name == p.node).unwrap();
        assert_eq!(floats(&view["price"]["yuan_per_mwh"]), node.price, "{park}: the price at its node");
        let green_points = floats(&view["storage"]["green_mwh"]);
        assert_eq!(green_points.len(), schedule.intervals.len() + 1);
        for (k, g) in green_points.iter().enumerate() {
            let want: f64 = schedule.storages.iter().map(|s| s.energy_green_mwh[k]).sum();
            assert!(near(*g, want, 1e-12), "{park}: storage green at point {k}");
        }
        assert_eq!(view["storage"]["labels"][24], "24:00");
        assert_eq!(view["labels"][0], "00:00", "local time");
        // The target is judged as the LP holds it: every hour at or above α.
        if let Some(alpha) = grpc.min_share {
            assert_eq!(view["share"]["meets_target"], true);
            for (t, i) in view["share"]["intervals"].as_array().unwrap().iter().enumerate() {
                assert_eq!(i["below_target"].as_bool(), Some(grpc.intervals[t].share < alpha - 1e-6));
            }
        }
    }

    // The whole plant, for the operator.
    let (_, plant) = get(&http, &plant_url, Some(OPERATOR)).await;
    let grpc = plant_share(&ch, day).await;
    assert_same_share(&plant["share"], &grpc, "plant");
    assert_stack_adds_up(&plant["sources"], &grpc, dt, "plant");
    let totals = schedule.totals.as_ref().unwrap();
    assert!(near(f(&plant["totals"]["cost_yuan"]), totals.cost_yuan, 1e-12));
    assert!(near(f(&plant["totals"]["curtailed_mwh"]), totals.curtailed_mwh, 1e-12));
    assert_eq!(plant["lines"].as_array().unwrap().len(), schedule.lines.len());
    for (j, l) in plant["lines"].as_array().unwrap().iter().zip(&schedule.lines) {
        assert_eq!(j["name"].as_str(), Some(l.name.as_str()));
        assert_eq!(floats(&j["loading"]), l.loading);
        assert_eq!(f(&j["max_loading"]), l.loading.iter().copied().fold(0.0, f64::max));
    }
    for (j, r) in plant["renewables"].as_array().unwrap().iter().zip(&schedule.renewables) {
        assert_eq!(floats(&j["curtailed_mw"]), r.curtailed_mw, "{}", r.name);
    }
    assert_eq!(plant["nodes"].as_array().unwrap().len(), schedule.nodes.len());
    assert_eq!(plant["storage"]["units"].as_array().unwrap().len(), schedule.storages.len());
    // The parks' stacks add up to the plant's, layer by layer.
    let mut sum = vec![vec![0.0; schedule.intervals.len()]; Source::ALL.len()];
    for p in &schedule.parks {
        let (_, view) = get(&http, &park_url(&p.name), Some(OPERATOR)).await;
        for (k, layer) in view["sources"]["layers"].as_array().unwrap().iter().enumerate() {
            for (t, v) in floats(&layer["mw"]).into_iter().enumerate() {
                sum[k][t] += v;
            }
        }
    }
    for (k, layer) in plant["sources"]["layers"].as_array().unwrap().iter().enumerate() {
        for (t, v) in floats(&layer["mw"]).into_iter().enumerate() {
            assert!(near(sum[k][t], v, 1e-9), "layer {} at {t}: parks {} vs plant {v}", layer["key"], sum[k][t]);
        }
    }

    // A re-plan publishes version 2: the page reads the latest, as gRPC does.
    let h = fc.horizon(Plant::load(repo("models/xinyang.toml")).unwrap().tz());
    let from = h.instant(12);
    let replan = pb::ReplanRequest {
        delivery_day: day.to_string(),
        from: Some(prost_types::Timestamp { seconds: from.timestamp(), nanos: 0 }),
        levels: vec![pb::StorageLevel { storage: "wuyue".into(), green_mwh: 1500.0, grey_mwh: 3000.0 }],
        forecast: None,
        options: None,
    };
    DispatchServiceClient::new(ch.clone()).max_decoding_message_size(64 << 20).replan(req(Some(OPERATOR), replan)).await.unwrap();
    let (_, days) = get(&http, &server.url("/api/v1/days"), Some(SHIHE)).await;
    assert_eq!(days["days"].as_array().unwrap().len(), 1);
    assert_eq!((days["days"][0]["day"].as_str(), days["days"][0]["version"].as_u64()), (Some(day.to_string().as_str()), Some(2)));
    let grpc = park_share(&ch, SHIHE, "shihe_park", day).await;
    assert_eq!(grpc.version, 2);
    let (_, view) = get(&http, &park_url("shihe_park"), Some(SHIHE)).await;
    assert_eq!(view["version"].as_u64(), Some(2));
    assert_same_share(&view["share"], &grpc, "shihe_park v2");
    assert_stack_adds_up(&view["sources"], &grpc, dt, "shihe_park v2");

    // The page itself is embedded, with a policy that allows nothing from elsewhere.
    for (path, kind) in
        [("/", "text/html"), ("/app.js", "text/javascript"), ("/app.css", "text/css"), ("/vendor/chart.umd.min.js", "text/javascript")]
    {
        let (status, headers, body) = try_get(&http, &server.url(path), None).await.unwrap();
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(headers["content-type"].to_str().unwrap().starts_with(kind), "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'"), "{path}: {csp}");
        let text = String::from_utf8_lossy(&body);
        if path == "/" {
            assert!(!text.contains("http://") && !text.contains("https://"), "the page loads nothing from other origins");
        }
        if path == "/vendor/chart.umd.min.js" {
            assert!(text.starts_with("/*!\n * Chart.js v4.6.1"), "the vendored Chart.js");
        }
    }
    server.stop().await;
}

// ------------------------------------------------------------------------------------------
// The page in a browser.

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "the browser test needs {CHROMIUM} and {CHROMEDRIVER} (Debian packages chromium and chromium-driver; `bash .ci/setup` installs them)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
        let http = http();
        for _ in 0..200 {
            if let Ok((StatusCode::OK, ..)) = try_get(&http, &format!("{}/status", driver.url), None).await {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chromedriver did not come up on port {port}");
    }

    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,2000", "--lang=en-US"],
            }),
        );
        ClientBuilder::new(HttpConnector::new()).capabilities(caps).connect(&self.url).await.expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn artifacts() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo("target"), std::path::PathBuf::from);
    let dir = target.join("test-artifacts").join("web");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Issue 11 (6): at a phone's 390×844 and a desktop's 1400×900 nothing overflows the
/// page sideways (`scrollWidth <= innerWidth`); a screenshot of each is kept.
async fn assert_fits(c: &Client, name: &str) {
    for (w, h) in [(390u32, 844u32), (1400, 900)] {
        c.set_window_size(w, h).await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        let sizes = c.execute("return [document.documentElement.scrollWidth, window.innerWidth];", vec![]).await.unwrap();
        let (scroll, inner) = (sizes[0].as_u64().unwrap_or(u64::MAX), sizes[1].as_u64().unwrap_or(0));
        assert!(scroll <= inner, "{name} at {w}×{h}: the page is {scroll} px wide in a {inner} px window");
        let png = c.screenshot().await.expect("a screenshot");
        std::fs::write(artifacts().join(format!("{name}-{w}x{h}.png")), png).unwrap();
    }
}

async fn screenshot(c: &Client, name: &str) {
    // The whole page, not only the first screenful.
    let height = c.execute("return document.documentElement.scrollHeight;", vec![]).await.unwrap().as_u64().unwrap_or(2000);
    c.set_window_size(1400, u32::try_from(height).unwrap_or(2000).clamp(900, 6000) + 120).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let png = c.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG");
    let path = artifacts().join(name);
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

/// The number at the start of a shown text: "1,234.5 MWh" → 1234.5, "41.23 %" → 41.23.
fn shown_number(text: &str) -> f64 {
    let digits: String =
        text.trim().chars().take_while(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | '-')).filter(|c| *c != ',').collect();
    digits.parse().unwrap_or_else(|_| panic!("no number in {text:?}"))
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.unwrap()
}

async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("waiting for {css}: {e}"))
}

async fn displayed(c: &Client, css: &str) -> bool {
    c.find(Locator::Css(css)).await.unwrap().is_displayed().await.unwrap()
}

async fn log_in(c: &Client, base: &str, token: &str) {
    c.goto(base).await.unwrap();
    let field = wait_for(c, "#login:not([hidden]) #token").await;
    field.send_keys(token).await.unwrap();
    c.find(Locator::Id("login-button")).await.unwrap().click().await.unwrap();
}

/// Labels of the datasets a Chart.js chart on the page draws.
async fn chart_labels(c: &Client, canvas: &str) -> Vec<String> {
    let script = "const ch = Chart.getChart(arguments[0]); return ch ? ch.data.datasets.map(d => d.label) : null;";
    let v = c.execute(script, vec![Value::String(canvas.into())]).await.unwrap();
    serde_json::from_value(v.clone()).unwrap_or_else(|_| panic!("no chart on #{canvas}: {v}"))
}

async fn drive(c: Client, base: String, grpc: Channel, day: NaiveDate) {
    let d = day.to_string();
    // A token nobody issued, and a bot's: refused at the door.
    log_in(&c, &base, "not-a-known-token").await;
    let e = wait_for(&c, "#login-error:not([hidden])").await;
    assert!(e.text().await.unwrap().contains("not known"), "{}", e.text().await.unwrap());
    log_in(&c, &base, BOT_A).await;
    let e = wait_for(&c, "#login-error:not([hidden])").await;
    assert!(e.text().await.unwrap().contains("no access"), "{}", e.text().await.unwrap());

    // The Huangchuan park manager: their park only, the numbers gRPC gives.
    log_in(&c, &base, HUANGCHUAN).await;
    wait_for(&c, "#controls:not([hidden])").await;
    let parks = c.find(Locator::Id("park")).await.unwrap();
    let options: Vec<String> = {
        let mut v = Vec::new();
        for o in parks.find_all(Locator::Css("option")).await.unwrap() {
            v.push(o.attr("value").await.unwrap().unwrap_or_default());
        }
        v
    };
    assert_eq!(options, ["huangchuan_zero_carbon"], "a park manager picks only their park");
    c.find(Locator::Id("day")).await.unwrap().select_by_value(&d).await.unwrap();
    wait_for(&c, &format!("#park-view:not([hidden])[data-park='huangchuan_zero_carbon'][data-day='{d}']")).await;
    let grpc_share = park_share(&grpc, HUANGCHUAN, "huangchuan_zero_carbon", day).await;
    let alpha = grpc_share.min_share.expect("Huangchuan has a target");
    assert!((shown_number(&text(&c, "#day-share").await) - grpc_share.share * 100.0).abs() <= 0.005 + 1e-9, "day share");
    assert!((shown_number(&text(&c, "#day-target").await) - alpha * 100.0).abs() <= 0.005 + 1e-9, "target");
    assert_eq!(text(&c, "#day-verdict").await, if grpc_share.share >= alpha - 1e-6 { "meets the target" } else { "below the target" });
    assert!((shown_number(&text(&c, "#day-served").await) - grpc_share.served_mwh).abs() <= 0.05 + 1e-9, "served");
    assert!((shown_number(&text(&c, "#day-green").await) - grpc_share.green_mwh).abs() <= 0.05 + 1e-9, "green");
    assert_eq!(text(&c, "#day-certificates").await, grpc_share.certificates.to_string());
    let rows = c.find_all(Locator::Css("#hours tbody tr")).await.unwrap();
    assert_eq!(rows.len(), grpc_share.intervals.len());
    for (t, (row, i)) in rows.iter().zip(&grpc_share.intervals).enumerate() {
        let cells: Vec<String> = {
            let mut v = Vec::new();
            for td in row.find_all(Locator::Css("td")).await.unwrap() {
                v.push(td.text().await.unwrap());
            }
            v
        };
        assert_eq!(cells[0], format!("{t:02}:00"), "local hour");
        // Issue 11: which version, demand and interrupted beside served.
        assert_eq!(cells[1], format!("v{}", i.version), "hour {t} version");
        assert!((shown_number(&cells[2]) - i.demand_mwh).abs() <= 0.05 + 1e-9, "hour {t} demand: {cells:?} vs {i:?}");
        assert!((shown_number(&cells[3]) - i.interrupted_mwh).abs() <= 0.05 + 1e-9, "hour {t} interrupted: {cells:?} vs {i:?}");
        assert!((shown_number(&cells[4]) - i.served_mwh).abs() <= 0.05 + 1e-9, "hour {t} served: {cells:?} vs {i:?}");
        assert!((shown_number(&cells[5]) - i.green_mwh).abs() <= 0.05 + 1e-9, "hour {t} green: {cells:?} vs {i:?}");
        assert!((shown_number(&cells[6]) - i.share * 100.0).abs() <= 0.005 + 1e-9, "hour {t} share: {cells:?} vs {i:?}");
    }
    let sources = chart_labels(&c, "chart-sources").await;
    for want in ["Wind", "PV", "Storage (green)", "Storage (grey)", "Grid (grey)"] {
        assert!(sources.iter().any(|l| l == want), "the source chart shows {want}: {sources:?}");
    }
    let share_chart = chart_labels(&c, "chart-share").await;
    assert!(share_chart.iter().any(|l| l.starts_with("Target")), "the share chart shows the target: {share_chart:?}");
    assert_eq!(chart_labels(&c, "chart-storage").await, ["Green", "Grey"]);
    assert_eq!(chart_labels(&c, "chart-price").await, ["huangchuan"]);
    // The measured statement of the day's month, a button away: no meter readings yet, and
    // the page says so (the request went out with the manager's token: not a 401 or 403).
    assert_eq!(text(&c, "#statement-month").await, d[..7]);
    c.find(Locator::Id("statement-open")).await.unwrap().click().await.unwrap();
    let mut note = String::new();
    for _ in 0..100 {
        note = text(&c, "#statement-note").await;
        if !note.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(note, format!("No meter readings for {} yet.", &d[..7]));
    screenshot(&c, "park-manager.png").await;
    assert_fits(&c, "park-manager").await;

    // Someone else's park, by link: refused, and nothing of it shown.
    c.goto(&format!("{base}#day={d}&park=shihe_park")).await.unwrap();
    let e = wait_for(&c, "#error:not([hidden])").await;
    let message = e.text().await.unwrap();
    assert!(message.contains("403") && message.contains("shihe_park") && message.contains("only their own park"), "{message}");
    assert!(!displayed(&c, "#park-view").await, "no park data beside a refusal");
    assert!(!displayed(&c, "#plant-view").await);
    screenshot(&c, "park-manager-refused.png").await;

    // The operator: every park and the whole plant.
    c.find(Locator::Id("logout")).await.unwrap().click().await.unwrap();
    wait_for(&c, "#login:not([hidden])").await;
    log_in(&c, &base, OPERATOR).await;
    wait_for(&c, "#controls:not([hidden])").await;
    let n_options = c.find_all(Locator::Css("#park option")).await.unwrap().len();
    assert_eq!(n_options, 1 + 5, "the whole plant and the five parks");
    c.find(Locator::Id("park")).await.unwrap().select_by_value("").await.unwrap();
    wait_for(&c, &format!("#plant-view:not([hidden])[data-day='{d}']")).await;
    let plant = plant_share(&grpc, day).await;
    assert!((shown_number(&text(&c, "#plant-share").await) - plant.share * 100.0).abs() <= 0.005 + 1e-9, "plant share");
    assert!((shown_number(&text(&c, "#plant-served").await) - plant.served_mwh).abs() <= 0.05 + 1e-9, "plant served");
    let schedule = DispatchServiceClient::new(grpc.clone())
        .max_decoding_message_size(64 << 20)
        .get_schedule(req(Some(OPERATOR), pb::GetScheduleRequest { delivery_day: d.clone(), version: 0 }))
        .await
        .unwrap()
        .into_inner();
    let totals = schedule.totals.as_ref().unwrap();
    assert!(totals.curtailed_mwh > 1.0, "the windy day curtails wind: {totals:?}");
    assert!((shown_number(&text(&c, "#plant-curtailed").await) - totals.curtailed_mwh).abs() <= 0.05 + 1e-9);
    let curtailing = schedule.renewables.iter().filter(|r| r.curtailed_mw.iter().sum::<f64>() * schedule.dt_hours > 1e-6).count();
    assert_eq!(chart_labels(&c, "chart-curtailment").await.len(), curtailing, "a series per curtailed plant");
    for p in &schedule.parks {
        let shown = text(&c, &format!("#plant-parks tr[data-park='{}'] td.share", p.name)).await;
        assert!((shown_number(&shown) - p.share_total * 100.0).abs() <= 0.005 + 1e-9, "{}: {shown}", p.name);
    }
    for l in &schedule.lines {
        let shown = text(&c, &format!("#plant-lines tr[data-line='{}'] td.max-loading", l.name)).await;
        let peak = l.loading.iter().copied().fold(0.0, f64::max) * 100.0;
        assert!((shown_number(&shown) - peak).abs() <= 0.05 + 1e-9, "{}: {shown} vs {peak}", l.name);
    }
    let lines = chart_labels(&c, "chart-lines").await;
    assert_eq!(lines.len(), schedule.lines.len() + 1, "a series per line and the limit: {lines:?}");
    assert_eq!(chart_labels(&c, "chart-prices").await.len(), schedule.nodes.len());
    assert_eq!(chart_labels(&c, "chart-plant-storage").await.len(), 2 * schedule.storages.len());
    assert!(chart_labels(&c, "chart-plant-sources").await.iter().any(|l| l == "Wind"));
    // Issue 11 (6): the set-points table, a row per asset and quantity.
    wait_for(&c, "#setpoints tr[data-asset='wuyue']").await;
    let setpoint_rows = c.find_all(Locator::Css("#setpoints tbody tr")).await.unwrap().len();
    assert!(setpoint_rows >= schedule.renewables.len() + schedule.storages.len(), "{setpoint_rows} set-point rows");
    screenshot(&c, "operator-plant.png").await;
    assert_fits(&c, "operator-plant").await;
    // And any park's page.
    c.find(Locator::Id("park")).await.unwrap().select_by_value("shihe_park").await.unwrap();
    wait_for(&c, &format!("#park-view:not([hidden])[data-park='shihe_park'][data-day='{d}']")).await;
    let shihe = park_share(&grpc, OPERATOR, "shihe_park", day).await;
    assert!((shown_number(&text(&c, "#day-share").await) - shihe.share * 100.0).abs() <= 0.005 + 1e-9);
    assert_eq!(text(&c, "#day-target").await, "none");
    screenshot(&c, "operator-park.png").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_a_manager_their_park_and_an_operator_the_plant() {
    let server = WebServer::start("web-page").await;
    let ch = server.channel().await;
    // The windy winter day: the north-east collector congests, so wind is curtailed and
    // lines run full; the operator's page has something to show.
    let (day, summer) = future_day(4);
    let mut fc = Forecast::load(repo("fixtures/forecasts/windy-winter-60.json")).unwrap();
    fc.start = summer.start;
    publish(&ch, day, &fc).await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    // Run the steps in their own task so a failed assertion still ends the browser session.
    let outcome = tokio::spawn(drive(browser.clone(), server.url("/"), ch, day)).await;
    let _ = browser.close().await;
    drop(driver);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
    server.stop().await;
}

// ------------------------------------------------------------------------------------------
// The stack's derivation on a real solve, with green and grey sell bids accepted.

#[test]
fn source_stack_shares_each_pool_in_proportion_and_adds_up() {
    let plant = Plant::load(repo("models/xinyang.toml")).unwrap();
    let mut fc = Forecast::load(repo("fixtures/forecasts/summer-peak-60.json")).unwrap();
    let h = fc.horizon(plant.tz());
    let bid = |id: &str, node: &str, t: usize, mw: f64, price: f64, green: bool| Bid {
        id: id.into(),
        bot: "bot-a".into(),
        node: node.into(),
        interval_start: h.instant(t),
        side: BidSide::Sell,
        quantity_mw: mw,
        price,
        green,
        park: None,
        firm: false,
        award_price: None,
    };
    fc.bids = vec![bid("green-noon", "huangchuan", 12, 30.0, 60.0, true), bid("grey-evening", "shihe", 19, 50.0, 60.0, false)];
    let s = vpp_dispatch::model::solve(&plant, &fc, &vpp_dispatch::model::Options::default()).unwrap();
    let accepted = |id: &str| s.bids.iter().find(|b| b.id == id).unwrap().accepted_mw;
    assert!(accepted("green-noon") > 1.0 && accepted("grey-evening") > 1.0, "cheap bids are taken: {:?}", s.bids);

    let whole = plant_stack(&s);
    let dt = s.dt_hours;
    let mut by_parks = vec![vec![0.0; s.intervals.len()]; Source::ALL.len()];
    for p in &s.parks {
        let stack = park_stack(&s, &p.name).unwrap();
        for t in 0..s.intervals.len() {
            assert!(near(stack.total(t), p.served_mw[t], 1e-9), "{} at {t}: {} vs {}", p.name, stack.total(t), p.served_mw[t]);
            let green: f64 = stack.layers.iter().filter(|l| l.source.green()).map(|l| l.mw[t]).sum();
            assert!(near(green, p.green_mwh[t] / dt, 1e-9), "{} at {t}", p.name);
            for (k, l) in stack.layers.iter().enumerate() {
                assert!(l.mw[t] >= 0.0, "{} {:?} at {t}", p.name, l.source);
                by_parks[k][t] += l.mw[t];
            }
        }
    }
    assert!(park_stack(&s, "gotham").is_none());
    for t in 0..s.intervals.len() {
        let g = &s.green[t];
        assert!(near(whole.total(t), g.served_mwh / dt, 1e-9), "plant at {t}");
        for (k, l) in whole.layers.iter().enumerate() {
            assert!(near(by_parks[k][t], l.mw[t], 1e-9), "{:?} at {t}: parks add up to the plant", l.source);
        }
        // Proportional sharing: each green source's part of the green to loads is its part
        // of the green supply.
        let wind: f64 =
            s.renewables.iter().filter(|r| r.kind == vpp_dispatch::domain::plant::RenewableKind::Wind).map(|r| r.output_mw[t]).sum();
        let pv: f64 =
            s.renewables.iter().filter(|r| r.kind == vpp_dispatch::domain::plant::RenewableKind::Pv).map(|r| r.output_mw[t]).sum();
        let to_load = g.to_load_mwh / dt;
        if g.supply_mwh > 1e-6 {
            assert!(near(whole.layer(Source::Wind)[t], to_load * wind * dt / g.supply_mwh, 1e-9), "wind at {t}");
            assert!(near(whole.layer(Source::Pv)[t], to_load * pv * dt / g.supply_mwh, 1e-9), "pv at {t}");
        }
        // No layer exceeds what its source produced.
        let imports: f64 = s.grids.iter().map(|x| x.import_mw[t]).sum();
        let grey_discharge: f64 = s.storages.iter().map(|x| x.discharge_mw[t] - x.discharge_green_mw[t]).sum();
        assert!(whole.layer(Source::Wind)[t] <= wind + 1e-6 && whole.layer(Source::Pv)[t] <= pv + 1e-6, "at {t}");
        assert!(whole.layer(Source::GridGrey)[t] <= imports + 1e-6, "at {t}");
        assert!(whole.layer(Source::StorageGrey)[t] <= grey_discharge + 1e-6, "at {t}");
        // Xinyang's imports count as grey (φ = 0).
        assert_eq!(whole.layer(Source::GridGreen)[t], 0.0);
    }
    // The accepted bids show up in their hours, in their colour, and nowhere else.
    let other_green = whole.layer(Source::OtherGreen);
    let other_grey = whole.layer(Source::OtherGrey);
    assert!(other_green[12] > 0.0 && other_green.iter().enumerate().all(|(t, v)| t == 12 || *v == 0.0), "{other_green:?}");
    assert!(other_grey[19] > 0.0 && other_grey.iter().enumerate().all(|(t, v)| t == 19 || *v == 0.0), "{other_grey:?}");
    let shown: Vec<Source> = whole.shown().map(|l| l.source).collect();
    assert!(shown.contains(&Source::OtherGreen) && shown.contains(&Source::OtherGrey) && !shown.contains(&Source::GridGreen), "{shown:?}");
}

// ------------------------------------------------------------------------------------------
// Configuration.

#[test]
fn web_listen_is_off_unless_configured() {
    let load = |file_text: Option<&str>, env: Option<&str>| {
        let file = file_text.map(|text| {
            let path = std::env::temp_dir().join(format!("vpp-web-config-{}-{}.toml", std::process::id(), text.len()));
            std::fs::write(&path, text).unwrap();
            path
        });
        let env = env.map(str::to_string);
        RawConfig::load(file.as_deref(), |k| if k == "VPP_WEB_LISTEN" { env.clone() } else { None }).unwrap().validate()
    };
    assert_eq!(load(None, None).unwrap().web_listen, None, "off by default");
    assert_eq!(load(None, Some("off")).unwrap().web_listen, None);
    assert_eq!(load(None, Some("127.0.0.1:8080")).unwrap().web_listen, Some("127.0.0.1:8080".parse().unwrap()));
    let file = "web_listen = \"0.0.0.0:8443\"\n";
    assert_eq!(load(Some(file), None).unwrap().web_listen, Some("0.0.0.0:8443".parse().unwrap()));
    assert_eq!(
        load(Some(file), Some("127.0.0.1:9000")).unwrap().web_listen,
        Some("127.0.0.1:9000".parse().unwrap()),
        "the environment wins"
    );
    let e = load(None, Some("localhost")).unwrap_err().to_string();
    assert!(e.contains("web_listen: 'localhost' is not an address host:port"), "{e}");
    let dev = RawConfig::load(Some(&repo("config/dev.toml")), |_| None).unwrap().validate().unwrap();
    assert_eq!(dev.web_listen, Some("127.0.0.1:8080".parse().unwrap()), "config/dev.toml serves the page");
}
