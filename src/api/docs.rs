//! The OpenAPI document: its metadata and the examples every route shows.
//!
//! Paths come from the `#[utoipa::path]` on each handler, gathered by the routing table in
//! `api/mod.rs`, so a route cannot exist without its documentation.

use serde_json::{Value, json};
use utoipa::OpenApi;

use crate::problem::{self, example};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Stockade",
        version = "1.0.0",
        description = "Available-to-sell inventory, order acceptance, shipment status and return \
            authorization for retail sales channels, in front of whichever ERP runs the back office.\n\n\
            Every error is an RFC 9457 problem (`application/problem+json`) with a stable `code`; \
            see `/problems/{code}`. Mutations that take an `Idempotency-Key` replay their first \
            answer for the same key and body, with `Idempotent-Replayed: true`.",
        license(name = "Apache-2.0"),
    ),
    tags(
        (name = "availability", description = "Available-to-sell per channel"),
        (name = "orders", description = "Order acceptance, status, cancellation and shipments"),
        (name = "returns", description = "Return authorization"),
        (name = "events", description = "Inbound events from warehouses, 3PLs and ERPs"),
        (name = "webhooks", description = "Signed deliveries from sales channels (WooCommerce)"),
        (name = "admin", description = "Operations: the audit log, dead letters, channel exceptions (admin scope)"),
        (name = "operations", description = "Health, readiness and documentation"),
    ),
    security(("api_key" = []), ("bearer" = [])),
    components(schemas(problem::Problem, crate::domain::ValidationError, crate::domain::allocation::Shortage,
        crate::domain::events::StockCounted, crate::domain::events::StockAdjusted,
        crate::domain::events::ShipmentUpdated, crate::domain::events::ReturnReceived)),
)]
pub struct ApiDoc;

/// API keys (as `Authorization: Bearer` or `X-Api-Key`) and JWTs, and the refusals every
/// governed route can answer with. Applied to the whole document, once the routing table
/// has added its paths.
pub struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, spec: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = spec.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key, or a JWT from an issuer the policies trust",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
        components.add_security_scheme(
            "woocommerce_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-WC-Webhook-Signature",
                "Base64 of the HMAC-SHA256 of the raw body under the store's webhook secret",
            ))),
        );
        for (path, item) in &mut spec.paths.paths {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                if path.starts_with("/v1/webhooks/") {
                    // Signed by the sender, not sent by a client: no credential, scope or
                    // client rate tier applies.
                    op.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
                        "woocommerce_signature",
                        Vec::<String>::new(),
                    )]);
                } else if path.starts_with("/v1/") {
                    governed(op);
                } else {
                    // Operations routes answer without credentials.
                    op.security = Some(vec![
                        utoipa::openapi::security::SecurityRequirement::default(),
                    ]);
                }
            }
        }
    }
}

/// The answers every governed route can give, whatever its handler does.
fn governed(op: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let problem = |description: &str, example: Value| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .example(Some(example))
                    .build(),
            )
            .build()
    };
    let responses = &mut op.responses.responses;
    responses.entry("401".into()).or_insert_with(|| {
        problem(
            "Missing or invalid credentials; `WWW-Authenticate` says which",
            unauthenticated(),
        )
        .into()
    });
    responses.entry("403".into()).or_insert_with(|| {
        problem(
            "The client lacks the route's scope or the channel",
            insufficient_scope(),
        )
        .into()
    });
    responses.entry("429".into()).or_insert_with(|| {
        problem(
            "The client's rate tier is exhausted; `Retry-After` says when to come back",
            rate_limited(),
        )
        .into()
    });
}

const ORDER_ID: &str = "ord_01JEZ8Q4W3M2T6V8X9Y0Z1A2B3";

pub fn order() -> Value {
    json!({
        "id": ORDER_ID, "status": "accepted", "channel": "web", "external_id": "WC-1001",
        "currency": "EUR", "customer": {"id": "cus-77", "name": "Ada Lovelace", "email": "ada@example.com"},
        "shipping_address": {"name": "Ada Lovelace", "line1": "12 Analytical Row", "city": "London",
            "postal_code": "N1 9GU", "country": "GB"},
        "lines": [{"sku": "TEE-BLK-M", "quantity": 2, "unit_price": "19.90",
            "allocations": [{"location": "WH-MAIN", "quantity": 2}], "backordered": 0, "shipped": 0}],
        "erp": {"system": "embedded", "reference": null, "state": "pending"},
        "created_at": "2026-12-03T12:00:00Z", "updated_at": "2026-12-03T12:00:00Z"
    })
}

pub fn shipments() -> Value {
    json!({"items": [{
        "id": "shp_01JEZ9B2K4M6N8P0Q2R4S6T8V0", "order_id": ORDER_ID, "reference": "WMS-88812",
        "status": "shipped", "carrier": "DHL", "tracking_number": "00340434161094042557",
        "tracking_url": "https://www.dhl.com/track?id=00340434161094042557",
        "lines": [{"sku": "TEE-BLK-M", "quantity": 2}],
        "milestones": [
            {"status": "packed", "at": "2026-12-03T14:00:00Z", "source": "wms-main"},
            {"status": "shipped", "at": "2026-12-03T16:30:00Z", "source": "wms-main"}],
        "shipped_at": "2026-12-03T16:30:00Z"}]})
}

pub fn timeline() -> Value {
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    json!({"order_id": ORDER_ID, "entries": [
        {"at": "2026-12-03T12:00:00Z", "stage": "accepted", "system": "stockade", "outcome": "done",
         "detail": "2 units on 1 lines from web order WC-1001", "trace_id": trace, "event_id": "evt_01JEZ8Q4W3M2T6V8X9Y0Z1A2C4"},
        {"at": "2026-12-03T12:00:00Z", "stage": "reserved", "system": "stockade", "outcome": "done",
         "detail": "TEE-BLK-M 2 at WH-MAIN", "trace_id": trace, "event_id": "evt_01JEZ8Q4W3M2T6V8X9Y0Z1A2C4"},
        {"at": "2026-12-03T12:00:01Z", "stage": "submitted", "system": "erp:netsuite", "outcome": "failed",
         "attempt": 1, "error": "netsuite: 503 Service Unavailable", "trace_id": trace, "event_id": "evt_01JEZ8Q4W3M2T6V8X9Y0Z1A2C4"},
        {"at": "2026-12-03T12:00:03Z", "stage": "submitted", "system": "erp:netsuite", "outcome": "done",
         "attempt": 2, "trace_id": trace, "event_id": "evt_01JEZ8Q4W3M2T6V8X9Y0Z1A2C4"},
        {"at": "2026-12-03T12:00:03Z", "stage": "acknowledged", "system": "erp:netsuite", "outcome": "done",
         "detail": "SO-1042"},
        {"at": "2026-12-03T16:30:00Z", "stage": "shipped", "system": "warehouse", "outcome": "done",
         "detail": "shp_01JEZ9B2K4M6N8P0Q2R4S6T8V0 DHL 00340434161094042557", "event_id": "evt_01JEZ9B2K4M6N8P0Q2R4S6T8W1"},
        {"at": "2026-12-03T16:30:02Z", "stage": "channel_updated", "system": "woocommerce-main", "outcome": "done",
         "attempt": 1, "event_id": "evt_01JEZ9B2K4M6N8P0Q2R4S6T8W1"}]})
}

pub fn event_batch() -> Value {
    json!({"events": [
        {"id": "evt-1001", "type": "stock.counted", "source": "wms-main", "occurred_at": "2026-12-03T12:00:00Z",
         "data": {"sku": "TEE-BLK-M", "location": "WH-MAIN", "on_hand": 40, "sequence": 1201}},
        {"id": "evt-1002", "type": "shipment.updated", "source": "wms-main", "occurred_at": "2026-12-03T16:30:00Z",
         "data": {"order_id": ORDER_ID, "shipment_id": "WMS-88812", "status": "shipped", "carrier": "DHL",
                  "tracking_number": "00340434161094042557", "lines": [{"sku": "TEE-BLK-M", "quantity": 2}]}}]})
}

pub fn event_results() -> Value {
    json!({"results": [
        {"id": "evt-1001", "source": "wms-main", "status": "applied"},
        {"id": "evt-1002", "source": "wms-main", "status": "duplicate"},
        {"id": "evt-1003", "source": "wms-main", "status": "rejected",
         "problem": {"type": "/problems/stale-count", "title": "Stale count", "status": 409, "code": "stale-count",
                     "detail": "a count with sequence 1201 from `wms-main` is already applied; this one is older"}}]})
}

pub fn insufficient_stock() -> Value {
    example(
        problem::INSUFFICIENT_STOCK,
        "not enough stock for 1 SKU(s)",
        json!({"shortages": [{"sku": "TEE-BLK-M", "requested": 3, "available": 1}]}),
    )
}

pub fn validation_failed() -> Value {
    example(
        problem::VALIDATION_FAILED,
        "the request breaks 1 rule(s)",
        json!({"errors": [{"code": "invalid-quantity", "pointer": "/lines/0/quantity",
            "detail": "must be a whole number from 1 to 100000"}]}),
    )
}

pub fn idempotency_key_missing() -> Value {
    example(
        problem::IDEMPOTENCY_KEY_MISSING,
        "the Idempotency-Key header is required",
        json!({}),
    )
}

pub fn in_flight() -> Value {
    example(
        problem::IDEMPOTENCY_KEY_IN_FLIGHT,
        "a request with this Idempotency-Key is still being processed",
        json!({}),
    )
}

pub fn channel_not_allowed() -> Value {
    example(
        problem::CHANNEL_NOT_ALLOWED,
        "the caller may not act for channel `b2b`",
        json!({"channel": "b2b"}),
    )
}

pub fn not_found(kind: &str) -> Value {
    example(
        problem::NOT_FOUND,
        &format!("{kind} `X` was not found"),
        json!({}),
    )
}

pub fn missing_parameter(name: &str) -> Value {
    example(
        problem::MISSING_PARAMETER,
        &format!("missing query parameter `{name}`"),
        json!({"parameter": name}),
    )
}

pub fn too_many(what: &str, max: usize) -> Value {
    example(
        problem::TOO_MANY_ITEMS,
        &format!("at most {max} {what} per call; got {}", max + 1),
        json!({"max": max}),
    )
}

pub fn reconciliation_running() -> Value {
    example(
        problem::RECONCILIATION_RUNNING,
        "a reconciliation is already running on this instance",
        json!({}),
    )
}

pub fn order_shipped() -> Value {
    example(
        problem::ORDER_SHIPPED,
        "the order has shipped in full and cannot be cancelled",
        json!({}),
    )
}

pub fn payload_too_large() -> Value {
    example(
        problem::PAYLOAD_TOO_LARGE,
        "the body is larger than 1048576 bytes",
        json!({"limit_bytes": 1_048_576}),
    )
}

pub fn unsupported_media_type() -> Value {
    example(
        problem::UNSUPPORTED_MEDIA_TYPE,
        "the body must be application/json",
        json!({}),
    )
}

pub fn malformed_json() -> Value {
    example(
        problem::MALFORMED_JSON,
        "the body is not valid JSON: EOF while parsing an object at line 1 column 9",
        json!({}),
    )
}

pub fn return_window_closed() -> Value {
    example(
        problem::RETURN_WINDOW_CLOSED,
        "the return window for `TEE-BLK-M` closed at 2026-11-02T16:30:00Z",
        json!({"sku": "TEE-BLK-M", "closed_at": "2026-11-02T16:30:00Z"}),
    )
}

pub fn audit_page() -> Value {
    json!({"items": [{"seq": 41, "at": "2026-12-03T12:00:00.123456Z", "client_id": "demo-storefront",
        "subject": "demo-storefront", "method": "POST", "route": "/v1/orders", "resource_id": ORDER_ID,
        "status": 201, "request_id": "6f1c1d1e-6a43-4c55-9d0c-2f7d0f6d2c11", "idempotency_key": "c0a8012e",
        "body_sha256": "9f2b5c0e6b8f8e4e3b9c1a7d2f0e5c4b3a29181716151413121110090807060504",
        "prev_hash": "1b4f0e9851971998e732078544c96b36c3d01cedf7caa332359d6f1d83567014",
        "hash": "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"}], "next_after": null})
}

pub fn invalid_parameter(name: &str) -> Value {
    example(
        problem::INVALID_PARAMETER,
        &format!("query parameter `{name}`: must be from 1 to 500"),
        json!({"parameter": name}),
    )
}

pub fn insufficient_scope() -> Value {
    example(
        problem::INSUFFICIENT_SCOPE,
        "this route needs the `admin` scope",
        json!({"scope": "admin"}),
    )
}

pub fn invalid_signature() -> Value {
    example(
        problem::INVALID_SIGNATURE,
        "the webhook's signature is not valid: X-WC-Webhook-Signature does not match the body under this store's secret",
        json!({}),
    )
}

pub fn unauthenticated() -> Value {
    example(
        problem::UNAUTHENTICATED,
        "no credentials: send Authorization: Bearer <key or token>, or X-Api-Key",
        json!({}),
    )
}

pub fn rate_limited() -> Value {
    example(
        problem::RATE_LIMITED,
        "tier `standard` allows 600 requests per 60 s",
        json!({"retry_after_seconds": 1}),
    )
}
