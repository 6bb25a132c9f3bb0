//! Measured green power over a real socket (issue 14): meter readings in through
//! `MeterService` (the meter role), stored exactly once with corrections as revisions, and
//! a park's ledger out through `LedgerService` — equal to the ledger the core builds from
//! the same readings (which `crates/core/tests/ledger.rs` checks independently).

use chrono::{DateTime, NaiveDate, Utc};
use tonic::Code;
use vpp_dispatch::api::pb;
use vpp_dispatch::api::pb::ledger_service_client::LedgerServiceClient;
use vpp_dispatch::api::pb::meter_service_client::MeterServiceClient;
use vpp_dispatch::domain::{Forecast, Plant};
use vpp_dispatch::ledger::{self, Ledger, Readings, StatementOptions, StorageState, WH_PER_MWH};
use vpp_dispatch::model::{self, Options};

use crate::repo;
use crate::service::{plant, req, temp_db, Running, BOT_A, HUANGCHUAN, METER, OPERATOR, SHIHE};

fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.timestamp(), nanos: 0 }
}

/// A simulated day of readings: the summer fixture (15 min) solved, played back with noise
/// and one dropped consumption reading.
pub(crate) fn day_of_readings(plant: &Plant) -> (NaiveDate, Readings) {
    let fc = Forecast::load(repo("fixtures/forecasts/summer-peak-15.json")).unwrap();
    let schedule = model::solve(plant, &fc, &Options::default()).unwrap();
    let r = ledger::simulate(plant, &schedule, &ledger::Simulation { seed: 3, noise: 0.05, dropped: 1 }).unwrap();
    (fc.start.with_timezone(&plant.tz()).date_naive(), r)
}

pub(crate) fn wire(r: &Readings) -> Vec<pb::Reading> {
    r.entries()
        .into_iter()
        .map(|e| pb::Reading {
            meter: e.meter.into(),
            quantity: e.quantity.name().into(),
            interval_start: Some(ts(r.instant(e.t))),
            value_mwh: e.wh as f64 / WH_PER_MWH as f64,
            reason: String::new(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_in_over_grpc_make_the_ledger_the_core_makes() {
    let server = Running::start(&temp_db("meters"), "").await;
    let ch = server.channel().await;
    let mut meters = MeterServiceClient::new(ch.clone()).max_decoding_message_size(64 << 20);
    let mut ledgers = LedgerServiceClient::new(ch.clone()).max_decoding_message_size(64 << 20);
    let plant = plant();
    let (day, readings) = day_of_readings(&plant);
    let batch = pb::ReadingBatch { readings: wire(&readings) };
    let n = batch.readings.len() as u64;
    assert!(n > 3000, "{n}");

    // Only meters submit; only readers read ledgers, a park manager only their own park.
    let e = meters.submit_readings(req(Some(BOT_A), batch.clone())).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let acks = meters.submit_readings(req(Some(METER), batch.clone())).await.unwrap().into_inner();
    assert_eq!((acks.created, acks.existing, acks.corrected, acks.conflicts), (n, 0, 0, 0));
    assert_eq!(acks.acks.len() as u64, n);
    let again = meters.submit_readings(req(Some(METER), batch.clone())).await.unwrap().into_inner();
    assert_eq!((again.created, again.existing), (0, n), "a redelivery is stored once");

    let park = "huangchuan_zero_carbon";
    let ask = |token: &str, park: &str| {
        req(
            Some(token),
            pb::ParkLedgerRequest { park: park.into(), from_day: day.to_string(), to_day: String::new(), statement_only: false },
        )
    };
    assert_eq!(ledgers.get_park_ledger(ask(SHIHE, park)).await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(ledgers.get_park_ledger(ask(METER, park)).await.unwrap_err().code(), Code::PermissionDenied);
    let got = ledgers.get_park_ledger(ask(HUANGCHUAN, park)).await.unwrap().into_inner();

    // The same readings through the core's ledger.
    let core = Ledger::build(&plant, readings.clone(), StorageState::unread(&plant)).unwrap();
    let p = plant.park_index(park).unwrap();
    let want = &core.statement(&plant, &StatementOptions::default())[p];
    assert_eq!(got.months.len(), want.months.len());
    let (g, w) = (&got.months[0], &want.months[0]);
    let mwh = |wh: u64| wh as f64 / WH_PER_MWH as f64;
    assert_eq!((g.consumption_mwh, g.green_mwh, g.gec_issued), (mwh(w.consumption_wh), mwh(w.cancelled_wh()), w.gec_issued));
    assert!(g.green_mwh > 0.0 && g.green_mwh <= g.consumption_mwh, "{g:?}");
    assert_eq!(got.intervals.len(), 96);
    let missing: usize = plant.parks.iter().map(|x| readings.consumption_wh[&x.name].iter().filter(|v| v.is_none()).count()).sum();
    assert_eq!(missing, 1);
    assert_eq!(got.intervals.iter().filter(|i| i.missing).count() as u64, g.missing_intervals);
    let cancelled: f64 = got.certificates.iter().map(|c| c.mwh).sum();
    assert!((cancelled - g.green_mwh).abs() < 1e-6, "{cancelled} vs {}", g.green_mwh);

    // A correction: without a reason it is refused (nothing changes), with one it is
    // revision 2, the trail keeps both, and the ledger counts the corrected value.
    let t = (0..96).find(|t| readings.consumption_wh[park][*t].is_some()).unwrap();
    let first = readings.consumption_wh[park][t].unwrap();
    let corrected = first + 250_000;
    let mut fix = pb::Reading {
        meter: park.into(),
        quantity: "consumption".into(),
        interval_start: Some(ts(readings.instant(t))),
        value_mwh: corrected as f64 / WH_PER_MWH as f64,
        reason: String::new(),
    };
    let refused = meters.submit_readings(req(Some(METER), pb::ReadingBatch { readings: vec![fix.clone()] })).await.unwrap().into_inner();
    assert_eq!(refused.conflicts, 1);
    assert_eq!(refused.acks[0].outcome, pb::ReadingOutcome::Conflict as i32);
    fix.reason = "CT ratio misconfigured".into();
    let done = meters.submit_readings(req(Some(METER), pb::ReadingBatch { readings: vec![fix.clone()] })).await.unwrap().into_inner();
    assert_eq!((done.corrected, done.acks[0].revision), (1, 2));
    let key = pb::ReadingKey { meter: park.into(), quantity: "consumption".into(), interval_start: fix.interval_start };
    assert_eq!(ledgers.get_reading_revisions(req(Some(HUANGCHUAN), key.clone())).await.unwrap_err().code(), Code::PermissionDenied);
    let trail = ledgers.get_reading_revisions(req(Some(OPERATOR), key)).await.unwrap().into_inner().revisions;
    assert_eq!(trail.iter().map(|r| (r.revision, r.reason.as_str())).collect::<Vec<_>>(), [(1, ""), (2, "CT ratio misconfigured")]);
    let after = ledgers.get_park_ledger(ask(OPERATOR, park)).await.unwrap().into_inner();
    let delta = after.months[0].consumption_mwh - got.months[0].consumption_mwh;
    assert!((delta - 0.25).abs() < 1e-9, "{delta}");
    server.stop().await;
}

/// `days` consecutive days of readings from the summer fixture's schedule, each played back
/// with its own seed, and the same readings as one run (for the core's ledger).
fn days_of_readings(plant: &Plant, days: usize) -> (NaiveDate, Vec<Readings>, Readings) {
    let fc = Forecast::load(repo("fixtures/forecasts/summer-peak-15.json")).unwrap();
    let schedule = model::solve(plant, &fc, &Options::default()).unwrap();
    let mut each = Vec::new();
    let mut whole = Readings::empty(plant, fc.start, 15, 96 * days);
    for k in 0..days {
        let mut r = ledger::simulate(plant, &schedule, &ledger::Simulation { seed: 10 + k as u64, noise: 0.05, dropped: 0 }).unwrap();
        r.start += chrono::Duration::days(k as i64);
        for e in r.entries() {
            *whole.slot(e.quantity, e.meter, e.t + 96 * k).unwrap() = Some(e.wh);
        }
        each.push(r);
    }
    (fc.start.with_timezone(&plant.tz()).date_naive(), each, whole)
}

/// The service keeps the ledger built day by day in the store: a statement over days is the
/// core's ledger of the same readings (storage colour chained across days); a correction
/// rebuilds from its own day forward, never an earlier day, and the result is what a build
/// from scratch gives; a second update finds nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kept_ledger_rebuilds_only_from_a_corrected_day() {
    use tokio_util::sync::CancellationToken;
    use vpp_dispatch::service::{MeterReading, Principal, Rules, Service};

    let plant = plant();
    let store = vpp_dispatch::store::open(&vpp_dispatch::store::Database::Sqlite(temp_db("ledger-days"))).await.unwrap();
    let toml = std::fs::read_to_string(repo("models/xinyang.toml")).unwrap();
    let svc =
        Service::new(plant.clone(), toml, store.clone(), Rules::default(), vpp_dispatch::metrics::Metrics::new(), CancellationToken::new());
    let meter = Principal::Meter { name: "test".into() };
    let operator = Principal::Operator { name: "test".into() };
    let (day0, each, mut whole) = days_of_readings(&plant, 4);
    let days: Vec<NaiveDate> = (0..4).map(|k| day0 + chrono::Days::new(k)).collect();
    for r in &each {
        for chunk in MeterReading::all_of(r, None).chunks(5000) {
            svc.meter(&meter).unwrap().submit(chunk.to_vec(), "test").await.unwrap();
        }
    }
    let ops = svc.operator(&operator, "ledger").unwrap();
    let built = ops.update_ledger().await.unwrap();
    assert_eq!(built.recomputed, days, "a first build builds every day");
    assert!(ops.update_ledger().await.unwrap().recomputed.is_empty(), "then nothing is left to do");

    let park = "huangchuan_zero_carbon";
    let p = plant.park_index(park).unwrap();
    let reader = svc.reader(&operator).unwrap();
    let (first, last) = (days[0].to_string(), days[3].to_string());
    let check = |got: &vpp_dispatch::service::ParkLedger, whole: &Readings| {
        let core = Ledger::build(&plant, whole.clone(), StorageState::unread(&plant)).unwrap();
        let want = &core.statement(&plant, &StatementOptions::default())[p];
        assert_eq!(got.statement, *want);
        core
    };
    let kept = reader.park_ledger(park, &first, &last, false).await.unwrap();
    assert!(kept.intervals.is_empty() && kept.certificates.is_empty(), "statement only");
    let core = check(&kept, &whole);
    assert!(core.days[1].opening.storages.values().any(|s| matches!(s, ledger::Stored::Layers(_))), "storage colour crosses the days");
    // One day's detail opens with the kept closing state of the day before: the chain's own.
    let one = reader.park_ledger(park, &days[2].to_string(), &days[2].to_string(), true).await.unwrap();
    assert_eq!(one.intervals.len(), 96);
    let cancelled: u64 = one.certificates.iter().map(|c| c.wh).sum();
    assert_eq!(cancelled, core.days[2].park_days(plant.parks.len())[p].own_wh + core.days[2].park_days(plant.parks.len())[p].pool_wh);

    // Correct one consumption reading of day 2: days 0 and 1 are not computed again.
    let t = 96 * 2 + 40;
    let before = whole.consumption_wh[park][t].unwrap();
    whole.consumption_wh.get_mut(park).unwrap()[t] = Some(before + 400_000);
    let fix = MeterReading {
        meter: park.into(),
        quantity: "consumption".into(),
        interval_start: whole.instant(t),
        value_mwh: (before + 400_000) as f64 / WH_PER_MWH as f64,
        reason: Some("meter replaced".into()),
    };
    svc.meter(&meter).unwrap().submit(vec![fix.clone()], "test").await.unwrap();
    let rebuilt = ops.update_ledger().await.unwrap();
    assert_eq!(rebuilt.recomputed.first(), Some(&days[2]), "{rebuilt:?}");
    assert!(rebuilt.recomputed.iter().all(|d| *d >= days[2]), "{rebuilt:?}");
    check(&reader.park_ledger(park, &first, &last, false).await.unwrap(), &whole);
    // The last day corrected: only it.
    let t = 96 * 3 + 10;
    let v = whole.consumption_wh[park][t].unwrap() + 100_000;
    whole.consumption_wh.get_mut(park).unwrap()[t] = Some(v);
    let fix = MeterReading { interval_start: whole.instant(t), value_mwh: v as f64 / WH_PER_MWH as f64, ..fix };
    svc.meter(&meter).unwrap().submit(vec![fix.clone()], "test").await.unwrap();
    assert_eq!(ops.update_ledger().await.unwrap().recomputed, [days[3]]);
    check(&reader.park_ledger(park, &first, &last, false).await.unwrap(), &whole);
    // Reading the ledger brings it up to date by itself.
    let v = v + 100_000;
    whole.consumption_wh.get_mut(park).unwrap()[t] = Some(v);
    svc.meter(&meter).unwrap().submit(vec![MeterReading { value_mwh: v as f64 / WH_PER_MWH as f64, ..fix }], "test").await.unwrap();
    check(&reader.park_ledger(park, &first, &last, false).await.unwrap(), &whole);
    assert!(ops.update_ledger().await.unwrap().recomputed.is_empty());
    store.close().await;
}

/// Two replicas on one PostgreSQL database keep one ledger: readings stored through either
/// mark their hours for both, builds by both at once are serialised by the ledger lock, and
/// each answers with the core's ledger of all the readings, before and after a correction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_keep_one_ledger_on_postgres() {
    use tokio_util::sync::CancellationToken;
    use vpp_dispatch::service::{MeterReading, Principal, Rules, Service};

    let db = crate::support::pg::PgDb::create("ledger2").await;
    let plant = plant();
    let toml = std::fs::read_to_string(repo("models/xinyang.toml")).unwrap();
    let replica = |store| {
        Service::new(plant.clone(), toml.clone(), store, Rules::default(), vpp_dispatch::metrics::Metrics::new(), CancellationToken::new())
    };
    let database = vpp_dispatch::store::Database::Postgres(db.url.clone());
    let (a, b) =
        (replica(vpp_dispatch::store::open(&database).await.unwrap()), replica(vpp_dispatch::store::open(&database).await.unwrap()));
    let operator = Principal::Operator { name: "test".into() };
    let (day0, each, mut whole) = days_of_readings(&plant, 4);
    let input = MeterReading::all_of;
    async fn submit(svc: &Service, r: Vec<MeterReading>) {
        for chunk in r.chunks(5000) {
            svc.meter(&Principal::Meter { name: "test".into() }).unwrap().submit(chunk.to_vec(), "test").await.unwrap();
        }
    }
    // Days 1–2 through one replica and 3–4 through the other, at once.
    let (first, second): (Vec<_>, Vec<_>) =
        (each[..2].iter().flat_map(|r| input(r, None)).collect(), each[2..].iter().flat_map(|r| input(r, None)).collect());
    tokio::join!(submit(&a, first), submit(&b, second));
    let (oa, ob) = (a.operator(&operator, "t").unwrap(), b.operator(&operator, "t").unwrap());
    let (ua, ub) = tokio::join!(oa.update_ledger(), ob.update_ledger());
    let (ua, ub) = (ua.unwrap(), ub.unwrap());
    assert_eq!(ua.recomputed.len() + ub.recomputed.len(), 4, "each day built once: {ua:?} {ub:?}");

    let park = "yudongnan_hitech";
    let (from, to) = (day0.to_string(), (day0 + chrono::Days::new(3)).to_string());
    async fn agree(plant: &Plant, replicas: [&Service; 2], whole: Readings, park: &str, from: &str, to: &str) {
        let core = Ledger::build(plant, whole, StorageState::unread(plant)).unwrap();
        let want = core.statement(plant, &StatementOptions::default()).swap_remove(plant.park_index(park).unwrap());
        for svc in replicas {
            let got = svc.reader(&Principal::Operator { name: "test".into() }).unwrap().park_ledger(park, from, to, false).await.unwrap();
            assert_eq!(got.statement, want);
        }
    }
    agree(&plant, [&a, &b], whole.clone(), park, &from, &to).await;

    // A correction through one replica; both build at once; both answer with it.
    let t = 96 + 50;
    let v = whole.consumption_wh[park][t].unwrap() + 300_000;
    whole.consumption_wh.get_mut(park).unwrap()[t] = Some(v);
    let mut fix = Readings::empty(&plant, whole.start, 15, whole.intervals);
    *fix.slot(vpp_dispatch::ledger::Quantity::Consumption, park, t).unwrap() = Some(v);
    submit(&b, input(&fix, Some("meter swapped"))).await;
    let (ua, ub) = tokio::join!(oa.update_ledger(), ob.update_ledger());
    let rebuilt: Vec<NaiveDate> = ua.unwrap().recomputed.into_iter().chain(ub.unwrap().recomputed).collect();
    assert_eq!(rebuilt.first(), Some(&(day0 + chrono::Days::new(1))), "{rebuilt:?}");
    assert!(!rebuilt.contains(&day0), "{rebuilt:?}");
    agree(&plant, [&a, &b], whole.clone(), park, &from, &to).await;

    // A park manager following certificates on one replica hears of a day the other built.
    let b = std::sync::Arc::new(b);
    let keeper = tokio::spawn(b.clone().keep_ledger());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let manager = Principal::ParkManager { park: park.into() };
    let day3 = (day0 + chrono::Days::new(3)).to_string();
    let mut stream = b.reader(&manager).unwrap().watch_certificates(park, &day3).await.unwrap();
    use tokio_stream::StreamExt;
    let caught_up = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next()).await.unwrap().unwrap().unwrap();
    assert_eq!((caught_up.day.to_string(), caught_up.replaces), (day3.clone(), false));
    let t = 96 * 3 + 30;
    let v = whole.consumption_wh[park][t].unwrap() + 200_000;
    let mut fix = Readings::empty(&plant, whole.start, 15, whole.intervals);
    *fix.slot(vpp_dispatch::ledger::Quantity::Consumption, park, t).unwrap() = Some(v);
    submit(&a, input(&fix, Some("late meter data"))).await;
    assert_eq!(oa.update_ledger().await.unwrap().recomputed, [day0 + chrono::Days::new(3)]);
    let heard =
        tokio::time::timeout(std::time::Duration::from_secs(15), stream.next()).await.expect("within the keeper's poll").unwrap().unwrap();
    assert_eq!((heard.day.to_string(), heard.replaces), (day3, true));
    let total = |c: &[vpp_dispatch::service::Cancelled]| c.iter().map(|c| c.wh).sum::<u64>();
    assert_ne!(total(&heard.certificates), 0);
    b.shutdown().cancel();
    keeper.await.unwrap();
    drop(a);
    drop(db);
}

/// A park manager follows their certificates as readings arrive: the stream sends a day
/// once the service (its keeper) has built it from the readings, with exactly the
/// certificates GetParkLedger lists; a correction sends the day again, whole, replacing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_stream_as_readings_arrive() {
    use tokio_stream::StreamExt;
    let server = Running::start(&temp_db("cert-stream"), "").await;
    let ch = server.channel().await;
    let mut meters = MeterServiceClient::new(ch.clone()).max_decoding_message_size(64 << 20);
    let mut ledgers = LedgerServiceClient::new(ch.clone()).max_decoding_message_size(64 << 20);
    let plant = plant();
    let (day, readings) = day_of_readings(&plant);
    let park = "huangchuan_zero_carbon";
    let follow = pb::CertificateStreamRequest { park: park.into(), from_day: day.to_string() };
    let other = pb::CertificateStreamRequest { park: "shihe_park".into(), ..follow.clone() };
    assert_eq!(ledgers.stream_certificates(req(Some(HUANGCHUAN), other)).await.unwrap_err().code(), Code::PermissionDenied);
    let mut stream = ledgers.stream_certificates(req(Some(HUANGCHUAN), follow)).await.unwrap().into_inner();
    meters.submit_readings(req(Some(METER), pb::ReadingBatch { readings: wire(&readings) })).await.unwrap();
    let first = tokio::time::timeout(std::time::Duration::from_secs(30), stream.next()).await.expect("a day within 30 s").unwrap().unwrap();
    assert_eq!((first.day.as_str(), first.replaces), (day.to_string().as_str(), false));
    let ask = pb::ParkLedgerRequest { park: park.into(), from_day: day.to_string(), to_day: String::new(), statement_only: false };
    let ledger = ledgers.get_park_ledger(req(Some(HUANGCHUAN), ask.clone())).await.unwrap().into_inner();
    assert!(!first.certificates.is_empty());
    assert_eq!(first.certificates, ledger.certificates);

    // A correction of the park's consumption: the day again, whole, replacing the first.
    let t = (0..96).find(|t| readings.consumption_wh[park][*t].is_some_and(|v| v > 1_000_000)).unwrap();
    let fix = pb::Reading {
        meter: park.into(),
        quantity: "consumption".into(),
        interval_start: Some(ts(readings.instant(t))),
        value_mwh: (readings.consumption_wh[park][t].unwrap() - 1_000_000) as f64 / WH_PER_MWH as f64,
        reason: "estimated value replaced by the meter's".into(),
    };
    meters.submit_readings(req(Some(METER), pb::ReadingBatch { readings: vec![fix] })).await.unwrap();
    let again = tokio::time::timeout(std::time::Duration::from_secs(30), stream.next()).await.expect("the day again").unwrap().unwrap();
    assert_eq!((again.day.as_str(), again.replaces), (day.to_string().as_str(), true));
    let ledger = ledgers.get_park_ledger(req(Some(HUANGCHUAN), ask)).await.unwrap().into_inner();
    assert_eq!(again.certificates, ledger.certificates);
    let total = |c: &[pb::CancelledCertificate]| c.iter().map(|c| c.mwh).sum::<f64>();
    assert!(total(&again.certificates) <= total(&first.certificates) + 1e-9, "less consumption, no more green cancelled");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_readings_are_refused_by_field_and_nothing_of_the_batch_is_stored() {
    let server = Running::start(&temp_db("meters-bad"), "").await;
    let ch = server.channel().await;
    let mut meters = MeterServiceClient::new(ch.clone());
    let mut ledgers = LedgerServiceClient::new(ch.clone());
    let at = DateTime::parse_from_rfc3339("2026-07-22T04:00:00Z").unwrap().with_timezone(&Utc);
    let r = |meter: &str, quantity: &str, at: DateTime<Utc>, v: f64| pb::Reading {
        meter: meter.into(),
        quantity: quantity.into(),
        interval_start: Some(ts(at)),
        value_mwh: v,
        reason: String::new(),
    };
    let batch = pb::ReadingBatch {
        readings: vec![
            r("shihe_park", "consumption", at, -1.0),
            r("nowhere", "consumption", at, 1.0),
            r("shihe_park", "consumption", at + chrono::Duration::minutes(7), 1.0),
            r("shihe_pv", "output", at, 1e6),
            r("shihe_park", "volume", at, 1.0),
            r("shihe_park", "consumption", at + chrono::Duration::minutes(15), 2.0),
        ],
    };
    let e = meters.submit_readings(req(Some(METER), batch)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let m = e.message();
    for want in [
        "5 bad reading(s), nothing stored",
        "readings[0].value_mwh: an energy must not be negative",
        "readings[1].meter: no park named 'nowhere'",
        "readings[2].interval_start: 2026-07-22T04:07:00+00:00 is not the start of a 15-minute interval",
        "readings[3].value_mwh: 1000000 MWh is beyond what this meter can read in 15 minutes",
        "readings[4].quantity: 'volume' is not one of output, charge",
    ] {
        assert!(m.contains(want), "{want:?} not in:\n{m}");
    }
    // The good reading of the refused batch was not stored.
    let key = pb::ReadingKey {
        meter: "shihe_park".into(),
        quantity: "consumption".into(),
        interval_start: Some(ts(at + chrono::Duration::minutes(15))),
    };
    assert!(ledgers.get_reading_revisions(req(Some(OPERATOR), key)).await.unwrap().into_inner().revisions.is_empty());
    let none = ledgers
        .get_park_ledger(req(
            Some(OPERATOR),
            pb::ParkLedgerRequest {
                park: "shihe_park".into(),
                from_day: "2026-07-22".into(),
                to_day: String::new(),
                statement_only: false,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(none.code(), Code::NotFound);

    // A stream of batches: each stored as it comes; the answer counts them.
    let at2 = at + chrono::Duration::hours(1);
    let batches: Vec<pb::ReadingBatch> = (0..3)
        .map(|k| pb::ReadingBatch {
            readings: vec![r("shihe_park", "consumption", at2 + chrono::Duration::minutes(15 * k), 1.0 + k as f64)],
        })
        .chain([pb::ReadingBatch { readings: vec![r("shihe_park", "consumption", at2, 1.0)] }])
        .collect();
    let acks = meters.stream_readings(req(Some(METER), tokio_stream::iter(batches))).await.unwrap().into_inner();
    assert_eq!((acks.created, acks.existing), (3, 1));
    assert_eq!(acks.acks.len(), 1, "only what was not created is listed");
    server.stop().await;
}

/// Batch `k` of 200 consecutive 15-minute consumption readings of `park` from `start`.
fn batch_of(start: DateTime<Utc>, park: &str, k: usize) -> pb::ReadingBatch {
    pb::ReadingBatch {
        readings: (0..200)
            .map(|j| pb::Reading {
                meter: park.into(),
                quantity: "consumption".into(),
                interval_start: Some(ts(start + chrono::Duration::minutes(15 * (k * 200 + j) as i64))),
                value_mwh: 1.0 + j as f64 / 1000.0,
                reason: String::new(),
            })
            .collect(),
    }
}

/// kill -9 while four loggers submit readings: after a restart every reading the service
/// acknowledged is stored, once (revision 1), and submitting an acknowledged batch again
/// stores nothing new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_reading() {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    let db = temp_db("meters-kill9");
    let dir = db.parent().unwrap().to_path_buf();
    let mut vpp = crate::support::replica::Replica::start(&dir, "meters-kill9", &db.display().to_string(), "").await;
    let start = DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z").unwrap().with_timezone(&Utc);
    let parks = ["shihe_park", "pingqiao_park", "shangtianti_park", "yudongnan_hitech"];
    let acked = Arc::new(Mutex::new(Vec::<(usize, usize)>::new()));
    let mut tasks = Vec::new();
    for (p, park) in parks.iter().enumerate() {
        let (mut mc, acked) = (vpp.meters(), acked.clone());
        let park = park.to_string();
        tasks.push(tokio::spawn(async move {
            for k in 0..150 {
                match mc.submit_readings(req(Some(METER), batch_of(start, &park, k))).await {
                    Ok(_) => acked.lock().unwrap().push((p, k)),
                    Err(_) => return,
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < 40 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    vpp.kill_9();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() < 4 * 150, "the kill came before the loggers were done");

    // Restart: an acknowledged batch again is all redeliveries.
    vpp.spawn().await;
    let (p, k) = acked[0];
    let again = vpp.meters().submit_readings(req(Some(METER), batch_of(start, parks[p], k))).await.unwrap().into_inner();
    assert_eq!((again.created, again.existing), (0, 200));
    vpp.kill_9();

    // What the file holds: every acknowledged reading, once.
    let store = vpp_dispatch::store::sqlite::SqliteStore::open(&db).await.unwrap();
    use vpp_dispatch::store::Store;
    let stored = store.readings(start, start + chrono::Duration::days(400)).await.unwrap();
    let keys: std::collections::HashSet<(String, i64)> =
        stored.iter().map(|r| (r.reading.meter.clone(), r.reading.interval_start.timestamp())).collect();
    assert_eq!(keys.len(), stored.len(), "one latest revision per key");
    assert!(stored.iter().all(|r| r.revision == 1));
    let mut lost = 0;
    for (p, k) in &acked {
        for j in 0..200 {
            let at = start + chrono::Duration::minutes(15 * (k * 200 + j) as i64);
            if !keys.contains(&(parks[*p].to_string(), at.timestamp())) {
                lost += 1;
            }
        }
    }
    assert_eq!(lost, 0, "{lost} acknowledged readings lost of {}", acked.len() * 200);
    eprintln!("kill -9: {} readings acknowledged before the kill, {} stored after restart", acked.len() * 200, stored.len());
    store.close().await;
}

/// Settlement of a day's awards against the readings, by hand: a curtail bid whose park
/// consumed 2 MWh more than planned in its hour delivered 2 MWh less; a sell bid is not
/// metered; a bot sees only its own, a park manager none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awards_settle_against_the_park_meter() {
    use vpp_dispatch::api::pb::dispatch_service_client::DispatchServiceClient;
    use vpp_dispatch::api::pb::market_service_client::MarketServiceClient;

    let server = Running::start(&temp_db("settle"), "").await;
    let ch = server.channel().await;
    let (day, fc) = crate::service::future_day(4);
    let h = fc.horizon(plant().tz());
    let mut market = MarketServiceClient::new(ch.clone());
    let bid = crate::service::bid;
    market.submit_bid(req(Some(BOT_A), bid("cut", "pingqiao", h.instant(20), pb::Side::Curtail, 20.0, 50.0, false))).await.unwrap();
    market.submit_bid(req(Some(BOT_A), bid("sell", "shihe", h.instant(19), pb::Side::Sell, 50.0, 100.0, false))).await.unwrap();
    let options = pb::SolveOptions { objective: pb::Objective::GreenShare as i32, ..Default::default() };
    let s = DispatchServiceClient::new(ch.clone())
        .max_decoding_message_size(64 << 20)
        .submit_day_ahead(req(Some(OPERATOR), crate::service::day_ahead(day, &fc, options)))
        .await
        .unwrap()
        .into_inner();
    let award = |id: &str| s.awards.iter().find(|a| a.bid_id == id).unwrap().clone();
    let (cut, sell) = (award("cut"), award("sell"));
    assert!(cut.accepted_mw > 1.0 && sell.accepted_mw > 1.0, "both are awarded: {cut:?} {sell:?}");
    let planned = s.parks.iter().find(|p| p.name == "pingqiao_park").unwrap().served_mw[20];

    // The park's meter in hour 20: what was planned plus 2 MWh, in four quarter hours.
    let readings = (0..4)
        .map(|q| pb::Reading {
            meter: "pingqiao_park".into(),
            quantity: "consumption".into(),
            interval_start: Some(ts(h.instant(20) + chrono::Duration::minutes(15 * q))),
            value_mwh: planned / 4.0 + 0.5,
            reason: String::new(),
        })
        .collect();
    MeterServiceClient::new(ch.clone()).submit_readings(req(Some(METER), pb::ReadingBatch { readings })).await.unwrap();

    let mine = market.get_settlement(req(Some(BOT_A), pb::SettlementRequest { delivery_day: day.to_string() })).await.unwrap().into_inner();
    let get = |id: &str| mine.bids.iter().find(|b| b.bid_id == id).unwrap();
    let c = get("cut");
    assert_eq!((c.park.as_str(), c.side), ("pingqiao_park", pb::Side::Curtail as i32));
    assert!((c.accepted_mwh - cut.accepted_mw).abs() < 1e-9);
    let delivered = c.delivered_mwh.unwrap();
    assert!((delivered - (cut.accepted_mw - 2.0)).abs() < 1e-6, "{c:?}");
    assert!((c.imbalance_mwh.unwrap() + 2.0).abs() < 1e-6, "{c:?}");
    assert!((c.at_award_yuan.unwrap() - delivered * cut.clearing_price).abs() < 1e-6, "{c:?}");
    assert!(c.at_node_yuan.is_some());
    let x = get("sell");
    assert_eq!((x.delivered_mwh, x.imbalance_mwh), (None, None));
    assert!(x.note.contains("not metered"), "{x:?}");

    // The park's ledger of the day says what the schedule planned and how far the
    // measurement is from it (no renewable readings here: measured green 0).
    let planned = vpp_dispatch::api::pb::green_share_service_client::GreenShareServiceClient::new(ch.clone())
        .get_park_share(req(
            Some(OPERATOR),
            pb::ParkShareRequest { park: "pingqiao_park".into(), from_day: day.to_string(), to_day: String::new() },
        ))
        .await
        .unwrap()
        .into_inner();
    let l = LedgerServiceClient::new(ch.clone())
        .get_park_ledger(req(
            Some(OPERATOR),
            pb::ParkLedgerRequest { park: "pingqiao_park".into(), from_day: day.to_string(), to_day: String::new(), statement_only: false },
        ))
        .await
        .unwrap()
        .into_inner();
    let m = &l.months[0];
    assert!((m.planned_share.unwrap() - planned.share).abs() < 1e-12, "{m:?} vs {}", planned.share);
    assert_eq!(m.share, Some(0.0));
    assert!((m.deviation.unwrap() + planned.share).abs() < 1e-12, "{m:?}");

    // Bot B has none of A's; a park manager may not ask.
    let theirs = market
        .get_settlement(req(Some(crate::service::BOT_B), pb::SettlementRequest { delivery_day: day.to_string() }))
        .await
        .unwrap()
        .into_inner();
    assert!(theirs.bids.is_empty(), "{theirs:?}");
    let e = market.get_settlement(req(Some(SHIHE), pb::SettlementRequest { delivery_day: day.to_string() })).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    server.stop().await;
}

/// The command-line loop over a real server: `vpp meter simulate` writes a day of readings,
/// `vpp client readings` sends them (then again: all redeliveries), a late correction file
/// with `--reason` is stored as revisions, and `vpp client ledger` prints the park's month.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_feeds_the_service_from_the_command_line() {
    use std::process::Command;
    let server = Running::start(&temp_db("meters-cli"), "").await;
    let addr = format!("http://{}", server.addr);
    let dir = std::env::temp_dir().join(format!("vpp-meters-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (schedule, readings, late) = (dir.join("s.json"), dir.join("r.csv"), dir.join("late.csv"));
    let vpp = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vpp")).args(args).current_dir(repo("")).output().unwrap();
        assert!(out.status.success(), "vpp {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let p = |x: &std::path::PathBuf| x.to_str().unwrap().to_string();
    vpp(&["solve", "--model", "models/xinyang.toml", "--forecast", "fixtures/forecasts/summer-peak-15.json", "--json", &p(&schedule)]);
    vpp(&["meter", "simulate", "--model", "models/xinyang.toml", "--schedule", &p(&schedule), "--drop", "0", "--out", &p(&readings)]);
    let n = std::fs::read_to_string(&readings).unwrap().lines().count() - 1;
    let sent = vpp(&["client", "--addr", &addr, "--token", METER, "readings", "--file", &p(&readings)]);
    assert!(sent.contains(&format!("{n} readings: {n} created, 0 existing, 0 corrected, 0 conflicts")), "{sent}");
    let again = vpp(&["client", "--addr", &addr, "--token", METER, "readings", "--file", &p(&readings)]);
    assert!(again.contains(&format!("0 created, {n} existing")), "{again}");
    // A late correction: two of the park's consumption readings, 10 % higher.
    let text = std::fs::read_to_string(&readings).unwrap();
    let mut fixed = String::from("interval_start,meter,quantity,value_mwh\n");
    for line in text.lines().filter(|l| l.contains(",huangchuan_zero_carbon,consumption,")).take(2) {
        let (head, v) = line.rsplit_once(',').unwrap();
        fixed.push_str(&format!("{head},{:.6}\n", v.parse::<f64>().unwrap() * 1.1));
    }
    std::fs::write(&late, fixed).unwrap();
    let corrected = vpp(&["client", "--addr", &addr, "--token", METER, "readings", "--file", &p(&late), "--reason", "late meter data"]);
    assert!(corrected.contains("2 readings: 0 created, 0 existing, 2 corrected, 0 conflicts"), "{corrected}");
    let ledger =
        vpp(&["client", "--addr", &addr, "--token", HUANGCHUAN, "ledger", "--park", "huangchuan_zero_carbon", "--day", "2026-07-22"]);
    assert!(
        ledger.contains("huangchuan_zero_carbon: ") && ledger.contains("2026-07: consumed ") && ledger.contains("0 missing intervals"),
        "{ledger}"
    );
    server.stop().await;
}
