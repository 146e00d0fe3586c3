use axum::Json;
use axum::extract::{Path, State};

use crate::api::extract::{Caller, TraceParent};
use crate::api::{AppState, docs};
use crate::domain::order::Order;
use crate::error::Result;

/// Cancels an unshipped order and releases its reservations; for a partly shipped order,
/// only the unshipped remainder. Cancelling again answers the same.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/cancel",
    tag = "orders",
    params(("id" = String, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order, now cancelled", body = Order),
        (status = 404, description = "No such order in the caller's channels", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::not_found("order"))),
        (status = 409, description = "Shipped in full", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::order_shipped())),
    )
)]
pub async fn cancel_order(
    State(state): State<AppState>,
    Caller(client): Caller,
    trace: TraceParent,
    Path(id): Path<String>,
) -> Result<Json<Order>> {
    state
        .services
        .cancel_order(&client, &id, trace.as_deref())
        .await
        .map(Json)
}
