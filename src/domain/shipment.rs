//! Shipments of an order and their milestones, as warehouses and carriers report them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    Picked,
    Packed,
    Shipped,
    Delivered,
    Exception,
}

impl ShipmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Picked => "picked",
            Self::Packed => "packed",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Exception => "exception",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Picked,
            Self::Packed,
            Self::Shipped,
            Self::Delivered,
            Self::Exception,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// Whether the goods have left the building in this status.
    pub fn has_left(self) -> bool {
        matches!(self, Self::Shipped | Self::Delivered)
    }
}

/// Read back from the `shipment.updated` events it travels in, as well as written.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Shipment {
    #[schema(example = "shp_01JEZ9B2K4M6N8P0Q2R4S6T8V0")]
    pub id: String,
    pub order_id: String,
    /// The warehouse's or carrier's own shipment id.
    pub reference: String,
    pub status: ShipmentStatus,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    pub lines: Vec<ShipmentLine>,
    /// Every status reported, oldest first.
    pub milestones: Vec<Milestone>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub shipped_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ShipmentLine {
    pub sku: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Milestone {
    pub status: ShipmentStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub source: String,
}

/// Whether a report in `next` may follow the current status. Late milestones (a `packed`
/// after `shipped`) are recorded but never move the shipment backwards.
pub fn advances(current: ShipmentStatus, next: ShipmentStatus) -> bool {
    let rank = |s: ShipmentStatus| match s {
        ShipmentStatus::Picked => 0,
        ShipmentStatus::Packed => 1,
        ShipmentStatus::Shipped => 2,
        ShipmentStatus::Delivered => 3,
        // An exception can happen at any point and does not reorder the rest.
        ShipmentStatus::Exception => -1,
    };
    next == ShipmentStatus::Exception
        || rank(next) > rank(current)
        || current == ShipmentStatus::Exception
}

#[cfg(test)]
mod tests {
    use super::*;
    use ShipmentStatus::*;

    #[test]
    fn milestones_only_move_forward() {
        assert!(advances(Picked, Shipped));
        assert!(!advances(Shipped, Packed));
        assert!(advances(Shipped, Exception));
        assert!(advances(Exception, Delivered));
        assert!(!advances(Delivered, Delivered));
    }
}
