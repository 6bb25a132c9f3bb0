//! The call log: a tower layer around every gRPC call. It gives each call a request id
//! (the caller's `x-request-id` when it sends a sane one, else a fresh one) returned in the
//! response metadata, runs the call in a `rpc` span carrying the method, the request id and
//! (recorded by the auth interceptor) the principal, counts calls and their latency by
//! method and code, counts failures by code, and writes one log line per failed call.
//!
//! The code of a call is read where gRPC puts it: in the response headers for an error
//! answered at once, in the trailers for everything else (so the response body is
//! observed to its end); a body dropped before its end is a call the client cancelled.
//!
//! It also keeps the caller's deadline (`grpc-timeout`) as gRPC means it: a call that has
//! not answered shortly before its deadline is ended here with DEADLINE_EXCEEDED (and the
//! handler dropped, which abandons its solve). Left to tonic, the same call would end a
//! moment later as CANCELLED "Timeout expired", which says the caller gave up. Handlers
//! aim to answer by the deadline less a tenth (at most 100 ms); this layer steps in at
//! the deadline less a twentieth (at most 50 ms), tonic's own timer only at the deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, Request, Response};
use tracing::Instrument;

use crate::api::parse_grpc_timeout;
use crate::metrics::Metrics;

/// The metadata key of the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// Adds [`CallLog`] to a service.
#[derive(Clone)]
pub struct CallLogLayer {
    metrics: Metrics,
}

impl CallLogLayer {
    /// A layer counting into `metrics`.
    pub fn new(metrics: Metrics) -> CallLogLayer {
        CallLogLayer { metrics }
    }
}

impl<S> tower_layer::Layer<S> for CallLogLayer {
    type Service = CallLog<S>;
    fn layer(&self, inner: S) -> CallLog<S> {
        CallLog { inner, metrics: self.metrics.clone() }
    }
}

/// The service [`CallLogLayer`] makes.
#[derive(Clone)]
pub struct CallLog<S> {
    inner: S,
    metrics: Metrics,
}

/// A request id: the caller's if it is 1–64 visible ASCII characters, else a new one.
fn request_id(headers: &HeaderMap) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    if let Some(v) = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()) {
        if !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()) {
            return v.to_string();
        }
    }
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("vpp-{started:x}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for CallLog<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<Observed<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let method = request.uri().path().to_string();
        let id = request_id(request.headers());
        let header = HeaderValue::from_str(&id).ok();
        if let Some(h) = &header {
            request.headers_mut().insert(REQUEST_ID, h.clone());
        }
        let span = tracing::info_span!("rpc", method = %method, request_id = %id, principal = tracing::field::Empty);
        // The interceptor runs inside `call`: enter the span so it can record the principal.
        let budget = request.headers().get("grpc-timeout").and_then(|v| v.to_str().ok()).and_then(parse_grpc_timeout);
        let future = span.in_scope(|| self.inner.call(request));
        let mut finish = Finish { method, metrics: self.metrics.clone(), started: Instant::now(), span: span.clone(), done: false };
        Box::pin(
            async move {
                let response = match budget {
                    Some(d) => match tokio::time::timeout(d.saturating_sub((d / 20).min(Duration::from_millis(50))), future).await {
                        Ok(response) => response?,
                        Err(_) => return Ok(deadline_exceeded(header, finish)),
                    },
                    None => future.await?,
                };
                let (mut parts, body) = response.into_parts();
                if let Some(h) = header {
                    parts.headers.insert(REQUEST_ID, h);
                }
                if let Some(code) = parts.headers.get("grpc-status") {
                    finish.record(code_of(Some(code)), message_of(&parts.headers));
                }
                Ok(Response::from_parts(parts, Observed { inner: Some(body), finish }))
            }
            .instrument(span),
        )
    }
}

/// The answer to a call whose deadline passed: DEADLINE_EXCEEDED, trailers only.
fn deadline_exceeded<B>(request_id: Option<HeaderValue>, mut finish: Finish) -> Response<Observed<B>> {
    const MESSAGE: &str = "the call's deadline passed before it finished";
    finish.record(tonic::Code::DeadlineExceeded, MESSAGE.into());
    let (mut parts, ()) = tonic::Status::deadline_exceeded(MESSAGE).into_http::<()>().into_parts();
    if let Some(h) = request_id {
        parts.headers.insert(REQUEST_ID, h);
    }
    Response::from_parts(parts, Observed { inner: None, finish })
}

/// The gRPC code a `grpc-status` value names (absent: OK).
fn code_of(value: Option<&HeaderValue>) -> tonic::Code {
    value.and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i32>().ok()).map_or(tonic::Code::Ok, tonic::Code::from_i32)
}

fn message_of(headers: &HeaderMap) -> String {
    let raw = headers.get("grpc-message").and_then(|v| v.to_str().ok()).unwrap_or("");
    let decoded = percent_decode(raw);
    crate::domain::limits::quote(&decoded)
}

/// `grpc-message` is percent-encoded.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut k = 0;
    while k < bytes.len() {
        if bytes[k] == b'%' && k + 2 < bytes.len() && s.is_char_boundary(k + 1) && s.is_char_boundary(k + 3) {
            if let Ok(b) = u8::from_str_radix(&s[k + 1..k + 3], 16) {
                out.push(b);
                k += 3;
                continue;
            }
        }
        out.push(bytes[k]);
        k += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What is left to record of a call once its code is known.
struct Finish {
    method: String,
    metrics: Metrics,
    started: Instant,
    span: tracing::Span,
    done: bool,
}

impl Finish {
    fn record(&mut self, code: tonic::Code, message: String) {
        if self.done {
            return;
        }
        self.done = true;
        let seconds = self.started.elapsed().as_secs_f64();
        let code_name = format!("{code:?}");
        self.metrics.rpc(&self.method, &code_name, seconds);
        let _entered = self.span.enter();
        if code == tonic::Code::Ok {
            tracing::debug!(code = %code_name, seconds, "call done");
        } else {
            self.metrics.errors.with_label_values(&[&code_name]).inc();
            tracing::warn!(code = %code_name, seconds, message = %message, "call failed");
        }
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        if !self.done {
            self.record(tonic::Code::Cancelled, "the client went away before the end of the answer".into());
        }
    }
}

pin_project_lite::pin_project! {
    /// A response body watched to its end for the call's code (none: an answer made here,
    /// trailers only).
    pub struct Observed<B> {
        #[pin]
        inner: Option<B>,
        finish: Finish,
    }
}

impl<B: http_body::Body> http_body::Body for Observed<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else { return Poll::Ready(None) };
        let polled = inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    this.finish.record(code_of(trailers.get("grpc-status")), message_of(trailers));
                }
            }
            Poll::Ready(Some(Err(_))) => this.finish.record(tonic::Code::Internal, "the answer could not be sent".into()),
            Poll::Ready(None) => this.finish.record(tonic::Code::Ok, String::new()),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.as_ref().map_or_else(|| http_body::SizeHint::with_exact(0), |b| b.size_hint())
    }
}
