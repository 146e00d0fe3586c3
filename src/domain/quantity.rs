//! Quantities per (sku, location), the movements that change them, and available-to-sell.

use serde::{Deserialize, Serialize};

/// The buckets of one (sku, location) position. Every field is a whole number of units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Physically present, as last counted or adjusted.
    pub on_hand: i64,
    /// Reserved by accepted orders that have not shipped.
    pub committed: i64,
    /// Policy buffer, never sold online.
    pub safety_stock: i64,
    /// Damaged or on quality hold: present but not sellable.
    pub unavailable: i64,
    /// Expected from purchase orders or transfers; sellable only as backorder.
    pub incoming: i64,
}

impl Position {
    /// `max(0, on_hand - committed - safety_stock - unavailable)`.
    pub fn available_to_sell(&self) -> i64 {
        (self.on_hand - self.committed - self.safety_stock - self.unavailable).max(0)
    }

    /// The position after a movement's deltas.
    #[must_use]
    pub fn apply(self, d: Delta) -> Self {
        Self {
            on_hand: self.on_hand + d.on_hand,
            committed: self.committed + d.committed,
            safety_stock: self.safety_stock + d.safety_stock,
            unavailable: self.unavailable + d.unavailable,
            incoming: self.incoming + d.incoming,
        }
    }

    /// Every bucket at zero or above. Some ERPs let stock go negative (shipped before it
    /// was received); below zero there is nothing to sell, and the ledger keeps no
    /// negative bucket.
    #[must_use]
    pub fn floored(self) -> Self {
        Self {
            on_hand: self.on_hand.max(0),
            committed: self.committed.max(0),
            safety_stock: self.safety_stock.max(0),
            unavailable: self.unavailable.max(0),
            incoming: self.incoming.max(0),
        }
    }

    /// Buckets that can never be negative in a consistent ledger.
    pub fn is_consistent(&self) -> bool {
        self.on_hand >= 0
            && self.committed >= 0
            && self.safety_stock >= 0
            && self.unavailable >= 0
            && self.incoming >= 0
    }
}

/// The change one movement makes to each bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delta {
    pub on_hand: i64,
    pub committed: i64,
    pub safety_stock: i64,
    pub unavailable: i64,
    pub incoming: i64,
}

impl Delta {
    pub fn on_hand(n: i64) -> Self {
        Self {
            on_hand: n,
            ..Self::default()
        }
    }
    pub fn committed(n: i64) -> Self {
        Self {
            committed: n,
            ..Self::default()
        }
    }
    pub fn unavailable(n: i64) -> Self {
        Self {
            unavailable: n,
            ..Self::default()
        }
    }
    pub fn safety_stock(n: i64) -> Self {
        Self {
            safety_stock: n,
            ..Self::default()
        }
    }
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

/// Why a quantity changed. Stored with every ledger row so any figure can be explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovementKind {
    Receipt,
    Count,
    Adjustment,
    Reservation,
    Release,
    Shipment,
    ReturnRestock,
    Damage,
    SafetyStock,
    /// The ERP's figures taken over by the projection (when an ERP is the system of record).
    Projection,
}

impl MovementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receipt => "receipt",
            Self::Count => "count",
            Self::Adjustment => "adjustment",
            Self::Reservation => "reservation",
            Self::Release => "release",
            Self::Shipment => "shipment",
            Self::ReturnRestock => "return_restock",
            Self::Damage => "damage",
            Self::SafetyStock => "safety_stock",
            Self::Projection => "projection",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ats_subtracts_every_reserved_bucket() {
        let p = Position {
            on_hand: 14,
            committed: 2,
            safety_stock: 2,
            unavailable: 1,
            incoming: 50,
        };
        assert_eq!(p.available_to_sell(), 9);
    }

    #[test]
    fn ats_never_goes_negative() {
        let p = Position {
            on_hand: 1,
            committed: 3,
            ..Position::default()
        };
        assert_eq!(p.available_to_sell(), 0);
    }

    #[test]
    fn incoming_is_not_sellable() {
        let p = Position {
            incoming: 100,
            ..Position::default()
        };
        assert_eq!(p.available_to_sell(), 0);
    }

    #[test]
    fn apply_adds_each_bucket() {
        let p = Position {
            on_hand: 5,
            committed: 1,
            ..Position::default()
        };
        let q = p.apply(Delta {
            on_hand: -1,
            committed: -1,
            ..Delta::default()
        });
        assert_eq!(
            q,
            Position {
                on_hand: 4,
                committed: 0,
                ..Position::default()
            }
        );
        assert!(q.is_consistent());
        assert!(!q.apply(Delta::on_hand(-5)).is_consistent());
    }
}
