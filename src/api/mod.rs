//! The versioned HTTP facade: one routing table, one file per action, one error boundary.

use std::sync::Arc;

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::services::Services;

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

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub services: Arc<Services>,
    pub max_body_bytes: usize,
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
        .routes(routes!(returns::authorize::authorize_return))
        .routes(routes!(returns::get::get_return))
        .routes(routes!(events::ingest::ingest_events))
        .routes(routes!(ops::livez))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::problem_type))
}

/// The OpenAPI document the code describes; `openapi/v1.json` must equal it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

/// The whole application: routes, documentation UI and the governance stack.
pub fn app(state: AppState) -> Router {
    let (router, spec) = routes().split_for_parts();
    let router = router
        .merge(SwaggerUi::new("/docs").url("/openapi.json", spec))
        .fallback(|| async { axum::http::StatusCode::NOT_FOUND });
    stack::govern(router.with_state(state.clone()), &state)
}
