//! Warm starts kept in the store (issue 16): a restarted `vpp serve`, or a new replica on
//! the same PostgreSQL database, starts its first solve from the bases an earlier process
//! kept, and still returns the schedule a cold start gives. Real processes, a real SQLite
//! file, a real PostgreSQL server.

use std::time::{Duration, Instant};

use vpp_dispatch::api::pb;
use vpp_dispatch::store::{Database, Store};

use crate::near;
use crate::service::{day_ahead, future_day, req, resolve_stored, temp_db, OPERATOR};
use crate::support::pg::PgDb;
use crate::support::replica::Replica;

async fn open(database: &str) -> std::sync::Arc<dyn Store> {
    vpp_dispatch::store::open(&Database::parse(database).expect("a database")).await.expect("the store opens")
}

/// Submits the day-ahead of `days_ahead` days from now (the summer fixture, green share).
async fn submit(r: &Replica, days_ahead: u64) -> pb::Schedule {
    submit_for(r, days_ahead, pb::Objective::Unspecified).await
}

async fn submit_for(r: &Replica, days_ahead: u64, objective: pb::Objective) -> pb::Schedule {
    let (day, fc) = future_day(days_ahead);
    let options = pb::SolveOptions { objective: objective as i32, ..Default::default() };
    r.dispatch().submit_day_ahead(req(Some(OPERATOR), day_ahead(day, &fc, options))).await.expect("solved").into_inner()
}

const HITS: &str = "vpp_warm_start_lookups_total{result=\"hit\"}";
const MISSES: &str = "vpp_warm_start_lookups_total{result=\"miss\"}";

fn report(s: &pb::Schedule) -> &pb::SolverReport {
    s.solver.as_ref().expect("a solver report")
}

fn totals(s: &pb::Schedule) -> (f64, f64) {
    let t = s.totals.as_ref().expect("totals");
    (t.green_share, t.cost_yuan)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_service_starts_warm_from_the_bases_it_kept_in_its_sqlite_file() {
    let db = temp_db("warm-restart");
    let dir = db.parent().unwrap().to_path_buf();
    let database = db.display().to_string();
    let mut vpp = Replica::start(&dir, "warm-restart", &database, "").await;
    let first = submit(&vpp, 3).await;
    assert!(!report(&first).warm_started, "nothing kept yet: the first solve starts cold");
    assert_eq!(vpp.counter(HITS).await, 0);
    assert!(vpp.counter(MISSES).await >= 4, "every kept step missed");
    // Right after the first solve's bases were written: this one's are written at shutdown
    // (or by the next write, 10 s on), before the process exits either way.
    submit_for(&vpp, 6, pb::Objective::Cost).await;
    vpp.stop();

    // What the process kept: the objective's own LPs and the two tie-break stages of both
    // objectives, each basis as long as its key says.
    let store = open(&database).await;
    let kept = store.warm_starts(100).await.unwrap();
    store.close().await;
    assert!(kept.len() >= 7, "kept {:?}", kept.iter().map(|k| &k.key).collect::<Vec<_>>());
    assert!(kept.iter().any(|k| k.key.contains(":cost:")), "the cost-mode solve's bases were written before exit");
    for stage in 0..=2 {
        assert!(kept.iter().any(|k| k.key.split(':').nth(4) == Some(&stage.to_string())), "stage {stage} kept");
    }
    for k in &kept {
        let parts: Vec<&str> = k.key.split(':').collect();
        assert_eq!((k.cols.len().to_string(), k.rows.len().to_string()), (parts[1].into(), parts[2].into()), "{}", k.key);
    }

    // The restarted process has nothing in memory: a warm start can only come from the file.
    vpp.spawn().await;
    let again = submit(&vpp, 4).await;
    assert!(report(&again).warm_started, "the restarted service starts warm");
    assert!(vpp.counter(HITS).await >= 2, "the objective's own LPs start from the file's bases");
    assert!(vpp.log_text().contains("warm starts read back from the store"));
    // The same schedule as a cold solve of the stored inputs (checked there).
    let (_, _, cold) = resolve_stored(&mut vpp.dispatch(), future_day(4).0).await;
    let (share, cost) = totals(&again);
    assert!(
        near(share, cold.totals.green_share, 1e-6) && near(cost, cold.totals.cost_yuan, 1e-6),
        "warm {share} {cost}, cold {:?}",
        cold.totals
    );
    vpp.stop();

    // Switched off, nothing is read back: the same file, and the solve is cold again.
    let mut cold = Replica::start(&dir, "warm-off", &database, "[solver]\nwarm_starts_in_store = false\n").await;
    assert!(!report(&submit(&cold, 5).await).warm_started, "warm starts not kept in the store");
    cold.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_replica_starts_warm_from_the_bases_another_kept_in_postgresql() {
    let db = PgDb::create("warm").await;
    let dir = temp_db("warm-replicas").parent().unwrap().to_path_buf();
    let x = Replica::start(&dir, "x", &db.url, "").await;
    assert!(!report(&submit(&x, 3).await).warm_started);
    // Written soon after the solve, while the replica keeps running.
    let store = open(&db.url).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.warm_starts(100).await.unwrap().len() < 4 {
        assert!(Instant::now() < deadline, "the first solve's bases reach the database:\n{}", x.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    store.close().await;
    let y = Replica::start(&dir, "y", &db.url, "").await;
    assert!(report(&submit(&y, 4).await).warm_started, "the new replica starts warm");
}
