//! Reconciliation: Stockade's figures against each other system's, compared like with
//! like, and the rule that says when a difference is drift.
//!
//! Each comparison puts two figures of the same meaning side by side:
//!
//! - the ERP's: what it has left to sell at a location (on hand − committed − unavailable),
//!   with the reservations of orders it has not acknowledged yet added to its committed
//!   figure exactly as the projection adds them, against the same figure of the projection;
//! - a warehouse's: its last count, carried forward by the physical flows recorded since
//!   (shipments, receipts, restocked returns, damage, adjustments), against Stockade's on hand;
//! - a channel's: the stock it publishes, against the available-to-sell Stockade publishes to
//!   it. Both are already net of paid orders not yet shipped: the store lowers its figure when
//!   an order is paid, and Stockade reserves when it accepts the order.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::quantity::Position;

/// When a difference counts as drift: more than `units`, and more than `ratio` of
/// Stockade's figure. Small absolute differences on small figures and small relative ones
/// on large figures both pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    #[serde(default)]
    pub units: i64,
    #[serde(default)]
    pub ratio: f64,
}

impl Threshold {
    pub fn exceeded_by(&self, stockade: i64, variance: i64) -> bool {
        // Rounded up, so a ratio tolerates at least what it says.
        let relative = (self.ratio * stockade.unsigned_abs() as f64).ceil() as u64;
        variance.unsigned_abs() > self.units.unsigned_abs().max(relative)
    }
}

/// One figure compared: what Stockade holds, what the other system holds, and their
/// difference (the other's minus Stockade's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"sku": "SKU-TEE-RED-M", "location": "WH-MAIN", "source": "erp",
    "stockade": 40, "other": 33, "variance": -7, "over_threshold": true}))]
pub struct Variance {
    pub sku: String,
    /// `null` for a channel's figure, which spans the channel's locations.
    pub location: Option<String>,
    /// `erp`, `warehouse:<source>` or `woocommerce:<store>`.
    pub source: String,
    pub stockade: i64,
    pub other: i64,
    pub variance: i64,
    pub over_threshold: bool,
}

impl Variance {
    /// The comparison, or `None` when the figures agree.
    pub fn between(
        key: (&str, Option<&str>, &str),
        stockade: i64,
        other: i64,
        threshold: &Threshold,
    ) -> Option<Self> {
        let variance = other - stockade;
        (variance != 0).then(|| Self {
            sku: key.0.to_owned(),
            location: key.1.map(str::to_owned),
            source: key.2.to_owned(),
            stockade,
            other,
            variance,
            over_threshold: threshold.exceeded_by(stockade, variance),
        })
    }
}

/// What the ERP has left to sell, seen as the projection would see it now: its committed
/// figure plus the reservations it does not count yet (`held_locally`), and a negative
/// figure taken as zero, as the projection takes it.
pub fn erp_available(erp: Position, held_locally: i64) -> i64 {
    let erp = erp.floored();
    erp.on_hand - erp.committed - held_locally - erp.unavailable
}

/// The same figure of the projection.
pub fn projected_available(p: Position) -> i64 {
    p.on_hand - p.committed - p.unavailable
}

/// Drifting entries over compared ones; 0 when nothing was compared.
pub fn drift_ratio(drifted: u64, compared: u64) -> f64 {
    if compared == 0 {
        0.0
    } else {
        drifted as f64 / compared as f64
    }
}

/// `drift.detected`: a run found figures that differ beyond the threshold.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DriftDetected {
    pub run_id: String,
    pub compared: u64,
    pub drifted: u64,
    pub drift_ratio: f64,
    /// The entries over the threshold, the first [`DRIFT_EVENT_ENTRIES`] of them.
    pub entries: Vec<Variance>,
    /// Entries over the threshold left out of `entries`.
    pub more: u64,
}

/// Entries a `drift.detected` event carries; the run holds them all.
pub const DRIFT_EVENT_ENTRIES: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_drifts_only_past_both_the_units_and_the_ratio() {
        let t = Threshold {
            units: 2,
            ratio: 0.05,
        };
        // Small figure: the units decide.
        assert!(!t.exceeded_by(10, 2));
        assert!(t.exceeded_by(10, -3));
        // Large figure: 5 % of 1000 is 50.
        assert!(!t.exceeded_by(1000, 50));
        assert!(t.exceeded_by(1000, 51));
        // No tolerance: any difference drifts.
        assert!(Threshold::default().exceeded_by(0, 1));
        assert!(!Threshold::default().exceeded_by(5, 0));
    }

    #[test]
    fn the_erp_is_compared_with_the_reservations_it_does_not_count_yet() {
        let erp = Position {
            on_hand: 50,
            committed: 5,
            unavailable: 2,
            ..Position::default()
        };
        // The projection took 50/5 over and holds 3 units for an unacknowledged order.
        let projection = Position {
            committed: 8,
            safety_stock: 4,
            ..erp
        };
        assert_eq!(erp_available(erp, 3), projected_available(projection));
        let v = Variance::between(("S", Some("L"), "erp"), 40, 33, &Threshold::default()).unwrap();
        assert_eq!((v.variance, v.over_threshold), (-7, true));
        assert!(Variance::between(("S", None, "erp"), 4, 4, &Threshold::default()).is_none());
    }

    #[test]
    fn the_drift_ratio_of_nothing_compared_is_zero() {
        assert!(drift_ratio(0, 0).abs() < f64::EPSILON);
        assert!((drift_ratio(1, 4) - 0.25).abs() < f64::EPSILON);
    }
}
