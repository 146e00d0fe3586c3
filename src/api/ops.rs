//! Operations routes: liveness, readiness, metrics and the problem type documentation.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::error::{Error, Result};
use crate::problem::REGISTRY;
use crate::services::dispatch::DestinationHealth;

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

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "degraded", "checks": {"store": "ok", "redis": "ok", "erp": "down: connection refused"},
    "destinations": [{"destination": "erp", "breaker": "open"}]}))]
pub struct Readiness {
    /// `ok`; `degraded` (serving, but a dependency other than the store is down); or
    /// `unavailable` (the store is down: answered 503).
    pub status: &'static str,
    /// Each dependency: `ok` or `down: <why>`.
    pub checks: BTreeMap<&'static str, String>,
    /// Each outbound destination's circuit breaker on this instance.
    pub destinations: Vec<DestinationHealth>,
}

/// Whether this instance can serve. Only the store decides: an ERP or Redis outage is
/// reported, but orders are still captured and the instance stays in the load balancer.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let s = &state.services;
    let timeout = std::time::Duration::from_secs(2);
    let check =
        |r: Result<(), String>| r.map_or_else(|e| format!("down: {e}"), |()| "ok".to_owned());
    let mut checks = BTreeMap::new();
    let store = match tokio::time::timeout(timeout, s.store.ping()).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("no answer within 2 s".into()),
    };
    let store_ok = store.is_ok();
    checks.insert("store", check(store));
    let erp = match tokio::time::timeout(timeout, s.erp.health()).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("no answer within 2 s".into()),
    };
    checks.insert("erp", check(erp));
    if let Some(redis) = &state.redis {
        let mut conn = redis.clone();
        let pong =
            tokio::time::timeout(timeout, redis::cmd("PING").query_async::<String>(&mut conn))
                .await;
        checks.insert(
            "redis",
            check(
                pong.map_err(|_| "no answer".to_owned())
                    .and_then(|r| r.map(|_| ()).map_err(|e| e.to_string())),
            ),
        );
    }
    if let Some(nats) = &state.nats {
        let connected = nats.client.connection_state() == async_nats::connection::State::Connected;
        checks.insert(
            "nats",
            check(if connected {
                Ok(())
            } else {
                Err("disconnected".into())
            }),
        );
    }
    let degraded = checks.values().any(|v| v != "ok");
    let status = if !store_ok {
        "unavailable"
    } else if degraded {
        "degraded"
    } else {
        "ok"
    };
    let code = if store_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(Readiness {
            status,
            checks,
            destinations: state.dispatcher.health(),
        }),
    )
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

/// Requests, latency, workflow stages, stock freshness, outbox backlog, dead letters,
/// sheds, rate-limit refusals, cache hits and breakers, in the Prometheus text format.
/// Needs the `admin` scope here; `STOCKADE_METRICS_LISTEN` serves it without credentials
/// on an address of its own for a scraper inside the network.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "The metrics", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse> {
    let text = state
        .services
        .metrics_text(&state.dispatcher.health())
        .await?;
    Ok(([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text))
}
