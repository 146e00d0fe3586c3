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
        (name = "operations", description = "Health, readiness and documentation"),
    ),
    components(schemas(problem::Problem, crate::domain::ValidationError, crate::domain::allocation::Shortage,
        crate::domain::events::StockCounted, crate::domain::events::StockAdjusted,
        crate::domain::events::ShipmentUpdated, crate::domain::events::ReturnReceived)),
)]
pub struct ApiDoc;

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
