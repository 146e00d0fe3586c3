use axum::extract::State;

use crate::api::extract::{Caller, IdempotencyHeader, JsonBody, StrictBody, TraceParent};
use crate::api::{AppState, docs};
use crate::domain::rma::{ReturnRequest, Rma};
use crate::error::Result;
use crate::services::idempotency::{Reply, fingerprint};

/// Authorizes a return of shipped units inside the return window. Each broken rule is a
/// 422 problem whose `code` names the rule.
#[utoipa::path(
    post,
    path = "/v1/returns",
    tag = "returns",
    params(("Idempotency-Key" = String, Header, description = "Unique per intended mutation, 1 to 255 visible ASCII \
        characters, bare or as a structured-field string. Scoped by client; kept at least 24 hours.",
        example = "c0a8012e-7f3b-4d1a-9a55-1f0e2b3c4d5e")),
    request_body(content = ReturnRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Authorized", body = Rma,
            headers(
                ("Location" = String, description = "The RMA's URL"),
                ("Idempotent-Replayed" = String, description = "`true` when this is a stored answer replayed")
            )),
        (status = 400, description = "Missing or malformed Idempotency-Key, or malformed JSON", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::idempotency_key_missing())),
        (status = 409, description = "The same key is still in flight", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::in_flight())),
        (status = 422, description = "A return rule failed (`return-not-in-order`, `return-not-shipped`, \
            `return-exceeds-shipped`, `return-window-closed`), an unknown order, or an invalid body",
            body = crate::problem::Problem, content_type = "application/problem+json", example = json!(docs::return_window_closed())),
    )
)]
pub async fn authorize_return(
    State(state): State<AppState>,
    Caller(client): Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    trace: TraceParent,
    body: JsonBody<ReturnRequest>,
) -> Result<Reply> {
    let fingerprint = fingerprint("POST /v1/returns", &body.raw);
    state
        .services
        .authorize_return(&client, &key, &fingerprint, &body.value, trace.as_deref())
        .await
}

impl StrictBody for ReturnRequest {
    const READ_ONLY: &'static [&'static str] = &[
        "id",
        "status",
        "refund_reference",
        "received_resellable",
        "received_damaged",
        "created_at",
        "updated_at",
    ];
}
