//! The one place that builds the tower stack. Layers are listed outermost first, the
//! order a request meets them.
//!
//! Ordering constraints:
//! - The request id and trace context come first, so every log line, every problem and
//!   every audit entry (including refusals by the layers below) carries them; both are
//!   echoed on the way out. Everything inside runs in the request's trace, so a call to
//!   an outside system made while answering carries it on. The request span continues
//!   that trace when spans are exported, so it is opened inside the trace context.
//! - Security headers and CORS wrap everything, so refusals carry them too, and a
//!   browser's preflight is answered before any credential is asked for.
//! - Measuring sits just outside problem rendering: every answer the layers inside give,
//!   refusals and timeouts included, is counted with its final status; the route and
//!   client are noted by versioning and authentication as they learn them.
//! - Problem rendering wraps every layer that can refuse a call (timeout, panic guard,
//!   authentication, authorization, rate limit), so their refusals are problems with a
//!   request id like any handler error.
//! - Versioning resolves the route policy first (a retired route says 410 to anyone), since
//!   every layer inside needs it: shedding its priority class, authorization its scope.
//! - Shedding comes before the timeout and everything costly, so an overloaded gateway
//!   refuses background work for the price of a semaphore check; critical work queues.
//! - Authorization needs the principal, so it sits inside authentication; the rate limit
//!   counts per client, so it sits inside both, and a refused call never spends quota.
//! - Audit sits inside the rate limit: it records what was actually let in; the layers
//!   outside record their own refusals through the same auditor.
//! - The availability cache is not a layer: it lives in the availability service, behind
//!   every layer here, so a cached answer is still authenticated, limited and audited.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request, Response, header};
use tower::ServiceBuilder;
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, OnResponse, TraceLayer};
use tracing::field::Empty;
use tracing::{Level, Span};

use super::AppState;
use super::problem::{Render, pending};
use crate::governance::gate::GateLayer;
use crate::governance::layers;
use crate::policy::Cors;
use crate::problem::{self as registry, Problem};
use crate::telemetry;

pub fn govern(router: Router, state: &AppState) -> Router {
    let timeout = state.request_timeout;
    let gov = state.governance.clone();
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(RandomRequestId))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(GateLayer(layers::TraceContext))
            .layer(layers::TraceScopeLayer)
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|req: &Request<_>| {
                        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("-");
                        let span = tracing::info_span!("request", request.id = %header("x-request-id"),
                            trace.parent = %header("traceparent"), http.method = %req.method(), http.path = %req.uri().path(),
                            otel.kind = Empty, http.response.status_code = Empty);
                        let fresh = req.extensions().get::<layers::NewTrace>().is_some();
                        telemetry::continue_request(&span, header("traceparent"), fresh);
                        span
                    })
                    .on_response(|resp: &Response<_>, latency: Duration, span: &Span| {
                        if telemetry::exporting() {
                            span.record("http.response.status_code", resp.status().as_u16());
                        }
                        let log = DefaultOnResponse::new().level(Level::DEBUG).latency_unit(LatencyUnit::Millis);
                        log.on_response(resp, latency, span);
                    })
                    // Failures are logged once, by the problem renderer.
                    .on_failure(()),
            )
            .layer(GateLayer(layers::SecurityHeaders))
            .option_layer(cors(&gov.policies.limits.cors))
            .layer(GateLayer(layers::Measure(gov.clone())))
            .layer(GateLayer(Render))
            // The panic guard boxes the body its own way; the gates above want axum's.
            .map_response(|resp: Response<_>| resp.map(Body::new))
            .layer(CatchPanicLayer::custom(|_| {
                let p = Problem::new(registry::INTERNAL, "an internal error occurred; quote the request id");
                pending(p, Some("handler panicked".into()))
            }))
            .layer(GateLayer(layers::Versioning(gov.clone())))
            .layer(GateLayer(layers::Shed(gov.clone())))
            .layer(HandleErrorLayer::new(move |_: tower::BoxError| async move {
                let detail = format!("no answer within {} ms; retry later", timeout.as_millis());
                pending(Problem::new(registry::TIMEOUT, detail), None)
            }))
            .timeout(timeout)
            .layer(DefaultBodyLimit::max(state.body_limits.max_bytes))
            .layer(GateLayer(layers::Authenticate(gov.clone())))
            .layer(GateLayer(layers::Authorize(gov.clone())))
            .layer(GateLayer(layers::RateLimit(gov.clone())))
            .layer(GateLayer(layers::Audit(gov))),
    )
}

/// Cross-origin access for the exact origins a policy lists, or none at all.
fn cors(policy: &Cors) -> Option<CorsLayer> {
    if policy.allowed_origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = policy
        .allowed_origins
        .iter()
        .filter_map(|o| o.parse().ok())
        .collect();
    let header = HeaderName::from_static;
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header("idempotency-key"),
                header("x-api-key"),
                header("x-request-id"),
                header("traceparent"),
            ])
            .expose_headers([
                header::LOCATION,
                header::RETRY_AFTER,
                header("x-request-id"),
                header("idempotent-replayed"),
                header("ratelimit"),
                header("ratelimit-policy"),
            ])
            .allow_credentials(policy.allow_credentials)
            .max_age(Duration::from_secs(600)),
    )
}

/// A random, UUID-shaped request id from the thread's CSPRNG: unguessable like a v4 UUID
/// without a system call per request.
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n: u128 = rand::random();
        let (a, b, c, d, e) = (
            (n >> 96) as u32,
            (n >> 80) as u16,
            (n >> 64) as u16 & 0x0fff,
            (n >> 48) as u16,
            n as u64 & 0xffff_ffff_ffff,
        );
        let id = format!(
            "{a:08x}-{b:04x}-4{c:03x}-{:04x}-{e:012x}",
            (d & 0x3fff) | 0x8000
        );
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}
