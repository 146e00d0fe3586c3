//! Inbound canonical events from warehouses, 3PLs and ERPs.
//!
//! A batch is parsed event by event, so that one malformed event is rejected on its own
//! and never takes the others down with it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::shipment::{ShipmentLine, ShipmentStatus};
use super::{ValidationError, from_json_value};

/// The most events one `POST /v1/events` call may carry.
pub const MAX_BATCH: usize = 500;

/// The envelope every event shares.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The source's own id for this event; with `source`, the deduplication key.
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "stock.counted")]
    pub kind: String,
    #[schema(example = "wms-main")]
    pub source: String,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// Shape depends on `type`; see the event schemas.
    pub data: serde_json::Value,
}

/// A parsed, validated event.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub source: String,
    pub occurred_at: OffsetDateTime,
    pub body: EventBody,
}

#[derive(Debug, Clone)]
pub enum EventBody {
    StockCounted(StockCounted),
    StockAdjusted(StockAdjusted),
    ShipmentUpdated(ShipmentUpdated),
    ReturnReceived(ReturnReceived),
}

impl EventBody {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::StockCounted(_) => "stock.counted",
            Self::StockAdjusted(_) => "stock.adjusted",
            Self::ShipmentUpdated(_) => "shipment.updated",
            Self::ReturnReceived(_) => "return.received",
        }
    }
}

/// Absolute on-hand at a location, as counted.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockCounted {
    pub sku: String,
    pub location: String,
    pub on_hand: i64,
    /// The source's sequence for this (sku, location); an older count never overwrites a
    /// newer one.
    pub sequence: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    OnHand,
    Unavailable,
}

/// A relative change to one bucket.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockAdjusted {
    pub sku: String,
    pub location: String,
    pub delta: i64,
    pub bucket: Bucket,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentUpdated {
    pub order_id: String,
    /// The warehouse's or carrier's own id for the shipment.
    pub shipment_id: String,
    pub status: ShipmentStatus,
    #[serde(default)]
    pub carrier: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub tracking_url: Option<String>,
    /// Required when the status is `shipped`: what left the building.
    #[serde(default)]
    pub lines: Vec<ShipmentLine>,
    /// The location that shipped; when absent, units come from the order's allocations in
    /// the order they were made.
    #[serde(default)]
    pub location: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Resellable,
    Damaged,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnReceived {
    pub rma_id: String,
    pub lines: Vec<ReceivedLine>,
    /// Where the goods arrived; when absent, the return policy's restock location.
    #[serde(default)]
    pub location: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceivedLine {
    pub sku: String,
    pub quantity: i64,
    pub condition: Condition,
}

/// Parses one event of a batch. The envelope's `id` and `source` come back even when the
/// rest is bad, so that the rejection can say which event it was.
pub fn parse(value: serde_json::Value) -> Result<Event, (EventRef, ValidationError)> {
    let fallback = EventRef::from_value(&value);
    let env: Envelope = from_json_value(value).map_err(|e| (fallback.clone(), e))?;
    let r = EventRef {
        id: Some(env.id.clone()),
        source: Some(env.source.clone()),
    };
    let invalid = |e| (r.clone(), e);
    if env.id.trim().is_empty() || env.source.trim().is_empty() {
        return Err(invalid(ValidationError::new(
            "invalid-text",
            "/id",
            "id and source must not be empty",
        )));
    }
    let body = match env.kind.as_str() {
        "stock.counted" => EventBody::StockCounted(data(env.data).map_err(invalid)?),
        "stock.adjusted" => EventBody::StockAdjusted(data(env.data).map_err(invalid)?),
        "shipment.updated" => EventBody::ShipmentUpdated(data(env.data).map_err(invalid)?),
        "return.received" => EventBody::ReturnReceived(data(env.data).map_err(invalid)?),
        other => {
            return Err(invalid(ValidationError::new(
                "unknown-event-type",
                "/type",
                format!(
                    "`{other}` is not one of stock.counted, stock.adjusted, shipment.updated, return.received"
                ),
            )));
        }
    };
    validate(&body).map_err(invalid)?;
    Ok(Event {
        id: env.id,
        source: env.source,
        occurred_at: env.occurred_at,
        body,
    })
}

/// Names an event in a per-event result, as far as it could be read.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct EventRef {
    pub id: Option<String>,
    pub source: Option<String>,
}

impl EventRef {
    fn from_value(v: &serde_json::Value) -> Self {
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        Self {
            id: s("id"),
            source: s("source"),
        }
    }
}

fn data<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, ValidationError> {
    from_json_value(v).map_err(|mut e| {
        e.pointer = format!("/data{}", e.pointer);
        e
    })
}

fn validate(body: &EventBody) -> Result<(), ValidationError> {
    let bad = |code, pointer: &str, detail: &str| Err(ValidationError::new(code, pointer, detail));
    match body {
        EventBody::StockCounted(c) if c.on_hand < 0 => {
            bad("invalid-quantity", "/data/on_hand", "must not be negative")
        }
        EventBody::StockCounted(c) if c.sequence < 0 => {
            bad("invalid-sequence", "/data/sequence", "must not be negative")
        }
        EventBody::StockAdjusted(a) if a.delta == 0 => {
            bad("invalid-quantity", "/data/delta", "must not be zero")
        }
        EventBody::StockAdjusted(a) if a.reason.trim().is_empty() => {
            bad("invalid-text", "/data/reason", "must not be empty")
        }
        EventBody::ShipmentUpdated(s)
            if s.status == ShipmentStatus::Shipped && s.lines.is_empty() =>
        {
            bad(
                "no-lines",
                "/data/lines",
                "a shipped update must say which lines left",
            )
        }
        EventBody::ShipmentUpdated(s) if s.lines.iter().any(|l| l.quantity < 1) => bad(
            "invalid-quantity",
            "/data/lines",
            "every quantity must be at least 1",
        ),
        EventBody::ReturnReceived(r) if r.lines.is_empty() => {
            bad("no-lines", "/data/lines", "must not be empty")
        }
        EventBody::ReturnReceived(r) if r.lines.iter().any(|l| l.quantity < 1) => bad(
            "invalid-quantity",
            "/data/lines",
            "every quantity must be at least 1",
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(kind: &str, data: serde_json::Value) -> serde_json::Value {
        json!({"id": "e1", "type": kind, "source": "wms", "occurred_at": "2026-12-03T12:00:00Z", "data": data})
    }

    #[test]
    fn parses_each_type() {
        let e = parse(env(
            "stock.counted",
            json!({"sku": "A", "location": "L", "on_hand": 3, "sequence": 7}),
        ))
        .unwrap();
        assert_eq!(e.body.kind(), "stock.counted");
        let e = parse(env(
            "shipment.updated",
            json!({"order_id": "ord_x", "shipment_id": "S1", "status": "shipped", "lines": [{"sku": "A", "quantity": 1}]}),
        ))
        .unwrap();
        assert_eq!(e.body.kind(), "shipment.updated");
    }

    #[test]
    fn a_bad_event_keeps_its_name_and_says_where() {
        let (r, err) = parse(env(
            "stock.adjusted",
            json!({"sku": "A", "location": "L", "delta": 0, "bucket": "on_hand", "reason": "x"}),
        ))
        .unwrap_err();
        assert_eq!(r.id.as_deref(), Some("e1"));
        assert_eq!(err.code, "invalid-quantity");
        let (_, err) = parse(env(
            "stock.counted",
            json!({"sku": "A", "location": "L", "on_hand": "3", "sequence": 1}),
        ))
        .unwrap_err();
        assert_eq!(err.pointer, "/data/on_hand");
        let (_, err) = parse(env("stock.teleported", json!({}))).unwrap_err();
        assert_eq!(err.code, "unknown-event-type");
    }
}
