//! RFC 9457 problem details and the registry of stable problem codes.
//!
//! A code, once published, keeps its meaning and status forever; clients switch on it.
//! `docs/PROBLEMS.md` lists the registry and a test keeps the two in step.

use serde::Serialize;
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use crate::domain::rma::ReturnRule;
use crate::error::Error;

/// One registered problem type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemType {
    pub code: &'static str,
    pub status: u16,
    pub title: &'static str,
}

macro_rules! registry {
    ($($name:ident = ($code:literal, $status:literal, $title:literal);)*) => {
        $(pub const $name: ProblemType = ProblemType { code: $code, status: $status, title: $title };)*
        /// Every registered problem type.
        pub const REGISTRY: &[ProblemType] = &[$($name),*];
    };
}

registry! {
    MALFORMED_JSON = ("malformed-json", 400, "Malformed JSON");
    MISSING_PARAMETER = ("missing-parameter", 400, "Missing parameter");
    IDEMPOTENCY_KEY_MISSING = ("idempotency-key-missing", 400, "Idempotency-Key required");
    IDEMPOTENCY_KEY_INVALID = ("idempotency-key-invalid", 400, "Malformed Idempotency-Key");
    JSON_TOO_DEEP = ("json-too-deep", 400, "JSON nested too deeply");
    INVALID_PARAMETER = ("invalid-parameter", 400, "Invalid parameter");
    UNAUTHENTICATED = ("unauthenticated", 401, "Authentication required");
    INVALID_SIGNATURE = ("invalid-signature", 401, "Invalid signature");
    INSUFFICIENT_SCOPE = ("insufficient-scope", 403, "Insufficient scope");
    CHANNEL_NOT_ALLOWED = ("channel-not-allowed", 403, "Channel not allowed");
    NOT_FOUND = ("not-found", 404, "Not found");
    ROUTE_NOT_FOUND = ("route-not-found", 404, "No such route");
    METHOD_NOT_ALLOWED = ("method-not-allowed", 405, "Method not allowed");
    IDEMPOTENCY_KEY_IN_FLIGHT = ("idempotency-key-in-flight", 409, "Request still in flight");
    INSUFFICIENT_STOCK = ("insufficient-stock", 409, "Insufficient stock");
    DUPLICATE_ORDER = ("duplicate-order", 409, "Duplicate order");
    ORDER_SHIPPED = ("order-shipped", 409, "Order already shipped");
    RECONCILIATION_RUNNING = ("reconciliation-running", 409, "Reconciliation already running");
    GONE = ("gone", 410, "Route retired");
    PAYLOAD_TOO_LARGE = ("payload-too-large", 413, "Payload too large");
    UNSUPPORTED_MEDIA_TYPE = ("unsupported-media-type", 415, "Unsupported media type");
    VALIDATION_FAILED = ("validation-failed", 422, "Validation failed");
    READ_ONLY_FIELD = ("read-only-field", 422, "Field set by Stockade");
    REPLAY_REJECTED = ("replay-rejected", 422, "Replay rejected");
    TOO_MANY_ITEMS = ("too-many-items", 422, "Too many items");
    IDEMPOTENCY_KEY_REUSED = ("idempotency-key-reused", 422, "Idempotency-Key reused");
    UNKNOWN_SKU = ("unknown-sku", 422, "Unknown SKU");
    UNKNOWN_LOCATION = ("unknown-location", 422, "Unknown location");
    UNKNOWN_ORDER = ("unknown-order", 422, "Unknown order");
    UNKNOWN_RMA = ("unknown-rma", 422, "Unknown RMA");
    RETURN_NOT_IN_ORDER = ("return-not-in-order", 422, "SKU not in the order");
    RETURN_NOT_SHIPPED = ("return-not-shipped", 422, "Not shipped");
    RETURN_EXCEEDS_SHIPPED = ("return-exceeds-shipped", 422, "More than was shipped and not yet returned");
    RETURN_WINDOW_CLOSED = ("return-window-closed", 422, "Return window closed");
    STALE_COUNT = ("stale-count", 409, "Stale count");
    NEGATIVE_STOCK = ("negative-stock", 422, "Stock would go negative");
    INVALID_UNAVAILABLE = ("invalid-unavailable", 422, "Unavailable outside 0..on-hand");
    EXCEEDS_ORDER = ("exceeds-order", 422, "More than the order has open");
    ORDER_CANCELLED = ("order-cancelled", 409, "Order cancelled");
    LOCATION_REQUIRED = ("location-required", 422, "Location required");
    NO_LINES = ("no-lines", 422, "Lines required");
    RMA_CLOSED = ("rma-closed", 409, "RMA closed");
    EXCEEDS_AUTHORIZED = ("exceeds-authorized", 422, "More than was authorized");
    RATE_LIMITED = ("rate-limited", 429, "Too many requests");
    INTERNAL = ("internal", 500, "Internal error");
    TIMEOUT = ("timeout", 503, "Timed out");
    LIMITER_UNAVAILABLE = ("rate-limiter-unavailable", 503, "Rate limiter unavailable");
    SHED = ("shed", 503, "Overloaded");
}

/// Looks a code up, for problems that arrive as bare codes (event rejections).
pub fn by_code(code: &str) -> ProblemType {
    REGISTRY
        .iter()
        .copied()
        .find(|p| p.code == code)
        .unwrap_or(VALIDATION_FAILED)
}

/// An RFC 9457 problem details object with Stockade's `code` and `request_id` extensions.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/insufficient-stock", "title": "Insufficient stock", "status": 409,
    "detail": "not enough stock for 1 SKU(s)", "code": "insufficient-stock",
    "request_id": "6f1c1d1e-6a43-4c55-9d0c-2f7d0f6d2c11",
    "shortages": [{"sku": "TEE-BLK-M", "requested": 3, "available": 1}]
}))]
pub struct Problem {
    /// `/problems/{code}`, which documents the type.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code from the registry.
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Type-specific members, e.g. `shortages` or `errors`.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: Map<String, Value>,
}

impl Problem {
    pub fn new(t: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("/problems/{}", t.code),
            title: t.title.to_owned(),
            status: t.status,
            detail: detail.into(),
            code: t.code.to_owned(),
            request_id: None,
            extensions: Map::new(),
        }
    }

    #[must_use]
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        self.extensions.insert(
            key.to_owned(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    pub fn is_server_error(&self) -> bool {
        self.status >= 500
    }
}

impl From<&Error> for Problem {
    fn from(e: &Error) -> Self {
        let p = |t: ProblemType| Problem::new(t, e.to_string());
        match e {
            Error::MalformedJson(_) => p(MALFORMED_JSON),
            Error::Invalid(errors) => p(VALIDATION_FAILED).with("errors", errors),
            Error::UnsupportedMediaType => p(UNSUPPORTED_MEDIA_TYPE),
            Error::PayloadTooLarge { limit } => p(PAYLOAD_TOO_LARGE).with("limit_bytes", limit),
            Error::TooMany { max, .. } => p(TOO_MANY_ITEMS).with("max", max),
            Error::MissingParameter(name) => p(MISSING_PARAMETER).with("parameter", name),
            Error::InvalidParameter { name, .. } => p(INVALID_PARAMETER).with("parameter", name),
            Error::JsonTooDeep { max } => p(JSON_TOO_DEEP).with("max_depth", max),
            Error::ReadOnlyField { pointer, .. } => p(READ_ONLY_FIELD).with("pointer", pointer),
            Error::IdempotencyKeyMissing => p(IDEMPOTENCY_KEY_MISSING),
            Error::IdempotencyKeyInvalid => p(IDEMPOTENCY_KEY_INVALID),
            Error::IdempotencyKeyReused => p(IDEMPOTENCY_KEY_REUSED),
            Error::IdempotencyKeyInFlight => p(IDEMPOTENCY_KEY_IN_FLIGHT),
            Error::UnknownSkus(skus) => p(UNKNOWN_SKU).with("skus", skus),
            Error::ChannelNotAllowed(ch) => p(CHANNEL_NOT_ALLOWED).with("channel", ch),
            Error::InsufficientStock(shortages) => {
                p(INSUFFICIENT_STOCK).with("shortages", shortages)
            }
            Error::DuplicateOrder { existing } => p(DUPLICATE_ORDER).with("order_id", existing),
            Error::OrderShipped => p(ORDER_SHIPPED),
            Error::ReconciliationRunning => p(RECONCILIATION_RUNNING),
            Error::NotFound { .. } => p(NOT_FOUND),
            Error::UnknownOrder(_) => p(UNKNOWN_ORDER),
            Error::WebhookSignature(_) => p(INVALID_SIGNATURE),
            Error::ReturnRule(rule) => return_rule(rule),
            Error::ReplayRejected(_) => p(REPLAY_REJECTED),
            // Internal detail never reaches the client; the log has it, with the request id.
            Error::Store(_) | Error::Internal(_) => {
                Problem::new(INTERNAL, "an internal error occurred; quote the request id")
            }
        }
    }
}

fn return_rule(rule: &ReturnRule) -> Problem {
    match rule {
        ReturnRule::NotInOrder { sku } => {
            Problem::new(RETURN_NOT_IN_ORDER, format!("`{sku}` is not a line of this order")).with("sku", sku)
        }
        ReturnRule::NotShipped { sku } => {
            Problem::new(RETURN_NOT_SHIPPED, format!("`{sku}` has not shipped, so it cannot be returned")).with("sku", sku)
        }
        ReturnRule::ExceedsReturnable { sku, requested, returnable } => Problem::new(
            RETURN_EXCEEDS_SHIPPED,
            format!("{requested} units of `{sku}` requested; {returnable} shipped and not yet returned or authorized"),
        )
        .with("sku", sku)
        .with("requested", requested)
        .with("returnable", returnable),
        ReturnRule::WindowClosed { sku, closed_at } => {
            let closed = closed_at.format(&Rfc3339).unwrap_or_default();
            Problem::new(RETURN_WINDOW_CLOSED, format!("the return window for `{sku}` closed at {closed}"))
                .with("sku", sku)
                .with("closed_at", closed)
        }
    }
}

/// An example body for the OpenAPI document.
pub fn example(t: ProblemType, detail: &str, extra: Value) -> Value {
    let mut v = json!({"type": format!("/problems/{}", t.code), "title": t.title, "status": t.status,
        "detail": detail, "code": t.code, "request_id": "6f1c1d1e-6a43-4c55-9d0c-2f7d0f6d2c11"});
    if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), extra) {
        obj.extend(extra);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn codes_are_unique_and_statuses_are_errors() {
        let codes: BTreeSet<_> = REGISTRY.iter().map(|p| p.code).collect();
        assert_eq!(codes.len(), REGISTRY.len());
        assert!(REGISTRY.iter().all(|p| (400..600).contains(&p.status)));
    }

    #[test]
    fn the_docs_list_every_code() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/PROBLEMS.md"))
            .unwrap();
        for p in REGISTRY {
            assert!(
                doc.contains(&format!("`{}`", p.code)),
                "docs/PROBLEMS.md does not list `{}`",
                p.code
            );
        }
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = Error::Internal(anyhow::anyhow!("password=hunter2 at db.internal"));
        let p = Problem::from(&e);
        assert_eq!(p.status, 500);
        assert!(!serde_json::to_string(&p).unwrap().contains("hunter2"));
    }

    #[test]
    fn shortages_travel_as_an_extension() {
        let e = Error::InsufficientStock(vec![crate::domain::allocation::Shortage {
            sku: "A".into(),
            requested: 3,
            available: 1,
        }]);
        let v = serde_json::to_value(Problem::from(&e)).unwrap();
        assert_eq!(v["code"], "insufficient-stock");
        assert_eq!(v["shortages"][0]["available"], 1);
        assert_eq!(v["type"], "/problems/insufficient-stock");
    }
}
