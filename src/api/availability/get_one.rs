use axum::extract::{Path, State};
use axum::{Extension, Json};

use super::ttl;
use crate::api::extract::{Caller, QueryPairs};
use crate::api::{AppState, docs};
use crate::domain::availability::SkuAvailability;
use crate::error::{Error, Result};
use crate::governance::layers::RouteMatch;

/// Available-to-sell of one SKU for the caller's channel, per location and in total.
#[utoipa::path(
    get,
    path = "/v1/availability/{sku}",
    tag = "availability",
    params(
        ("sku" = String, Path, description = "The SKU", example = "TEE-BLK-M"),
        ("channel" = Option<String>, Query, description = "One of the caller's channels; defaults to its first"),
    ),
    responses(
        (status = 200, description = "The SKU's availability", body = SkuAvailability),
        (status = 403, description = "Channel not held by the caller", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::channel_not_allowed())),
        (status = 404, description = "No such SKU", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::not_found("SKU"))),
    )
)]
pub async fn get_availability(
    State(state): State<AppState>,
    Caller(client): Caller,
    Path(sku): Path<String>,
    query: QueryPairs,
    route: Option<Extension<RouteMatch>>,
) -> Result<Json<SkuAvailability>> {
    let mut answer = state
        .services
        .availability(
            &client,
            query.first("channel"),
            std::slice::from_ref(&sku),
            ttl(route.as_ref()),
        )
        .await?;
    answer.items.pop().map(Json).ok_or(Error::NotFound {
        kind: "SKU",
        id: sku,
    })
}
