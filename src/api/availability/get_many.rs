use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::ttl;
use crate::api::extract::{Caller, QueryPairs};
use crate::api::{AppState, docs};
use crate::domain::availability::SkuAvailability;
use crate::error::{Error, Result};
use crate::governance::layers::RouteMatch;

#[derive(Serialize, ToSchema)]
pub struct AvailabilityList {
    /// Known SKUs, in the order asked.
    pub items: Vec<SkuAvailability>,
    /// SKUs that do not exist; not a reason to fail the call.
    #[schema(example = json!(["SKU-X"]))]
    pub missing: Vec<String>,
}

/// Available-to-sell of up to 100 SKUs in one call.
#[utoipa::path(
    get,
    path = "/v1/availability",
    tag = "availability",
    params(
        ("sku" = Vec<String>, Query, description = "Repeat for each SKU, at most 100", explode, example = json!(["TEE-BLK-M", "MUG-LOGO"])),
        ("channel" = Option<String>, Query, description = "One of the caller's channels; defaults to its first"),
    ),
    responses(
        (status = 200, description = "Availability per SKU; unknown SKUs listed as missing", body = AvailabilityList),
        (status = 400, description = "No `sku` given", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::missing_parameter("sku"))),
        (status = 403, description = "Channel not held by the caller", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::channel_not_allowed())),
        (status = 422, description = "More than 100 SKUs", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::too_many("SKUs", 100))),
    )
)]
pub async fn get_availability_many(
    State(state): State<AppState>,
    Caller(client): Caller,
    query: QueryPairs,
    route: Option<Extension<RouteMatch>>,
) -> Result<Json<AvailabilityList>> {
    let skus = query.all("sku");
    if skus.is_empty() {
        return Err(Error::MissingParameter("sku"));
    }
    let answer = state
        .services
        .availability(&client, query.first("channel"), &skus, ttl(route.as_ref()))
        .await?;
    Ok(Json(AvailabilityList {
        items: answer.items,
        missing: answer.missing,
    }))
}
