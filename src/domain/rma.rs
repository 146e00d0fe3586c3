//! Return authorizations (RMAs): `authorized → received → refunded`, or `rejected` /
//! `expired`, and the rules that decide what may be authorized.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;

use super::ValidationError;
use super::order::MAX_LINES;

/// Body of `POST /v1/returns`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"order_id": "ord_01JEZ8Q4W3M2T6V8X9Y0Z1A2B3",
    "lines": [{"sku": "TEE-BLK-M", "quantity": 1, "reason": "too small"}]}))]
pub struct ReturnRequest {
    pub order_id: String,
    pub lines: Vec<ReturnLineRequest>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnLineRequest {
    pub sku: String,
    pub quantity: i64,
    pub reason: String,
}

impl ReturnRequest {
    pub fn validate(&self) -> Result<(), Vec<ValidationError>> {
        let mut errs = Vec::new();
        if self.lines.is_empty() || self.lines.len() > MAX_LINES {
            errs.push(ValidationError::new(
                "invalid-lines",
                "/lines",
                format!("a return needs 1 to {MAX_LINES} lines"),
            ));
        }
        for (i, l) in self.lines.iter().enumerate() {
            if l.quantity < 1 {
                errs.push(ValidationError::new(
                    "invalid-quantity",
                    format!("/lines/{i}/quantity"),
                    "must be at least 1",
                ));
            }
            if l.reason.trim().is_empty() || l.reason.chars().count() > 500 {
                errs.push(ValidationError::new(
                    "invalid-text",
                    format!("/lines/{i}/reason"),
                    "must be 1 to 500 characters",
                ));
            }
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }

    /// Requested units per SKU; a SKU named on two lines counts once with their sum.
    pub fn units_by_sku(&self) -> BTreeMap<&str, i64> {
        let mut m = BTreeMap::new();
        for l in &self.lines {
            *m.entry(l.sku.as_str()).or_insert(0) += l.quantity;
        }
        m
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RmaStatus {
    Authorized,
    Received,
    Refunded,
    Rejected,
    Expired,
}

impl RmaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorized => "authorized",
            Self::Received => "received",
            Self::Refunded => "refunded",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Authorized,
            Self::Received,
            Self::Refunded,
            Self::Rejected,
            Self::Expired,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// Whether the RMA still holds units against what the order may return.
    pub fn holds_units(self) -> bool {
        !matches!(self, Self::Rejected | Self::Expired)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"id": "rma_01JEZ9A7C5D3E1F0G9H8J7K6L5", "order_id": "ord_01JEZ8Q4W3M2T6V8X9Y0Z1A2B3",
    "status": "authorized", "lines": [{"sku": "TEE-BLK-M", "quantity": 1, "reason": "too small",
    "received_resellable": 0, "received_damaged": 0}], "refund_reference": null,
    "created_at": "2026-12-05T09:00:00Z", "updated_at": "2026-12-05T09:00:00Z"}))]
pub struct Rma {
    #[schema(example = "rma_01JEZ9A7C5D3E1F0G9H8J7K6L5")]
    pub id: String,
    pub order_id: String,
    pub status: RmaStatus,
    pub lines: Vec<RmaLine>,
    /// The ERP's refund or credit document, once posted.
    pub refund_reference: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RmaLine {
    pub sku: String,
    pub quantity: i64,
    pub reason: String,
    pub received_resellable: i64,
    pub received_damaged: i64,
}

/// What the order has shipped and what is already promised back, for one SKU.
#[derive(Debug, Clone, Default)]
pub struct Returnable {
    pub shipped: i64,
    /// Units in RMAs that still hold them (authorized, received or refunded).
    pub authorized: i64,
    /// When this SKU last left the warehouse on this order.
    pub last_shipped_at: Option<OffsetDateTime>,
}

/// The rule a return request broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnRule {
    NotInOrder {
        sku: String,
    },
    NotShipped {
        sku: String,
    },
    ExceedsReturnable {
        sku: String,
        requested: i64,
        returnable: i64,
    },
    WindowClosed {
        sku: String,
        closed_at: OffsetDateTime,
    },
}

/// Authorizes only what was shipped and not yet returned or authorized, inside the return
/// window counted from the shipment date.
pub fn check_return(
    request: &ReturnRequest,
    returnable: &BTreeMap<String, Returnable>,
    window_days: u32,
    now: OffsetDateTime,
) -> Result<(), ReturnRule> {
    for (sku, requested) in request.units_by_sku() {
        let Some(r) = returnable.get(sku) else {
            return Err(ReturnRule::NotInOrder {
                sku: sku.to_owned(),
            });
        };
        let Some(shipped_at) = r.last_shipped_at.filter(|_| r.shipped > 0) else {
            return Err(ReturnRule::NotShipped {
                sku: sku.to_owned(),
            });
        };
        let closed_at = shipped_at + Duration::days(i64::from(window_days));
        if now > closed_at {
            return Err(ReturnRule::WindowClosed {
                sku: sku.to_owned(),
                closed_at,
            });
        }
        let left = r.shipped - r.authorized;
        if requested > left {
            return Err(ReturnRule::ExceedsReturnable {
                sku: sku.to_owned(),
                requested,
                returnable: left.max(0),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn req(lines: &[(&str, i64)]) -> ReturnRequest {
        ReturnRequest {
            order_id: "ord_x".into(),
            lines: lines
                .iter()
                .map(|(s, q)| ReturnLineRequest {
                    sku: (*s).into(),
                    quantity: *q,
                    reason: "r".into(),
                })
                .collect(),
        }
    }

    fn state(shipped: i64, authorized: i64) -> BTreeMap<String, Returnable> {
        let at = Some(datetime!(2026-11-01 10:00 UTC));
        BTreeMap::from([(
            "A".to_owned(),
            Returnable {
                shipped,
                authorized,
                last_shipped_at: at,
            },
        )])
    }

    const NOW: OffsetDateTime = datetime!(2026-11-20 10:00 UTC);

    #[test]
    fn shipped_units_inside_the_window_are_returnable() {
        assert_eq!(
            check_return(&req(&[("A", 2)]), &state(2, 0), 30, NOW),
            Ok(())
        );
    }

    #[test]
    fn each_rule_is_named() {
        assert!(matches!(
            check_return(&req(&[("B", 1)]), &state(2, 0), 30, NOW),
            Err(ReturnRule::NotInOrder { .. })
        ));
        assert!(matches!(
            check_return(&req(&[("A", 1)]), &state(0, 0), 30, NOW),
            Err(ReturnRule::NotShipped { .. })
        ));
        assert_eq!(
            check_return(&req(&[("A", 1), ("A", 1)]), &state(2, 1), 30, NOW),
            Err(ReturnRule::ExceedsReturnable {
                sku: "A".into(),
                requested: 2,
                returnable: 1
            })
        );
        let late = datetime!(2026-12-01 10:00:01 UTC);
        assert!(matches!(
            check_return(&req(&[("A", 1)]), &state(2, 0), 30, late),
            Err(ReturnRule::WindowClosed { .. })
        ));
    }

    #[test]
    fn request_shape_is_checked() {
        assert_eq!(
            req(&[("A", 0)]).validate().unwrap_err()[0].code,
            "invalid-quantity"
        );
        assert_eq!(req(&[]).validate().unwrap_err()[0].code, "invalid-lines");
    }
}
