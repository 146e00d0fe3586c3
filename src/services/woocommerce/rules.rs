//! What a WooCommerce order becomes in Stockade: an accepted order, a cancellation,
//! nothing, or an exception for a person, decided from its status and what Stockade
//! already made of it; and how its fields map to an order request.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

use crate::adapters::woocommerce::catalog::line_sku;
use crate::adapters::woocommerce::wire::{Address as WooAddress, Order};
use crate::domain::money::{format_shortest, parse_scaled, portion};
use crate::domain::order::{Address, Customer, LineRequest, OrderRequest};
use crate::store::WooSku;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A paid order Stockade has not taken in yet: accept and reserve it.
    Accept,
    /// Cancelled, refunded, failed or trashed in the store after Stockade accepted it.
    Cancel(String),
    /// Nothing Stockade acts on changed (a note, an address, the customer's phone…).
    Nothing,
    Exception {
        code: &'static str,
        detail: String,
    },
}

/// Statuses of an order the customer has paid for (`on-hold`: payment being confirmed,
/// e.g. a bank transfer), for which the store holds stock.
// TODO: statuses added by plugins (`awaiting-shipment`…) cannot be declared paid in
// stores.toml; such an order is only taken in once it reaches `processing` or `on-hold`.
fn is_paid(status: &str) -> bool {
    matches!(status, "processing" | "on-hold")
}

fn is_closed(status: &str) -> bool {
    matches!(status, "cancelled" | "refunded" | "failed" | "trash")
}

/// `accepted`: the Stockade order the store order became, if any. `lines_changed`: its
/// items differ from those it was accepted with.
pub fn decide(status: &str, accepted: Option<&str>, lines_changed: bool) -> Decision {
    let changed = || Decision::Exception {
        code: "lines-changed",
        detail: "the order's items were changed in the store after Stockade accepted it; \
                 the reservation still holds the original items"
            .into(),
    };
    match (accepted, status) {
        (None, s) if is_paid(s) => Decision::Accept,
        (None, "completed") => Decision::Exception {
            code: "completed-before-accepted",
            detail: "the store completed the order before Stockade took it in; no stock was reserved for it"
                .into(),
        },
        (Some(id), s) if is_closed(s) => Decision::Cancel(id.to_owned()),
        (Some(_), s) if lines_changed && (is_paid(s) || s == "completed") => changed(),
        // Pending payment, a draft, a status of a plugin's, or closed before Stockade
        // ever took it in: nothing to reserve or release.
        _ => Decision::Nothing,
    }
}

/// A digest of what was ordered: product, variation, SKU and quantity of every line.
pub fn lines_hash(order: &Order) -> String {
    let mut lines: Vec<String> = order
        .line_items
        .iter()
        .map(|l| {
            format!(
                "{}:{}:{}:{}",
                l.product_id,
                l.variation_id,
                l.sku.trim(),
                l.quantity
            )
        })
        .collect();
    lines.sort();
    hex::encode(Sha256::digest(lines.join("\n")))
}

/// An order request, and the lines that could not be part of it.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub request: OrderRequest,
    /// Each unmappable line, described without customer data.
    pub unmapped: Vec<String>,
}

/// Maps a store order to the order Stockade accepts. `map` is the SKU map of the order's
/// products; `known` the SKUs Stockade has.
pub fn to_request(
    order: &Order,
    channel: &str,
    map: &[WooSku],
    known: &HashSet<String>,
) -> Mapping {
    let mut lines = Vec::new();
    let mut unmapped = Vec::new();
    for l in &order.line_items {
        let what = format!(
            "line {} \"{}\" (product {}{})",
            l.id,
            l.name.trim(),
            l.product_id,
            if l.variation_id == 0 {
                String::new()
            } else {
                format!(", variation {}", l.variation_id)
            }
        );
        match line_sku(l, map) {
            None => unmapped.push(format!("{what} has no SKU")),
            Some(sku) if !known.contains(&sku) => {
                unmapped.push(format!("{what}: SKU `{sku}` is not in Stockade's catalog"));
            }
            Some(_) if l.quantity < 1 => {
                unmapped.push(format!("{what} has quantity {}", l.quantity));
            }
            Some(sku) => lines.push(LineRequest {
                sku,
                quantity: l.quantity,
                unit_price: unit_price(&l.price, &l.total, l.quantity),
            }),
        }
    }
    let shipping = if order.shipping.is_empty() {
        &order.billing
    } else {
        &order.shipping
    };
    let request = OrderRequest {
        channel: channel.to_owned(),
        external_id: order.number(),
        customer: customer(order),
        currency: order.currency.trim().to_ascii_uppercase(),
        lines,
        shipping_address: address(shipping),
    };
    Mapping { request, unmapped }
}

/// The unit price after discounts: WooCommerce's `price` (a float, often with many
/// decimals), or the line total shared over its units; at most four decimals.
fn unit_price(price: &str, total: &str, quantity: i64) -> String {
    let scaled = parse_scaled(price)
        .or_else(|| parse_scaled(total).map(|t| portion(t, 1, quantity.max(1))))
        .unwrap_or(0)
        .max(0);
    format_shortest(scaled)
}

fn customer(order: &Order) -> Customer {
    let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    Customer {
        id: (order.customer_id > 0).then(|| order.customer_id.to_string()),
        name: some(&order.billing.name()),
        email: some(&order.billing.email),
        phone: some(&order.billing.phone),
    }
}

/// The address to ship to. A store may leave fields empty (countries without postcodes,
/// virtual goods); a paid order is not refused for that, so an empty field reads `-`.
fn address(a: &WooAddress) -> Address {
    let or_dash = |s: &str| {
        let s = s.trim();
        if s.is_empty() {
            "-".to_owned()
        } else {
            s.to_owned()
        }
    };
    let optional = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let name = if a.name().is_empty() {
        a.company.clone()
    } else {
        a.name()
    };
    Address {
        name: or_dash(&name),
        line1: or_dash(&a.address_1),
        line2: optional(&a.address_2),
        city: or_dash(&a.city),
        region: optional(&a.state),
        postal_code: or_dash(&a.postcode),
        country: a.country.trim().to_ascii_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_decide_what_happens() {
        use Decision::*;
        assert_eq!(decide("processing", None, false), Accept);
        assert_eq!(decide("on-hold", None, false), Accept);
        assert_eq!(decide("pending", None, false), Nothing);
        assert_eq!(decide("cancelled", None, false), Nothing);
        assert_eq!(decide("processing", Some("ord_1"), false), Nothing);
        assert_eq!(decide("completed", Some("ord_1"), false), Nothing);
        for closed in ["cancelled", "refunded", "failed", "trash"] {
            assert_eq!(decide(closed, Some("ord_1"), false), Cancel("ord_1".into()));
        }
        assert!(matches!(
            decide("processing", Some("ord_1"), true),
            Exception {
                code: "lines-changed",
                ..
            }
        ));
        assert!(matches!(
            decide("completed", None, false),
            Exception {
                code: "completed-before-accepted",
                ..
            }
        ));
        assert_eq!(
            decide("cancelled", Some("ord_1"), true),
            Cancel("ord_1".into())
        );
    }

    fn order() -> Order {
        serde_json::from_value(serde_json::json!({
            "id": 963, "number": "963", "status": "processing", "currency": "usd",
            "customer_id": 11,
            "billing": {"first_name": "Johnny", "last_name": "Appleseed", "address_1": "234 70th Street",
                "city": "Niagara Falls", "state": "NY", "postcode": "14304", "country": "US",
                "email": "j@example.com", "phone": ""},
            "shipping": {"first_name": "", "last_name": "", "address_1": "", "city": "", "country": ""},
            "line_items": [
                {"id": 890, "name": "Fruits Basket", "product_id": 52, "variation_id": 0, "quantity": 1,
                 "sku": "", "price": 30, "total": "30.00"},
                {"id": 891, "name": "Fruits Bundle", "product_id": 234, "variation_id": 0, "quantity": 3,
                 "sku": "5555-A", "price": 3.3333333333, "total": "10.00"},
                {"id": 892, "name": "Tee", "product_id": 60, "variation_id": 61, "quantity": 2,
                 "sku": "TEE-M-OWN", "price": "", "total": "39.80"}]
        }))
        .unwrap()
    }

    #[test]
    fn lines_map_through_the_sku_map_or_their_own_sku() {
        let map = [WooSku {
            product_id: 60,
            variation_id: 61,
            sku: "TEE".into(),
            writes_stock: false,
        }];
        let known: HashSet<String> = ["5555-A".to_owned(), "TEE".to_owned()].into();
        let m = to_request(&order(), "web", &map, &known);
        let lines: Vec<(&str, i64, &str)> = m
            .request
            .lines
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity, l.unit_price.as_str()))
            .collect();
        assert_eq!(lines, [("5555-A", 3, "3.3333"), ("TEE", 2, "19.9")]);
        assert_eq!(
            m.unmapped,
            ["line 890 \"Fruits Basket\" (product 52) has no SKU"]
        );
        assert_eq!(m.request.external_id, "963");
        assert_eq!(m.request.currency, "USD");
        assert_eq!(m.request.customer.id.as_deref(), Some("11"));
        assert_eq!(m.request.customer.phone, None);
        // No shipping address: the billing address is where it goes.
        assert_eq!(m.request.shipping_address.city, "Niagara Falls");
        assert_eq!(m.request.shipping_address.region.as_deref(), Some("NY"));
        m.request.validate().unwrap();
        let unknown = to_request(&order(), "web", &[], &HashSet::new());
        assert!(unknown.request.lines.is_empty());
        assert!(
            unknown.unmapped[1].contains("`5555-A` is not in Stockade's catalog"),
            "{:?}",
            unknown.unmapped
        );
    }

    #[test]
    fn the_lines_digest_ignores_everything_but_the_items() {
        let a = order();
        let mut b = order();
        b.status = "on-hold".into();
        b.billing.phone = "555".into();
        assert_eq!(lines_hash(&a), lines_hash(&b));
        b.line_items[1].quantity = 4;
        assert_ne!(lines_hash(&a), lines_hash(&b));
    }
}
