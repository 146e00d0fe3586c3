use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::AppState;
use crate::error::Result;
use crate::services::dispatch::DestinationHealth;
use crate::store::OutboxStats;

#[derive(Serialize, ToSchema)]
pub struct OutboxReport {
    #[serde(flatten)]
    pub backlog: OutboxStats,
    /// Each destination's circuit breaker on this instance.
    pub breakers: Vec<DestinationHealth>,
}

/// The outbox backlog per destination (pending, dead, age of the oldest pending) and the
/// breakers of this instance.
#[utoipa::path(
    get,
    path = "/v1/admin/outbox",
    tag = "admin",
    responses((status = 200, description = "Backlog and breakers", body = OutboxReport,
        example = json!({"unrouted": 0, "destinations": [{"destination": "erp", "pending": 3, "dead": 1,
            "oldest_pending_ms": 1250}], "breakers": [{"destination": "erp", "breaker": "closed"}]})))
)]
pub async fn outbox_report(State(state): State<AppState>) -> Result<Json<OutboxReport>> {
    let backlog = state.services.store.outbox_stats().await?;
    Ok(Json(OutboxReport {
        backlog,
        breakers: state.dispatcher.health(),
    }))
}
