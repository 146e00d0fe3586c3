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

/// An order's lines, as a delivery note based on it needs them.
#[derive(Debug, Deserialize)]
pub struct OrderLines {
    #[serde(rename = "DocEntry")]
    pub entry: i64,
    #[serde(rename = "DocumentLines", default)]
    pub lines: Vec<OrderLine>,
}

#[derive(Debug, Deserialize)]
pub struct OrderLine {
    #[serde(rename = "LineNum")]
    pub number: i64,
    #[serde(rename = "ItemCode")]
    pub item: String,
    /// What is still to be delivered on this line.
    #[serde(rename = "RemainingOpenQuantity", default)]
    pub open: Value,
}

/// The Document type code of a sales order, as a delivery line's `BaseType` names it.
const SALES_ORDER: i64 = 17;
/// The length of a document's customer reference (`NumAtCard`).
const NUM_AT_CARD_MAX: usize = 100;
/// The length of a document's remarks (`Comments`); a longer text is refused by B1.
const COMMENTS_MAX: usize = 254;

/// The `DocumentLines` of a delivery note based on `order` for what `shipment` carried:
/// each shipped SKU taken from the order's lines for that item that are still open, in
/// line order. More than the order still has open is refused before B1 sees it.
fn delivery_lines(order: &OrderLines, shipment: &Shipment) -> Result<Vec<Value>, AdapterError> {
    // What each order line still has open, drawn down as shipped lines take from it.
    let mut open = order
        .lines
        .iter()
        .map(|line| {
            units(&line.open, || {
                let at = format!("order {} line {}", order.entry, line.number);
                format!("{at} RemainingOpenQuantity")
            })
        })
        .collect::<Result<Vec<i64>, AdapterError>>()?;
    let mut lines = Vec::new();
    for shipped in &shipment.lines {
        if shipped.quantity <= 0 {
            return Err(AdapterError::Permanent(format!(
                "shipment {}: {} units of {} is not a quantity to deliver",
                shipment.id, shipped.quantity, shipped.sku
            )));
        }
        let mut rest = shipped.quantity;
        for (line, open) in order.lines.iter().zip(open.iter_mut()) {
            let take = rest.min(*open);
            if line.item != shipped.sku || take == 0 {
                continue;
            }
            lines.push(json!({
                "BaseType": SALES_ORDER,
                "BaseEntry": order.entry,
                "BaseLine": line.number,
                "Quantity": take,
            }));
            *open -= take;
            rest -= take;
        }
        if rest > 0 {
            return Err(AdapterError::Permanent(format!(
                "shipment {}: {} units of {} shipped, {rest} more than order {} has open in SAP B1",
                shipment.id, shipped.quantity, shipped.sku, order.entry
            )));
        }
    }
    Ok(lines)
}

/// The customer reference of a delivery note Stockade records: the order's id, a slash,
/// the shipment's id. It is looked up before every create, and the order's id in front
/// keeps it next to the notes a clerk copies from the order (which carry the order's id).
pub fn shipment_key(order_id: &str, shipment_id: &str) -> Result<String, AdapterError> {
    let key = format!("{order_id}/{shipment_id}");
    if key.len() > NUM_AT_CARD_MAX {
        return Err(AdapterError::Permanent(format!(
            "shipment {shipment_id}: `{key}` is longer than B1's {NUM_AT_CARD_MAX}-character \
             customer reference"
        )));
    }
    Ok(key)
}

/// A `DeliveryNotes` document based on the order, keyed by [`shipment_key`], with the
/// tracking number on the document and the carrier in its remarks.
pub fn delivery_note(
    order: &OrderLines,
    order_id: &str,
    shipment: &Shipment,
    card_code: &str,
) -> Result<Value, AdapterError> {
    // TODO: B1 names the carrier by a shipping type code (`TransportationCode`, table
    // OSHP) set up per company; until carriers are mapped to codes the carrier's name is
    // only in the remarks, and shipments read back carry none.
    let carrier = shipment
        .carrier
        .as_deref()
        .map_or_else(String::new, |c| format!(" by {c}"));
    let mut note = json!({
        "CardCode": card_code,
        "NumAtCard": shipment_key(order_id, &shipment.id)?,
        "Comments": format!(
            "Shipment {} ({}) of order {order_id}{carrier}",
            shipment.id, shipment.reference
        )
        .chars()
        .take(COMMENTS_MAX)
        .collect::<String>(),
        "DocumentLines": delivery_lines(order, shipment)?,
    });
    if let Some(at) = shipment.shipped_at {
        note["DocDate"] = json!(at.date().to_string());
    }
    if let Some(tracking) = &shipment.tracking_number {
        note["TrackingNumber"] = json!(tracking);
    }
    Ok(note)
}

/// A `DeliveryNotes` document, as far as a shipment needs it.
#[derive(Debug, Deserialize)]
pub struct DeliveryNote {
    #[serde(rename = "DocEntry")]
    pub entry: i64,
    #[serde(rename = "NumAtCard")]
    pub num_at_card: Option<String>,
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
    crate::adapters::check_return(order, rma)?;
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
    // Stockade's own shipment id when Stockade recorded the note.
    let id = note
        .num_at_card
        .as_deref()
        .and_then(|key| key.strip_prefix(order.id.as_str())?.strip_prefix('/'))
        .map_or_else(|| format!("sap-b1-dln-{}", note.entry), str::to_owned);
    Ok(Some(Shipment {
        id,
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
    fn delivery_lines_draw_down_the_open_order_lines_in_order() {
        let order: OrderLines = serde_json::from_value(json!({"DocEntry": 7, "DocumentLines": [
            {"LineNum": 0, "ItemCode": "A", "RemainingOpenQuantity": 2.0},
            {"LineNum": 1, "ItemCode": "B", "RemainingOpenQuantity": 1.0},
            {"LineNum": 2, "ItemCode": "A", "RemainingOpenQuantity": 3.0},
        ]}))
        .unwrap();
        let line = |sku: &str, quantity| ShipmentLine {
            sku: sku.into(),
            quantity,
        };
        let mut shipment = Shipment {
            id: "shp_1".into(),
            order_id: "ord_1".into(),
            reference: "WMS-1".into(),
            status: ShipmentStatus::Shipped,
            carrier: None,
            tracking_number: None,
            tracking_url: None,
            // The same SKU twice never draws on the same open units twice.
            lines: vec![line("A", 1), line("A", 3)],
            milestones: Vec::new(),
            shipped_at: None,
        };
        let drawn: Vec<(i64, i64)> = delivery_lines(&order, &shipment)
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["BaseLine"].as_i64().unwrap(),
                    l["Quantity"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(drawn, [(0, 1), (0, 1), (2, 2)]);

        shipment.lines = vec![line("A", 6)];
        let e = delivery_lines(&order, &shipment).unwrap_err();
        assert!(
            matches!(&e, AdapterError::Permanent(m) if m.contains("1 more")),
            "{e}"
        );
        shipment.lines = vec![line("B", 0)];
        assert!(delivery_lines(&order, &shipment).is_err());
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
