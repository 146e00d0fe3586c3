use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::extract::{Caller, QueryPairs};
use crate::api::{AppState, docs};
use crate::domain::order::Order;
use crate::error::{Error, Result};

#[derive(Serialize, ToSchema)]
pub struct OrderList {
    pub items: Vec<Order>,
}

/// Orders with the channel's own order number, within the caller's channels.
#[utoipa::path(
    get,
    path = "/v1/orders",
    tag = "orders",
    params(("external_id" = String, Query, description = "The channel's order number", example = "WC-1001")),
    responses(
        (status = 200, description = "Matching orders; empty when none", body = OrderList),
        (status = 400, description = "No `external_id` given", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::missing_parameter("external_id"))),
    )
)]
pub async fn find_orders(
    State(state): State<AppState>,
    Caller(client): Caller,
    query: QueryPairs,
) -> Result<Json<OrderList>> {
    let external_id = query
        .first("external_id")
        .ok_or(Error::MissingParameter("external_id"))?;
    let items = state
        .services
        .orders_by_external_id(&client, external_id)
        .await?;
    Ok(Json(OrderList { items }))
}
