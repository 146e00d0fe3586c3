//! Outbound events: what Stockade tells the ERP, subscribers and the event stream about
//! the changes it makes. Each is written to the outbox in the same transaction as the
//! change, with a stable id that consumers deduplicate by.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Every outbound event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum EventKind {
    #[serde(rename = "order.accepted")]
    OrderAccepted,
    #[serde(rename = "order.cancelled")]
    OrderCancelled,
    #[serde(rename = "stock.changed")]
    StockChanged,
    #[serde(rename = "shipment.updated")]
    ShipmentUpdated,
    #[serde(rename = "return.authorized")]
    ReturnAuthorized,
    #[serde(rename = "return.received")]
    ReturnReceived,
    #[serde(rename = "drift.detected")]
    DriftDetected,
}

impl EventKind {
    pub const ALL: [Self; 7] = [
        Self::OrderAccepted,
        Self::OrderCancelled,
        Self::StockChanged,
        Self::ShipmentUpdated,
        Self::ReturnAuthorized,
        Self::ReturnReceived,
        Self::DriftDetected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderAccepted => "order.accepted",
            Self::OrderCancelled => "order.cancelled",
            Self::StockChanged => "stock.changed",
            Self::ShipmentUpdated => "shipment.updated",
            Self::ReturnAuthorized => "return.authorized",
            Self::ReturnReceived => "return.received",
            Self::DriftDetected => "drift.detected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An event as delivered: the same envelope for every destination and transport.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "evt_01JEZC3V5X7Z9B1D3F5H7K9M1P", "type": "order.accepted",
    "occurred_at": "2026-12-03T12:00:00.123456Z",
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "data": {"id": "ord_01JEZ8Q4W3M2T6V8X9Y0Z1A2B3", "status": "accepted"}}))]
pub struct Envelope {
    /// Stable across retries and replays: deduplicate by it.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventKind,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The W3C trace context of the request that caused the event.
    pub traceparent: Option<String>,
    /// The order, shipment, RMA or stock position after the change.
    pub data: serde_json::Value,
}

/// `stock.changed`: a SKU's positions after a movement, at every location.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StockChanged {
    pub sku: String,
    pub positions: Vec<StockPosition>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StockPosition {
    pub location: String,
    pub on_hand: i64,
    pub committed: i64,
    pub safety_stock: i64,
    pub unavailable: i64,
    pub available_to_sell: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }
}
