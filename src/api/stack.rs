//! The one place that builds the tower stack, outermost layer first.
//!
//! Ordering constraints:
//! - The request id is set before anything else, so every log line and every problem
//!   (including those of layers that refuse a call) carries it; it is echoed on the way out.
//! - Problem rendering wraps every layer that can refuse a call, so that refusals by the
//!   timeout or the panic guard are problems with a request id like any handler error.
//! - The timeout sits inside the rendering, so that its 503 is rendered too.
//! - The body limit applies to the extractors inside the handlers, which turn an oversize
//!   body into a 413 problem.

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::middleware;
use tower::ServiceBuilder;
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::AppState;
use super::problem::{pending, render};
use crate::problem::{self as registry, Problem};

pub fn govern(router: Router, state: &AppState) -> Router {
    let timeout = state.request_timeout;
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|req: &Request<_>| {
                        let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                        tracing::info_span!("request", request.id = %id, http.method = %req.method(), http.path = %req.uri().path())
                    })
                    .on_response(DefaultOnResponse::new().level(Level::DEBUG).latency_unit(LatencyUnit::Millis))
                    // Failures are logged once, by the problem renderer.
                    .on_failure(()),
            )
            .layer(middleware::from_fn(render))
            .layer(CatchPanicLayer::custom(|_| {
                pending(Problem::new(registry::INTERNAL, "an internal error occurred; quote the request id"), Some("handler panicked".into()))
            }))
            .layer(HandleErrorLayer::new(move |_: tower::BoxError| async move {
                pending(Problem::new(registry::TIMEOUT, format!("no answer within {} ms; retry later", timeout.as_millis())), None)
            }))
            .timeout(timeout)
            .layer(DefaultBodyLimit::max(state.max_body_bytes)),
    )
}
