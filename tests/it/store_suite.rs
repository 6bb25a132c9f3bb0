//! The store suite: the behaviour the [`Store`] trait documents, written once and run on
//! every backend — SQLite on a real temporary file always, PostgreSQL on a fresh database of
//! a real server (`support::pg`: the test fails when the server is unreachable, as every
//! PostgreSQL test here does; `.ci/run` starts it). Each case is an `async fn` taking the
//! store; `store_suite!` instantiates it once per backend, as
//! `store_suite::sqlite::<case>` and `store_suite::postgres::<case>`.
//!
//! What only a shared database can show (several stores on one database, the feed between
//! replicas, the durability check) stays in `replicas.rs`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, Utc};
use vpp_dispatch::domain::BidSide;
use vpp_dispatch::store::postgres::PgStore;
use vpp_dispatch::store::sqlite::SqliteStore;
use vpp_dispatch::store::{
    inputs_sha256, BidState, ClearingLock, DirtyMark, LedgerDayRecord, NewLedgerDay, NewReading, ReadingOutcome, Store, StoreError,
    SubmitOutcome,
};

use crate::service::temp_db;
use crate::support::pg::PgDb;
use crate::support::records::{new_schedule, record, test_day};

/// Where a case runs.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Opens a new, empty store of `backend`, runs `case` on it, then closes it (and drops the
/// PostgreSQL database).
async fn run<F, Fut>(backend: Backend, case: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    match backend {
        Backend::Sqlite => {
            let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&temp_db("suite")).await.expect("SQLite store opens"));
            case(store.clone()).await;
            store.close().await;
        }
        Backend::Postgres => {
            let db = PgDb::create("suite").await;
            let store: Arc<dyn Store> = Arc::new(PgStore::open(&db.url).await.expect("PostgreSQL store opens"));
            case(store.clone()).await;
            store.close().await;
            drop(db);
        }
    }
}

/// Instantiates every case once per backend.
macro_rules! store_suite {
    ($($case:ident),+ $(,)?) => {
        /// The suite on SQLite.
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::run(super::Backend::Sqlite, super::$case).await;
                }
            )+
        }

        /// The suite on PostgreSQL.
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::run(super::Backend::Postgres, super::$case).await;
                }
            )+
        }
    };
}

store_suite!(
    bid_book_script_reads_as_expected,
    a_retried_submission_returns_what_was_stored,
    concurrent_submissions_of_one_bid_create_it_once,
    amendments_and_cancellations_follow_the_rules,
    bids_for_day_selects_by_day_and_bot,
    versions_count_up_per_day_and_one_day_ahead_is_kept,
    schedule_reads_a_version_or_the_latest,
    list_schedules_covers_the_days_in_range,
    concurrent_publications_get_distinct_versions,
    the_clearing_lock_excludes_other_callers_until_released_or_dropped,
    remote_publications_start_once_and_skip_this_stores_own,
    a_closed_store_refuses_calls,
    readings_are_exactly_once_and_corrections_are_revisions,
    concurrent_readings_of_one_key_store_it_once,
    readings_mark_their_days_and_built_days_consume_only_the_marks_they_saw,
    warm_starts_are_replaced_by_key_and_pruned_to_the_newest,
);

/// A time with nanoseconds: PostgreSQL keeps microseconds, SQLite every digit; either way
/// what a call returns must be what is read back.
fn odd_time() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 123_456_789).expect("a valid time")
}

/// Whether `store.lock_clearing(day)` completes within `wait`; the lock is kept if so.
async fn lock_within(store: &Arc<dyn Store>, day: NaiveDate, wait: Duration) -> Option<ClearingLock> {
    tokio::time::timeout(wait, store.lock_clearing(day)).await.ok().map(|r| r.expect("lock_clearing"))
}

// ---------------------------------------------------------------------------------------
// Bids.

/// One script of submissions, amendments and cancellations, summarized.
async fn bid_book_script(store: &dyn Store, day: NaiveDate) -> Vec<String> {
    let mut log = Vec::new();
    let first = record("bot-a", "x1", day, 8, 300.0);
    let show = |o: &SubmitOutcome| match o {
        SubmitOutcome::Created(r) => format!("created r{} {:?} {} MW @ {}", r.revision, r.state, r.bid.quantity_mw, r.bid.price),
        SubmitOutcome::Existing(r) => format!("existing r{} {:?} {} MW @ {}", r.revision, r.state, r.bid.quantity_mw, r.bid.price),
        SubmitOutcome::Conflict(r) => format!("conflict r{} {:?} {} MW @ {}", r.revision, r.state, r.bid.quantity_mw, r.bid.price),
    };
    let created = store.submit_bid(first.clone()).await.unwrap();
    log.push(show(&created));
    let SubmitOutcome::Created(stored) = created else { panic!("not created") };
    // A retry, later: the original record, acknowledgement time included.
    let mut retry = first.clone();
    retry.acknowledged_at = Utc::now() + chrono::Duration::seconds(5);
    match store.submit_bid(retry).await.unwrap() {
        SubmitOutcome::Existing(r) => assert_eq!(r, stored, "the original record"),
        other => panic!("{other:?}"),
    }
    // Different payloads: price, quantity, side, green, park, node, interval.
    let mut variants = Vec::new();
    let mut v = first.clone();
    v.bid.price = 301.0;
    variants.push(v);
    let mut v = first.clone();
    v.bid.quantity_mw = 5.5;
    variants.push(v);
    let mut v = first.clone();
    v.bid.side = BidSide::Buy;
    variants.push(v);
    let mut v = first.clone();
    v.bid.green = true;
    variants.push(v);
    let mut v = first.clone();
    v.bid.node = "huangchuan".into();
    variants.push(v);
    let mut v = first.clone();
    v.bid.interval_start += chrono::Duration::hours(1);
    variants.push(v);
    for v in variants {
        let o = store.submit_bid(v).await.unwrap();
        assert!(matches!(&o, SubmitOutcome::Conflict(r) if *r == stored), "{o:?}");
        log.push(show(&o));
    }
    // Another bot may use the id.
    log.push(show(&store.submit_bid(record("bot-b", "x1", day, 8, 999.0)).await.unwrap()));
    // Amend, then the first payload again: still the same bid (existing, amended).
    let at = Utc::now();
    let amended = store.amend_bid("bot-a", "x1", 7.0, 310.0, at).await.unwrap().expect("amended");
    log.push(format!("amended r{} {} MW @ {}", amended.revision, amended.bid.quantity_mw, amended.bid.price));
    assert!((amended.acknowledged_at - at).num_microseconds().unwrap_or(i64::MAX).abs() <= 1);
    assert_eq!(store.bid("bot-a", "x1").await.unwrap().as_ref(), Some(&amended));
    log.push(show(&store.submit_bid(first.clone()).await.unwrap()));
    // Cancel (twice), amend a cancelled bid, unknown bids.
    let cancelled = store.cancel_bid("bot-a", "x1", Utc::now()).await.unwrap().expect("cancelled");
    log.push(format!("cancelled r{} {:?}", cancelled.revision, cancelled.state));
    let again = store.cancel_bid("bot-a", "x1", Utc::now()).await.unwrap().expect("still there");
    assert_eq!(again, cancelled);
    let unchanged = store.amend_bid("bot-a", "x1", 1.0, 100.0, Utc::now()).await.unwrap().expect("still there");
    assert_eq!(unchanged, cancelled, "a cancelled bid is returned unchanged");
    assert_eq!(store.amend_bid("bot-a", "nope", 1.0, 100.0, Utc::now()).await.unwrap(), None);
    assert_eq!(store.cancel_bid("bot-c", "x1", Utc::now()).await.unwrap(), None);
    assert_eq!(store.bid("bot-c", "x1").await.unwrap(), None);
    // Order: by bot then id, in byte order (upper case first), every state.
    for (bot, id) in [("bot-a", "b2"), ("bot-a", "B1"), ("Bot-Z", "a"), ("bot-a", "a10"), ("bot-a", "a9")] {
        store.submit_bid(record(bot, id, day, 3, 250.0)).await.unwrap();
    }
    store.submit_bid(record("bot-a", "next-day", day + Days::new(1), 3, 250.0)).await.unwrap();
    let all = store.bids_for_day(day, None).await.unwrap();
    log.push(all.iter().map(|r| format!("{}/{}:{:?}", r.bid.bot, r.bid.id, r.state)).collect::<Vec<_>>().join(" "));
    let mine = store.bids_for_day(day, Some("bot-a")).await.unwrap();
    log.push(mine.iter().map(|r| r.bid.id.clone()).collect::<Vec<_>>().join(" "));
    log
}

/// The script, on every backend, gives one log (before the suite, PostgreSQL's was compared
/// with SQLite's; both are now compared with this).
async fn bid_book_script_reads_as_expected(store: Arc<dyn Store>) {
    let log = bid_book_script(store.as_ref(), test_day(2)).await;
    let expected = [
        "created r1 Active 5 MW @ 300",
        "conflict r1 Active 5 MW @ 300",
        "conflict r1 Active 5 MW @ 300",
        "conflict r1 Active 5 MW @ 300",
        "conflict r1 Active 5 MW @ 300",
        "conflict r1 Active 5 MW @ 300",
        "conflict r1 Active 5 MW @ 300",
        "created r1 Active 5 MW @ 999",
        "amended r2 7 MW @ 310",
        "existing r2 Active 7 MW @ 310",
        "cancelled r2 Cancelled",
        "Bot-Z/a:Active bot-a/B1:Active bot-a/a10:Active bot-a/a9:Active bot-a/b2:Active bot-a/x1:Cancelled bot-b/x1:Active",
        "B1 a10 a9 b2 x1",
    ];
    assert_eq!(log, expected);
}

/// Submitting is keyed by (bot, id): the same payload again returns the stored record (its
/// first acknowledgement time), another payload is a conflict that changes nothing, and
/// what a submission acknowledges is what is read back.
async fn a_retried_submission_returns_what_was_stored(store: Arc<dyn Store>) {
    let day = test_day(1);
    let mut first = record("bot-a", "p1", day, 9, 420.0);
    first.bid.park = Some("shihe-park".into());
    first.bid.green = true;
    first.acknowledged_at = odd_time();
    let stored = match store.submit_bid(first.clone()).await.expect("submit") {
        SubmitOutcome::Created(r) => r,
        other => panic!("not created: {other:?}"),
    };
    assert_eq!(store.bid("bot-a", "p1").await.expect("read").as_ref(), Some(&stored), "read back as acknowledged");
    assert_eq!(stored.bid.park.as_deref(), Some("shihe-park"));
    assert!(stored.bid.green);
    assert_eq!((stored.revision, stored.state, stored.delivery_day), (1, BidState::Active, day));
    assert!((stored.acknowledged_at - first.acknowledged_at).num_microseconds().unwrap_or(i64::MAX).abs() <= 1);

    // The same payload, acknowledged later, revision and state as sent: the stored record.
    let mut retry = first.clone();
    retry.acknowledged_at = first.acknowledged_at + chrono::Duration::seconds(30);
    match store.submit_bid(retry).await.expect("retry") {
        SubmitOutcome::Existing(r) => assert_eq!(r, stored),
        other => panic!("a retry is not existing: {other:?}"),
    }
    // No park where there was one; a different price: conflicts, nothing changed.
    let mut no_park = first.clone();
    no_park.bid.park = None;
    let mut dearer = first.clone();
    dearer.bid.price = 420.5;
    for other in [no_park, dearer] {
        match store.submit_bid(other).await.expect("submit") {
            SubmitOutcome::Conflict(r) => assert_eq!(r, stored),
            o => panic!("a different payload is not a conflict: {o:?}"),
        }
    }
    assert_eq!(store.bid("bot-a", "p1").await.expect("read").as_ref(), Some(&stored), "unchanged");
    assert_eq!(store.bids_for_day(day, None).await.expect("list"), vec![stored]);
}

/// Many submissions of one bid at once: one creates it, every other one is answered with
/// the stored record; of two different payloads racing for one id, one wins and the other
/// is a conflict carrying the winner.
async fn concurrent_submissions_of_one_bid_create_it_once(store: Arc<dyn Store>) {
    let day = test_day(3);
    let same = record("bot-a", "same", day, 7, 300.0);
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (store, barrier, same) = (store.clone(), barrier.clone(), same.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.submit_bid(same).await
        }));
    }
    let (mut created, mut existing) = (Vec::new(), Vec::new());
    for t in tasks {
        match t.await.expect("task").expect("submit") {
            SubmitOutcome::Created(r) => created.push(r),
            SubmitOutcome::Existing(r) => existing.push(r),
            SubmitOutcome::Conflict(r) => panic!("the same payload conflicted: {r:?}"),
        }
    }
    assert_eq!((created.len(), existing.len()), (1, 31));
    assert!(existing.iter().all(|r| *r == created[0]), "every retry returns the created record");

    let mut tasks = Vec::new();
    for n in 0..16 {
        for price in [100.0, 200.0] {
            let store = store.clone();
            tasks.push(tokio::spawn(async move { store.submit_bid(record("bot-b", &format!("race-{n}"), day, 3, price)).await }));
        }
    }
    let mut winners = std::collections::HashMap::new();
    let mut conflicts = Vec::new();
    for t in tasks {
        match t.await.expect("task").expect("submit") {
            SubmitOutcome::Created(r) => assert!(winners.insert(r.bid.id.clone(), r).is_none(), "two winners"),
            SubmitOutcome::Conflict(r) => conflicts.push(r),
            SubmitOutcome::Existing(r) => panic!("another payload was taken for the same: {r:?}"),
        }
    }
    assert_eq!((winners.len(), conflicts.len()), (16, 16));
    for loser in &conflicts {
        assert_eq!(Some(loser), winners.get(&loser.bid.id), "a conflict carries the winner");
    }
    assert_eq!(store.bids_for_day(day, Some("bot-b")).await.expect("list").len(), 16);
}

/// An amendment replaces quantity and price of an active bid, bumps its revision and takes
/// the new acknowledgement time; only the owning bot reaches its bid; a cancelled bid stays
/// listed, is returned unchanged by amendments and by a second cancellation.
async fn amendments_and_cancellations_follow_the_rules(store: Arc<dyn Store>) {
    let day = test_day(4);
    let first = match store.submit_bid(record("bot-a", "m1", day, 10, 250.0)).await.expect("submit") {
        SubmitOutcome::Created(r) => r,
        other => panic!("{other:?}"),
    };
    store.submit_bid(record("bot-b", "m1", day, 10, 999.0)).await.expect("submit");
    let at = odd_time();
    let r2 = store.amend_bid("bot-a", "m1", 8.5, 260.0, at).await.expect("amend").expect("amended");
    assert_eq!((r2.revision, r2.bid.quantity_mw, r2.bid.price, r2.state), (2, 8.5, 260.0, BidState::Active));
    assert!((r2.acknowledged_at - at).num_microseconds().unwrap_or(i64::MAX).abs() <= 1);
    assert_eq!((&r2.bid.node, r2.bid.interval_start, r2.bid.side), (&first.bid.node, first.bid.interval_start, BidSide::Sell));
    let r3 = store.amend_bid("bot-a", "m1", 9.0, 255.0, Utc::now()).await.expect("amend").expect("amended");
    assert_eq!((r3.revision, r3.bid.quantity_mw, r3.bid.price), (3, 9.0, 255.0));
    assert_eq!(store.bid("bot-a", "m1").await.expect("read").as_ref(), Some(&r3));
    // The other bot's bid of the same id is its own.
    let theirs = store.bid("bot-b", "m1").await.expect("read").expect("bot-b's bid");
    assert_eq!((theirs.revision, theirs.bid.price), (1, 999.0));
    // Unknown bids.
    assert_eq!(store.amend_bid("bot-c", "m1", 1.0, 1.0, Utc::now()).await.expect("amend"), None);
    assert_eq!(store.cancel_bid("bot-a", "m2", Utc::now()).await.expect("cancel"), None);

    let cancelled = store.cancel_bid("bot-a", "m1", Utc::now()).await.expect("cancel").expect("cancelled");
    assert_eq!(cancelled.state, BidState::Cancelled);
    assert_eq!((cancelled.revision, cancelled.bid.price), (3, 255.0), "cancelling changes no payload");
    assert_eq!(cancelled.acknowledged_at, r3.acknowledged_at, "the acknowledgement is the last revision's");
    assert_eq!(store.cancel_bid("bot-a", "m1", Utc::now()).await.expect("cancel").as_ref(), Some(&cancelled));
    assert_eq!(store.amend_bid("bot-a", "m1", 1.0, 1.0, Utc::now()).await.expect("amend").as_ref(), Some(&cancelled));
    assert_eq!(store.bid("bot-a", "m1").await.expect("read").as_ref(), Some(&cancelled));
    let listed = store.bids_for_day(day, Some("bot-a")).await.expect("list");
    assert_eq!(listed, vec![cancelled], "a cancelled bid stays listed");
    assert_eq!(store.bid("bot-b", "m1").await.expect("read").expect("still there").state, BidState::Active);
}

/// `bids_for_day`: the delivery day's bids of every bot or of one, every state, by bot then
/// id in byte order; other days and other bots left out.
async fn bids_for_day_selects_by_day_and_bot(store: Arc<dyn Store>) {
    let day = test_day(5);
    let next = day + Days::new(1);
    for (bot, id, d) in
        [("bot-b", "z", day), ("bot-a", "b", day), ("bot-a", "A", day), ("Bot-C", "x", day), ("bot-a", "a", next), ("bot-b", "y", next)]
    {
        store.submit_bid(record(bot, id, d, 12, 300.0)).await.expect("submit");
    }
    store.cancel_bid("bot-b", "z", Utc::now()).await.expect("cancel").expect("cancelled");
    let keys = |v: Vec<vpp_dispatch::store::BidRecord>| v.into_iter().map(|r| format!("{}/{}", r.bid.bot, r.bid.id)).collect::<Vec<_>>();
    assert_eq!(keys(store.bids_for_day(day, None).await.expect("list")), ["Bot-C/x", "bot-a/A", "bot-a/b", "bot-b/z"]);
    assert_eq!(keys(store.bids_for_day(day, Some("bot-a")).await.expect("list")), ["bot-a/A", "bot-a/b"]);
    assert_eq!(keys(store.bids_for_day(next, None).await.expect("list")), ["bot-a/a", "bot-b/y"]);
    assert_eq!(keys(store.bids_for_day(next, Some("Bot-C")).await.expect("list")), Vec::<String>::new());
    assert!(store.bids_for_day(day + Days::new(2), None).await.expect("list").is_empty());
    let all = store.bids_for_day(day, None).await.expect("list");
    assert!(all.iter().all(|r| r.delivery_day == day));
    assert_eq!(all.iter().filter(|r| r.state == BidState::Cancelled).count(), 1, "every state");
}

// ---------------------------------------------------------------------------------------
// Schedules.

/// Versions are 1, 2, … per day; what `publish_schedule` returns is what is stored; a day
/// keeps one day-ahead schedule (re-planning nothing), which `day_ahead` reads.
async fn versions_count_up_per_day_and_one_day_ahead_is_kept(store: Arc<dyn Store>) {
    let (day, other) = (test_day(6), test_day(7));
    assert!(store.day_ahead(day).await.expect("read").is_none());
    assert!(store.schedule(day, None).await.expect("read").is_none());
    let mut first = new_schedule(day, 0, "ahead");
    first.published_at = odd_time();
    let v1 = store.publish_schedule(first).await.expect("publish");
    assert_eq!((v1.day, v1.version, v1.replans_version), (day, 1, 0));
    assert_eq!(v1.inputs_sha256, inputs_sha256("plant", "{\"tag\":\"ahead\"}", "{}"));
    let v2 = store.publish_schedule(new_schedule(day, 1, "r1")).await.expect("publish");
    let v3 = store.publish_schedule(new_schedule(day, 2, "r2")).await.expect("publish");
    assert_eq!((v2.version, v2.replans_version, v3.version, v3.replans_version), (2, 1, 3, 2));
    // Another day counts from 1.
    let o1 = store.publish_schedule(new_schedule(other, 0, "other")).await.expect("publish");
    assert_eq!(o1.version, 1);
    // A second day-ahead schedule is refused and stores nothing.
    match store.publish_schedule(new_schedule(day, 0, "again")).await {
        Err(StoreError::DayAheadExists { day: d, version }) => assert_eq!((d, version), (day, 1)),
        other => panic!("a second day-ahead schedule: {other:?}"),
    }
    assert_eq!(store.list_schedules(day, day).await.expect("list"), vec![v1.clone(), v2, v3]);
    let ahead = store.day_ahead(day).await.expect("read").expect("the day-ahead schedule");
    assert_eq!(ahead.info, v1, "as published (timestamps as stored)");
    assert_eq!(ahead.forecast_json, "{\"tag\":\"ahead\"}");
    assert_eq!(store.day_ahead(other).await.expect("read").map(|r| r.info), Some(o1));
}

/// `schedule(day, Some(v))` is version v with the inputs it was published with; `None` is
/// the latest; versions never published are absent; NaN numbers survive.
async fn schedule_reads_a_version_or_the_latest(store: Arc<dyn Store>) {
    let day = test_day(8);
    let mut published = Vec::new();
    for (k, replans) in [0u32, 1, 1].into_iter().enumerate() {
        let mut s = new_schedule(day, replans, &format!("v{}", k + 1));
        s.plant_toml = format!("plant {k}");
        s.options_json = format!("{{\"k\":{k}}}");
        s.schedule_json = format!("{{\"schedule\":{k}}}");
        s.objective = ["green-share", "cost", "green-energy"][k].into();
        s.green_share = 0.25 * k as f64;
        s.cost_yuan = 1000.0 + k as f64;
        let info = store.publish_schedule(s.clone()).await.expect("publish");
        published.push((s, info));
    }
    for (s, info) in &published {
        let got = store.schedule(day, Some(info.version)).await.expect("read").expect("published");
        assert_eq!(&got.info, info);
        assert_eq!(
            (&got.plant_toml, &got.forecast_json, &got.options_json, &got.schedule_json),
            (&s.plant_toml, &s.forecast_json, &s.options_json, &s.schedule_json)
        );
        assert_eq!(got.info.inputs_sha256, inputs_sha256(&s.plant_toml, &s.forecast_json, &s.options_json));
        assert_eq!(got.info.objective, s.objective);
    }
    let latest = store.schedule(day, None).await.expect("read").expect("latest");
    assert_eq!(latest.info.version, 3);
    assert_eq!(latest.forecast_json, "{\"tag\":\"v3\"}");
    assert!(store.schedule(day, Some(4)).await.expect("read").is_none());
    assert!(store.schedule(day, Some(0)).await.expect("read").is_none());
    assert!(store.schedule(day + Days::new(1), None).await.expect("read").is_none());
    // NaN (a share of no demand) is stored and read back as NaN.
    let mut odd = new_schedule(day, 3, "nan");
    odd.green_share = f64::NAN;
    odd.cost_yuan = f64::NAN;
    let v4 = store.publish_schedule(odd).await.expect("publish");
    let got = store.schedule(day, Some(v4.version)).await.expect("read").expect("published");
    assert!(got.info.green_share.is_nan() && got.info.cost_yuan.is_nan(), "{:?}", got.info);
}

/// `list_schedules(from, to)`: every version of the days in `[from, to]`, by day then
/// version, whatever the publication order.
async fn list_schedules_covers_the_days_in_range(store: Arc<dyn Store>) {
    let d = test_day(9);
    let (d1, d2, d3) = (d + Days::new(1), d + Days::new(2), d + Days::new(3));
    store.publish_schedule(new_schedule(d3, 0, "d3")).await.expect("publish");
    store.publish_schedule(new_schedule(d, 0, "d")).await.expect("publish");
    store.publish_schedule(new_schedule(d1, 0, "d1")).await.expect("publish");
    store.publish_schedule(new_schedule(d, 1, "d-2")).await.expect("publish");
    let keys = |v: Vec<vpp_dispatch::store::ScheduleInfo>| v.into_iter().map(|i| (i.day, i.version)).collect::<Vec<_>>();
    assert_eq!(keys(store.list_schedules(d, d3).await.expect("list")), [(d, 1), (d, 2), (d1, 1), (d3, 1)]);
    assert_eq!(keys(store.list_schedules(d1, d2).await.expect("list")), [(d1, 1)]);
    assert_eq!(keys(store.list_schedules(d, d).await.expect("list")), [(d, 1), (d, 2)]);
    assert!(store.list_schedules(d2, d2).await.expect("list").is_empty());
    assert!(store.list_schedules(d3, d).await.expect("list").is_empty(), "from after to");
}

/// Re-plans published at once get the versions after the day-ahead one, each once;
/// day-ahead publications of one day at once: one wins, the others are refused.
async fn concurrent_publications_get_distinct_versions(store: Arc<dyn Store>) {
    let (day, day2) = (test_day(10), test_day(11));
    store.publish_schedule(new_schedule(day, 0, "ahead")).await.expect("publish");
    let mut tasks = Vec::new();
    for k in 0..12 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move { store.publish_schedule(new_schedule(day, 1, &format!("r{k}"))).await }));
    }
    let mut versions = Vec::new();
    for t in tasks {
        versions.push(t.await.expect("task").expect("a re-plan publishes").version);
    }
    versions.sort_unstable();
    assert_eq!(versions, (2..=13).collect::<Vec<u32>>());

    let mut tasks = Vec::new();
    for k in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move { store.publish_schedule(new_schedule(day2, 0, &format!("race-{k}"))).await }));
    }
    let mut won = Vec::new();
    for t in tasks {
        match t.await.expect("task") {
            Ok(info) => won.push(info),
            Err(StoreError::DayAheadExists { day: d, .. }) => assert_eq!(d, day2),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won.len(), 1, "one day-ahead publication wins");
    assert_eq!(won[0].version, 1);
    assert_eq!(store.list_schedules(day2, day2).await.expect("list"), won);
}

// ---------------------------------------------------------------------------------------
// The clearing lock, the feed, closing.

/// One caller at a time holds a day's clearing lock; other days are free; releasing or
/// dropping the lock lets the next caller in.
async fn the_clearing_lock_excludes_other_callers_until_released_or_dropped(store: Arc<dyn Store>) {
    let (day, other) = (test_day(12), test_day(13));
    let held = lock_within(&store, day, Duration::from_secs(5)).await.expect("a free lock is taken at once");
    assert_eq!(held.day(), day);
    assert!(lock_within(&store, day, Duration::from_millis(300)).await.is_none(), "a second caller waits");
    let free = lock_within(&store, other, Duration::from_secs(5)).await.expect("another day is free");
    assert_eq!(free.day(), other);
    free.release().await;
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move { store.lock_clearing(day).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "the waiter waits while the lock is held");
    held.release().await;
    let next =
        tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("taken after release").expect("task").expect("lock_clearing");
    assert!(lock_within(&store, day, Duration::from_millis(300)).await.is_none(), "held by the waiter now");
    drop(next);
    let again = lock_within(&store, day, Duration::from_secs(5)).await.expect("taken after a drop");
    again.release().await;
}

/// `remote_publications` starts at most one feed (a second call is `None`), and a store's
/// own publications never come back through it.
async fn remote_publications_start_once_and_skip_this_stores_own(store: Arc<dyn Store>) {
    let feed = store.remote_publications().await.expect("remote_publications");
    assert!(store.remote_publications().await.expect("remote_publications").is_none(), "one feed per store");
    let day = test_day(14);
    store.publish_schedule(new_schedule(day, 0, "mine")).await.expect("publish");
    if let Some(mut feed) = feed {
        let echo = tokio::time::timeout(Duration::from_millis(700), feed.recv()).await;
        assert!(echo.is_err(), "this store's own publication came back: {echo:?}");
    }
}

/// After `close`, calls fail as unavailable; closing again is harmless.
async fn a_closed_store_refuses_calls(store: Arc<dyn Store>) {
    let day = test_day(15);
    store.submit_bid(record("bot-a", "before", day, 4, 100.0)).await.expect("submit");
    store.close().await;
    let unavailable = |what: &str, r: Result<(), StoreError>| match r {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("{what} after close: {other:?}"),
    };
    unavailable("submit", store.submit_bid(record("bot-a", "after", day, 4, 100.0)).await.map(drop));
    unavailable("amend", store.amend_bid("bot-a", "before", 1.0, 1.0, Utc::now()).await.map(drop));
    unavailable("read", store.bid("bot-a", "before").await.map(drop));
    unavailable("list", store.bids_for_day(day, None).await.map(drop));
    unavailable("publish", store.publish_schedule(new_schedule(day, 0, "after")).await.map(drop));
    unavailable("schedule", store.schedule(day, None).await.map(drop));
    store.close().await;
}

fn reading(meter: &str, quantity: &str, start: DateTime<Utc>, wh: i64, reason: Option<&str>) -> NewReading {
    NewReading {
        meter: meter.into(),
        quantity: quantity.into(),
        interval_start: start,
        interval_minutes: 15,
        value_wh: wh,
        reason: reason.map(str::to_string),
        source: "test".into(),
        // Microseconds: what both backends keep.
        received_at: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
    }
}

/// Readings: a new key is revision 1, a redelivery answers with what is stored (also of a
/// superseded revision), a different value without a reason is refused and changes
/// nothing, with a reason it is the next revision; reads give the latest revision in a
/// range, and the whole trail of a key.
async fn readings_are_exactly_once_and_corrections_are_revisions(store: Arc<dyn Store>) {
    let t0 = DateTime::from_timestamp(1_790_000_100, 0).unwrap();
    let t1 = t0 + chrono::Duration::minutes(15);
    let first = store
        .put_readings(vec![reading("shihe_park", "consumption", t0, 5_000_000, None), reading("shihe_pv", "output", t0, 7, None)])
        .await
        .unwrap();
    assert!(
        matches!(&first[..], [ReadingOutcome::Created(a), ReadingOutcome::Created(b)] if a.revision == 1 && b.revision == 1),
        "{first:?}"
    );
    let again = store.put_readings(vec![reading("shihe_park", "consumption", t0, 5_000_000, None)]).await.unwrap();
    assert!(matches!(&again[..], [ReadingOutcome::Existing(r)] if r.revision == 1 && r.reading.value_wh == 5_000_000), "{again:?}");
    let refused = store.put_readings(vec![reading("shihe_park", "consumption", t0, 6_000_000, None)]).await.unwrap();
    assert!(matches!(&refused[..], [ReadingOutcome::Conflict(r)] if r.reading.value_wh == 5_000_000), "{refused:?}");
    let corrected = store.put_readings(vec![reading("shihe_park", "consumption", t0, 6_000_000, Some("meter swapped"))]).await.unwrap();
    assert!(matches!(&corrected[..], [ReadingOutcome::Corrected(r)] if r.revision == 2), "{corrected:?}");
    // The first value delivered again (a broker's redelivery) is not a change back.
    let late = store.put_readings(vec![reading("shihe_park", "consumption", t0, 5_000_000, None)]).await.unwrap();
    assert!(matches!(&late[..], [ReadingOutcome::Existing(r)] if r.revision == 1), "{late:?}");
    store.put_readings(vec![reading("shihe_park", "consumption", t1, 1, None)]).await.unwrap();
    // One key three times in one batch: stored once, then a redelivery, then a conflict.
    let t2 = t1 + chrono::Duration::minutes(15);
    let same = store
        .put_readings(vec![
            reading("pingqiao_park", "consumption", t2, 9, None),
            reading("pingqiao_park", "consumption", t2, 9, None),
            reading("pingqiao_park", "consumption", t2, 10, None),
        ])
        .await
        .unwrap();
    assert!(
        matches!(&same[..], [ReadingOutcome::Created(_), ReadingOutcome::Existing(_), ReadingOutcome::Conflict(r)] if r.reading.value_wh == 9),
        "{same:?}"
    );

    let latest = store.readings(t0, t1).await.unwrap();
    let keys: Vec<(&str, i64, u32)> = latest.iter().map(|r| (r.reading.meter.as_str(), r.reading.value_wh, r.revision)).collect();
    assert_eq!(keys, [("shihe_park", 6_000_000, 2), ("shihe_pv", 7, 1)]);
    assert_eq!(store.readings(t0, t1 + chrono::Duration::minutes(15)).await.unwrap().len(), 3);
    assert_eq!(store.readings(t0, t2 + chrono::Duration::minutes(15)).await.unwrap().len(), 4);
    let trail = store.reading_revisions("shihe_park", "consumption", t0).await.unwrap();
    assert_eq!(trail.len(), 2);
    assert_eq!((trail[0].reading.value_wh, trail[0].reading.reason.as_deref()), (5_000_000, None));
    assert_eq!((trail[1].reading.value_wh, trail[1].reading.reason.as_deref()), (6_000_000, Some("meter swapped")));
    assert_eq!(trail[1].reading.received_at, reading("x", "output", t0, 0, None).received_at);
}

/// Eight writers deliver the same reading at once: one creates it, the others get it back.
async fn concurrent_readings_of_one_key_store_it_once(store: Arc<dyn Store>) {
    let t0 = DateTime::from_timestamp(1_790_000_100, 0).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move { store.put_readings(vec![reading("shihe_park", "consumption", t0, 42, None)]).await }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap().unwrap().as_slice() {
            [ReadingOutcome::Created(_)] => created += 1,
            [ReadingOutcome::Existing(r)] => assert_eq!(r.reading.value_wh, 42),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(store.reading_revisions("shihe_park", "consumption", t0).await.unwrap().len(), 1);
}

/// The built ledger's bookkeeping: a new reading or a correction marks its hour (a
/// redelivery or a conflict does not); built days are stored and read back; storing them
/// removes a mark only at the generation the builder saw, so a change made meanwhile stays
/// marked; the ledger lock excludes a second builder until dropped.
async fn readings_mark_their_days_and_built_days_consume_only_the_marks_they_saw(store: Arc<dyn Store>) {
    assert_eq!(store.readings_span().await.unwrap(), None);
    assert!(store.ledger_dirty().await.unwrap().is_empty());
    let t0 = DateTime::from_timestamp(1_790_000_100, 0).unwrap(); // Unix hour 497222
    let t1 = t0 + chrono::Duration::days(2);
    let hour0 = t0.timestamp() / 3_600;
    store
        .put_readings(vec![reading("shihe_park", "consumption", t0, 5, None), reading("shihe_park", "consumption", t1, 6, None)])
        .await
        .unwrap();
    assert_eq!(store.readings_span().await.unwrap(), Some((t0, t1)));
    let marks = store.ledger_dirty().await.unwrap();
    assert_eq!(marks, [DirtyMark { utc_hour: hour0, generation: 1 }, DirtyMark { utc_hour: hour0 + 48, generation: 1 }]);
    // A redelivery and a conflict change nothing; a correction is a change.
    store
        .put_readings(vec![reading("shihe_park", "consumption", t0, 5, None), reading("shihe_park", "consumption", t0, 7, None)])
        .await
        .unwrap();
    assert_eq!(store.ledger_dirty().await.unwrap(), marks);
    store.put_readings(vec![reading("shihe_park", "consumption", t0, 7, Some("CT ratio"))]).await.unwrap();
    let now = store.ledger_dirty().await.unwrap();
    assert_eq!(now[0], DirtyMark { utc_hour: hour0, generation: 2 });

    // A builder that saw generation 1 of hour0 (before the correction) leaves it marked;
    // the mark of hour0 + 48 it saw goes.
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let row = |day: &str, closing: &str| NewLedgerDay {
        record: LedgerDayRecord {
            day: d(day),
            basis: "b1".into(),
            parks_json: format!("[\"{day}\"]"),
            built_at: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
        },
        closing_json: closing.into(),
    };
    store.put_ledger_days(vec![row("2026-09-21", "c1"), row("2026-09-23", "c3")], marks.clone()).await.unwrap();
    assert_eq!(store.ledger_dirty().await.unwrap(), [DirtyMark { utc_hour: hour0, generation: 2 }]);
    let days = store.ledger_days(d("2026-09-20"), d("2026-09-30")).await.unwrap();
    assert!(
        days.iter().all(|r| r.built_at == DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap()),
        "built_at read back exactly"
    );
    assert_eq!(
        days.iter().map(|r| (r.day, r.basis.as_str(), r.parks_json.as_str())).collect::<Vec<_>>(),
        [(d("2026-09-21"), "b1", "[\"2026-09-21\"]"), (d("2026-09-23"), "b1", "[\"2026-09-23\"]")]
    );
    assert_eq!(store.ledger_days(d("2026-09-22"), d("2026-09-22")).await.unwrap(), []);
    assert_eq!(store.ledger_closing(d("2026-09-23")).await.unwrap(), Some(("b1".into(), "c3".into())));
    assert_eq!(store.ledger_closing(d("2026-09-22")).await.unwrap(), None);
    // A rebuild replaces the day; the current generation is consumed.
    store.put_ledger_days(vec![row("2026-09-21", "c1b")], store.ledger_dirty().await.unwrap()).await.unwrap();
    assert_eq!(store.ledger_closing(d("2026-09-21")).await.unwrap(), Some(("b1".into(), "c1b".into())));
    assert!(store.ledger_dirty().await.unwrap().is_empty());

    // One builder at a time.
    let held = store.lock_ledger().await.unwrap();
    let other = store.clone();
    let second = tokio::spawn(async move { other.lock_ledger().await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "a second builder waits for the first");
    drop(held);
    tokio::time::timeout(Duration::from_secs(10), second).await.expect("the lock is free once dropped").unwrap().unwrap();
}

// ---------------------------------------------------------------------------------------
// Warm starts.

fn kept(key: &str, status: u8, share: Option<f64>) -> vpp_dispatch::model::KeptStart {
    vpp_dispatch::model::KeptStart { key: key.into(), cols: vec![status, 1, 0], rows: vec![4, status], share }
}

async fn warm_starts_are_replaced_by_key_and_pruned_to_the_newest(store: Arc<dyn Store>) {
    assert!(store.warm_starts(10).await.unwrap().is_empty());
    // Most recently used first; read back in that order, bytes and share exact.
    let first = vec![kept("a", 0, Some(0.123456789012345)), kept("b", 2, None)];
    store.put_warm_starts(first.clone(), 10).await.unwrap();
    assert_eq!(store.warm_starts(10).await.unwrap(), first);
    assert_eq!(store.warm_starts(1).await.unwrap(), first[..1]);
    // A later write replaces a key's row and is newer than every earlier one.
    tokio::time::sleep(Duration::from_millis(2)).await;
    store.put_warm_starts(vec![kept("b", 3, Some(0.5)), kept("c", 1, None)], 10).await.unwrap();
    let now = store.warm_starts(10).await.unwrap();
    assert_eq!(now, vec![kept("b", 3, Some(0.5)), kept("c", 1, None), first[0].clone()]);
    // Only the `keep` newest rows stay.
    tokio::time::sleep(Duration::from_millis(2)).await;
    store.put_warm_starts(vec![kept("d", 4, None)], 2).await.unwrap();
    assert_eq!(store.warm_starts(10).await.unwrap(), vec![kept("d", 4, None), kept("b", 3, Some(0.5))]);
}
