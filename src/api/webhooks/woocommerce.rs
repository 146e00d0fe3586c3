use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;

use crate::api::extract::TraceParent;
use crate::api::{AppState, docs};
use crate::error::Result;
use crate::services::woocommerce::{WebhookDelivery, WebhookReceipt};

/// A WooCommerce webhook (`order.created`, `order.updated`, `order.deleted`,
/// `product.created`, `product.updated`, `product.deleted`). The signature is checked over
/// the raw body before anything is read from it; a signed delivery is recorded and
/// answered 200 whatever becomes of its order, and a repeated delivery id changes nothing.
/// The unsigned ping a store sends when a webhook is saved is answered 200.
#[utoipa::path(
    post,
    path = "/v1/webhooks/woocommerce/{store}",
    tag = "webhooks",
    params(
        ("store" = String, Path, description = "The store's name in `stores.toml`", example = "demo"),
        ("X-WC-Webhook-Signature" = Option<String>, Header,
            description = "Base64 of the HMAC-SHA256 of the raw body under the store's webhook secret; absent only on the save-time ping"),
        ("X-WC-Webhook-Topic" = Option<String>, Header, description = "e.g. `order.created`"),
        ("X-WC-Webhook-Delivery-ID" = Option<String>, Header, description = "Repeats of one delivery are dropped by it"),
    ),
    request_body(content = Object, description = "The order or product exactly as the store sends it (or `webhook_id=<n>`, form-encoded, for the ping)",
        content_type = "application/json"),
    responses(
        (status = 200, description = "Recorded and processed (or queued for a retry), a repeat, or the ping", body = WebhookReceipt),
        (status = 401, description = "No signature, or one that does not match the body", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::invalid_signature())),
        (status = 404, description = "No store of that name", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::not_found("store"))),
    )
)]
pub async fn receive_woocommerce(
    State(state): State<AppState>,
    Path(store): Path<String>,
    headers: HeaderMap,
    trace: TraceParent,
    body: Bytes,
) -> Result<Json<WebhookReceipt>> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let delivery = WebhookDelivery {
        signature: header("x-wc-webhook-signature"),
        topic: header("x-wc-webhook-topic"),
        delivery_id: header("x-wc-webhook-delivery-id"),
        content_type: header("content-type"),
        body: body.to_vec(),
    };
    state
        .services
        .woocommerce_webhook(&store, delivery, trace.as_deref())
        .await
        .map(Json)
}
