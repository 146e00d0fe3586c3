use axum::Json;
use axum::extract::{Path, State};

use crate::api::extract::Caller;
use crate::api::{AppState, docs};
use crate::domain::order::Order;
use crate::error::Result;

/// One order with its status, allocations and ERP reference.
#[utoipa::path(
    get,
    path = "/v1/orders/{id}",
    tag = "orders",
    params(("id" = String, Path, description = "Order id", example = "ord_01JEZ8Q4W3M2T6V8X9Y0Z1A2B3")),
    responses(
        (status = 200, description = "The order", body = Order, example = json!(docs::order())),
        (status = 404, description = "No such order in the caller's channels", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::not_found("order"))),
    )
)]
pub async fn get_order(
    State(state): State<AppState>,
    Caller(client): Caller,
    Path(id): Path<String>,
) -> Result<Json<Order>> {
    state.services.order(&client, &id).await.map(Json)
}
