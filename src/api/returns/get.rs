use axum::Json;
use axum::extract::{Path, State};

use crate::api::extract::Caller;
use crate::api::{AppState, docs};
use crate::domain::rma::Rma;
use crate::error::Result;

/// One RMA.
#[utoipa::path(
    get,
    path = "/v1/returns/{id}",
    tag = "returns",
    params(("id" = String, Path, description = "RMA id", example = "rma_01JEZ9A7C5D3E1F0G9H8J7K6L5")),
    responses(
        (status = 200, description = "The RMA", body = Rma),
        (status = 404, description = "No such RMA in the caller's channels", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::not_found("RMA"))),
    )
)]
pub async fn get_return(
    State(state): State<AppState>,
    Caller(client): Caller,
    Path(id): Path<String>,
) -> Result<Json<Rma>> {
    state.services.rma(&client, &id).await.map(Json)
}
