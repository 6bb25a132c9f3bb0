//! The MQTT edge: meter readings from a broker, an adapter beside `api` (gRPC) and `web`
//! (HTTP) that reaches the store only through the service's meter view
//! ([`crate::service::Meters::submit`]), as the principal `meter:mqtt` (trusted
//! configuration, not a token).
//!
//! **Topics and payload.** The bridge subscribes at QoS 1 to `{topic}/+/+`; a message on
//! `{topic}/{quantity}/{meter}` (say `vpp/meters/output/shihe_wind`) carries JSON, one
//! reading or an array of them:
//! `{"interval_start": "2026-12-01T03:15:00Z", "value_mwh": 1.25, "reason": "…"}` (`reason`
//! only for a correction). Quantity, meter, interval and value are checked by the service
//! exactly as for the gRPC edge.
//!
//! **Acknowledged after the commit.** The session is persistent (`clean_session = false`,
//! so the broker keeps what is unacknowledged while the bridge is away and redelivers it)
//! and acks are manual: a message is PUBACKed only after the store committed its readings.
//! A crash before the commit means a redelivery; a redelivery after the commit is answered
//! `Existing` by the store (exactly once per (meter, quantity, interval)).
//!
//! **Batches.** What is queued (up to [`MAX_MESSAGES`] messages, waiting at most
//! [`MAX_WAIT`] for more while they keep coming) is submitted as one batch, one store
//! transaction, then each message is acked. A batch the service refuses as invalid is
//! submitted again message by message, so that only the bad ones are refused. A failure
//! of the store (not of the input) is retried with backoff and nothing is acked meanwhile.
//!
//! **A bad message is acked.** An undecodable message (topic outside the layout, payload
//! not the JSON above), one the service refuses (unknown meter or quantity, off the
//! interval grid, out of range) and a conflict (a different value without a reason) are
//! logged (warn, naming the topic and the problem) and counted in
//! `vpp_meter_readings_total{source="mqtt"}` (outcomes `undecodable`, `invalid`,
//! `conflict`), and then acked: no redelivery would make them valid, and an unacked message
//! would come back at every reconnection for ever. The sender learns of it from the log
//! and the metric, not from the broker.
//!
//! **Connection.** Lost connections are retried with backoff (0.1 s doubling to 5 s). An
//! ack is sent only on the connection its message came in on: MQTT redelivers
//! unacknowledged messages on the next connection with their packet identifiers, so a
//! stale ack is left out and the redelivery (answered `Existing`) is acked instead. At
//! shutdown the batch in hand is finished and acked, then the bridge disconnects.
//!
//! Broker limits outside the client's reach: the broker's `max_inflight_messages`
//! (mosquitto: 20) bounds how many unacked messages it sends at once, so the batch size;
//! its `max_queued_messages` (mosquitto: 1000) is how many it keeps for the bridge while
//! the bridge is away or behind, and beyond it mosquitto drops QoS 1 messages: raise it
//! for the bridge's client. A message larger than [`MAX_PACKET_BYTES`] is refused by the
//! client before it can be read or acked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS, SubscribeReasonCode};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::service::{Error, MeterReading, Principal, Service, MAX_READINGS_PER_BATCH};
use crate::store::ReadingOutcome;

/// Most messages in one batch.
pub const MAX_MESSAGES: usize = 1000;
/// Longest a batch waits for more messages after its first.
pub const MAX_WAIT: Duration = Duration::from_millis(20);
/// A batch closes when no further message came within this gap.
const IDLE_GAP: Duration = Duration::from_millis(2);
/// Largest message the bridge reads.
pub const MAX_PACKET_BYTES: usize = 4 << 20;
/// The `source` the readings are stored and counted with.
const SOURCE: &str = "mqtt";
/// Backoff between reconnections and store retries.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Where and how the bridge subscribes (the `[mqtt]` configuration, validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttSettings {
    /// The broker's host.
    pub host: String,
    /// The broker's port.
    pub port: u16,
    /// The topic prefix: readings come on `{topic}/{quantity}/{meter}`.
    pub topic: String,
    /// The client id: the broker keeps the persistent session under it.
    pub client_id: String,
}

impl MqttSettings {
    /// The broker address of `mqtt://host:port` (or `host:port`; port 1883 when left out),
    /// or why it is not one.
    pub fn parse_url(url: &str) -> Result<(String, u16), String> {
        let rest = match url.split_once("://") {
            Some(("mqtt" | "tcp", rest)) => rest,
            Some((scheme, _)) => return Err(format!("'{scheme}://' is not supported: use mqtt://host:port (plain TCP)")),
            None => url,
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains(['/', '?', '@', '#']) {
            return Err(format!("'{url}' is not mqtt://host:port (no path, query or credentials)"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, _)) if !h.ends_with(']') && h.contains(':') => (rest, None), // a bare IPv6 address
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("'{url}' has no host"));
        }
        let port = match port {
            None => 1883,
            Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(|| format!("'{p}' is not a port (1 to 65535)"))?,
        };
        Ok((host.to_string(), port))
    }

    /// Why `topic` cannot be the prefix (empty, a wildcard, a leading or trailing `/`).
    pub fn check_topic(topic: &str) -> Result<(), String> {
        if topic.is_empty() || topic.starts_with('/') || topic.ends_with('/') || topic.contains("//") {
            return Err(format!("'{topic}' must be non-empty levels separated by '/', without a leading or trailing '/'"));
        }
        if topic.contains(['+', '#', '\0']) {
            return Err(format!("'{topic}' must not hold the wildcards '+' or '#'"));
        }
        Ok(())
    }

    /// Why `id` cannot be the client id (empty, over 128 characters, not printable ASCII).
    pub fn check_client_id(id: &str) -> Result<(), String> {
        if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("'{id}' must be 1 to 128 printable ASCII characters without spaces"));
        }
        Ok(())
    }

    /// What the bridge subscribes to.
    fn filter(&self) -> String {
        format!("{}/+/+", self.topic)
    }
}

/// A message as it came from the broker, with the connection it came on.
struct Delivery {
    publish: Publish,
    connection: u64,
}

/// A message decoded: its readings, or why it has none.
struct Message {
    delivery: Delivery,
    readings: Result<Vec<MeterReading>, String>,
}

impl Message {
    fn readings(&self) -> usize {
        self.readings.as_ref().map_or(0, Vec::len)
    }
}

/// Runs the bridge until the service shuts down: connects (and reconnects), subscribes,
/// submits what arrives and acks it after the commit.
pub async fn run(svc: Arc<Service>, metrics: Metrics, settings: MqttSettings) {
    let mut options = MqttOptions::new(settings.client_id.clone(), settings.host.clone(), settings.port);
    options
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_max_packet_size(MAX_PACKET_BYTES, 64 << 10)
        .set_keep_alive(Duration::from_secs(30));
    let (client, eventloop) = AsyncClient::new(options, 2 * MAX_MESSAGES);
    let connection = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    tracing::info!(broker = %format!("{}:{}", settings.host, settings.port), filter = %settings.filter(), client_id = %settings.client_id, "MQTT bridge starting");
    let conn_task =
        tokio::spawn(connect(eventloop, client.clone(), settings, connection.clone(), tx, svc.shutdown().clone(), stop.clone()));
    let bridge = Bridge { svc, metrics, client: client.clone(), connection };
    bridge.process(rx).await;
    // The batch in hand is acked (its acks are queued); disconnect after them, then stop.
    let _ = client.try_disconnect();
    let mut conn_task = conn_task;
    if tokio::time::timeout(Duration::from_secs(2), &mut conn_task).await.is_err() {
        stop.cancel();
        let _ = conn_task.await;
    }
    tracing::info!("MQTT bridge stopped");
}

/// Polls the connection: forwards messages, resubscribes on every connection, reconnects
/// with backoff. Ends when the disconnect requested at shutdown went out, or on `stop`.
async fn connect(
    mut eventloop: EventLoop,
    client: AsyncClient,
    settings: MqttSettings,
    connection: Arc<AtomicU64>,
    tx: mpsc::UnboundedSender<Delivery>,
    shutdown: CancellationToken,
    stop: CancellationToken,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return,
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff = BACKOFF_MIN;
                connection.fetch_add(1, Ordering::SeqCst);
                tracing::info!(session_present = ack.session_present, "MQTT connected");
                // Through the request channel, which this loop drains: not awaited here.
                let (client, filter) = (client.clone(), settings.filter());
                tokio::spawn(async move {
                    if let Err(e) = client.subscribe(filter.clone(), QoS::AtLeastOnce).await {
                        tracing::warn!(%filter, error = %e, "MQTT subscribe could not be queued");
                    }
                });
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                if ack.return_codes.iter().any(|c| matches!(c, SubscribeReasonCode::Failure)) {
                    tracing::error!(filter = %settings.filter(), "the MQTT broker refused the subscription");
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let delivery = Delivery { publish, connection: connection.load(Ordering::SeqCst) };
                if tx.send(delivery).is_err() {
                    // The processor has stopped (shutdown): unacked, so redelivered later.
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(e) => {
                // Acks of this connection's messages are now stale (see the module's top).
                connection.fetch_add(1, Ordering::SeqCst);
                if shutdown.is_cancelled() {
                    return;
                }
                tracing::warn!(broker = %format!("{}:{}", settings.host, settings.port), error = %e, retry_in_ms = backoff.as_millis() as u64, "MQTT connection lost");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// The processing half: batches, submits, acks.
struct Bridge {
    svc: Arc<Service>,
    metrics: Metrics,
    client: AsyncClient,
    connection: Arc<AtomicU64>,
}

impl Bridge {
    /// Until shutdown (or the connection half ending): gather a batch, handle it.
    async fn process(&self, mut rx: mpsc::UnboundedReceiver<Delivery>) {
        let shutdown = self.svc.shutdown().clone();
        let mut carry: Option<Message> = None;
        loop {
            let first = match carry.take() {
                Some(m) => m,
                None => tokio::select! {
                    () = shutdown.cancelled() => return,
                    d = rx.recv() => match d {
                        Some(d) => decode(d),
                        None => return,
                    },
                },
            };
            let mut batch = vec![first];
            carry = gather(&mut rx, &mut batch).await;
            if !self.handle(batch).await {
                return;
            }
        }
    }

    /// Submits a batch and acks its messages; `false` when shutdown came first (nothing
    /// of what was not committed is acked).
    async fn handle(&self, batch: Vec<Message>) -> bool {
        let mut good = Vec::with_capacity(batch.len());
        for m in batch {
            match &m.readings {
                Ok(_) => good.push(m),
                Err(problem) => {
                    tracing::warn!(topic = %m.delivery.publish.topic, %problem, "MQTT message undecodable, dropped (acked)");
                    self.count("undecodable", 1);
                    self.ack(&m.delivery).await;
                }
            }
        }
        if good.is_empty() {
            return true;
        }
        let all: Vec<MeterReading> = good.iter().flat_map(|m| m.readings.iter().flatten().cloned()).collect();
        match self.submit(all).await {
            None => false,
            Some(Ok(outcomes)) => {
                let mut outcomes = outcomes.into_iter();
                for m in &good {
                    let mine: Vec<ReadingOutcome> = outcomes.by_ref().take(m.readings()).collect();
                    self.report(m, &mine);
                    self.ack(&m.delivery).await;
                }
                true
            }
            Some(Err(problem)) if good.len() == 1 => {
                self.refuse(&good[0], &problem).await;
                true
            }
            Some(Err(_)) => {
                // Isolate the bad message(s): one by one.
                for m in &good {
                    let readings = m.readings.clone().unwrap_or_default();
                    match self.submit(readings).await {
                        None => return false,
                        Some(Ok(outcomes)) => {
                            self.report(m, &outcomes);
                            self.ack(&m.delivery).await;
                        }
                        Some(Err(problem)) => self.refuse(m, &problem).await,
                    }
                }
                true
            }
        }
    }

    /// The service's answer: outcomes, or the refusal of invalid input; `None` when
    /// shutdown came while the store was failing (retried with backoff until then).
    async fn submit(&self, readings: Vec<MeterReading>) -> Option<Result<Vec<ReadingOutcome>, String>> {
        let who = Principal::Meter { name: SOURCE.into() };
        let meters = match self.svc.meter(&who) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "the MQTT bridge may not submit readings");
                return None;
            }
        };
        let mut backoff = BACKOFF_MIN;
        loop {
            match meters.submit(readings.clone(), SOURCE).await {
                Ok(accepted) => return Some(Ok(accepted.into_iter().map(|a| a.outcome).collect())),
                Err(Error::Invalid(problem)) => return Some(Err(problem)),
                Err(e) => {
                    tracing::warn!(error = %e, readings = readings.len(), retry_in_ms = backoff.as_millis() as u64, "MQTT readings not stored; retrying (not acked)");
                    tokio::select! {
                        () = self.svc.shutdown().cancelled() => return None,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Logs the conflicts among a message's outcomes (already counted by the service).
    fn report(&self, m: &Message, outcomes: &[ReadingOutcome]) {
        for o in outcomes {
            if let ReadingOutcome::Conflict(stored) = o {
                let r = &stored.reading;
                tracing::warn!(
                    topic = %m.delivery.publish.topic,
                    interval_start = %r.interval_start.to_rfc3339(),
                    stored_revision = stored.revision,
                    problem = "a different value than the one stored, without a reason: refused (send a reason to correct it)",
                    "MQTT reading in conflict, dropped (acked)"
                );
            }
        }
    }

    /// A message the service refused: logged, counted, acked.
    async fn refuse(&self, m: &Message, problem: &str) {
        tracing::warn!(topic = %m.delivery.publish.topic, %problem, "MQTT message refused, dropped (acked)");
        self.count("invalid", m.readings().max(1) as u64);
        self.ack(&m.delivery).await;
    }

    fn count(&self, outcome: &str, n: u64) {
        self.metrics.readings.with_label_values(&[SOURCE, outcome]).inc_by(n);
    }

    /// Acks a message, if it came on the present connection (else the broker redelivers
    /// it, and the redelivery is acked).
    async fn ack(&self, d: &Delivery) {
        if d.connection != self.connection.load(Ordering::SeqCst) {
            return;
        }
        tokio::select! {
            // At shutdown with the request channel full: left to the redelivery.
            () = self.svc.shutdown().cancelled() => {
                let _ = self.client.try_ack(&d.publish);
            }
            r = self.client.ack(&d.publish) => {
                if let Err(e) = r {
                    tracing::warn!(topic = %d.publish.topic, error = %e, "MQTT ack not sent; the broker will redeliver");
                }
            }
        }
    }
}

/// Adds to `batch` what is queued: until [`MAX_MESSAGES`], [`MAX_READINGS_PER_BATCH`]
/// readings, [`MAX_WAIT`] after the first, or a gap of [`IDLE_GAP`]. A message that would
/// overfill the batch is returned, for the next one.
async fn gather(rx: &mut mpsc::UnboundedReceiver<Delivery>, batch: &mut Vec<Message>) -> Option<Message> {
    let deadline = Instant::now() + MAX_WAIT;
    let mut readings: usize = batch.iter().map(Message::readings).sum();
    while batch.len() < MAX_MESSAGES {
        let next = match rx.try_recv() {
            Ok(d) => d,
            Err(mpsc::error::TryRecvError::Disconnected) => return None,
            Err(mpsc::error::TryRecvError::Empty) => {
                let wait = deadline.saturating_duration_since(Instant::now()).min(IDLE_GAP);
                match tokio::time::timeout(wait, rx.recv()).await {
                    Ok(Some(d)) => d,
                    Ok(None) | Err(_) => return None,
                }
            }
        };
        let m = decode(next);
        if readings + m.readings() > MAX_READINGS_PER_BATCH {
            return Some(m);
        }
        readings += m.readings();
        batch.push(m);
    }
    None
}

/// One reading of a payload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    interval_start: DateTime<Utc>,
    value_mwh: f64,
    #[serde(default)]
    reason: Option<String>,
}

fn decode(delivery: Delivery) -> Message {
    let readings = readings_of(&delivery.publish.topic, &delivery.publish.payload);
    Message { delivery, readings }
}

/// The readings of a message on `{prefix}/{quantity}/{meter}`. The prefix is what was
/// subscribed to; quantity and meter are checked by the service.
fn readings_of(topic: &str, payload: &[u8]) -> Result<Vec<MeterReading>, String> {
    let mut levels = topic.rsplitn(3, '/');
    let (Some(meter), Some(quantity), Some(_prefix)) = (levels.next(), levels.next(), levels.next()) else {
        return Err("the topic is not {topic}/{quantity}/{meter}".into());
    };
    if meter.is_empty() || quantity.is_empty() {
        return Err("the topic's quantity and meter must not be empty".into());
    }
    let value: serde_json::Value = serde_json::from_slice(payload).map_err(|e| format!("the payload is not JSON: {e}"))?;
    let items = match value {
        serde_json::Value::Array(items) if items.is_empty() => return Err("the payload is an empty array".into()),
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    let many = items.len() > 1;
    items
        .into_iter()
        .enumerate()
        .map(|(k, item)| {
            let p: Payload = serde_json::from_value(item).map_err(|e| {
                let at = if many { format!("payload[{k}]") } else { "payload".into() };
                format!("{at}: {e} (expected {{\"interval_start\": RFC 3339, \"value_mwh\": number, \"reason\": optional text}})")
            })?;
            Ok(MeterReading {
                meter: meter.to_string(),
                quantity: quantity.to_string(),
                interval_start: p.interval_start,
                value_mwh: p.value_mwh,
                reason: p.reason,
            })
        })
        .collect()
}

/// The payload of one reading, as the bridge reads it.
fn payload_of(r: &MeterReading) -> serde_json::Value {
    let mut v = serde_json::json!({ "interval_start": r.interval_start.to_rfc3339(), "value_mwh": r.value_mwh });
    if let Some(reason) = &r.reason {
        v["reason"] = serde_json::Value::String(reason.clone());
    }
    v
}

/// Readings per published message (one meter and quantity, a JSON array).
const PUBLISH_BATCH: usize = 96;

/// Publishes `readings` to the broker at `url` as a meter or data logger would: on
/// `{topic}/{quantity}/{meter}`, JSON arrays of up to 96 readings, QoS 1, in order; returns
/// once the broker has acknowledged every message (PUBACK), with how many there were.
pub async fn publish(url: &str, topic: &str, client_id: &str, readings: &[MeterReading]) -> Result<usize, String> {
    let (host, port) = MqttSettings::parse_url(url)?;
    MqttSettings::check_topic(topic)?;
    MqttSettings::check_client_id(client_id)?;
    // Group by (quantity, meter), keeping each group's order.
    let mut groups: Vec<((String, String), Vec<&MeterReading>)> = Vec::new();
    for r in readings {
        let key = (r.quantity.clone(), r.meter.clone());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    let messages: Vec<(String, Vec<u8>)> = groups
        .iter()
        .flat_map(|((quantity, meter), list)| {
            list.chunks(PUBLISH_BATCH).map(move |chunk| {
                let body = serde_json::Value::Array(chunk.iter().map(|r| payload_of(r)).collect());
                (format!("{topic}/{quantity}/{meter}"), body.to_string().into_bytes())
            })
        })
        .collect();
    let mut options = MqttOptions::new(client_id, host, port);
    options.set_clean_session(true).set_max_packet_size(MAX_PACKET_BYTES, 64 << 10).set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = AsyncClient::new(options, messages.len().max(1) + 8);
    let total = messages.len();
    let sender = client.clone();
    let queue = tokio::spawn(async move {
        for (topic, body) in messages {
            if sender.publish(topic, QoS::AtLeastOnce, false, body).await.is_err() {
                return;
            }
        }
    });
    let mut acked = 0;
    let done = tokio::time::timeout(Duration::from_secs(120), async {
        while acked < total {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(e) => return Err(format!("the broker at {url}: {e}")),
            }
        }
        Ok(())
    })
    .await;
    queue.abort();
    let _ = client.try_disconnect();
    match done {
        Ok(Ok(())) => Ok(total),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("the broker at {url} acknowledged {acked} of {total} messages in 120 s")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(MqttSettings::parse_url("mqtt://127.0.0.1:1883"), Ok(("127.0.0.1".into(), 1883)));
        assert_eq!(MqttSettings::parse_url("broker.local"), Ok(("broker.local".into(), 1883)));
        assert_eq!(MqttSettings::parse_url("tcp://[::1]:1884"), Ok(("::1".into(), 1884)));
        assert!(MqttSettings::parse_url("mqtts://x:8883").unwrap_err().contains("not supported"));
        assert!(MqttSettings::parse_url("mqtt://x:0").is_err());
        assert!(MqttSettings::parse_url("mqtt://x:1883/path").is_err());
        assert!(MqttSettings::parse_url("mqtt://:1883").is_err());
    }

    #[test]
    fn topics_and_ids() {
        assert!(MqttSettings::check_topic("vpp/meters").is_ok());
        for bad in ["", "/vpp", "vpp/", "vpp//m", "vpp/+", "vpp/#"] {
            assert!(MqttSettings::check_topic(bad).is_err(), "{bad}");
        }
        assert!(MqttSettings::check_client_id("vpp-dispatch").is_ok());
        assert!(MqttSettings::check_client_id("").is_err());
        assert!(MqttSettings::check_client_id("a b").is_err());
    }

    #[test]
    fn payloads() {
        let one = readings_of("vpp/meters/output/w1", br#"{"interval_start":"2026-12-01T03:15:00Z","value_mwh":1.25}"#).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!((one[0].meter.as_str(), one[0].quantity.as_str(), one[0].value_mwh), ("w1", "output", 1.25));
        let many = readings_of(
            "a/output/w1",
            br#"[{"interval_start":"2026-12-01T03:15:00Z","value_mwh":1},{"interval_start":"2026-12-01T03:30:00Z","value_mwh":2,"reason":"fix"}]"#,
        )
        .unwrap();
        assert_eq!(many[1].reason.as_deref(), Some("fix"));
        assert!(readings_of("a/output/w1", b"nope").unwrap_err().contains("not JSON"));
        assert!(readings_of("a/output/w1", b"[]").unwrap_err().contains("empty"));
        let e = readings_of("a/output/w1", br#"[{"interval_start":"2026-12-01T03:15:00Z","value_mwh":1},{"value_mwh":2}]"#).unwrap_err();
        assert!(e.starts_with("payload[1]: missing field `interval_start`"), "{e}");
        assert!(readings_of("a/output/w1", br#"{"interval_start":"x","value_mwh":1}"#).is_err());
        assert!(readings_of("a/output/w1", br#"{"interval_start":"2026-12-01T03:15:00Z","value":1}"#).is_err());
        assert!(readings_of("output/w1", b"{}").is_err());
    }
}
