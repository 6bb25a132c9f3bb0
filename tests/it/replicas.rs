//! Several replicas on one PostgreSQL database: PostgreSQL stores sharing it (exactly-once
//! bids under concurrent submits through two stores, versions and one day-ahead schedule
//! across stores, the clearing lock between stores, the publication feed, the refusal of a
//! server that could lose acknowledged writes), then real `vpp serve` processes on loopback
//! ports sharing one database: bots submit the same bids through different replicas while
//! one replica is killed with SIGKILL, every replica clears the day at once and one clearing
//! comes out, awards reach bots on every replica.
//!
//! What every backend must do on its own (SQLite as well) is the store suite's
//! (`store_suite.rs`). The database per test and the replica processes are `support::pg`
//! and `support::replica`; PostgreSQL must be reachable (see `support::pg`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sqlx::{Connection, Executor, PgConnection, Row};
use tokio_stream::StreamExt;
use tonic::Code;
use vpp_dispatch::api::pb;
use vpp_dispatch::api::CLEARING_HEADER;
use vpp_dispatch::domain::{Forecast, Plant, Schedule};
use vpp_dispatch::store::postgres::{PgStore, CLEARING_LOCK_CLASS};
use vpp_dispatch::store::{Store, StoreError, SubmitOutcome};

use crate::checker::{assert_valid, Asked};
use crate::service::{bid, config_for, day_ahead, future_day, plant, req, temp_db, BOT_A, BOT_B, OPERATOR};
use crate::support::pg::{admin, PgDb};
use crate::support::records::{new_schedule, record, test_day};
use crate::support::replica::{free_port, submit_with_failover, vpp_command, Replica};

// ---------------------------------------------------------------------------------------
// The store.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_store_keeps_each_bid_exactly_once_under_concurrent_submits() {
    let db = PgDb::create("once").await;
    // Two stores on one database: two replicas.
    let stores: Vec<Arc<dyn Store>> =
        vec![Arc::new(PgStore::open(&db.url).await.expect("store opens")), Arc::new(PgStore::open(&db.url).await.expect("store opens"))];
    let day = test_day(1);

    // 48 tasks submit one id with one payload at once, half through each store.
    let barrier = Arc::new(tokio::sync::Barrier::new(48));
    let mut tasks = Vec::new();
    for k in 0..48 {
        let (store, barrier) = (stores[k % 2].clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.submit_bid(record("bot-a", "same", day, 7, 300.0)).await
        }));
    }
    let mut created = Vec::new();
    let mut existing = Vec::new();
    for t in tasks {
        match t.await.unwrap().expect("submit succeeds") {
            SubmitOutcome::Created(r) => created.push(r),
            SubmitOutcome::Existing(r) => existing.push(r),
            SubmitOutcome::Conflict(r) => panic!("the same payload conflicted: {r:?}"),
        }
    }
    assert_eq!(created.len(), 1, "exactly one submission creates the bid");
    assert_eq!(existing.len(), 47);
    assert!(existing.iter().all(|r| *r == created[0]), "every retry returns the original record");

    // 200 ids, each submitted three times at once through both stores.
    let mut tasks = Vec::new();
    for n in 0..200 {
        for k in 0..3 {
            let store = stores[(n + k) % 2].clone();
            tasks.push(tokio::spawn(async move {
                let id = format!("many-{n}");
                store.submit_bid(record("bot-b", &id, day, (n % 24) as i64, 200.0 + n as f64)).await
            }));
        }
    }
    let mut outcomes: HashMap<String, Vec<SubmitOutcome>> = HashMap::new();
    for t in tasks {
        let o = t.await.unwrap().expect("submit succeeds");
        let id = match &o {
            SubmitOutcome::Created(r) | SubmitOutcome::Existing(r) | SubmitOutcome::Conflict(r) => r.bid.id.clone(),
        };
        outcomes.entry(id).or_default().push(o);
    }
    assert_eq!(outcomes.len(), 200);
    for (id, os) in &outcomes {
        let created = os.iter().filter(|o| matches!(o, SubmitOutcome::Created(_))).count();
        assert_eq!(created, 1, "{id}: {os:?}");
        assert!(os.iter().all(|o| !matches!(o, SubmitOutcome::Conflict(_))), "{id}: {os:?}");
    }

    // The database itself: one row per (bot, id).
    let mut conn = db.connect().await;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM bids").fetch_one(&mut conn).await.unwrap();
    assert_eq!(total, 201);
    assert_eq!(doubled_bids(&mut conn).await, 0);
    assert_eq!(stores[1].bids_for_day(day, Some("bot-b")).await.unwrap().len(), 200);
    for s in &stores {
        s.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_store_assigns_unique_versions_and_one_day_ahead_across_replicas() {
    let db = PgDb::create("versions").await;
    let a: Arc<dyn Store> = Arc::new(PgStore::open(&db.url).await.unwrap());
    let b: Arc<dyn Store> = Arc::new(PgStore::open(&db.url).await.unwrap());
    let day = test_day(3);
    let v1 = a.publish_schedule(new_schedule(day, 0, "day-ahead")).await.unwrap();
    assert_eq!((v1.version, v1.replans_version), (1, 0));
    // 20 re-plans at once through both stores: versions 2..=21, each once.
    let mut tasks = Vec::new();
    for k in 0..20 {
        let store = if k % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move { store.publish_schedule(new_schedule(day, 1, &format!("replan-{k}"))).await }));
    }
    let mut versions = Vec::new();
    for t in tasks {
        versions.push(t.await.unwrap().expect("re-plan publishes").version);
    }
    versions.sort_unstable();
    assert_eq!(versions, (2..=21).collect::<Vec<u32>>());
    let listed = b.list_schedules(day, day).await.unwrap();
    assert_eq!(listed.iter().map(|i| i.version).collect::<Vec<_>>(), (1..=21).collect::<Vec<u32>>());
    assert_eq!(listed[0], v1, "what publish returned is what is stored (timestamps in µs)");
    let mut odd = new_schedule(day, 21, "nan");
    odd.green_share = f64::NAN;
    let v22 = b.publish_schedule(odd).await.unwrap();
    assert!(a.schedule(day, Some(v22.version)).await.unwrap().unwrap().info.green_share.is_nan(), "NaN survives");
    assert_eq!(b.schedule(day, None).await.unwrap().unwrap().info.version, 22);
    let ahead = b.day_ahead(day).await.unwrap().expect("a day-ahead schedule");
    assert_eq!(ahead.info, v1);
    assert_eq!(ahead.forecast_json, "{\"tag\":\"day-ahead\"}");
    assert_eq!(ahead.info.inputs_sha256, vpp_dispatch::store::inputs_sha256("plant", &ahead.forecast_json, "{}"));
    // A second day-ahead schedule is refused, through either store.
    match b.publish_schedule(new_schedule(day, 0, "again")).await {
        Err(StoreError::DayAheadExists { day: d, version }) => assert_eq!((d, version), (day, 1)),
        other => panic!("{other:?}"),
    }
    // Day-ahead publications of a new day at once: one wins.
    let day2 = test_day(4);
    assert!(a.day_ahead(day2).await.unwrap().is_none());
    let mut tasks = Vec::new();
    for k in 0..10 {
        let store = if k % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move { store.publish_schedule(new_schedule(day2, 0, &format!("race-{k}"))).await }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(info) => {
                won += 1;
                assert_eq!(info.version, 1);
            }
            Err(StoreError::DayAheadExists { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(a.list_schedules(day2, day2).await.unwrap().len(), 1);
    assert!(a.schedule(day, Some(23)).await.unwrap().is_none());
    a.close().await;
    b.close().await;
}

/// Whether `store.lock_clearing(day)` completes within `wait`; the lock is kept if so.
async fn lock_within(store: &Arc<dyn Store>, day: NaiveDate, wait: Duration) -> Option<vpp_dispatch::store::ClearingLock> {
    tokio::time::timeout(wait, store.lock_clearing(day)).await.ok().map(|r| r.expect("lock_clearing"))
}

async fn advisory_locks_held(conn: &mut PgConnection, day: NaiveDate) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid::bigint = $1 \
         AND objid::bigint = $2 AND objsubid = 2 \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .bind(i64::from(CLEARING_LOCK_CLASS))
    .bind(i64::from(day.num_days_from_ce()))
    .fetch_one(conn)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_clearing_lock_excludes_other_replicas_until_released_dropped_or_killed() {
    let db = PgDb::create("lock").await;
    let a: Arc<dyn Store> = Arc::new(PgStore::open(&db.url).await.unwrap());
    let b: Arc<dyn Store> = Arc::new(PgStore::open(&db.url).await.unwrap());
    let mut conn = db.connect().await;
    let (day, other_day) = (test_day(5), test_day(6));
    let held = lock_within(&a, day, Duration::from_secs(5)).await.expect("a free lock is taken at once");
    assert_eq!(held.day(), day);
    assert_eq!(advisory_locks_held(&mut conn, day).await, 1, "held in PostgreSQL");
    assert!(lock_within(&b, day, Duration::from_millis(700)).await.is_none(), "another replica waits");
    assert!(lock_within(&a, day, Duration::from_millis(300)).await.is_none(), "another caller of the same replica waits");
    let other = lock_within(&b, other_day, Duration::from_secs(5)).await.expect("another day is free");
    other.release().await;
    // Released: the waiting replica gets it.
    let waiter = {
        let b = b.clone();
        tokio::spawn(async move { b.lock_clearing(day).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished());
    held.release().await;
    let held_b = tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("taken after release").unwrap().unwrap();
    // Dropped without release (a cancelled call): released too.
    drop(held_b);
    let held_a = lock_within(&a, day, Duration::from_secs(5)).await.expect("taken after drop");
    drop(held_a);
    // A session that dies (the process killed) releases it: kill the backend holding it.
    let held_b = lock_within(&b, day, Duration::from_secs(5)).await.expect("taken");
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 2 \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .bind(i64::from(CLEARING_LOCK_CLASS))
    .bind(i64::from(day.num_days_from_ce()))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(killed, 1);
    let after_kill = lock_within(&a, day, Duration::from_secs(5)).await.expect("taken after the holder's session died");
    after_kill.release().await;
    held_b.release().await; // its session is gone: releasing is harmless
    assert_eq!(advisory_locks_held(&mut conn, day).await, 0);
    a.close().await;
    b.close().await;
}

async fn next_publication(
    feed: &mut tokio::sync::mpsc::Receiver<vpp_dispatch::store::ScheduleRecord>,
) -> vpp_dispatch::store::ScheduleRecord {
    tokio::time::timeout(Duration::from_secs(10), feed.recv()).await.expect("a publication arrives").expect("the feed is open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_publications_reach_the_other_replicas_once_and_in_order() {
    let db = PgDb::create("feed").await;
    let a = PgStore::open(&db.url).await.unwrap();
    let b = PgStore::open(&db.url).await.unwrap();
    let mut feed = b.remote_publications().await.unwrap().expect("PostgreSQL has a feed");
    assert!(b.remote_publications().await.unwrap().is_none(), "one feed per store");
    let day = test_day(7);
    let v1 = a.publish_schedule(new_schedule(day, 0, "a1")).await.unwrap();
    let got = next_publication(&mut feed).await;
    assert_eq!(got.info, v1);
    assert_eq!(got.forecast_json, "{\"tag\":\"a1\"}");
    // B's own publication is not fed back to it; A's next one is.
    let v2 = b.publish_schedule(new_schedule(day, 1, "b2")).await.unwrap();
    let v3 = a.publish_schedule(new_schedule(day, 2, "a3")).await.unwrap();
    assert_eq!((v2.version, v3.version), (2, 3));
    assert_eq!(next_publication(&mut feed).await.info, v3);
    // The listening session dies; what is published meanwhile is caught up from the table.
    let mut conn = db.connect().await;
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(killed, 1, "one listening session");
    let v4 = a.publish_schedule(new_schedule(day, 3, "a4")).await.unwrap();
    let v5 = a.publish_schedule(new_schedule(day, 4, "a5")).await.unwrap();
    assert_eq!(next_publication(&mut feed).await.info, v4);
    assert_eq!(next_publication(&mut feed).await.info, v5);
    let quiet = tokio::time::timeout(Duration::from_millis(700), feed.recv()).await;
    assert!(quiet.is_err(), "nothing twice: {quiet:?}");
    b.close().await;
    assert!(tokio::time::timeout(Duration::from_secs(5), feed.recv()).await.expect("the feed ends").is_none());
    a.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_refuses_a_database_that_could_lose_acknowledged_writes() {
    // synchronous_commit = off for the database: the store and the real server refuse it.
    let db = PgDb::create("unsafe").await;
    let mut admin = admin().await;
    admin.execute(sqlx::AssertSqlSafe(format!("ALTER DATABASE \"{}\" SET synchronous_commit = off", db.name))).await.unwrap();
    let e = PgStore::open(&db.url).await.expect_err("refused");
    let msg = e.to_string();
    assert!(matches!(e, StoreError::Unsafe(_)), "{e:?}");
    for want in ["synchronous_commit = off", "set by: database", &format!("ALTER DATABASE \"{}\" SET synchronous_commit = on", db.name)] {
        assert!(msg.contains(want), "'{want}' missing from: {msg}");
    }
    let dir = temp_db("unsafe").parent().unwrap().to_path_buf();
    let cfg = dir.join("config.toml");
    std::fs::write(&cfg, config_for(&db.url, &format!("listen = \"127.0.0.1:{}\"\n", free_port()))).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        vpp_command().args(["serve", "--config", cfg.to_str().unwrap()]).stdout(Stdio::null()).output()
    })
    .await
    .unwrap()
    .expect("vpp serve runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "vpp serve must refuse to start: {stderr}");
    assert!(stderr.contains("synchronous_commit = off") && stderr.contains("refusing"), "{stderr}");

    // Set by the client in the URL's options: the session is what is checked.
    let db2 = PgDb::create("unsafe_client").await;
    let e = PgStore::open(&format!("{}?options=-c%20synchronous_commit%3Doff", db2.url)).await.expect_err("refused");
    assert!(e.to_string().contains("synchronous_commit = off (set by: client)"), "{e}");
    // `local` without synchronous standbys is `on` there: accepted (see src/store/postgres/durability.rs).
    admin.execute(sqlx::AssertSqlSafe(format!("ALTER DATABASE \"{}\" SET synchronous_commit = local", db2.name))).await.unwrap();
    let ok = PgStore::open(&db2.url).await.expect("synchronous_commit = local without standbys is accepted");
    ok.close().await;
    let _ = admin.close().await;

    // A URL that cannot be used is a configuration error naming the field, without the URL.
    let raw: vpp_dispatch::server::RawConfig = toml::from_str("database = \"postgres://vpp:s3cret@db:notaport/vpp\"").unwrap();
    let e = raw.validate().expect_err("invalid");
    let text = e.to_string();
    assert!(text.contains("database: not a usable PostgreSQL URL"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    // Selection: postgres:// and postgresql:// are PostgreSQL, anything else a SQLite file.
    use vpp_dispatch::store::Database;
    assert!(matches!(Database::parse("postgresql://u@h/d"), Ok(Database::Postgres(_))));
    assert!(matches!(Database::parse("sqlite://x.db"), Ok(Database::Sqlite(p)) if p == Path::new("x.db")));
    assert!(matches!(Database::parse("data/vpp.sqlite"), Ok(Database::Sqlite(_))));
    assert_eq!(Database::parse("postgres://vpp:s3cret@db/vpp").unwrap().to_string(), "postgres://vpp:***@db/vpp");
}

// ---------------------------------------------------------------------------------------
// Real replicas.

/// The awards a stream yields within `wait`, after which it must stay quiet for `quiet`.
async fn collect_awards(stream: &mut tonic::Streaming<pb::Award>, want: usize, wait: Duration, quiet: Duration) -> Vec<pb::Award> {
    let mut got = Vec::new();
    let until = Instant::now() + wait;
    while got.len() < want {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.next()).await {
            Ok(Some(Ok(a))) => got.push(a),
            other => panic!("{} of {want} awards, then {other:?}", got.len()),
        }
    }
    let more = tokio::time::timeout(quiet, stream.next()).await;
    assert!(more.is_err(), "an award came twice or unasked: {more:?}");
    got
}

fn by_id(awards: &[pb::Award]) -> BTreeMap<(String, String), pb::Award> {
    awards.iter().map(|a| ((a.bot.clone(), a.bid_id.clone()), a.clone())).collect()
}

/// Acknowledgements received, by (bot, bid id).
type AckBook = HashMap<(String, String), Vec<Acked>>;

#[derive(Clone, Debug, PartialEq)]
struct Acked {
    revision: u32,
    at: (i64, i32),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_one_bid_book_and_clear_each_day_once() {
    let db = PgDb::create("replicas").await;
    let dir = temp_db("replicas").parent().unwrap().to_path_buf();
    let mut replicas = Vec::new();
    for name in ["a", "b", "c"] {
        replicas.push(Replica::start(&dir, name, &db.url, "").await);
    }
    let (day, fc) = future_day(11);
    let h = fc.horizon(plant().tz());
    let markets: Vec<_> = replicas.iter().map(Replica::market).collect();

    // Bots submit: bot A's ids twice each, by two workers through two different replicas;
    // bot B reuses some of the ids (other bids); pairs of workers race for "contested-k"
    // with different prices. Replica c is killed with SIGKILL under them, then restarted.
    const IDS: usize = 240;
    let sell = |id: &str, n: usize, price: f64| {
        bid(id, ["shihe", "huangchuan", "pingqiao"][n % 3], h.instant(n % 24), pb::Side::Sell, 1.0, price, false)
    };
    let acks: Arc<Mutex<AckBook>> = Arc::default();
    let mut workers = Vec::new();
    for w in 0..8usize {
        let (markets, acks) = (markets.clone(), acks.clone());
        let bids: Vec<(String, pb::Bid, usize)> = if w < 6 {
            (0..IDS)
                .filter(|n| n % 3 == w % 3)
                .map(|n| (format!("r-{n}"), sell(&format!("r-{n}"), n, 200.0 + (n % 7) as f64), (n + w / 3) % 3))
                .collect()
        } else {
            (0..60).map(|n| (format!("r-{n}"), sell(&format!("r-{n}"), n, 250.0), (n + 2 * (w - 6)) % 3)).collect()
        };
        let token = if w < 6 { BOT_A } else { BOT_B };
        let bot = if w < 6 { "bot-a" } else { "bot-b" };
        workers.push(tokio::spawn(async move {
            for (id, b, first) in bids {
                let ack = submit_with_failover(&markets, first, token, &b).await.unwrap_or_else(|e| panic!("{id}: {e:?}"));
                let at = ack.acknowledged_at.unwrap();
                acks.lock()
                    .unwrap()
                    .entry((bot.to_string(), id))
                    .or_default()
                    .push(Acked { revision: ack.revision, at: (at.seconds, at.nanos) });
            }
        }));
    }
    let mut contests = Vec::new();
    for k in 0..10usize {
        for (side, price) in [(0usize, 300.0), (1usize, 301.0)] {
            let markets = markets.clone();
            let b = sell(&format!("contested-{k}"), k, price);
            contests.push(tokio::spawn(async move { (price, submit_with_failover(&markets, side, BOT_A, &b).await) }));
        }
    }
    // Kill -9 replica c mid-run, and bring it back as a new process.
    let started = Instant::now();
    while acks.lock().unwrap().len() < 60 {
        assert!(started.elapsed() < Duration::from_secs(120), "bids do not flow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    replicas[2].kill_9();
    let at_kill = acks.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    replicas[2].spawn().await;
    for w in workers {
        w.await.unwrap();
    }
    let mut winners = HashMap::new();
    for c in contests {
        let (price, outcome) = c.await.unwrap();
        let id = match outcome {
            Ok(ack) => ack.bid_id,
            Err(e) => {
                assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
                continue;
            }
        };
        assert!(winners.insert(id.clone(), price).is_none(), "{id} was acknowledged with two payloads");
    }
    assert_eq!(winners.len(), 10, "each contested id has one winner");
    let acks = acks.lock().unwrap().clone();
    eprintln!("replicas: {} of {} bids acknowledged when replica c was killed", at_kill, acks.len());
    assert!(at_kill < acks.len(), "the kill happened mid-run");

    // Every acknowledged bid is in the database exactly once, as acknowledged.
    let mut conn = db.connect().await;
    let rows = sqlx::query("SELECT bot, id, revision, acknowledged_at, price FROM bids WHERE delivery_day = $1")
        .bind(day)
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let stored: HashMap<(String, String), (i32, DateTime<Utc>, f64)> =
        rows.iter().map(|r| ((r.get("bot"), r.get("id")), (r.get("revision"), r.get("acknowledged_at"), r.get("price")))).collect();
    assert_eq!(rows.len(), stored.len());
    assert_eq!(stored.len(), IDS + 60 + 10);
    assert_eq!(doubled_bids(&mut conn).await, 0);
    assert_eq!(acks.len(), IDS + 60);
    for ((bot, id), list) in &acks {
        let (revision, at, _) = stored.get(&(bot.clone(), id.clone())).unwrap_or_else(|| panic!("{bot}/{id} acknowledged but lost"));
        let want = Acked { revision: *revision as u32, at: (at.timestamp(), at.timestamp_subsec_nanos() as i32) };
        assert!(list.iter().all(|a| *a == want), "{bot}/{id}: acks {list:?}, stored {want:?}");
        if bot == "bot-a" {
            assert_eq!(list.len(), 2, "{bot}/{id} acknowledged to both of its workers");
        }
    }
    for (id, price) in &winners {
        assert_eq!(stored[&("bot-a".to_string(), id.clone())].2, *price, "{id} keeps the winning payload");
    }
    // Every replica serves the same book.
    for r in &replicas {
        let book =
            r.market().list_bids(req(Some(OPERATOR), pb::ListBidsRequest { delivery_day: day.to_string() })).await.unwrap().into_inner();
        assert_eq!(book.bids.len(), stored.len(), "replica {}", r.name);
    }

    // Bot A listens for awards on every replica; the operator for schedules on replica b.
    let mut award_streams = Vec::new();
    for r in &replicas {
        let s = r
            .market()
            .stream_awards(req(Some(BOT_A), pb::StreamAwardsRequest { delivery_day: day.to_string() }))
            .await
            .unwrap()
            .into_inner();
        award_streams.push(s);
    }
    let mut schedules_b = replicas[1]
        .dispatch()
        .stream_schedules(req(Some(OPERATOR), pb::StreamSchedulesRequest { from_day: day.to_string(), to_day: String::new() }))
        .await
        .unwrap()
        .into_inner();

    // The day is cleared through every replica at once: one clearing comes out.
    let barrier = Arc::new(tokio::sync::Barrier::new(6));
    let mut calls = Vec::new();
    for k in 0..6 {
        let (mut d, barrier, fc) = (replicas[k % 3].dispatch(), barrier.clone(), fc.clone());
        calls.push(tokio::spawn(async move {
            barrier.wait().await;
            let r = d.submit_day_ahead(req(Some(OPERATOR), day_ahead(day, &fc, Default::default()))).await.expect("SubmitDayAhead");
            let how = r.metadata().get(CLEARING_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            (how, r.into_inner())
        }));
    }
    let mut replies = Vec::new();
    for c in calls {
        replies.push(c.await.unwrap());
    }
    let new = replies.iter().filter(|(how, _)| how == "new").count();
    assert_eq!(new, 1, "one call cleared the day: {:?}", replies.iter().map(|(h, _)| h).collect::<Vec<_>>());
    assert!(replies.iter().all(|(how, _)| how == "new" || how == "existing"));
    let schedule = replies[0].1.clone();
    let info = schedule.info.clone().unwrap();
    assert_eq!((info.version, info.replans_version), (1, 0));
    for (_, s) in &replies {
        assert_eq!(s.info, schedule.info, "the same version and inputs everywhere");
        assert_eq!(s.awards, schedule.awards);
    }
    let published: i64 = sqlx::query_scalar("SELECT count(*) FROM schedules WHERE day = $1").bind(day).fetch_one(&mut conn).await.unwrap();
    assert_eq!(published, 1, "one schedule in the database");
    let mut solves = 0;
    for r in &replicas {
        solves += r.solves().await;
    }
    assert_eq!(solves, 1, "one solve across the replicas");
    // Every replica serves it, with the same inputs.
    for r in &replicas {
        let got = r
            .dispatch()
            .get_schedule(req(Some(OPERATOR), pb::GetScheduleRequest { delivery_day: day.to_string(), version: 0 }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.info, schedule.info, "replica {}", r.name);
        let inputs = r
            .dispatch()
            .get_schedule_inputs(req(Some(OPERATOR), pb::GetScheduleRequest { delivery_day: day.to_string(), version: 1 }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            inputs.info.unwrap().inputs_sha256,
            vpp_dispatch::store::inputs_sha256(&inputs.plant_toml, &inputs.forecast_json, &inputs.options_json)
        );
    }
    // Bot A's awards reach it on every replica, each once.
    let mine: Vec<pb::Award> = schedule.awards.iter().filter(|a| a.bot == "bot-a").cloned().collect();
    assert_eq!(mine.len(), IDS + 10);
    for (k, s) in award_streams.iter_mut().enumerate() {
        let got = collect_awards(s, mine.len(), Duration::from_secs(60), Duration::from_millis(1500)).await;
        assert_eq!(by_id(&got), by_id(&mine), "replica {}", replicas[k].name);
    }
    let first = tokio::time::timeout(Duration::from_secs(10), schedules_b.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(first.version, 1);
    let more = tokio::time::timeout(Duration::from_millis(500), schedules_b.next()).await;
    assert!(more.is_err(), "the schedule is announced once: {more:?}");

    // The schedule, as stored, passes the independent checker against its stored inputs.
    let row = sqlx::query("SELECT plant_toml, forecast_json, options_json, schedule_json FROM schedules WHERE day = $1 AND version = 1")
        .bind(day)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let stored_plant = Plant::from_toml(row.get::<&str, _>("plant_toml")).unwrap();
    let stored_fc: Forecast = serde_json::from_str(row.get::<&str, _>("forecast_json")).unwrap();
    let stored_schedule: Schedule = serde_json::from_str(row.get::<&str, _>("schedule_json")).unwrap();
    let _options: vpp_dispatch::model::Options = serde_json::from_str(row.get::<&str, _>("options_json")).unwrap();
    assert_eq!(stored_fc.bids.len(), stored.len(), "every bid of the book was cleared");
    assert_valid(&stored_plant, &stored_fc, &Asked::default(), &stored_schedule);
    assert!((stored_schedule.totals.green_share - schedule.totals.unwrap().green_share).abs() < 1e-12);

    // A clearing made through replica a reaches a bot streaming from replica b.
    let (day2, fc2) = future_day(12);
    let h2 = fc2.horizon(plant().tz());
    for (k, hour) in [5usize, 12, 19].into_iter().enumerate() {
        replicas[0]
            .market()
            .submit_bid(req(Some(BOT_A), bid(&format!("d2-{k}"), "shihe", h2.instant(hour), pb::Side::Sell, 2.0, 150.0, false)))
            .await
            .unwrap();
    }
    let mut on_b = replicas[1]
        .market()
        .stream_awards(req(Some(BOT_A), pb::StreamAwardsRequest { delivery_day: day2.to_string() }))
        .await
        .unwrap()
        .into_inner();
    let r = replicas[0].dispatch().submit_day_ahead(req(Some(OPERATOR), day_ahead(day2, &fc2, Default::default()))).await.unwrap();
    assert_eq!(r.metadata().get(CLEARING_HEADER).unwrap(), "new");
    let cleared = r.into_inner();
    assert_eq!(cleared.awards.len(), 3);
    let got = collect_awards(&mut on_b, 3, Duration::from_secs(30), Duration::from_millis(1000)).await;
    assert_eq!(by_id(&got), by_id(&cleared.awards));
    assert!(got.iter().all(|a| a.schedule_version == cleared.info.as_ref().unwrap().version));
    // A re-plan through replica c is a new version, streamed by replica b too.
    let replan = pb::ReplanRequest {
        delivery_day: day2.to_string(),
        from: Some(prost_types::Timestamp { seconds: h2.instant(12).timestamp(), nanos: 0 }),
        ..Default::default()
    };
    let v2 = replicas[2].dispatch().replan(req(Some(OPERATOR), replan)).await.unwrap().into_inner();
    assert_eq!(v2.info.as_ref().map(|i| (i.version, i.replans_version)), Some((2, 1)));
    let firm = collect_awards(&mut on_b, v2.awards.len(), Duration::from_secs(30), Duration::from_millis(500)).await;
    assert!(firm.iter().all(|a| a.schedule_version == 2), "{firm:?}");
    drop(replicas);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_while_clearing_leaves_the_day_to_another() {
    let db = PgDb::create("killclear").await;
    let dir = temp_db("killclear").parent().unwrap().to_path_buf();
    let mut x = Replica::start(&dir, "x", &db.url, "").await;
    let y = Replica::start(&dir, "y", &db.url, "").await;
    let (day, fc) = future_day(13);
    let h = fc.horizon(plant().tz());
    y.market().submit_bid(req(Some(BOT_A), bid("k-1", "shihe", h.instant(19), pb::Side::Sell, 10.0, 100.0, false))).await.unwrap();
    // A slow clearing on x (a long MILP frontier: minutes); x is killed once it holds the day.
    let mut dx = x.dispatch();
    let slow = day_ahead(day, &fc, pb::SolveOptions { frontier_points: 200, milp: true, ..Default::default() });
    let on_x = tokio::spawn(async move { dx.submit_day_ahead(req(Some(OPERATOR), slow)).await });
    let mut conn = db.connect().await;
    let started = Instant::now();
    while advisory_locks_held(&mut conn, day).await == 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "x never took the clearing lock:\n{}", x.log_text());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Meanwhile y is asked too: it waits for x.
    let mut dy = y.dispatch();
    let on_y = tokio::spawn(async move { dy.submit_day_ahead(req(Some(OPERATOR), day_ahead(day, &fc, Default::default()))).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!on_y.is_finished(), "y waits while x clears");
    x.kill_9();
    assert!(on_x.await.unwrap().is_err(), "x died before answering");
    // x's session died with it: y clears the day.
    let r = tokio::time::timeout(Duration::from_secs(120), on_y).await.expect("y clears after x died").unwrap().expect("y clears");
    assert_eq!(r.metadata().get(CLEARING_HEADER).unwrap(), "new");
    let s = r.into_inner();
    assert_eq!(s.info.as_ref().unwrap().version, 1);
    assert_eq!(s.awards.len(), 1);
    let options: String =
        sqlx::query_scalar("SELECT options_json FROM schedules WHERE day = $1").bind(day).fetch_one(&mut conn).await.unwrap();
    let options: vpp_dispatch::model::Options = serde_json::from_str(&options).unwrap();
    assert!(options.frontier_points == 0 && !options.milp, "y's clearing, not x's");
    let published: i64 = sqlx::query_scalar("SELECT count(*) FROM schedules").fetch_one(&mut conn).await.unwrap();
    assert_eq!(published, 1);
}

/// (bot, id) pairs stored more than once, counted by the database itself.
async fn doubled_bids(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM (SELECT bot, id FROM bids GROUP BY bot, id HAVING count(*) > 1) d")
        .fetch_one(conn)
        .await
        .unwrap()
}
