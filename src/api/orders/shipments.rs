use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::extract::Caller;
use crate::api::{AppState, docs};
use crate::domain::shipment::Shipment;
use crate::error::Result;

#[derive(Serialize, ToSchema)]
pub struct ShipmentList {
    pub items: Vec<Shipment>,
}

/// Shipments of an order with carrier, tracking and milestones.
#[utoipa::path(
    get,
    path = "/v1/orders/{id}/shipments",
    tag = "orders",
    params(("id" = String, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order's shipments, oldest first", body = ShipmentList, example = json!(docs::shipments())),
        (status = 404, description = "No such order in the caller's channels", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::not_found("order"))),
    )
)]
pub async fn list_shipments(
    State(state): State<AppState>,
    Caller(client): Caller,
    Path(id): Path<String>,
) -> Result<Json<ShipmentList>> {
    let items = state.services.shipments(&client, &id).await?;
    Ok(Json(ShipmentList { items }))
}
