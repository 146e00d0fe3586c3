//! A store as an outbox destination: what Stockade's events mean to the store.
//!
//! - `stock.changed`: the channel's available-to-sell, written to the products and
//!   variations the SKU map names (see `stock.rs`).
//! - `shipment.updated` once goods have left: a customer note with the carrier, tracking
//!   number and link, and the order set to `completed` once everything has shipped.
//! - `return.received`: a refund of the units received back, with `api_restock` false,
//!   since Stockade owns the stock and has already restocked what it could.
//! - `order.cancelled`: a private note that the reservation was released.
//!
//! Events about orders that did not come from this store change nothing there. Every
//! write is safe to repeat: notes are not added twice, refunds are counted per RMA.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::Connector;
use super::catalog::line_sku;
use crate::adapters::{AdapterError, Destination};
use crate::domain::money::{format_scaled, parse_scaled, portion};
use crate::domain::order::OrderStatus;
use crate::domain::outbound::{Envelope, EventKind};

pub struct WooDestination {
    connector: Arc<Connector>,
    name: String,
}

impl WooDestination {
    pub fn new(connector: Arc<Connector>) -> Self {
        Self {
            name: connector.policy.destination(),
            connector,
        }
    }
}

#[derive(Deserialize)]
struct ShipmentData {
    order_id: String,
    status: String,
    carrier: Option<String>,
    tracking_number: Option<String>,
    tracking_url: Option<String>,
}

#[derive(Deserialize)]
struct RmaData {
    id: String,
    order_id: String,
    lines: Vec<RmaLineData>,
}

#[derive(Deserialize)]
struct RmaLineData {
    sku: String,
    received_resellable: i64,
    received_damaged: i64,
}

#[derive(Deserialize)]
struct OrderData {
    id: String,
}

fn data<T: DeserializeOwned>(event: &Envelope) -> Result<T, AdapterError> {
    serde_json::from_value(event.data.clone()).map_err(|e| {
        AdapterError::Permanent(format!(
            "{} event of an unexpected shape: {e}",
            event.kind.as_str()
        ))
    })
}

fn transient(e: impl std::fmt::Display) -> AdapterError {
    AdapterError::Transient(e.to_string())
}

#[async_trait]
impl Destination for WooDestination {
    fn name(&self) -> &str {
        &self.name
    }

    fn wants(&self, kind: EventKind) -> bool {
        matches!(
            kind,
            EventKind::StockChanged
                | EventKind::ShipmentUpdated
                | EventKind::ReturnReceived
                | EventKind::OrderCancelled
        )
    }

    fn max_attempts(&self) -> u32 {
        self.connector.policy.max_attempts
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.connector.policy.timeout_ms) + super::stock::WINDOW
    }

    /// Enough deliveries in flight at once that a burst of stock changes fills batches.
    fn concurrency(&self) -> Option<usize> {
        Some(4 * super::stock::MAX_BATCH)
    }

    async fn deliver(&self, event: &Envelope) -> Result<(), AdapterError> {
        match event.kind {
            EventKind::StockChanged => {
                let sku = event
                    .data
                    .get("sku")
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| AdapterError::Permanent("stock.changed without a sku".into()))?;
                self.connector.write_stock_soon(sku).await
            }
            EventKind::ShipmentUpdated => self.shipped(data(event)?).await,
            EventKind::ReturnReceived => self.refund(event, data(event)?).await,
            EventKind::OrderCancelled => self.cancelled(data(event)?).await,
            other => Err(AdapterError::Permanent(format!(
                "a WooCommerce store takes no {} events",
                other.as_str()
            ))),
        }
    }
}

impl WooDestination {
    /// The store order a Stockade order came from, if it came from this store.
    async fn store_order(&self, order_id: &str) -> Result<Option<i64>, AdapterError> {
        self.connector
            .store
            .woo_order_of(self.connector.name(), order_id)
            .await
            .map_err(transient)
    }

    async fn shipped(&self, s: ShipmentData) -> Result<(), AdapterError> {
        if !matches!(s.status.as_str(), "shipped" | "delivered") {
            return Ok(());
        }
        let Some(woo) = self.store_order(&s.order_id).await? else {
            return Ok(());
        };
        let order = self
            .connector
            .store
            .order(&s.order_id)
            .await
            .map_err(transient)?
            .ok_or_else(|| AdapterError::Permanent(format!("order {} is gone", s.order_id)))?;
        let complete = matches!(order.status, OrderStatus::Shipped | OrderStatus::Delivered);
        let note = tracking_note(&s, complete);
        self.connector.add_note(woo, &note, true).await?;
        if complete {
            self.connector.set_status(woo, "completed").await?;
            tracing::info!(store = %self.connector.name(), order.id = %s.order_id, woo.order_id = woo, "woocommerce order completed");
        }
        Ok(())
    }

    async fn cancelled(&self, o: OrderData) -> Result<(), AdapterError> {
        let Some(woo) = self.store_order(&o.id).await? else {
            return Ok(());
        };
        let note = format!(
            "Stockade cancelled order {} and released the stock reserved for it.",
            o.id
        );
        self.connector.add_note(woo, &note, false).await
    }

    /// Refunds the units received back that were not refunded yet, line by line at what
    /// the customer paid for them (after discounts, with their tax), without restocking.
    async fn refund(&self, event: &Envelope, rma: RmaData) -> Result<(), AdapterError> {
        let Some(woo) = self.store_order(&rma.order_id).await? else {
            return Ok(());
        };
        let store = &self.connector.store;
        let name = self.connector.name();
        let done: BTreeMap<String, i64> = store
            .woo_refunded(name, &rma.id)
            .await
            .map_err(transient)?
            .into_iter()
            .collect();
        let mut due: BTreeMap<String, i64> = BTreeMap::new();
        for l in &rma.lines {
            *due.entry(l.sku.clone()).or_insert(0) += l.received_resellable + l.received_damaged;
        }
        for (sku, units) in &mut due {
            *units -= done.get(sku).copied().unwrap_or(0);
        }
        due.retain(|_, units| *units > 0);
        if due.is_empty() {
            return Ok(());
        }
        let order = self.connector.order(woo).await?;
        // The refund's reason names the event: if a refund for it exists, it was created
        // by an attempt whose answer was lost.
        let reason = format!("Stockade return {} ({})", rma.id, event.id);
        let plan = refund_plan(&order, &self.line_map(&order).await?, &due);
        if order.refunds.iter().any(|r| r.reason.contains(&event.id)) {
            return self.remember(&rma.id, &plan.units).await;
        }
        if plan.items.is_empty() {
            return Err(AdapterError::Permanent(format!(
                "none of the returned SKUs of {} is a line of store order {woo}",
                rma.id
            )));
        }
        let body = json!({
            "amount": format_scaled(plan.amount, 2),
            "reason": reason,
            "line_items": plan.items,
            "api_refund": self.connector.policy.refund_payment,
            "api_restock": false,
        });
        self.connector.refund(woo, &body).await?;
        tracing::info!(store = %name, rma.id = %rma.id, woo.order_id = woo, amount = %format_scaled(plan.amount, 2), "woocommerce refund created");
        self.remember(&rma.id, &plan.units).await
    }

    async fn line_map(
        &self,
        order: &super::wire::Order,
    ) -> Result<Vec<crate::store::WooSku>, AdapterError> {
        let mut products: Vec<i64> = order.line_items.iter().map(|l| l.product_id).collect();
        products.sort_unstable();
        products.dedup();
        self.connector
            .store
            .woo_skus_of_products(self.connector.name(), &products)
            .await
            .map_err(transient)
    }

    async fn remember(&self, rma: &str, units: &[(String, i64)]) -> Result<(), AdapterError> {
        self.connector
            .store
            .woo_add_refunded(self.connector.name(), rma, units)
            .await
            .map_err(transient)
    }
}

/// What a refund pays back: its line items, their sum, and the units per SKU.
struct RefundPlan {
    items: Vec<serde_json::Value>,
    /// In ten-thousandths, each part rounded to cents first so the lines add up.
    amount: i128,
    units: Vec<(String, i64)>,
}

fn refund_plan(
    order: &super::wire::Order,
    map: &[crate::store::WooSku],
    due: &BTreeMap<String, i64>,
) -> RefundPlan {
    let cents = |v: i128| parse_scaled(&format_scaled(v, 2)).unwrap_or(0);
    let mut plan = RefundPlan {
        items: Vec::new(),
        amount: 0,
        units: Vec::new(),
    };
    for (sku, &wanted) in due {
        let mut left = wanted;
        for line in &order.line_items {
            if left == 0 {
                break;
            }
            if line.quantity <= 0 || line_sku(line, map).as_deref() != Some(sku.as_str()) {
                continue;
            }
            let q = left.min(line.quantity);
            let total = cents(portion(
                parse_scaled(&line.total).unwrap_or(0),
                q,
                line.quantity,
            ));
            let taxes: Vec<(i64, i128)> = line
                .taxes
                .iter()
                .map(|t| {
                    (
                        t.id,
                        cents(portion(
                            parse_scaled(&t.total).unwrap_or(0),
                            q,
                            line.quantity,
                        )),
                    )
                })
                .collect();
            plan.amount += total + taxes.iter().map(|(_, v)| v).sum::<i128>();
            plan.items.push(json!({
                "id": line.id,
                "quantity": q,
                "refund_total": format_scaled(total, 2),
                "refund_tax": taxes.iter().map(|(id, v)| json!({"id": id, "refund_total": format_scaled(*v, 2)})).collect::<Vec<_>>(),
            }));
            left -= q;
        }
        if left < wanted {
            plan.units.push((sku.clone(), wanted - left));
        }
    }
    plan
}

/// The note the customer reads: carrier, tracking number and link, as far as known.
fn tracking_note(s: &ShipmentData, complete: bool) -> String {
    let mut note = if complete {
        "Your order has shipped".to_owned()
    } else {
        "Part of your order has shipped".to_owned()
    };
    if let Some(carrier) = s.carrier.as_deref().filter(|c| !c.trim().is_empty()) {
        note.push_str(&format!(" with {}", carrier.trim()));
    }
    note.push('.');
    if let Some(number) = s
        .tracking_number
        .as_deref()
        .filter(|n| !n.trim().is_empty())
    {
        note.push_str(&format!(" Tracking number: {}.", number.trim()));
    }
    if let Some(url) = s.tracking_url.as_deref().filter(|u| !u.trim().is_empty()) {
        note.push_str(&format!(" Track it at {}", url.trim()));
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tracking_note_says_what_is_known() {
        let s = ShipmentData {
            order_id: "ord_1".into(),
            status: "shipped".into(),
            carrier: Some("DHL".into()),
            tracking_number: Some("00340434161094042557".into()),
            tracking_url: Some("https://www.dhl.com/track?id=00340434161094042557".into()),
        };
        assert_eq!(
            tracking_note(&s, true),
            "Your order has shipped with DHL. Tracking number: 00340434161094042557. \
             Track it at https://www.dhl.com/track?id=00340434161094042557"
        );
        let bare = ShipmentData {
            carrier: None,
            tracking_number: None,
            tracking_url: None,
            ..s
        };
        assert_eq!(
            tracking_note(&bare, false),
            "Part of your order has shipped."
        );
    }

    #[test]
    fn a_refund_pays_back_each_unit_at_what_was_paid_with_its_tax() {
        let order: super::super::wire::Order =
            serde_json::from_value(json!({"id": 5, "line_items": [
            {"id": 50, "product_id": 1, "quantity": 3, "sku": "A", "total": "30.00",
             "taxes": [{"id": 7, "total": "5.7"}]},
            {"id": 51, "product_id": 2, "quantity": 1, "sku": "B", "total": "9.99", "taxes": []}]}))
            .unwrap();
        let due = BTreeMap::from([
            ("A".to_owned(), 2),
            ("B".to_owned(), 1),
            ("Z".to_owned(), 1),
        ]);
        let plan = refund_plan(&order, &[], &due);
        assert_eq!(plan.items.len(), 2);
        assert_eq!(plan.items[0]["quantity"], 2);
        assert_eq!(plan.items[0]["refund_total"], "20.00");
        assert_eq!(plan.items[0]["refund_tax"][0]["refund_total"], "3.80");
        assert_eq!(format_scaled(plan.amount, 2), "33.79");
        assert_eq!(
            plan.units,
            [("A".to_owned(), 2), ("B".to_owned(), 1)],
            "Z is not in the order"
        );
    }
}
