use axum::Json;
use axum::extract::{Path, State};

use crate::api::extract::Caller;
use crate::api::{AppState, docs};
use crate::domain::timeline::Timeline;
use crate::error::Result;

/// Every stage the order went through — accepted, reserved, each attempt to submit it to
/// the ERP with its error, acknowledged, shipped, delivered, returned, refunded, each
/// channel update — with times, systems and trace ids, oldest first.
#[utoipa::path(
    get,
    path = "/v1/orders/{id}/timeline",
    tag = "orders",
    params(("id" = String, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order's timeline", body = Timeline, example = json!(docs::timeline())),
        (status = 404, description = "No such order in the caller's channels", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::not_found("order"))),
    )
)]
pub async fn order_timeline(
    State(state): State<AppState>,
    Caller(client): Caller,
    Path(id): Path<String>,
) -> Result<Json<Timeline>> {
    state.services.timeline(&client, &id).await.map(Json)
}
