//! `/v1/admin/dead-letters`: what the dispatcher gave up on, and putting it right.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use crate::api::extract::{JsonBody, QueryPairs, StrictBody};
use crate::api::{AppState, docs};
use crate::error::{Error, Result};
use crate::services::Replayed;
use crate::store::{DeadLetter, DeadLetterDetail, DeadLetterQuery, DeliveryState};

const MAX_PAGE: u32 = 500;

#[derive(Serialize, ToSchema)]
pub struct DeadLetterPage {
    pub items: Vec<DeadLetter>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<String>,
}

/// Dead letters, oldest first, with filters.
#[utoipa::path(
    get,
    path = "/v1/admin/dead-letters",
    tag = "admin",
    params(
        ("direction" = Option<String>, Query, description = "`outbound` (default): events Stockade could not deliver; `inbound`: stream events it could not apply"),
        ("state" = Option<String>, Query, description = "`dead` (default) or `discarded`"),
        ("destination" = Option<String>, Query, description = "`erp`, a subscriber's name, `nats`"),
        ("kind" = Option<String>, Query, description = "Event type, e.g. `order.accepted`"),
        ("aggregate" = Option<String>, Query, description = "The order, RMA or SKU the event is about"),
        ("since" = Option<String>, Query, description = "RFC 3339"),
        ("until" = Option<String>, Query, description = "RFC 3339"),
        ("after" = Option<String>, Query, description = "Page after this id"),
        ("limit" = Option<u32>, Query, description = "1 to 500; default 100"),
    ),
    responses(
        (status = 200, description = "A page of dead letters", body = DeadLetterPage),
        (status = 400, description = "A filter does not parse", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::invalid_parameter("limit"))),
    )
)]
pub async fn list_dead_letters(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Json<DeadLetterPage>> {
    let q = letter_query(&query)?;
    let items = state.services.store.dead_letters(&q).await?;
    let next_after = (items.len() == q.limit as usize)
        .then(|| items.last().map(|l| l.id.clone()))
        .flatten();
    Ok(Json(DeadLetterPage { items, next_after }))
}

/// One dead letter with every attempt's error and the event itself.
#[utoipa::path(
    get,
    path = "/v1/admin/dead-letters/{id}",
    tag = "admin",
    params(("id" = String, Path, example = "dlv_01JEZD0Q2S4U6W8Y0A2C4E6G8J")),
    responses(
        (status = 200, description = "The dead letter", body = DeadLetterDetail),
        (status = 404, description = "No such dead letter", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::not_found("dead letter"))),
    )
)]
pub async fn get_dead_letter(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeadLetterDetail>> {
    state.services.dead_letter(&id).await.map(Json)
}

/// Delivers a dead letter again, with the same event id. Replaying one that is no longer
/// dead changes nothing.
#[utoipa::path(
    post,
    path = "/v1/admin/dead-letters/{id}/replay",
    tag = "admin",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The dead letter, back in line (`pending`) or applied (`replayed`)", body = DeadLetterDetail),
        (status = 404, description = "No such dead letter", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::not_found("dead letter"))),
        (status = 422, description = "An inbound event that is still rejected", body = crate::problem::Problem,
            content_type = "application/problem+json"),
    )
)]
pub async fn replay_dead_letter(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeadLetterDetail>> {
    state.services.replay_dead_letter(&id).await.map(Json)
}

/// Which dead letters to replay; every field narrows the choice.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"destination": "erp", "kind": "order.accepted", "since": "2026-12-03T00:00:00Z"}))]
pub struct ReplayFilter {
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub destination: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub aggregate: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
}

impl StrictBody for ReplayFilter {}

/// Replays every dead letter the filter matches.
#[utoipa::path(
    post,
    path = "/v1/admin/dead-letters/replay",
    tag = "admin",
    request_body(content = ReplayFilter, content_type = "application/json"),
    responses(
        (status = 200, description = "How many were replayed", body = Replayed),
        (status = 422, description = "The filter is not valid", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::validation_failed())),
    )
)]
pub async fn replay_dead_letters(
    State(state): State<AppState>,
    body: JsonBody<ReplayFilter>,
) -> Result<Json<Replayed>> {
    let f = body.value;
    let q = DeadLetterQuery {
        inbound: direction(f.direction.as_deref())?,
        state: state_of(f.state.as_deref())?,
        destination: f.destination,
        kind: f.kind,
        aggregate: f.aggregate,
        since: f.since,
        until: f.until,
        after: None,
        limit: u32::MAX,
    };
    state.services.replay_dead_letters(&q).await.map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "order cancelled by phone; the ERP never needs it"}))]
pub struct DiscardRequest {
    /// Why no one will ever deliver this event; kept with it and in the audit log.
    pub reason: String,
}

impl StrictBody for DiscardRequest {}

/// Gives up on a dead letter for good, saying why.
#[utoipa::path(
    post,
    path = "/v1/admin/dead-letters/{id}/discard",
    tag = "admin",
    params(("id" = String, Path)),
    request_body(content = DiscardRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The dead letter, now `discarded`", body = DeadLetterDetail),
        (status = 404, description = "No such dead letter", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::not_found("dead letter"))),
        (status = 422, description = "No reason given", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::validation_failed())),
    )
)]
pub async fn discard_dead_letter(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: JsonBody<DiscardRequest>,
) -> Result<Json<DeadLetterDetail>> {
    state
        .services
        .discard_dead_letter(&id, &body.value.reason)
        .await
        .map(Json)
}

fn direction(v: Option<&str>) -> Result<bool> {
    match v {
        None | Some("outbound") => Ok(false),
        Some("inbound") => Ok(true),
        Some(other) => Err(Error::InvalidParameter {
            name: "direction",
            why: format!("`{other}` is not inbound or outbound"),
        }),
    }
}

fn state_of(v: Option<&str>) -> Result<Option<DeliveryState>> {
    match v {
        None => Ok(None),
        Some("dead") => Ok(Some(DeliveryState::Dead)),
        Some("discarded") => Ok(Some(DeliveryState::Discarded)),
        Some(other) => Err(Error::InvalidParameter {
            name: "state",
            why: format!("`{other}` is not dead or discarded"),
        }),
    }
}

fn letter_query(q: &QueryPairs) -> Result<DeadLetterQuery> {
    let instant = |name: &'static str| -> Result<Option<OffsetDateTime>> {
        q.first(name)
            .map(|v| {
                OffsetDateTime::parse(v, &Rfc3339).map_err(|_| Error::InvalidParameter {
                    name,
                    why: format!("`{v}` is not RFC 3339"),
                })
            })
            .transpose()
    };
    let limit = q.limit(100, MAX_PAGE)?;
    Ok(DeadLetterQuery {
        inbound: direction(q.first("direction"))?,
        state: state_of(q.first("state"))?,
        destination: q.first("destination").map(str::to_owned),
        kind: q.first("kind").map(str::to_owned),
        aggregate: q.first("aggregate").map(str::to_owned),
        since: instant("since")?,
        until: instant("until")?,
        after: q.first("after").map(str::to_owned),
        limit,
    })
}
