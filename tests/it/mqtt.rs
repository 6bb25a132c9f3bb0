//! Meter readings over MQTT: the real server with its `[mqtt]` bridge, a real broker
//! (Mosquitto), readings published at QoS 1 by a real client, and what was stored read back
//! from the SQLite file. Stored once per key, corrections as revision 2, bad messages
//! dropped without stopping the bridge; and a kill -9 of `vpp serve` mid-stream losing
//! nothing and storing nothing twice.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use sqlx::Row;

use crate::service::{temp_db, Running};
use crate::support::replica::{free_port, Replica};

/// The system broker the machine runs.
const BROKER_PORT: u16 = 1883;

/// A name no other test (nor an earlier run) uses: client ids and topic prefixes.
fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("vpp-it-{name}-{}-{nanos}", std::process::id())
}

fn mqtt_section(port: u16, topic: &str, client_id: &str) -> String {
    format!("[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\ntopic = \"{topic}\"\nclient_id = \"{client_id}\"\n")
}

/// A publishing client at QoS 1 (clean session), counting the broker's PUBACKs.
struct Publisher {
    client: AsyncClient,
    acked: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Publisher {
    async fn connect(port: u16, name: &str) -> Publisher {
        let mut o = MqttOptions::new(unique(name), "127.0.0.1", port);
        o.set_clean_session(true);
        let (client, mut events) = AsyncClient::new(o, 10_000);
        let acked = Arc::new(AtomicUsize::new(0));
        let (connected_tx, connected) = tokio::sync::oneshot::channel();
        let task = {
            let acked = acked.clone();
            tokio::spawn(async move {
                let mut connected_tx = Some(connected_tx);
                loop {
                    match events.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            if let Some(tx) = connected_tx.take() {
                                let _ = tx.send(());
                            }
                        }
                        Ok(Event::Incoming(Packet::PubAck(_))) => {
                            acked.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            })
        };
        tokio::time::timeout(Duration::from_secs(10), connected).await.expect("the broker answers").unwrap();
        Publisher { client, acked, task }
    }

    async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload).await.expect("queued");
    }

    /// Waits until the broker acknowledged `n` publications.
    async fn wait_acked(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.acked.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "the broker acknowledged {} of {n}", self.acked.load(Ordering::SeqCst));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Ends the persistent session the bridge left on the broker under `client_id`.
async fn forget_session(port: u16, client_id: &str) {
    let mut o = MqttOptions::new(client_id, "127.0.0.1", port);
    o.set_clean_session(true);
    let (client, mut events) = AsyncClient::new(o, 10);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.try_disconnect();
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
}

fn payload(at: DateTime<Utc>, mwh: f64, reason: Option<&str>) -> String {
    match reason {
        Some(r) => format!(r#"{{"interval_start":"{}","value_mwh":{mwh},"reason":"{r}"}}"#, at.to_rfc3339()),
        None => format!(r#"{{"interval_start":"{}","value_mwh":{mwh}}}"#, at.to_rfc3339()),
    }
}

/// A stored revision: meter, quantity, interval start (Unix s), revision, Wh, reason, source.
#[derive(Debug, Clone, PartialEq)]
struct Stored {
    meter: String,
    quantity: String,
    start: i64,
    revision: i64,
    wh: i64,
    reason: Option<String>,
    source: String,
}

/// Every stored revision, read from the SQLite file (read-only, beside the running server).
async fn stored(db: &Path) -> Vec<Stored> {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(db).read_only(true);
    let Ok(mut conn) = sqlx::ConnectOptions::connect(&options).await else { return Vec::new() };
    let rows = sqlx::query(
        "SELECT meter, quantity, interval_start, revision, value_wh, reason, source FROM readings ORDER BY meter, quantity, interval_start, revision",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap_or_default();
    rows.iter()
        .map(|r| Stored {
            meter: r.get(0),
            quantity: r.get(1),
            start: r.get(2),
            revision: r.get(3),
            wh: r.get(4),
            reason: r.get(5),
            source: r.get(6),
        })
        .collect()
}

/// Waits (at most `limit`) until what is stored satisfies `done`; what is stored then.
async fn wait_stored(db: &Path, limit: Duration, what: &str, done: impl Fn(&[Stored]) -> bool) -> Vec<Stored> {
    let deadline = Instant::now() + limit;
    loop {
        let s = stored(db).await;
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; stored: {} revisions", s.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn has(s: &[Stored], meter: &str, start: DateTime<Utc>, revision: i64) -> bool {
    s.iter().any(|r| r.meter == meter && r.start == start.timestamp() && r.revision == revision)
}

/// Publishes `body` on `topic` until it is stored: the bridge's subscription is in place
/// once it is (a message before it would have no session to queue in).
async fn publish_until_stored(p: &Publisher, db: &Path, topic: &str, body: &str, meter: &str, at: DateTime<Utc>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        p.publish(topic, body.to_string()).await;
        for _ in 0..10 {
            if has(&stored(db).await, meter, at, 1) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(Instant::now() < deadline, "the bridge never stored the first reading");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_readings_are_stored_once_corrected_and_bad_ones_dropped() {
    let db = temp_db("mqtt");
    let (topic, client_id) = (unique("topic"), unique("bridge"));
    let server = Running::start(&db, &mqtt_section(BROKER_PORT, &topic, &client_id)).await;
    let p = Publisher::connect(BROKER_PORT, "pub").await;
    let t = |k: i64| Utc.with_ymd_and_hms(2026, 12, 1, 3, 15, 0).unwrap() + chrono::Duration::minutes(15 * k);
    let wind = format!("{topic}/output/luoshan_wind");

    // The first reading, published until the bridge has it; then the same message twice more.
    publish_until_stored(&p, &db, &wind, &payload(t(0), 1.25, None), "luoshan_wind", t(0)).await;
    p.publish(&wind, payload(t(0), 1.25, None)).await;
    p.publish(&wind, payload(t(0), 1.25, None)).await;
    // Two readings in one message (an array), a correction with a reason, a conflict (a
    // different value without one).
    p.publish(&wind, format!("[{},{}]", payload(t(1), 2.0, None), payload(t(2), 3.5, None))).await;
    p.publish(&wind, payload(t(0), 1.5, Some("meter recalibrated"))).await;
    p.publish(&wind, payload(t(1), 9.0, None)).await;
    // Bad messages: not JSON, a field missing, an unknown meter, an unknown quantity, off the
    // 15-minute grid, beyond the farm's 25 MWh in 15 minutes, a topic outside the layout.
    p.publish(&wind, "not json").await;
    p.publish(&wind, r#"{"interval_start":"2026-12-01T03:15:00Z"}"#).await;
    p.publish(&format!("{topic}/output/atlantis"), payload(t(3), 1.0, None)).await;
    p.publish(&format!("{topic}/volume/luoshan_wind"), payload(t(3), 1.0, None)).await;
    p.publish(&wind, payload(t(3) + chrono::Duration::minutes(7), 1.0, None)).await;
    p.publish(&wind, payload(t(3), 80.0, None)).await;
    // A later good reading: the bridge is still there.
    p.publish(&wind, payload(t(4), 4.0, None)).await;
    p.wait_acked(13).await;

    let s = wait_stored(&db, Duration::from_secs(10), "the later good reading and the correction", |s| {
        has(s, "luoshan_wind", t(4), 1) && has(s, "luoshan_wind", t(0), 2)
    })
    .await;
    // Give anything wrongly accepted a moment to show up, then read again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s2 = stored(&db).await;
    assert_eq!(s, s2, "nothing more arrived");
    let got: Vec<(String, i64, i64, i64, Option<String>)> =
        s.iter().map(|r| (r.meter.clone(), (r.start - t(0).timestamp()) / 900, r.revision, r.wh, r.reason.clone())).collect();
    assert_eq!(
        got,
        vec![
            ("luoshan_wind".into(), 0, 1, 1_250_000, None),
            ("luoshan_wind".into(), 0, 2, 1_500_000, Some("meter recalibrated".into())),
            ("luoshan_wind".into(), 1, 1, 2_000_000, None),
            ("luoshan_wind".into(), 2, 1, 3_500_000, None),
            ("luoshan_wind".into(), 4, 1, 4_000_000, None),
        ],
        "one revision per key, the correction as revision 2, the conflict and the bad messages refused"
    );
    assert!(s.iter().all(|r| r.source == "mqtt" && r.quantity == "output"));
    server.stop().await;
    forget_session(BROKER_PORT, &client_id).await;
}

/// A broker of the test's own (Mosquitto on a free port), so that nothing it queues is
/// dropped: `max_queued_messages 0` (no limit; the system broker keeps 1000 per client).
struct Broker {
    port: u16,
    child: Child,
}

impl Broker {
    async fn start(dir: &Path) -> Broker {
        let port = free_port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nmax_inflight_messages 1000\n"
            ),
        )
        .unwrap();
        let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].into_iter().find(|p| Path::new(p).exists()).unwrap_or("mosquitto");
        let log = std::fs::File::create(dir.join("mosquitto.log")).unwrap();
        let child =
            Command::new(bin).args(["-c", conf.to_str().unwrap()]).stdout(Stdio::null()).stderr(log).spawn().expect("mosquitto starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not come up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Broker { port, child }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `vpp serve` killed with SIGKILL while readings stream in at QoS 1, then restarted on the
/// same database and client id: the broker redelivers what was not acked, and every reading
/// is stored exactly once (revision 1), none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_kill_9_loses_nothing_and_stores_nothing_twice() {
    const N: i64 = 2_000;
    let db = temp_db("mqtt-kill9");
    let dir: PathBuf = db.parent().unwrap().to_path_buf();
    let broker = Broker::start(&dir).await;
    let (topic, client_id) = (unique("topic"), unique("bridge"));
    let began = Instant::now();
    let mut vpp = Replica::start(&dir, "mqtt-kill9", &db.display().to_string(), &mqtt_section(broker.port, &topic, &client_id)).await;
    let p = Arc::new(Publisher::connect(broker.port, "pub").await);
    let base = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let at = move |k: i64| base + chrono::Duration::minutes(15 * k);
    // A probe on another meter, until the subscription is in place.
    publish_until_stored(&p, &db, &format!("{topic}/output/huaibin_longshan"), &payload(base, 1.0, None), "huaibin_longshan", base).await;

    // N distinct readings, 20 at a time every 5 ms, while the process is killed.
    let wind = format!("{topic}/output/luoshan_wind");
    let published = Arc::new(AtomicUsize::new(0));
    let publishing = {
        let (p, wind, published) = (p.clone(), wind.clone(), published.clone());
        tokio::spawn(async move {
            for k in 0..N {
                p.publish(&wind, payload(at(k), 1.0 + (k % 20) as f64, None)).await;
                published.fetch_add(1, Ordering::SeqCst);
                if k % 20 == 19 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        })
    };
    let count = |s: &[Stored]| s.iter().filter(|r| r.meter == "luoshan_wind").count();
    let at_kill = count(&wait_stored(&db, Duration::from_secs(20), "a fifth of the readings", |s| count(s) as i64 >= N / 5).await);
    vpp.kill_9();
    let killed = Instant::now();
    let published_at_kill = published.load(Ordering::SeqCst);
    let after_kill = count(&stored(&db).await);
    vpp.spawn().await;
    let restarted = killed.elapsed();
    publishing.await.unwrap();
    p.wait_acked(N as usize + 1).await;
    let s = wait_stored(&db, Duration::from_secs(20), "every reading", |s| count(s) as i64 >= N).await;
    let all_stored = began.elapsed();
    // Anything stored twice would show as a second revision: look once more after a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s2 = stored(&db).await;
    assert_eq!(s, s2, "nothing more arrived");
    let wind_rows: Vec<&Stored> = s.iter().filter(|r| r.meter == "luoshan_wind").collect();
    let mut keys: Vec<i64> = wind_rows.iter().map(|r| r.start).collect();
    keys.dedup();
    assert_eq!(keys.len() as i64, N, "every reading stored");
    assert_eq!(wind_rows.len() as i64, N, "each exactly once");
    assert!(wind_rows.iter().all(|r| r.revision == 1 && r.reason.is_none()), "no revision 2: no redelivery stored twice");
    for (k, r) in wind_rows.iter().enumerate() {
        assert_eq!(r.start, at(k as i64).timestamp());
        assert_eq!(r.wh, (1_000_000.0 * (1.0 + (k % 20) as f64)) as i64, "reading {k}");
    }
    assert!((after_kill as i64) < N, "the kill happened mid-stream ({after_kill} of {N} stored at the kill)");
    // Published before the kill, stored only by the restarted process: redelivered.
    let redelivered = published_at_kill.saturating_sub(after_kill);
    eprintln!(
        "mqtt kill -9: {at_kill} of {N} stored when killed ({after_kill} on the file after the kill, {published_at_kill} published), \
         {redelivered} stored after the restart from before the kill, restarted in {:.1} s, all {N} stored exactly once {:.1} s after the start",
        restarted.as_secs_f64(),
        all_stored.as_secs_f64()
    );
    drop(vpp);
    drop(broker);
}

/// The whole loop over MQTT: `vpp meter simulate --mqtt` plays a solved day back as meters
/// would (readings, then late corrections with a reason), the server's bridge stores every
/// reading once and each correction as revision 2, and the park's ledger is the core's
/// ledger of the same readings with the corrections applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_publishes_a_day_and_its_late_corrections_over_mqtt() {
    use vpp_dispatch::api::pb;
    use vpp_dispatch::api::pb::ledger_service_client::LedgerServiceClient;
    use vpp_dispatch::ledger::{readings_from_csv, Ledger, StatementOptions, StorageState};

    let db = temp_db("mqtt-sim");
    let (topic, client_id) = (unique("sim"), unique("bridge"));
    let server = Running::start(&db, &mqtt_section(BROKER_PORT, &topic, &client_id)).await;
    let dir = std::env::temp_dir().join(unique("sim-files"));
    std::fs::create_dir_all(&dir).unwrap();
    let (schedule, readings, late) = (dir.join("s.json"), dir.join("r.csv"), dir.join("late.csv"));
    let path = |x: &PathBuf| x.to_str().unwrap().to_string();
    let vpp = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vpp")).args(args).current_dir(crate::repo("")).output().unwrap();
        assert!(out.status.success(), "vpp {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    vpp(&["solve", "--model", "models/xinyang.toml", "--forecast", "fixtures/forecasts/summer-peak-15.json", "--json", &path(&schedule)]);
    let (s, r, l) = (path(&schedule), path(&readings), path(&late));
    let simulate = [
        "meter",
        "simulate",
        "--model",
        "models/xinyang.toml",
        "--schedule",
        &s,
        "--drop",
        "1",
        "--late",
        "3",
        "--out",
        &r,
        "--late-out",
        &l,
    ];
    vpp(&simulate);
    // The bridge's subscription is in place once a first reading is stored: the day's first
    // reading, which the simulator then sends again (a redelivery, stored once).
    let text = std::fs::read_to_string(&readings).unwrap();
    let first: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    let at = DateTime::parse_from_rfc3339(first[0]).unwrap().with_timezone(&Utc);
    let p = Publisher::connect(BROKER_PORT, "probe").await;
    let probe = format!("{topic}/{}/{}", first[2], first[1]);
    publish_until_stored(&p, &db, &probe, &payload(at, first[3].parse().unwrap(), None), first[1], at).await;
    let broker = format!("mqtt://127.0.0.1:{BROKER_PORT}");
    let mut over_mqtt: Vec<&str> = simulate.to_vec();
    over_mqtt.extend(["--mqtt", &broker, "--topic", &topic]);
    let said = vpp(&over_mqtt);
    assert!(said.contains("acknowledged by the broker"), "{said}");

    let plant = crate::service::plant();
    let mut day = readings_from_csv(&plant, "r.csv", &std::fs::read_to_string(&readings).unwrap(), Some(15)).unwrap();
    let fixes = readings_from_csv(&plant, "late.csv", &std::fs::read_to_string(&late).unwrap(), Some(15)).unwrap();
    let n = day.entries().len();
    let fixed: Vec<(String, i64, i64)> =
        fixes.entries().iter().map(|e| (e.meter.to_string(), fixes.instant(e.t).timestamp(), e.wh)).collect();
    assert_eq!(fixed.len(), 3);
    // Every reading once, the probe, and each correction as revision 2 with its reason.
    let s = wait_stored(&db, Duration::from_secs(60), "the simulated day and its corrections", |s| s.len() == n + 3).await;
    for (meter, start, wh) in &fixed {
        let trail: Vec<&Stored> = s.iter().filter(|r| &r.meter == meter && r.start == *start && r.quantity == "consumption").collect();
        assert_eq!(trail.len(), 2, "{meter} {start}: {trail:?}");
        assert_eq!((trail[1].revision, trail[1].wh, trail[1].reason.as_deref()), (2, *wh, Some("late meter data (simulated)")));
        assert_eq!(trail[1].source, "mqtt");
    }
    for e in fixes.entries() {
        let t = ((fixes.instant(e.t) - day.start).num_minutes() / 15) as usize;
        *day.slot(e.quantity, e.meter, t).unwrap() = Some(e.wh);
    }

    // The park's ledger: the core's, from the same readings and corrections.
    let park = "huangchuan_zero_carbon";
    let local = day.start.with_timezone(&plant.tz()).date_naive().to_string();
    let mut ledgers = LedgerServiceClient::new(server.channel().await).max_decoding_message_size(64 << 20);
    let got = ledgers
        .get_park_ledger(crate::service::req(
            Some(crate::service::HUANGCHUAN),
            pb::ParkLedgerRequest { park: park.into(), from_day: local.clone(), to_day: local, statement_only: true },
        ))
        .await
        .unwrap()
        .into_inner();
    let core = Ledger::build(&plant, day, StorageState::unread(&plant)).unwrap();
    let want = &core.statement(&plant, &StatementOptions::default())[plant.park_index(park).unwrap()].months[0];
    let mwh = |wh: u64| wh as f64 / 1e6;
    assert_eq!((got.months[0].consumption_mwh, got.months[0].green_mwh), (mwh(want.consumption_wh), mwh(want.cancelled_wh())));
    assert_eq!(got.months[0].missing_intervals, want.missing_intervals as u64);
    server.stop().await;
    forget_session(BROKER_PORT, &client_id).await;
}
