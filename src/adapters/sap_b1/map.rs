//! Service Layer shapes and Stockade's canonical ones, mapped in one place.
//!
//! Quantities arrive as numbers (sometimes as numeric strings) and may carry decimals,
//! since B1 counts in inventory units of measure. Stockade counts whole units, so a
//! fractional, negative or non-numeric figure is refused with the item and warehouse
//! named rather than rounded into a wrong availability.

use serde::Deserialize;
use serde_json::{Value, json};
use time::{Date, OffsetDateTime, Time};

use crate::adapters::AdapterError;
use crate::domain::order::Order;
use crate::domain::quantity::Position;
use crate::domain::rma::Rma;
use crate::domain::shipment::{Milestone, Shipment, ShipmentLine, ShipmentStatus};
use crate::store::PositionRow;

/// The `source` of shipment milestones read from B1.
const SOURCE: &str = "sap_b1";

/// `Items` with its per-warehouse figures.
#[derive(Debug, Deserialize)]
pub struct Item {
    #[serde(rename = "ItemCode")]
    pub code: String,
    #[serde(rename = "ItemWarehouseInfoCollection", default)]
    pub warehouses: Vec<WarehouseInfo>,
}

#[derive(Debug, Deserialize)]
pub struct WarehouseInfo {
    #[serde(rename = "WarehouseCode")]
    pub code: String,
    #[serde(rename = "InStock", default)]
    pub in_stock: Value,
    #[serde(rename = "Committed", default)]
    pub committed: Value,
    #[serde(rename = "Ordered", default)]
    pub ordered: Value,
}

/// A marketing document's key and number (`Orders`, `ReturnRequest`, `CreditNotes`).
#[derive(Debug, Deserialize)]
pub struct DocumentKey {
    #[serde(rename = "DocEntry")]
    pub entry: i64,
}

/// A `DeliveryNotes` document, as far as a shipment needs it.
#[derive(Debug, Deserialize)]
pub struct DeliveryNote {
    #[serde(rename = "DocEntry")]
    pub entry: i64,
    #[serde(rename = "DocNum")]
    pub number: Option<i64>,
    #[serde(rename = "DocDate")]
    pub date: Option<String>,
    #[serde(rename = "TrackingNumber")]
    pub tracking_number: Option<String>,
    #[serde(rename = "Cancelled")]
    pub cancelled: Option<String>,
    #[serde(rename = "DocumentLines", default)]
    pub lines: Vec<DocumentLine>,
}

#[derive(Debug, Deserialize)]
pub struct DocumentLine {
    #[serde(rename = "ItemCode")]
    pub item: String,
    #[serde(rename = "Quantity", default)]
    pub quantity: Value,
}

/// An OData string literal: quotes doubled.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `Field eq 'a' or Field eq 'b' …`.
pub fn any_of(field: &str, values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("{field} eq {}", literal(v)))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// A whole, non-negative number of units, from a number or a numeric string.
fn units(v: &Value, what: impl Fn() -> String) -> Result<i64, AdapterError> {
    let n = match v {
        Value::Null => Some(0.0),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n < 1e15 => Ok(n as i64),
        _ => Err(AdapterError::Permanent(format!(
            "{}: `{v}` is not a whole, non-negative number of units",
            what()
        ))),
    }
}

/// Positions per (item, warehouse): on-hand is `InStock`, committed is `Committed` (what
/// open sales orders hold), incoming is `Ordered`; available-to-sell follows as on-hand
/// minus committed. Only the asked-for warehouses, when any are named.
// TODO: B1 keeps no quarantine figure per warehouse (it uses separate warehouses or batch
// statuses), so `unavailable` is always 0 here; locked batches count as sellable.
pub fn positions(
    items: Vec<Item>,
    locations: &[String],
    now: OffsetDateTime,
) -> Result<Vec<PositionRow>, AdapterError> {
    let mut rows = Vec::new();
    for item in items {
        for wh in item.warehouses {
            if !locations.is_empty() && !locations.contains(&wh.code) {
                continue;
            }
            let at = |field: &str| format!("item {} warehouse {} {field}", item.code, wh.code);
            rows.push(PositionRow {
                position: Position {
                    on_hand: units(&wh.in_stock, || at("InStock"))?,
                    committed: units(&wh.committed, || at("Committed"))?,
                    incoming: units(&wh.ordered, || at("Ordered"))?,
                    ..Position::default()
                },
                sku: item.code.clone(),
                location: wh.code,
                updated_at: now,
                as_of: Some(now),
            });
        }
    }
    Ok(rows)
}

/// A sales order for `Orders`: the business partner web orders are booked to, Stockade's
/// order id as the customer reference (`NumAtCard`, the key a retry looks up), one line
/// per allocation so that each line names its warehouse, and the backordered rest on a
/// line without one (the item's default warehouse).
pub fn sales_order(order: &Order, card_code: &str) -> Value {
    let date = order.created_at.date().to_string();
    let mut lines = Vec::new();
    for line in &order.lines {
        for a in &line.allocations {
            lines.push(json!({
                "ItemCode": line.sku,
                "Quantity": a.quantity,
                "UnitPrice": line.unit_price,
                "WarehouseCode": a.location,
            }));
        }
        let placed: i64 = line.allocations.iter().map(|a| a.quantity).sum();
        if line.quantity > placed {
            lines.push(json!({
                "ItemCode": line.sku,
                "Quantity": line.quantity - placed,
                "UnitPrice": line.unit_price,
            }));
        }
    }
    json!({
        "CardCode": card_code,
        "NumAtCard": order.id,
        "DocDate": date,
        "DocDueDate": date,
        "DocCurrency": order.currency,
        "Comments": format!("{} order {}", order.channel, order.external_id),
        "DocumentLines": lines,
    })
}

/// A `ReturnRequest`: what the customer may send back, keyed by the RMA id. More units
/// of a SKU than the order holds is refused before anything reaches B1.
pub fn return_request(order: &Order, rma: &Rma, card_code: &str) -> Result<Value, AdapterError> {
    for l in &rma.lines {
        let ordered: i64 = order
            .lines
            .iter()
            .filter(|o| o.sku == l.sku)
            .map(|o| o.quantity)
            .sum();
        if l.quantity <= 0 || l.quantity > ordered {
            return Err(AdapterError::Permanent(format!(
                "return {}: {} units of {} asked back, order {} holds {ordered}",
                rma.id, l.quantity, l.sku, order.id
            )));
        }
    }
    let lines: Vec<Value> = rma
        .lines
        .iter()
        .map(|l| {
            json!({
                "ItemCode": l.sku,
                "Quantity": l.quantity,
                "UnitPrice": unit_price(order, &l.sku),
                "FreeText": l.reason,
            })
        })
        .collect();
    Ok(json!({
        "CardCode": card_code,
        "NumAtCard": rma.id,
        "DocCurrency": order.currency,
        "Comments": format!("Return for order {}", order.id),
        "DocumentLines": lines,
    }))
}

/// A `CreditNotes` document for what came back, resellable or damaged, at the price sold.
pub fn credit_note(order: &Order, rma: &Rma, card_code: &str) -> Result<Value, AdapterError> {
    let lines: Vec<Value> = rma
        .lines
        .iter()
        .filter(|l| l.received_resellable + l.received_damaged > 0)
        .map(|l| {
            json!({
                "ItemCode": l.sku,
                "Quantity": l.received_resellable + l.received_damaged,
                "UnitPrice": unit_price(order, &l.sku),
            })
        })
        .collect();
    if lines.is_empty() {
        return Err(AdapterError::Permanent(format!(
            "return {}: nothing was received, so there is nothing to credit",
            rma.id
        )));
    }
    Ok(json!({
        "CardCode": card_code,
        "NumAtCard": rma.id,
        "DocCurrency": order.currency,
        "Comments": format!("Refund for order {}", order.id),
        "DocumentLines": lines,
    }))
}

fn unit_price(order: &Order, sku: &str) -> String {
    order
        .lines
        .iter()
        .find(|l| l.sku == sku)
        .map_or_else(|| "0".to_owned(), |l| l.unit_price.clone())
}

/// A delivery note as a shipment: shipped on its document date, with its tracking number.
/// Cancelled delivery notes are no shipment.
pub fn shipment(order: &Order, note: DeliveryNote) -> Result<Option<Shipment>, AdapterError> {
    if note.cancelled.as_deref() == Some("tYES") {
        return Ok(None);
    }
    let shipped_at = match note.date.as_deref() {
        Some(d) => Some(document_date(d).ok_or_else(|| {
            AdapterError::Permanent(format!(
                "delivery note {}: DocDate `{d}` is not a date",
                note.entry
            ))
        })?),
        None => None,
    };
    let mut lines = Vec::new();
    for l in note.lines {
        let quantity = units(&l.quantity, || {
            format!("delivery note {} item {} Quantity", note.entry, l.item)
        })?;
        lines.push(ShipmentLine {
            sku: l.item,
            quantity,
        });
    }
    Ok(Some(Shipment {
        id: format!("sap-b1-dln-{}", note.entry),
        order_id: order.id.clone(),
        reference: note.number.unwrap_or(note.entry).to_string(),
        status: ShipmentStatus::Shipped,
        carrier: None,
        tracking_number: note.tracking_number.filter(|t| !t.is_empty()),
        tracking_url: None,
        lines,
        milestones: shipped_at
            .map(|at| Milestone {
                status: ShipmentStatus::Shipped,
                at,
                source: SOURCE.into(),
            })
            .into_iter()
            .collect(),
        shipped_at,
    }))
}

/// B1 dates are `YYYY-MM-DD`, sometimes followed by a midnight time (`…T00:00:00Z`).
fn document_date(s: &str) -> Option<OffsetDateTime> {
    let day = s.get(..10)?;
    let date = Date::parse(
        day,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    Some(date.with_time(Time::MIDNIGHT).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_double_their_quotes() {
        assert_eq!(literal("O'Brien"), "'O''Brien'");
        assert_eq!(
            any_of("ItemCode", &["A".into(), "B".into()]),
            "ItemCode eq 'A' or ItemCode eq 'B'"
        );
    }

    #[test]
    fn warehouse_figures_become_positions() {
        let items: Vec<Item> = serde_json::from_value(json!([{
            "ItemCode": "A00001",
            "ManageBatchNumbers": "tNO",
            "ItemWarehouseInfoCollection": [
                {"WarehouseCode": "01", "InStock": 12.0, "Committed": 5, "Ordered": 3,
                 "ExpensesAccount": null, "ItemCycleCounts": []},
                {"WarehouseCode": "02", "InStock": "4", "Committed": 0, "Ordered": 0},
            ]
        }]))
        .unwrap();
        let rows = positions(items, &["01".into()], OffsetDateTime::UNIX_EPOCH).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].position.on_hand, 12);
        assert_eq!(rows[0].position.incoming, 3);
        assert_eq!(rows[0].position.available_to_sell(), 7);
    }

    #[test]
    fn fractional_or_negative_figures_are_refused_by_name() {
        for bad in [json!(2.5), json!(-1), json!("lots"), json!(true)] {
            let items: Vec<Item> = serde_json::from_value(json!([{
                "ItemCode": "A1",
                "ItemWarehouseInfoCollection": [
                    {"WarehouseCode": "01", "InStock": bad, "Committed": 0, "Ordered": 0}
                ]
            }]))
            .unwrap();
            let e = positions(items, &[], OffsetDateTime::UNIX_EPOCH).unwrap_err();
            assert!(
                matches!(&e, AdapterError::Permanent(m) if m.contains("item A1 warehouse 01 InStock")),
                "{e}"
            );
        }
    }

    #[test]
    fn document_dates_take_either_form() {
        assert_eq!(
            document_date("2026-03-01").unwrap(),
            document_date("2026-03-01T00:00:00Z").unwrap()
        );
        assert!(document_date("01/03/2026").is_none());
    }
}
