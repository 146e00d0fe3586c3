use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::extract::{Caller, JsonBody, StrictBody, TraceParent};
use crate::api::{AppState, docs};
use crate::domain::events::Envelope;
use crate::error::Result;
use crate::services::events::EventResult;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!(docs::event_batch()))]
pub struct EventBatch {
    /// At most 500 events. Each is checked on its own, so one bad event never rejects the
    /// others.
    #[schema(value_type = Vec<Envelope>)]
    pub events: Vec<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct EventResults {
    /// One result per event, in the order sent.
    pub results: Vec<EventResult>,
}

/// Inbound events from warehouses, 3PLs and ERPs: `stock.counted`, `stock.adjusted`,
/// `shipment.updated` and `return.received`, deduplicated by (source, id).
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "events",
    request_body(content = EventBatch, content_type = "application/json"),
    responses(
        (status = 202, description = "One result per event: applied, duplicate or rejected with a problem",
            body = EventResults, example = json!(docs::event_results())),
        (status = 400, description = "Malformed JSON", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::malformed_json())),
        (status = 422, description = "Not an event batch, or more than 500 events", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::too_many("events", 500))),
    )
)]
pub async fn ingest_events(
    State(state): State<AppState>,
    Caller(_client): Caller,
    trace: TraceParent,
    body: JsonBody<EventBatch>,
) -> Result<(StatusCode, Json<EventResults>)> {
    let results = state
        .services
        .ingest_events(body.value.events, trace.as_deref())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(EventResults { results })))
}

impl StrictBody for EventBatch {}
