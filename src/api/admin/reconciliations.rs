//! `/v1/admin/reconciliations`: start a reconciliation run, follow it, read what it found.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::extract::QueryPairs;
use crate::api::{AppState, docs};
use crate::domain::reconcile::Variance;
use crate::error::Result;
use crate::store::Run;

const MAX_PAGE: u32 = 1000;

#[derive(Serialize, ToSchema)]
pub struct RunList {
    pub items: Vec<Run>,
}

#[derive(Serialize, ToSchema)]
pub struct RunReport {
    #[serde(flatten)]
    pub run: Run,
    /// Figures that differ from Stockade's, those over the threshold first, then the
    /// largest; up to `limit`. Figures that agree are not listed.
    pub variances: Vec<Variance>,
}

/// Starts a run over the whole catalog in the background and answers with it at once;
/// follow it with `GET /v1/admin/reconciliations/{id}`.
#[utoipa::path(
    post,
    path = "/v1/admin/reconciliations",
    tag = "admin",
    responses(
        (status = 202, description = "The run, started", body = Run),
        (status = 409, description = "A run is already going on this instance", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::reconciliation_running())),
    )
)]
pub async fn start_reconciliation(
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<Run>)> {
    let run = state.services.start_reconciliation("api").await?;
    Ok((StatusCode::ACCEPTED, Json(run)))
}

/// The newest runs first, whoever started them (the schedule, the command line, this API).
#[utoipa::path(
    get,
    path = "/v1/admin/reconciliations",
    tag = "admin",
    params(("limit" = Option<u32>, Query, description = "1 to 1000; default 20")),
    responses(
        (status = 200, description = "Recent runs", body = RunList),
        (status = 400, description = "The limit does not parse or exceeds its cap", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::invalid_parameter("limit"))),
    )
)]
pub async fn list_reconciliations(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Json<RunList>> {
    let items = state
        .services
        .reconciliations(query.limit(20, MAX_PAGE)?)
        .await?;
    Ok(Json(RunList { items }))
}

/// One run, with the figures it found different from Stockade's.
#[utoipa::path(
    get,
    path = "/v1/admin/reconciliations/{id}",
    tag = "admin",
    params(
        ("id" = String, Path, example = "rec_01JF0A2B3C4D5E6F7G8H9J0K1M"),
        ("limit" = Option<u32>, Query, description = "Variances listed, 1 to 1000; default 100"),
    ),
    responses(
        (status = 200, description = "The run and its variances", body = RunReport),
        (status = 404, description = "No such run", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::not_found("reconciliation"))),
    )
)]
pub async fn get_reconciliation(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: QueryPairs,
) -> Result<Json<RunReport>> {
    let (run, variances) = state
        .services
        .reconciliation(&id, query.limit(100, MAX_PAGE)?)
        .await?;
    Ok(Json(RunReport { run, variances }))
}
