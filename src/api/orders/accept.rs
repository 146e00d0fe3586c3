use axum::extract::State;

use crate::api::extract::{Caller, IdempotencyHeader, JsonBody, StrictBody, TraceParent};
use crate::api::{AppState, docs};
use crate::domain::order::{Order, OrderRequest};
use crate::error::Result;
use crate::services::idempotency::{Reply, fingerprint};

/// Order acceptance: validate, allocate, reserve every line atomically, then hand the order
/// to the ERP. Repeating the call with the same Idempotency-Key and body replays the first
/// answer byte for byte.
#[utoipa::path(
    post,
    path = "/v1/orders",
    tag = "orders",
    params(("Idempotency-Key" = String, Header, description = "Unique per intended mutation, 1 to 255 visible ASCII \
        characters, bare or as a structured-field string. Scoped by client; kept at least 24 hours.",
        example = "c0a8012e-7f3b-4d1a-9a55-1f0e2b3c4d5e")),
    request_body(content = OrderRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Accepted and reserved", body = Order,
            headers(
                ("Location" = String, description = "The order's URL"),
                ("Idempotent-Replayed" = String, description = "`true` when this is a stored answer replayed")
            ),
            example = json!(docs::order())),
        (status = 400, description = "Missing or malformed Idempotency-Key, or malformed JSON", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::idempotency_key_missing())),
        (status = 403, description = "Channel not held by the caller", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::channel_not_allowed())),
        (status = 409, description = "Insufficient stock (nothing reserved), a duplicate order, or the same key still in flight",
            body = crate::problem::Problem, content_type = "application/problem+json", example = json!(docs::insufficient_stock())),
        (status = 413, description = "Body too large", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::payload_too_large())),
        (status = 415, description = "Body is not JSON", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::unsupported_media_type())),
        (status = 422, description = "Invalid body, unknown SKUs, more than 100 lines, or the key reused with another body",
            body = crate::problem::Problem, content_type = "application/problem+json", example = json!(docs::validation_failed())),
    )
)]
pub async fn accept_order(
    State(state): State<AppState>,
    Caller(client): Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    trace: TraceParent,
    body: JsonBody<OrderRequest>,
) -> Result<Reply> {
    let fingerprint = fingerprint("POST /v1/orders", &body.raw);
    state
        .services
        .accept_order(&client, &key, &fingerprint, &body.value, trace.as_deref())
        .await
}

impl StrictBody for OrderRequest {
    const READ_ONLY: &'static [&'static str] = &[
        "id",
        "status",
        "erp",
        "erp_reference",
        "allocations",
        "backordered",
        "shipped",
        "committed",
        "reserved",
        "created_at",
        "updated_at",
    ];
}
