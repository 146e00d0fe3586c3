//! The one place that builds the tower stack. Layers are listed outermost first, the
//! order a request meets them.
//!
//! Ordering constraints:
//! - The request id and trace context come first, so every log line, every problem and
//!   every audit entry (including refusals by the layers below) carries them; both are
//!   echoed on the way out.
//! - Security headers and CORS wrap everything, so refusals carry them too, and a
//!   browser's preflight is answered before any credential is asked for.
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
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use axum::middleware::{from_fn, from_fn_with_state};
use tower::ServiceBuilder;
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::AppState;
use super::problem::{pending, render};
use crate::governance::layers;
use crate::policy::Cors;
use crate::problem::{self as registry, Problem};

pub fn govern(router: Router, state: &AppState) -> Router {
    let timeout = state.request_timeout;
    let gov = state.governance.clone();
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(from_fn(layers::trace_context))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|req: &Request<_>| {
                        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("-");
                        tracing::info_span!("request", request.id = %header("x-request-id"),
                            trace.parent = %header("traceparent"), http.method = %req.method(), http.path = %req.uri().path())
                    })
                    .on_response(DefaultOnResponse::new().level(Level::DEBUG).latency_unit(LatencyUnit::Millis))
                    // Failures are logged once, by the problem renderer.
                    .on_failure(()),
            )
            .layer(from_fn(layers::security_headers))
            .option_layer(cors(&gov.policies.limits.cors))
            .layer(from_fn(render))
            .layer(CatchPanicLayer::custom(|_| {
                let p = Problem::new(registry::INTERNAL, "an internal error occurred; quote the request id");
                pending(p, Some("handler panicked".into()))
            }))
            .layer(from_fn_with_state(gov.clone(), layers::versioning))
            .layer(from_fn_with_state(gov.clone(), layers::shed))
            .layer(HandleErrorLayer::new(move |_: tower::BoxError| async move {
                let detail = format!("no answer within {} ms; retry later", timeout.as_millis());
                pending(Problem::new(registry::TIMEOUT, detail), None)
            }))
            .timeout(timeout)
            .layer(DefaultBodyLimit::max(state.body_limits.max_bytes))
            .layer(from_fn_with_state(gov.clone(), layers::authenticate))
            .layer(from_fn_with_state(gov.clone(), layers::authorize))
            .layer(from_fn_with_state(gov.clone(), layers::rate_limit))
            .layer(from_fn_with_state(gov, layers::audit)),
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
