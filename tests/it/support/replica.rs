//! Real `vpp serve` processes on loopback ports ([`Replica`]), and a client that fails over
//! between them as a load balancer would ([`submit_with_failover`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use tonic::Code;
use vpp_dispatch::api::pb;
use vpp_dispatch::api::pb::dispatch_service_client::DispatchServiceClient;
use vpp_dispatch::api::pb::market_service_client::MarketServiceClient;

use crate::repo;
use crate::service::{config_for, req};

/// A free loopback port.
pub(crate) fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `vpp` with no `VPP_*` variables from the test's environment.
pub(crate) fn vpp_command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vpp"));
    for (k, _) in std::env::vars() {
        if k.starts_with("VPP_") {
            c.env_remove(k);
        }
    }
    c.current_dir(repo("")).env("RUST_LOG", "info");
    c
}

/// A `vpp serve` process on a loopback port.
pub(crate) struct Replica {
    pub(crate) name: String,
    config: PathBuf,
    metrics_port: u16,
    log: PathBuf,
    child: Option<Child>,
    channel: Channel,
}

impl Replica {
    /// Starts `vpp serve` on `database` with its config (and `extra` lines) in `dir`, and
    /// waits until it answers health checks.
    pub(crate) async fn start(dir: &Path, name: &str, database: &str, extra: &str) -> Replica {
        let port = free_port();
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, config_for(database, &format!("listen = \"127.0.0.1:{port}\"\n{extra}"))).unwrap();
        let channel = Channel::from_shared(format!("http://127.0.0.1:{port}")).unwrap().connect_lazy();
        let mut r =
            Replica { name: name.into(), config, metrics_port: free_port(), log: dir.join(format!("{name}.log")), child: None, channel };
        r.spawn().await;
        r
    }

    /// Starts the process (again), and waits until it answers health checks.
    pub(crate) async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = vpp_command()
            .args(["serve", "--config", self.config.to_str().unwrap()])
            .env("VPP_METRICS_LISTEN", format!("127.0.0.1:{}", self.metrics_port))
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("vpp serve starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut h = tonic_health::pb::health_client::HealthClient::new(self.channel.clone());
            if h.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("replica {} exited ({status}):\n{}", self.name, self.log_text());
            }
            assert!(Instant::now() < deadline, "replica {} did not come up:\n{}", self.name, self.log_text());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process with SIGKILL.
    pub(crate) fn kill_9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL");
            let _ = c.wait();
        }
    }

    /// Stops the process as an operator would (SIGTERM: it finishes in order, writing
    /// what it keeps to the store), and waits for it to exit.
    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = libc::pid_t::try_from(c.id()).expect("a pid");
            // SAFETY: sending a signal to our own child process, which has not been reaped.
            assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "SIGTERM");
            let status = c.wait().expect("the process exits");
            assert!(status.success(), "replica {} exited with {status}:\n{}", self.name, self.log_text());
        }
    }

    /// Solves this process ran (`vpp_solves_total`, every objective and outcome).
    pub(crate) async fn solves(&self) -> u64 {
        self.counter("vpp_solves_total{").await
    }

    /// The sum of the metric lines that start with `prefix` (a counter's name and `{`, or
    /// the name and labels of one series).
    pub(crate) async fn counter(&self, prefix: &str) -> u64 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).await.expect("metrics endpoint");
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").await.unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).await.unwrap();
        text.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum()
    }

    /// What the process logged so far.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A MarketService client of this replica.
    pub(crate) fn market(&self) -> MarketServiceClient<Channel> {
        MarketServiceClient::new(self.channel.clone())
    }

    /// A MeterService client of this replica.
    pub(crate) fn meters(&self) -> vpp_dispatch::api::pb::meter_service_client::MeterServiceClient<Channel> {
        vpp_dispatch::api::pb::meter_service_client::MeterServiceClient::new(self.channel.clone())
    }

    /// A DispatchService client of this replica.
    pub(crate) fn dispatch(&self) -> DispatchServiceClient<Channel> {
        DispatchServiceClient::new(self.channel.clone()).max_decoding_message_size(64 << 20)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// Submits `b` as `token` through replica `first`, failing over to the next replicas (as a
/// load balancer would) while calls fail for want of a replica. The ack, or the error that
/// is an answer (not a failure to reach a replica).
pub(crate) async fn submit_with_failover(
    markets: &[MarketServiceClient<Channel>],
    first: usize,
    token: &str,
    b: &pb::Bid,
) -> Result<pb::BidAck, tonic::Status> {
    let mut last = None;
    for attempt in 0..60 {
        let mut m = markets[(first + attempt) % markets.len()].clone();
        match m.submit_bid(req(Some(token), b.clone())).await {
            Ok(ack) => return Ok(ack.into_inner()),
            Err(e) if matches!(e.code(), Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Internal) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    }
    panic!("no replica took bid {}: {last:?}", b.bid_id);
}
