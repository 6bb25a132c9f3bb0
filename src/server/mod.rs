//! Wiring: the gRPC server (services behind the auth interceptor, health, reflection, TLS,
//! message-size limits), the metrics endpoint, the web page (`crate::web`), the MQTT bridge
//! (`crate::mqtt`, when `[mqtt]` is configured), and shutdown in order: signal → health
//! NOT_SERVING → streams end → in-flight calls finish, the MQTT bridge acks its last batch
//! and disconnects → the store is closed.
//!
//! `run` takes bound listeners, so tests start the real server on port 0.

pub mod calls;
pub mod config;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::api::pb::dispatch_service_server::DispatchServiceServer;
use crate::api::pb::green_share_service_server::GreenShareServiceServer;
use crate::api::pb::ledger_service_server::LedgerServiceServer;
use crate::api::pb::market_service_server::MarketServiceServer;
use crate::api::pb::meter_service_server::MeterServiceServer;
use crate::api::{pb, DispatchApi, GreenApi, GrpcAuth, LedgerApi, MarketApi, MeterApi};
use crate::domain::Plant;
use crate::metrics::Metrics;
use crate::service::{Authenticator, Service};
use crate::store::Store;

pub use config::{Config, RawConfig};

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The plant file is unusable.
    #[error(transparent)]
    Plant(#[from] crate::domain::plant::PlantError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// TLS files could not be read.
    #[error("TLS: {0}")]
    Tls(String),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Listener or other IO.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// The bound sockets the server runs on.
pub struct Listeners {
    /// gRPC.
    pub grpc: TcpListener,
    /// Prometheus metrics (HTTP), if enabled.
    pub metrics: Option<TcpListener>,
    /// The web page and its JSON API (HTTP), if enabled.
    pub web: Option<TcpListener>,
}

impl Listeners {
    /// Binds the configured addresses.
    pub async fn bind(config: &Config) -> std::io::Result<Listeners> {
        let grpc = TcpListener::bind(config.listen).await?;
        let metrics = match config.metrics_listen {
            Some(a) => Some(TcpListener::bind(a).await?),
            None => None,
        };
        let web = match config.web_listen {
            Some(a) => Some(TcpListener::bind(a).await?),
            None => None,
        };
        Ok(Listeners { grpc, metrics, web })
    }
}

/// Runs the service until `shutdown` resolves, then shuts down in order.
pub async fn run(config: Config, listeners: Listeners, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServerError> {
    let plant = Plant::load(&config.plant)?;
    let plant_toml = std::fs::read_to_string(&config.plant)?;
    let store = crate::store::open(&config.database).await?;
    let metrics = Metrics::new();
    let cancel = CancellationToken::new();
    let svc = Arc::new(Service::new(
        plant,
        plant_toml,
        store.clone() as Arc<dyn Store>,
        crate::service::Rules { market: config.market.clone(), meters: config.meters, limits: config.limits.clone() },
        metrics.clone(),
        cancel.clone(),
    ));
    // Schedules other replicas publish reach this one's streams (PostgreSQL only).
    if let Some(feed) = store.remote_publications().await? {
        tokio::spawn(svc.clone().forward_remote_publications(feed));
    }
    // The measured ledger is built as readings arrive, not only when read.
    tokio::spawn(svc.clone().keep_ledger());
    // Solves start warm from the bases kept in the store, and keep theirs there.
    svc.restore_warm_starts().await;
    let warm_task = tokio::spawn(svc.clone().keep_warm_starts());
    let auth = Authenticator::new(config.tokens.iter().map(|(t, p)| (t.as_str(), p.clone())));

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<DispatchServiceServer<DispatchApi>>().await;
    health.set_serving::<GreenShareServiceServer<GreenApi>>().await;
    health.set_serving::<MarketServiceServer<MarketApi>>().await;
    health.set_serving::<MeterServiceServer<MeterApi>>().await;
    health.set_serving::<LedgerServiceServer<LedgerApi>>().await;
    // Reflection in both versions: grpc.reflection.v1 and v1alpha, which Python's
    // grpcio-reflection, older grpcurl and Postman still ask for.
    let reflection_builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection = reflection_builder().build_v1().map_err(|e| ServerError::Tls(format!("reflection: {e}")))?;
    let reflection_alpha = reflection_builder().build_v1alpha().map_err(|e| ServerError::Tls(format!("reflection: {e}")))?;

    let max = config.max_message_bytes;
    let dispatch =
        DispatchServiceServer::new(DispatchApi::new(svc.clone())).max_decoding_message_size(max).max_encoding_message_size(64 << 20);
    let green = GreenShareServiceServer::new(GreenApi::new(svc.clone())).max_decoding_message_size(max).max_encoding_message_size(64 << 20);
    let market = MarketServiceServer::new(MarketApi::new(svc.clone())).max_decoding_message_size(max);
    let meter = MeterServiceServer::new(MeterApi::new(svc.clone())).max_decoding_message_size(max);
    let ledger = LedgerServiceServer::new(LedgerApi::new(svc.clone())).max_decoding_message_size(max).max_encoding_message_size(64 << 20);

    let metrics_task = listeners.metrics.map(|l| {
        let m = metrics.clone();
        let stop = cancel.clone();
        tracing::info!(addr = ?l.local_addr().ok(), "metrics listening");
        tokio::spawn(async move {
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let m = m.clone();
                    async move { m.render() }
                }),
            );
            let _ = axum::serve(l, app).with_graceful_shutdown(async move { stop.cancelled().await }).await;
        })
    });

    let mut builder = Server::builder().layer(calls::CallLogLayer::new(metrics.clone()));
    if let Some(tls) = &config.tls {
        let cert = std::fs::read(&tls.cert).map_err(|e| ServerError::Tls(format!("{}: {e}", tls.cert.display())))?;
        let key = std::fs::read(&tls.key).map_err(|e| ServerError::Tls(format!("{}: {e}", tls.key.display())))?;
        builder = builder.tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))?;
    }
    let web_task = listeners.web.map(|l| {
        let (svc, auth, stop) = (svc.clone(), auth.clone(), cancel.clone());
        tokio::spawn(async move {
            if let Err(e) = crate::web::serve(l, svc, auth, stop).await {
                tracing::error!(error = %e, "the web page stopped");
            }
        })
    });

    // Meter readings from the broker, until `cancel` (the service's shutdown token).
    let mqtt_task = config.mqtt.clone().map(|settings| tokio::spawn(crate::mqtt::run(svc.clone(), metrics.clone(), settings)));

    tracing::info!(addr = ?listeners.grpc.local_addr().ok(), plant = %svc.plant().name, database = %config.database, "serving");
    let on_signal = {
        let cancel = cancel.clone();
        let health = health.clone();
        async move {
            shutdown.await;
            tracing::info!("shutting down: health NOT_SERVING, ending streams, finishing calls");
            health.set_not_serving::<DispatchServiceServer<DispatchApi>>().await;
            health.set_not_serving::<GreenShareServiceServer<GreenApi>>().await;
            health.set_not_serving::<MarketServiceServer<MarketApi>>().await;
            health.set_not_serving::<MeterServiceServer<MeterApi>>().await;
            health.set_not_serving::<LedgerServiceServer<LedgerApi>>().await;
            cancel.cancel();
        }
    };
    let served = builder
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(tonic::service::interceptor::InterceptedService::new(dispatch, GrpcAuth(auth.clone())))
        .add_service(tonic::service::interceptor::InterceptedService::new(green, GrpcAuth(auth.clone())))
        .add_service(tonic::service::interceptor::InterceptedService::new(market, GrpcAuth(auth.clone())))
        .add_service(tonic::service::interceptor::InterceptedService::new(meter, GrpcAuth(auth.clone())))
        .add_service(tonic::service::interceptor::InterceptedService::new(ledger, GrpcAuth(auth)))
        .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listeners.grpc).with_nodelay(Some(true)), on_signal)
        .await;
    cancel.cancel();
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    if let Some(task) = web_task {
        let _ = task.await;
    }
    if let Some(task) = mqtt_task {
        let _ = task.await;
    }
    // The warm starts' last write, before the store closes.
    let _ = warm_task.await;
    store.close().await;
    tracing::info!("stopped");
    served.map_err(ServerError::from)
}
