//! The versioned HTTP facade: one routing table, one file per action, one error boundary.

use std::sync::Arc;

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::governance::Governance;
use crate::policy::BodyLimits;
use crate::services::Services;
use crate::services::dispatch::Dispatcher;

pub mod admin;
pub mod availability;
pub mod docs;
pub mod events;
pub mod extract;
pub mod ops;
pub mod orders;
pub mod problem;
mod reply;
pub mod returns;
pub mod stack;
pub mod webhooks;

/// What every handler and layer can reach.
#[derive(Clone)]
pub struct AppState {
    pub services: Arc<Services>,
    pub governance: Arc<Governance>,
    pub dispatcher: Arc<Dispatcher>,
    /// Redis, when the gateway runs as several instances (for readiness).
    pub redis: Option<redis::aio::ConnectionManager>,
    /// NATS JetStream, when events flow through it.
    pub nats: Option<Arc<crate::cluster::nats::Nats>>,
    pub body_limits: BodyLimits,
    pub request_timeout: std::time::Duration,
}

/// The routing table. Each entry carries its OpenAPI description with it.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .routes(routes!(availability::get_many::get_availability_many))
        .routes(routes!(availability::get_one::get_availability))
        .routes(routes!(
            orders::accept::accept_order,
            orders::lookup::find_orders
        ))
        .routes(routes!(orders::get::get_order))
        .routes(routes!(orders::cancel::cancel_order))
        .routes(routes!(orders::shipments::list_shipments))
        .routes(routes!(orders::timeline::order_timeline))
        .routes(routes!(returns::authorize::authorize_return))
        .routes(routes!(returns::get::get_return))
        .routes(routes!(events::ingest::ingest_events))
        .routes(routes!(admin::audit::list_audit))
        .routes(routes!(admin::dead_letters::list_dead_letters))
        .routes(routes!(admin::dead_letters::get_dead_letter))
        .routes(routes!(admin::dead_letters::replay_dead_letter))
        .routes(routes!(admin::dead_letters::replay_dead_letters))
        .routes(routes!(admin::dead_letters::discard_dead_letter))
        .routes(routes!(webhooks::woocommerce::receive_woocommerce))
        .routes(routes!(admin::outbox::outbox_report))
        .routes(routes!(admin::slo::slo_report))
        .routes(routes!(
            admin::reconciliations::start_reconciliation,
            admin::reconciliations::list_reconciliations
        ))
        .routes(routes!(admin::reconciliations::get_reconciliation))
        .routes(routes!(admin::woocommerce::list_woocommerce_exceptions))
        .routes(routes!(ops::livez))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::problem_type))
}

/// Every (method, path template) the API serves, for checking the route policies.
pub fn served_routes() -> Vec<(String, String)> {
    let spec = openapi();
    let mut out = Vec::new();
    for (path, item) in &spec.paths.paths {
        let methods = [
            ("GET", item.get.is_some()),
            ("POST", item.post.is_some()),
            ("PUT", item.put.is_some()),
            ("PATCH", item.patch.is_some()),
            ("DELETE", item.delete.is_some()),
        ];
        out.extend(
            methods
                .iter()
                .filter(|(_, has)| *has)
                .map(|(m, _)| ((*m).to_owned(), path.clone())),
        );
    }
    out
}

/// The OpenAPI document the code describes; `openapi/v1.json` must equal it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut spec = routes().split_for_parts().1;
    utoipa::Modify::modify(&docs::Security, &mut spec);
    spec
}

/// The whole application: routes, documentation UI and the governance stack.
pub fn app(state: AppState) -> Router {
    let router = routes().split_for_parts().0;
    let spec = openapi();
    let router = router
        .merge(SwaggerUi::new("/docs").url("/openapi.json", spec))
        .fallback(|| async { axum::http::StatusCode::NOT_FOUND });
    stack::govern(router.with_state(state.clone()), &state)
}

/// `/metrics` alone, ungoverned, for the metrics address: whoever can reach that address
/// may read the metrics, so it belongs on a network only the scraper reaches.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(ops::metrics))
        .with_state(state)
}
