//! TLS on the gRPC port: with `[tls] cert/key` set, a client that trusts the certificate
//! gets health and authorized calls over TLS; a plaintext client gets nothing; unreadable
//! certificate files stop the server with an error naming the file.

use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use vpp_dispatch::api::pb;
use vpp_dispatch::api::pb::green_share_service_client::GreenShareServiceClient;
use vpp_dispatch::server::{self, Listeners, RawConfig, ServerError};

use crate::service::{config_text, req, temp_db, SHIHE};

fn tls_config(dir: &std::path::Path, cert: &std::path::Path, key: &std::path::Path) -> server::Config {
    let extra = format!("[tls]\ncert = \"{}\"\nkey = \"{}\"\n", cert.display(), key.display());
    let raw: RawConfig = toml::from_str(&config_text(&dir.join("vpp.sqlite"), &extra)).expect("config parses");
    raw.validate().expect("config is valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls_with_the_configured_certificate() {
    let db = temp_db("tls");
    let dir = db.parent().unwrap().to_path_buf();
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let (cert_pem, key_pem) = (issued.cert.pem(), issued.signing_key.serialize_pem());
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, &key_pem).unwrap();

    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = grpc.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::run(tls_config(&dir, &cert, &key), Listeners { grpc, metrics: None, web: None }, async {
        let _ = stopped.await;
    }));

    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&cert_pem)).domain_name("localhost");
    let endpoint = Channel::from_shared(format!("https://localhost:{port}")).unwrap().tls_config(tls).unwrap();
    let mut channel = None;
    for _ in 0..200 {
        if let Ok(ch) = endpoint.connect().await {
            let mut h = tonic_health::pb::health_client::HealthClient::new(ch.clone());
            if h.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.is_ok() {
                channel = Some(ch);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let channel = channel.expect("the TLS server answers health checks over TLS");

    // An authorized call over TLS reaches the service (no schedule yet: NOT_FOUND, not a
    // transport or auth failure); a wrong park is still PERMISSION_DENIED.
    let mut green = GreenShareServiceClient::new(channel);
    let e = green
        .get_park_share(req(
            Some(SHIHE),
            pb::ParkShareRequest { park: "shihe_park".into(), from_day: "2030-01-01".into(), to_day: String::new() },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    let e = green
        .get_park_share(req(
            Some(SHIHE),
            pb::ParkShareRequest { park: "pingqiao_park".into(), from_day: "2030-01-01".into(), to_day: String::new() },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied);

    // Plaintext HTTP/2 to the TLS port gets no answer.
    let plain = Channel::from_shared(format!("http://127.0.0.1:{port}")).unwrap().timeout(Duration::from_secs(5));
    let refused = match plain.connect().await {
        Err(_) => true,
        Ok(ch) => tonic_health::pb::health_client::HealthClient::new(ch)
            .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
            .await
            .is_err(),
    };
    assert!(refused, "a plaintext client must not be served on the TLS port");

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), task).await.expect("stops").expect("task").expect("ran cleanly");
}

#[tokio::test]
async fn unreadable_certificate_files_are_named() {
    let db = temp_db("tls-missing");
    let dir = db.parent().unwrap().to_path_buf();
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let missing = dir.join("no-such-cert.pem");
    let config = tls_config(&dir, &missing, &dir.join("no-such-key.pem"));
    let result = server::run(config, Listeners { grpc, metrics: None, web: None }, std::future::pending()).await;
    match result {
        Err(ServerError::Tls(msg)) => assert!(msg.contains("no-such-cert.pem"), "{msg}"),
        other => panic!("expected a TLS error naming the file, got {other:?}"),
    }
}
