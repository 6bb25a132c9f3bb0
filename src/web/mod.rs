//! The page for park energy managers and operators, served over HTTP on its own port
//! (`web_listen`) from this binary: the static page (`web/` in the repository, embedded at
//! build time; Chart.js vendored, no CDN) and the JSON read API under `/api/v1` (`api.rs`).
//!
//! The page and the API read what the gRPC API reads, with the same tokens and rules; the
//! page keeps the token in the tab's `sessionStorage` and sends it as
//! `authorization: Bearer <token>`. Every response carries a strict Content-Security-Policy
//! (`'self'` only: no inline script, no other origin).

mod api;
mod statement;

use std::sync::Arc;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::service::{Authenticator, Service};

/// The embedded files: path, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("/", "text/html; charset=utf-8", include_bytes!("../../web/index.html")),
    ("/app.js", "text/javascript; charset=utf-8", include_bytes!("../../web/app.js")),
    ("/app.css", "text/css; charset=utf-8", include_bytes!("../../web/app.css")),
    ("/favicon.svg", "image/svg+xml", include_bytes!("../../web/favicon.svg")),
    ("/favicon.ico", "image/svg+xml", include_bytes!("../../web/favicon.svg")),
    ("/vendor/chart.umd.min.js", "text/javascript; charset=utf-8", include_bytes!("../../web/vendor/chart.umd.min.js")),
    ("/vendor/LICENSE.chart.js.md", "text/plain; charset=utf-8", include_bytes!("../../web/vendor/LICENSE.chart.js.md")),
    ("/vendor/LICENSE.kurkle-color.md", "text/plain; charset=utf-8", include_bytes!("../../web/vendor/LICENSE.kurkle-color.md")),
];

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

async fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        // API answers carry a park's data: never cached.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The page and its API over the shared state and the same authenticator as gRPC.
pub fn router(svc: Arc<Service>, auth: Authenticator) -> Router {
    let mut app = Router::new()
        .route("/api/v1/me", get(api::me))
        .route("/api/v1/days", get(api::days))
        .route("/api/v1/days/{day}/parks/{park}", get(api::park))
        .route("/api/v1/days/{day}/plant", get(api::plant))
        .route("/api/v1/days/{day}/setpoints.csv", get(api::setpoints_csv))
        .route("/api/v1/parks/{park}/statement.html", get(statement::html))
        .route("/api/v1/parks/{park}/statement.csv", get(statement::csv))
        .route("/api/{*rest}", get(api::not_found));
    for &(path, content_type, body) in ASSETS {
        app = app.route(path, get(move || async move { asset(content_type, body) }));
    }
    app.with_state(api::Web { svc, auth }).layer(axum::middleware::map_response(secure))
}

/// Serves the page on `listener` until `stop` is cancelled.
pub async fn serve(listener: TcpListener, svc: Arc<Service>, auth: Authenticator, stop: CancellationToken) -> std::io::Result<()> {
    tracing::info!(addr = ?listener.local_addr().ok(), "web page listening");
    axum::serve(listener, router(svc, auth)).with_graceful_shutdown(async move { stop.cancelled().await }).await
}
