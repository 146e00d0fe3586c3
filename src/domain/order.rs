//! Orders: the request a channel sends, its validation, the stored order and its lifecycle
//! `accepted → submitted → partially_shipped → shipped → delivered`, or `cancelled`.
//!
//! These types are also the v1 wire model, so fields are only ever added.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::ValidationError;
use super::money::{is_valid_amount, is_valid_currency};

/// The most lines one order may carry.
pub const MAX_LINES: usize = 100;
/// The most units one line may ask for; larger figures are typing mistakes, not orders.
pub const MAX_LINE_QUANTITY: i64 = 100_000;
const MAX_TEXT: usize = 200;

/// Body of `POST /v1/orders`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "channel": "web", "external_id": "WC-1001", "currency": "EUR",
    "customer": {"id": "cus-77", "name": "Ada Lovelace", "email": "ada@example.com"},
    "lines": [{"sku": "TEE-BLK-M", "quantity": 2, "unit_price": "19.90"}],
    "shipping_address": {"name": "Ada Lovelace", "line1": "12 Analytical Row",
        "city": "London", "postal_code": "N1 9GU", "country": "GB"}
}))]
pub struct OrderRequest {
    /// One of the caller's channels.
    pub channel: String,
    /// The channel's own order number, unique within the channel.
    pub external_id: String,
    pub customer: Customer,
    /// ISO 4217 code.
    pub currency: String,
    /// One to 100 lines.
    pub lines: Vec<LineRequest>,
    pub shipping_address: Address,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    pub sku: String,
    /// Whole units, at least 1.
    pub quantity: i64,
    /// Decimal string in the order's currency.
    pub unit_price: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub name: String,
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 code.
    pub country: String,
}

impl OrderRequest {
    /// Every rule a request must meet before it touches stock. Returns all violations at
    /// once, so a caller can fix its request in one round.
    pub fn validate(&self) -> Result<(), Vec<ValidationError>> {
        let mut errs = Vec::new();
        text(&mut errs, "/channel", &self.channel);
        text(&mut errs, "/external_id", &self.external_id);
        if !is_valid_currency(&self.currency) {
            errs.push(ValidationError::new(
                "invalid-currency",
                "/currency",
                "must be an ISO 4217 code such as EUR",
            ));
        }
        if self.lines.is_empty() {
            errs.push(ValidationError::new(
                "no-lines",
                "/lines",
                "an order needs at least one line",
            ));
        }
        for (i, l) in self.lines.iter().enumerate() {
            text(&mut errs, &format!("/lines/{i}/sku"), &l.sku);
            if !(1..=MAX_LINE_QUANTITY).contains(&l.quantity) {
                errs.push(ValidationError::new(
                    "invalid-quantity",
                    format!("/lines/{i}/quantity"),
                    format!("must be a whole number from 1 to {MAX_LINE_QUANTITY}"),
                ));
            }
            if !is_valid_amount(&l.unit_price) {
                errs.push(ValidationError::new(
                    "invalid-amount",
                    format!("/lines/{i}/unit_price"),
                    "must be a non-negative decimal string such as \"19.90\"",
                ));
            }
        }
        let a = &self.shipping_address;
        for (field, value) in [
            ("name", &a.name),
            ("line1", &a.line1),
            ("city", &a.city),
            ("postal_code", &a.postal_code),
        ] {
            text(&mut errs, &format!("/shipping_address/{field}"), value);
        }
        if a.country.len() != 2 || !a.country.bytes().all(|b| b.is_ascii_uppercase()) {
            errs.push(ValidationError::new(
                "invalid-country",
                "/shipping_address/country",
                "must be an ISO 3166-1 alpha-2 code such as GB",
            ));
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }
}

fn text(errs: &mut Vec<ValidationError>, pointer: &str, value: &str) {
    if value.trim().is_empty() || value.chars().count() > MAX_TEXT {
        errs.push(ValidationError::new(
            "invalid-text",
            pointer,
            format!("must be between 1 and {MAX_TEXT} characters"),
        ));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Accepted,
    Submitted,
    PartiallyShipped,
    Shipped,
    Delivered,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Submitted => "submitted",
            Self::PartiallyShipped => "partially_shipped",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Accepted,
            Self::Submitted,
            Self::PartiallyShipped,
            Self::Shipped,
            Self::Delivered,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// Where the order stands with the configured ERP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErpState {
    /// Accepted and reserved here; not yet acknowledged by the ERP.
    Pending,
    /// The ERP holds the order under `reference`.
    Acknowledged,
    /// The ERP refused the order; it needs a person.
    Rejected,
}

impl ErpState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Acknowledged => "acknowledged",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Acknowledged, Self::Rejected]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// An accepted order as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Order {
    #[schema(example = "ord_01JEZ8Q4W3M2T6V8X9Y0Z1A2B3")]
    pub id: String,
    pub status: OrderStatus,
    pub channel: String,
    pub external_id: String,
    pub currency: String,
    pub customer: Customer,
    pub shipping_address: Address,
    pub lines: Vec<OrderLine>,
    pub erp: ErpLink,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderLine {
    pub sku: String,
    pub quantity: i64,
    pub unit_price: String,
    /// Where the units are reserved.
    pub allocations: Vec<Allocation>,
    /// Units accepted without stock because the SKU is backorderable.
    pub backordered: i64,
    pub shipped: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Allocation {
    pub location: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErpLink {
    /// The configured adapter, e.g. `embedded` or `netsuite`.
    pub system: String,
    /// The ERP's own document number, once it has one.
    pub reference: Option<String>,
    pub state: ErpState,
}

impl Order {
    pub fn units_ordered(&self) -> i64 {
        self.lines.iter().map(|l| l.quantity).sum()
    }

    pub fn units_shipped(&self) -> i64 {
        self.lines.iter().map(|l| l.shipped).sum()
    }
}

/// What a cancel request does to an order in a given status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelDecision {
    /// Release the unshipped remainder and mark the order cancelled.
    Cancel,
    /// Already cancelled: answer with the order as it is.
    AlreadyCancelled,
    /// Everything has shipped; there is nothing left to cancel.
    Refuse,
}

pub fn cancel_decision(status: OrderStatus) -> CancelDecision {
    match status {
        OrderStatus::Cancelled => CancelDecision::AlreadyCancelled,
        OrderStatus::Shipped | OrderStatus::Delivered => CancelDecision::Refuse,
        OrderStatus::Accepted | OrderStatus::Submitted | OrderStatus::PartiallyShipped => {
            CancelDecision::Cancel
        }
    }
}

/// The status an order reaches once its shipments have progressed. A cancelled order stays
/// cancelled; shipment milestones on its shipped remainder do not revive it.
pub fn status_after_shipping(
    current: OrderStatus,
    ordered: i64,
    shipped: i64,
    all_delivered: bool,
) -> OrderStatus {
    if current == OrderStatus::Cancelled || shipped == 0 {
        return current;
    }
    if shipped < ordered {
        OrderStatus::PartiallyShipped
    } else if all_delivered {
        OrderStatus::Delivered
    } else {
        OrderStatus::Shipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> OrderRequest {
        serde_json::from_value(serde_json::json!({
            "channel": "web", "external_id": "1001", "currency": "EUR", "customer": {},
            "lines": [{"sku": "A", "quantity": 1, "unit_price": "1.00"}],
            "shipping_address": {"name": "N", "line1": "L", "city": "C", "postal_code": "P", "country": "DE"}
        }))
        .unwrap()
    }

    #[test]
    fn a_well_formed_request_passes() {
        request().validate().unwrap();
    }

    #[test]
    fn zero_negative_and_huge_quantities_are_refused() {
        for q in [0, -3, MAX_LINE_QUANTITY + 1] {
            let mut r = request();
            r.lines[0].quantity = q;
            let errs = r.validate().unwrap_err();
            assert_eq!(errs[0].code, "invalid-quantity");
            assert_eq!(errs[0].pointer, "/lines/0/quantity");
        }
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let mut r = request();
        r.currency = "euro".into();
        r.lines[0].unit_price = "-1".into();
        r.shipping_address.country = "Germany".into();
        let codes: Vec<_> = r
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.code)
            .collect();
        assert_eq!(
            codes,
            ["invalid-currency", "invalid-amount", "invalid-country"]
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut v = serde_json::json!({"channel": "web", "status": "shipped"});
        v["external_id"] = "1".into();
        assert!(serde_json::from_value::<OrderRequest>(v).is_err());
    }

    #[test]
    fn cancel_rules() {
        assert_eq!(
            cancel_decision(OrderStatus::Accepted),
            CancelDecision::Cancel
        );
        assert_eq!(
            cancel_decision(OrderStatus::PartiallyShipped),
            CancelDecision::Cancel
        );
        assert_eq!(
            cancel_decision(OrderStatus::Cancelled),
            CancelDecision::AlreadyCancelled
        );
        assert_eq!(
            cancel_decision(OrderStatus::Shipped),
            CancelDecision::Refuse
        );
        assert_eq!(
            cancel_decision(OrderStatus::Delivered),
            CancelDecision::Refuse
        );
    }

    #[test]
    fn status_follows_shipping_progress() {
        use OrderStatus::*;
        assert_eq!(status_after_shipping(Submitted, 3, 0, false), Submitted);
        assert_eq!(
            status_after_shipping(Submitted, 3, 1, false),
            PartiallyShipped
        );
        assert_eq!(
            status_after_shipping(PartiallyShipped, 3, 3, false),
            Shipped
        );
        assert_eq!(status_after_shipping(Shipped, 3, 3, true), Delivered);
        assert_eq!(status_after_shipping(Cancelled, 3, 1, true), Cancelled);
    }
}
