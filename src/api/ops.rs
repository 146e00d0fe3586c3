//! Operations routes: liveness, readiness and the problem type documentation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::error::{Error, Result};
use crate::problem::REGISTRY;

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The process is up. Never touches a dependency, so a slow database cannot get it killed.
#[utoipa::path(get, path = "/livez", tag = "operations", responses((status = 200, body = Health)))]
pub async fn livez() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The gateway can serve: its store answers and its ERP adapter is healthy.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health, example = json!({"status": "store unavailable"}))))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let s = &state.services;
    if s.store.ping().await.is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "store unavailable",
            }),
        );
    }
    if s.erp.health().await.is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "erp unavailable",
            }),
        );
    }
    (StatusCode::OK, Json(Health { status: "ok" }))
}

#[derive(Serialize, ToSchema)]
pub struct ProblemTypeDoc {
    #[schema(example = "insufficient-stock")]
    pub code: &'static str,
    #[schema(example = 409)]
    pub status: u16,
    #[schema(example = "Insufficient stock")]
    pub title: &'static str,
}

/// What a problem `type` means: its code, status and title from the registry.
#[utoipa::path(get, path = "/problems/{code}", tag = "operations",
    params(("code" = String, Path, example = "insufficient-stock")),
    responses((status = 200, body = ProblemTypeDoc), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn problem_type(Path(code): Path<String>) -> Result<Json<ProblemTypeDoc>> {
    REGISTRY
        .iter()
        .find(|p| p.code == code)
        .map(|p| {
            Json(ProblemTypeDoc {
                code: p.code,
                status: p.status,
                title: p.title,
            })
        })
        .ok_or(Error::NotFound {
            kind: "problem type",
            id: code,
        })
}
