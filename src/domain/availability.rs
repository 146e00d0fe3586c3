//! Available-to-sell as a channel sees it: the sum over the locations policy makes
//! eligible for that channel.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::quantity::Position;

/// Where an availability figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Computed now from the ledger or projection.
    Live,
    /// Served from the availability cache, no older than its TTL.
    Cache,
    /// The backend is unreachable or the data too old; the channel's fallback applied.
    Fallback,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"sku": "TEE-BLK-M", "available_to_sell": 12, "backorderable": false,
    "locations": [{"location": "WH-MAIN", "available_to_sell": 10, "on_hand": 14, "committed": 2,
        "safety_stock": 2, "unavailable": 0}],
    "as_of": "2026-12-03T12:00:00Z", "source": "live", "stale": false}))]
pub struct SkuAvailability {
    pub sku: String,
    /// Sum over the channel's eligible locations.
    pub available_to_sell: i64,
    pub backorderable: bool,
    pub locations: Vec<LocationAvailability>,
    #[serde(with = "time::serde::rfc3339")]
    pub as_of: OffsetDateTime,
    pub source: Source,
    pub stale: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LocationAvailability {
    pub location: String,
    pub available_to_sell: i64,
    pub on_hand: i64,
    pub committed: i64,
    pub safety_stock: i64,
    pub unavailable: i64,
}

/// How a stale or unobtainable answer is made safe to sell from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Degrade {
    /// At most this many units per SKU.
    Cap(i64),
    /// This share of the last-known figure, rounded down.
    Fraction(f64),
    /// Nothing.
    Zero,
    /// The last-known figure as it was.
    LastKnown,
}

/// Applies a channel's fallback to an answer that is stale, and marks it so.
#[must_use]
pub fn degrade(mut a: SkuAvailability, rule: Degrade) -> SkuAvailability {
    let shape = |n: i64| match rule {
        Degrade::Cap(cap) => n.min(cap.max(0)),
        Degrade::Fraction(f) => ((n as f64) * f.clamp(0.0, 1.0)).floor() as i64,
        Degrade::Zero => 0,
        Degrade::LastKnown => n,
    };
    for l in &mut a.locations {
        l.available_to_sell = shape(l.available_to_sell);
    }
    a.available_to_sell = a.locations.iter().map(|l| l.available_to_sell).sum();
    a.source = Source::Fallback;
    a.stale = true;
    a
}

/// Builds one SKU's answer from its positions at the eligible locations, listed in the
/// channel's location order; a location with no position shows zeros.
pub fn summarize(
    sku: &str,
    backorderable: bool,
    eligible: &[String],
    position_at: impl Fn(&str) -> Option<Position>,
    as_of: OffsetDateTime,
) -> SkuAvailability {
    let locations: Vec<LocationAvailability> = eligible
        .iter()
        .map(|loc| {
            let p = position_at(loc).unwrap_or_default();
            LocationAvailability {
                location: loc.clone(),
                available_to_sell: p.available_to_sell(),
                on_hand: p.on_hand,
                committed: p.committed,
                safety_stock: p.safety_stock,
                unavailable: p.unavailable,
            }
        })
        .collect();
    SkuAvailability {
        sku: sku.to_owned(),
        available_to_sell: locations.iter().map(|l| l.available_to_sell).sum(),
        backorderable,
        locations,
        as_of,
        source: Source::Live,
        stale: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_answers_are_degraded_by_the_channels_rule() {
        let eligible = vec!["A".to_owned(), "B".to_owned()];
        let at = |loc: &str| {
            Some(Position {
                on_hand: if loc == "A" { 9 } else { 4 },
                ..Position::default()
            })
        };
        let a = summarize("S", false, &eligible, at, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(
            degrade(a.clone(), Degrade::Cap(3)).available_to_sell,
            6,
            "the cap applies per location"
        );
        assert_eq!(
            degrade(a.clone(), Degrade::Fraction(0.5)).available_to_sell,
            4 + 2
        );
        assert_eq!(degrade(a.clone(), Degrade::Zero).available_to_sell, 0);
        let kept = degrade(a, Degrade::LastKnown);
        assert_eq!(
            (kept.available_to_sell, kept.source, kept.stale),
            (13, Source::Fallback, true)
        );
    }

    #[test]
    fn totals_only_eligible_locations() {
        let eligible = vec!["WH-MAIN".to_owned(), "3PL-EAST".to_owned()];
        let at = |loc: &str| match loc {
            "WH-MAIN" => Some(Position {
                on_hand: 14,
                committed: 2,
                safety_stock: 2,
                ..Position::default()
            }),
            "STORE-01" => Some(Position {
                on_hand: 100,
                ..Position::default()
            }),
            _ => None,
        };
        let a = summarize(
            "TEE-BLK-M",
            false,
            &eligible,
            at,
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(a.available_to_sell, 10);
        assert_eq!(a.locations.len(), 2);
        assert_eq!(a.locations[1].available_to_sell, 0);
    }
}
