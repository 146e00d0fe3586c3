//! ERPNext's documents and Stockade's canonical shapes, mapped in one place.
//!
//! Frappe sends every quantity as a JSON float (`10.0`), links to other documents as their
//! `name` strings, dates as `YYYY-MM-DD` and times as `HH:MM:SS[.ffffff]` in the server's
//! own zone. Stockade counts whole units, so a fractional figure is refused with the item
//! and warehouse named rather than rounded into a wrong availability.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};
use time::{Date, OffsetDateTime, Time};

use crate::adapters::AdapterError;
use crate::domain::order::Order;
use crate::domain::quantity::Position;
use crate::domain::rma::Rma;
use crate::domain::shipment::{Milestone, Shipment, ShipmentLine, ShipmentStatus};
use crate::store::PositionRow;

pub const BIN: &str = "Bin";
pub const SALES_ORDER: &str = "Sales Order";
pub const DELIVERY_NOTE: &str = "Delivery Note";
pub const DELIVERY_NOTE_ITEM: &str = "Delivery Note Item";
pub const SALES_INVOICE: &str = "Sales Invoice";

/// The `source` of shipment milestones read from ERPNext.
const SOURCE: &str = "erpnext";
/// The length of `po_no` ("Customer's Purchase Order"), which carries Stockade's keys.
const PO_NO_MAX: usize = 140;

/// The `Bin` columns read: one bin per item and warehouse.
pub const BIN_FIELDS: &[&str] = &[
    "item_code",
    "warehouse",
    "actual_qty",
    "reserved_qty",
    "reserved_qty_for_production",
    "reserved_qty_for_sub_contract",
    "ordered_qty",
    "planned_qty",
];

#[derive(Debug, Deserialize)]
pub struct Bin {
    pub item_code: String,
    pub warehouse: String,
    #[serde(default)]
    pub actual_qty: Value,
    #[serde(default)]
    pub reserved_qty: Value,
    #[serde(default)]
    pub reserved_qty_for_production: Value,
    #[serde(default)]
    pub reserved_qty_for_sub_contract: Value,
    #[serde(default)]
    pub ordered_qty: Value,
    #[serde(default)]
    pub planned_qty: Value,
}

/// How Stockade's location codes and ERPNext's warehouse names meet. ERPNext names a
/// warehouse `<warehouse name> - <company abbreviation>` (`Stores - ACME`); with the
/// abbreviation configured, the location `Stores` is the warehouse `Stores - ACME` and
/// warehouses of other companies are not read. Named pairs override the rule for
/// warehouses whose names are not location codes.
#[derive(Debug, Clone, Default)]
pub struct Warehouses {
    abbr: Option<String>,
    /// (location code, warehouse name).
    named: Vec<(String, String)>,
}

impl Warehouses {
    /// `named` is `LOCATION=Warehouse Name;…`; a location or a warehouse named twice is
    /// refused, since either direction of the mapping would then be a guess.
    pub fn new(abbr: Option<String>, named: &str) -> Result<Self, String> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for pair in named.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((code, warehouse)) = pair.split_once('=') else {
                return Err(format!("`{pair}` is not LOCATION=Warehouse Name"));
            };
            let (code, warehouse) = (code.trim(), warehouse.trim());
            if code.is_empty() || warehouse.is_empty() {
                return Err(format!("`{pair}` names no location or no warehouse"));
            }
            if pairs.iter().any(|(c, w)| c == code || w == warehouse) {
                return Err(format!(
                    "`{pair}`: the location or the warehouse is named twice"
                ));
            }
            pairs.push((code.to_owned(), warehouse.to_owned()));
        }
        Ok(Self {
            abbr: abbr.filter(|a| !a.is_empty()),
            named: pairs,
        })
    }

    /// The warehouse that holds a location's stock.
    pub fn warehouse(&self, location: &str) -> String {
        if let Some((_, w)) = self.named.iter().find(|(c, _)| c == location) {
            return w.clone();
        }
        match &self.abbr {
            Some(abbr) => format!("{location} - {abbr}"),
            None => location.to_owned(),
        }
    }

    /// The location a warehouse is, if it is one of Stockade's.
    pub fn location(&self, warehouse: &str) -> Option<String> {
        if let Some((c, _)) = self.named.iter().find(|(_, w)| w == warehouse) {
            return Some(c.clone());
        }
        match &self.abbr {
            Some(abbr) => warehouse
                .strip_suffix(abbr.as_str())?
                .strip_suffix(" - ")
                .filter(|code| !code.is_empty())
                .map(str::to_owned),
            None => Some(warehouse.to_owned()),
        }
    }
}

/// The company and customer documents are booked to.
#[derive(Debug, Clone)]
pub struct Booking {
    pub company: String,
    pub customer: String,
}

/// A number, a numeric string or null (0), as Frappe's floats arrive.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Null => Some(0.0),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A whole number of units; `signed` allows the negative stock ERPNext keeps when the
/// site allows negative stock. A difference from a whole number below a millionth is the
/// float's noise, not a fraction.
fn whole(v: &Value, signed: bool, what: impl Fn() -> String) -> Result<i64, AdapterError> {
    match number(v) {
        Some(n) if (n - n.round()).abs() < 1e-6 && n.abs() < 1e15 && (signed || n > -0.5) => {
            Ok(n.round() as i64)
        }
        _ => Err(AdapterError::Permanent(format!(
            "{}: `{v}` is not a whole{} number of units",
            what(),
            if signed { "" } else { ", non-negative" }
        ))),
    }
}

fn units(v: &Value, what: impl Fn() -> String) -> Result<i64, AdapterError> {
    whole(v, false, what)
}

/// Positions per (item, warehouse) of Stockade's, only the asked-for locations when any
/// are named. On hand is `actual_qty`; committed is what sales orders, work orders and
/// subcontracting have reserved there (`reserved_qty`, `reserved_qty_for_production`,
/// `reserved_qty_for_sub_contract`), all of it on hand but promised; incoming is what
/// purchase orders (`ordered_qty`) and work orders (`planned_qty`) will bring. Material
/// requests (`indented_qty`) are wishes, not expected stock, and are left out.
// TODO: a Bin keeps no quarantine figure (ERPNext holds damaged or rejected stock in
// separate warehouses), so `unavailable` is always 0; map a rejected warehouse to its
// sellable location's `unavailable` once sites say which warehouses those are.
pub fn positions(
    bins: Vec<Bin>,
    warehouses: &Warehouses,
    locations: &[String],
    now: OffsetDateTime,
) -> Result<Vec<PositionRow>, AdapterError> {
    // Keyed, so a bin read twice (a row moving between pages) counts once.
    let mut rows = BTreeMap::new();
    for bin in bins {
        let Some(location) = warehouses.location(&bin.warehouse) else {
            continue;
        };
        if !locations.is_empty() && !locations.contains(&location) {
            continue;
        }
        let at =
            |field: &str| format!("item {} warehouse {} {field}", bin.item_code, bin.warehouse);
        let committed = units(&bin.reserved_qty, || at("reserved_qty"))?
            + units(&bin.reserved_qty_for_production, || {
                at("reserved_qty_for_production")
            })?
            + units(&bin.reserved_qty_for_sub_contract, || {
                at("reserved_qty_for_sub_contract")
            })?;
        let position = Position {
            on_hand: whole(&bin.actual_qty, true, || at("actual_qty"))?,
            committed,
            incoming: units(&bin.ordered_qty, || at("ordered_qty"))?
                + units(&bin.planned_qty, || at("planned_qty"))?,
            ..Position::default()
        };
        let row = PositionRow {
            sku: bin.item_code,
            location,
            position,
            updated_at: now,
            as_of: Some(now),
        };
        rows.insert((row.sku.clone(), row.location.clone()), row);
    }
    Ok(rows.into_values().collect())
}

/// `[["item_code", "in", skus], ["warehouse", "in", warehouses]]`, each only when named.
pub fn bin_filters(skus: &[String], warehouses: &[String]) -> Value {
    let mut filters = Vec::new();
    if !skus.is_empty() {
        filters.push(json!(["item_code", "in", skus]));
    }
    if !warehouses.is_empty() {
        filters.push(json!(["warehouse", "in", warehouses]));
    }
    Value::Array(filters)
}

/// The `po_no` of a document Stockade makes for `id` (a shipment, a return) of an order:
/// `<order id>/<id>`. It starts with the order's id, the `po_no` ERPNext copies from the
/// sales order into the documents made from it, so Stockade's stand beside those.
pub fn key(order_id: &str, id: &str) -> Result<String, AdapterError> {
    let key = format!("{order_id}/{id}");
    if key.len() > PO_NO_MAX {
        return Err(AdapterError::Permanent(format!(
            "`{key}` is longer than ERPNext's {PO_NO_MAX}-character po_no"
        )));
    }
    Ok(key)
}

/// A submitted `Sales Order`: the customer's purchase order number (`po_no`, the key a
/// retry looks up) is Stockade's order id; one item row per allocation, with the
/// warehouse of its location, so ERPNext reserves the units where Stockade did; the
/// backordered rest on a row without one (ERPNext takes the item's default warehouse).
/// Prices are the channel's, so pricing rules are not applied.
pub fn sales_order(
    order: &Order,
    booking: &Booking,
    warehouses: &Warehouses,
) -> Result<Value, AdapterError> {
    if order.id.len() > PO_NO_MAX {
        return Err(AdapterError::Permanent(format!(
            "order id `{}` is longer than ERPNext's {PO_NO_MAX}-character po_no",
            order.id
        )));
    }
    let date = order.created_at.date().to_string();
    let mut items = Vec::new();
    for line in &order.lines {
        let row = |qty: i64| {
            json!({
                "item_code": line.sku,
                "qty": qty,
                "rate": line.unit_price,
                "delivery_date": date,
            })
        };
        for a in line.allocations.iter().filter(|a| a.quantity > 0) {
            let mut item = row(a.quantity);
            item["warehouse"] = json!(warehouses.warehouse(&a.location));
            items.push(item);
        }
        let placed: i64 = line.allocations.iter().map(|a| a.quantity.max(0)).sum();
        if line.quantity > placed {
            items.push(row(line.quantity - placed));
        }
    }
    Ok(json!({
        "customer": booking.customer,
        "company": booking.company,
        "order_type": "Sales",
        "po_no": order.id,
        "po_date": date,
        "transaction_date": date,
        "delivery_date": date,
        "currency": order.currency,
        "ignore_pricing_rule": 1,
        "docstatus": 1,
        "items": items,
    }))
}

/// A document's name and state (0 draft, 1 submitted, 2 cancelled).
#[derive(Debug, Deserialize)]
pub struct DocKey {
    pub name: String,
    #[serde(default)]
    pub docstatus: i64,
}

/// A `Sales Order` as a delivery note against it needs it.
#[derive(Debug, Deserialize)]
pub struct SalesOrderDoc {
    pub name: String,
    #[serde(default)]
    pub docstatus: i64,
    #[serde(default)]
    pub items: Vec<SalesOrderItem>,
}

#[derive(Debug, Deserialize)]
pub struct SalesOrderItem {
    /// The row's own name, which a delivery note row names as `so_detail`.
    pub name: String,
    pub item_code: String,
    #[serde(default)]
    pub qty: Value,
    #[serde(default)]
    pub delivered_qty: Value,
    #[serde(default)]
    pub rate: Value,
    #[serde(default)]
    pub warehouse: Option<String>,
}

/// A `Delivery Note`, as far as a shipment or a return needs it.
#[derive(Debug, Deserialize)]
pub struct DeliveryNoteDoc {
    pub name: String,
    #[serde(default)]
    pub docstatus: i64,
    #[serde(default)]
    pub is_return: i64,
    #[serde(default)]
    pub po_no: Option<String>,
    #[serde(default)]
    pub posting_date: Option<String>,
    #[serde(default)]
    pub posting_time: Option<String>,
    /// "Transport Receipt No": the carrier's consignment number, i.e. the tracking number.
    #[serde(default)]
    pub lr_no: Option<String>,
    #[serde(default)]
    pub transporter_name: Option<String>,
    #[serde(default)]
    pub items: Vec<DeliveryNoteItem>,
}

#[derive(Debug, Deserialize)]
pub struct DeliveryNoteItem {
    pub name: String,
    pub item_code: String,
    #[serde(default)]
    pub qty: Value,
    #[serde(default)]
    pub rate: Value,
    #[serde(default)]
    pub warehouse: Option<String>,
    #[serde(default)]
    pub against_sales_order: Option<String>,
    #[serde(default)]
    pub so_detail: Option<String>,
}

/// The item rows of a delivery note against `so` for what `shipment` carried: each
/// shipped SKU drawn from the order's rows for that item that still have something to
/// deliver, in row order, with the row's warehouse. More than the order has left is
/// refused before ERPNext sees it.
fn delivery_rows(so: &SalesOrderDoc, shipment: &Shipment) -> Result<Vec<Value>, AdapterError> {
    let mut open = so
        .items
        .iter()
        .map(|row| {
            let at = |field: &str| format!("sales order {} row {} {field}", so.name, row.name);
            Ok((units(&row.qty, || at("qty"))?
                - units(&row.delivered_qty, || at("delivered_qty"))?)
            .max(0))
        })
        .collect::<Result<Vec<i64>, AdapterError>>()?;
    let mut rows = Vec::new();
    for shipped in &shipment.lines {
        if shipped.quantity <= 0 {
            return Err(AdapterError::Permanent(format!(
                "shipment {}: {} units of {} is not a quantity to deliver",
                shipment.id, shipped.quantity, shipped.sku
            )));
        }
        let mut rest = shipped.quantity;
        for (row, open) in so.items.iter().zip(open.iter_mut()) {
            let take = rest.min(*open);
            if row.item_code != shipped.sku || take == 0 {
                continue;
            }
            rows.push(json!({
                "item_code": row.item_code,
                "qty": take,
                "rate": row.rate,
                "warehouse": row.warehouse,
                "against_sales_order": so.name,
                "so_detail": row.name,
            }));
            *open -= take;
            rest -= take;
        }
        if rest > 0 {
            return Err(AdapterError::Permanent(format!(
                "shipment {}: {} units of {} shipped, {rest} more than sales order {} has left to deliver",
                shipment.id, shipped.quantity, shipped.sku, so.name
            )));
        }
    }
    Ok(rows)
}

/// A submitted `Delivery Note` against the sales order, keyed by `po_no` = [`key`]. The
/// tracking number goes in `lr_no` ("Transport Receipt No") with the day it shipped in
/// `lr_date`, and the carrier's name in `transporter_name`. The `transporter` link is left
/// empty: it must name a Supplier record marked as a transporter, and carriers are not
/// mapped to suppliers.
pub fn delivery_note(
    so: &SalesOrderDoc,
    key: &str,
    shipment: &Shipment,
    booking: &Booking,
) -> Result<Value, AdapterError> {
    let mut note = json!({
        "customer": booking.customer,
        "company": booking.company,
        "po_no": key,
        "docstatus": 1,
        "items": delivery_rows(so, shipment)?,
    });
    if let Some(tracking) = shipment
        .tracking_number
        .as_deref()
        .filter(|t| !t.is_empty())
    {
        note["lr_no"] = json!(tracking);
    }
    if let Some(at) = shipment.shipped_at {
        note["lr_date"] = json!(at.date().to_string());
    }
    if let Some(carrier) = shipment.carrier.as_deref().filter(|c| !c.is_empty()) {
        note["transporter_name"] = json!(carrier);
    }
    Ok(note)
}

/// A submitted delivery note as a shipment of `order`: its rows against sales order
/// `so_name` (a note may serve several orders), summed per SKU in the order they appear.
/// A note Stockade recorded keeps Stockade's shipment id; one made in ERPNext is
/// `erpnext-dn-<name>`. Drafts, cancelled notes and returns are no shipment.
pub fn shipment(
    order: &Order,
    so_name: &str,
    note: DeliveryNoteDoc,
) -> Result<Option<Shipment>, AdapterError> {
    if note.docstatus != 1 || note.is_return != 0 {
        return Ok(None);
    }
    let mut lines: Vec<ShipmentLine> = Vec::new();
    for row in note
        .items
        .iter()
        .filter(|r| r.against_sales_order.as_deref() == Some(so_name))
    {
        let quantity = units(&row.qty, || {
            format!("delivery note {} item {} qty", note.name, row.item_code)
        })?;
        match lines.iter_mut().find(|l| l.sku == row.item_code) {
            Some(line) => line.quantity += quantity,
            None => lines.push(ShipmentLine {
                sku: row.item_code.clone(),
                quantity,
            }),
        }
    }
    let shipped_at = posted_at(&note)?;
    let id = note
        .po_no
        .as_deref()
        .and_then(|key| key.strip_prefix(order.id.as_str())?.strip_prefix('/'))
        .map_or_else(|| format!("erpnext-dn-{}", note.name), str::to_owned);
    let text = |v: Option<String>| v.filter(|t| !t.trim().is_empty());
    Ok(Some(Shipment {
        id,
        order_id: order.id.clone(),
        reference: note.name,
        status: ShipmentStatus::Shipped,
        carrier: text(note.transporter_name),
        tracking_number: text(note.lr_no),
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

/// When a note was posted: `posting_date` and `posting_time`.
// TODO: Frappe writes both in the site's time zone (System Settings), which the adapter
// does not read; they are taken as UTC, so a shipment's time is off by the site's offset.
fn posted_at(note: &DeliveryNoteDoc) -> Result<Option<OffsetDateTime>, AdapterError> {
    let Some(day) = note.posting_date.as_deref() else {
        return Ok(None);
    };
    let bad = || {
        AdapterError::Permanent(format!(
            "delivery note {}: posting_date `{day}` is not a date",
            note.name
        ))
    };
    let date = Date::parse(
        day.get(..10).ok_or_else(bad)?,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| bad())?;
    let time = note
        .posting_time
        .as_deref()
        .and_then(clock)
        .unwrap_or(Time::MIDNIGHT);
    Ok(Some(date.with_time(time).assume_utc()))
}

/// `H:MM:SS`, `HH:MM:SS` or `HH:MM:SS.ffffff` (a Python timedelta as Frappe prints it).
fn clock(s: &str) -> Option<Time> {
    let mut parts = s.split('.').next()?.split(':');
    let mut next = || parts.next()?.parse::<u8>().ok();
    Time::from_hms(next()?, next()?, next()?).ok()
}

fn unit_price<'a>(order: &'a Order, sku: &str) -> Result<&'a str, AdapterError> {
    order
        .lines
        .iter()
        .find(|l| l.sku == sku)
        .map(|l| l.unit_price.as_str())
        .ok_or_else(|| AdapterError::Permanent(format!("order {} holds no {sku}", order.id)))
}

/// A draft return `Delivery Note` (`is_return: 1`, negative quantities) for what the
/// customer may send back, keyed by `po_no` = [`key`]. It stays a draft: submitting it
/// books the goods into stock, which waits until they arrive. It is made against the
/// order's first delivery note that shipped everything asked back (`return_against`, each
/// row's `dn_detail`), so ERPNext caps the return at what that note delivered; when no
/// note did (nothing has shipped yet), it stands alone against the sales order's rows. More
/// units of a SKU than the order holds is refused before ERPNext sees it.
pub fn return_note(
    order: &Order,
    so: &SalesOrderDoc,
    notes: &[DeliveryNoteDoc],
    rma: &Rma,
    key: &str,
    booking: &Booking,
) -> Result<Value, AdapterError> {
    crate::adapters::check_return(order, rma)?;
    let delivered = |note: &DeliveryNoteDoc, sku: &str| -> i64 {
        note.items
            .iter()
            .filter(|r| r.item_code == sku && r.against_sales_order.as_deref() == Some(&so.name))
            .filter_map(|r| number(&r.qty))
            .sum::<f64>() as i64
    };
    let against = notes.iter().find(|n| {
        n.docstatus == 1
            && n.is_return == 0
            && rma.lines.iter().all(|l| delivered(n, &l.sku) >= l.quantity)
    });
    let mut rows = Vec::new();
    for l in &rma.lines {
        let rate = unit_price(order, &l.sku)?;
        let row = match against {
            Some(note) => note
                .items
                .iter()
                .find(|r| {
                    r.item_code == l.sku && r.against_sales_order.as_deref() == Some(&so.name)
                })
                .map(|r| {
                    json!({"item_code": l.sku, "qty": -l.quantity, "rate": rate,
                        "warehouse": r.warehouse, "against_sales_order": so.name,
                        "so_detail": r.so_detail, "dn_detail": r.name})
                }),
            None => so.items.iter().find(|r| r.item_code == l.sku).map(|r| {
                json!({"item_code": l.sku, "qty": -l.quantity, "rate": rate,
                    "warehouse": r.warehouse, "against_sales_order": so.name,
                    "so_detail": r.name})
            }),
        };
        rows.push(row.ok_or_else(|| {
            AdapterError::Permanent(format!(
                "return {}: sales order {} has no row of {}",
                rma.id, so.name, l.sku
            ))
        })?);
    }
    // TODO: rows of one SKU spread over two warehouses (two allocations) return to the
    // first row's warehouse only; split the quantity over the rows as delivered.
    let reasons: Vec<String> = rma
        .lines
        .iter()
        .map(|l| format!("{} ×{}: {}", l.sku, l.quantity, l.reason))
        .collect();
    let mut note = json!({
        "customer": booking.customer,
        "company": booking.company,
        "is_return": 1,
        "po_no": key,
        "instructions": format!("Return {} of order {}. {}", rma.id, order.id, reasons.join("; ")),
        "docstatus": 0,
        "items": rows,
    });
    if let Some(against) = against {
        note["return_against"] = json!(against.name);
    }
    Ok(note)
}

/// A submitted credit note: a `Sales Invoice` with `is_return: 1` and negative quantities
/// for what came back, resellable or damaged, at the price sold, keyed by `po_no` =
/// [`key`]. It moves no stock (`update_stock: 0`); the return delivery note does.
// TODO: set `return_against` to the order's sales invoice once Stockade knows it; today
// the credit note stands alone in receivables until someone reconciles it in ERPNext.
pub fn credit_note(
    order: &Order,
    rma: &Rma,
    key: &str,
    booking: &Booking,
) -> Result<Value, AdapterError> {
    let mut items = Vec::new();
    for l in rma
        .lines
        .iter()
        .filter(|l| l.received_resellable + l.received_damaged > 0)
    {
        items.push(json!({
            "item_code": l.sku,
            "qty": -(l.received_resellable + l.received_damaged),
            "rate": unit_price(order, &l.sku)?,
        }));
    }
    if items.is_empty() {
        return Err(AdapterError::Permanent(format!(
            "return {}: nothing was received, so there is nothing to credit",
            rma.id
        )));
    }
    Ok(json!({
        "customer": booking.customer,
        "company": booking.company,
        "is_return": 1,
        "update_stock": 0,
        "po_no": key,
        "currency": order.currency,
        "ignore_pricing_rule": 1,
        "remarks": format!("Refund of return {} of order {}", rma.id, order.id),
        "docstatus": 1,
        "items": items,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_warehouses_with_the_company_suffix_unless_named() {
        let w = Warehouses::new(
            Some("ACME".into()),
            "WH-MAIN=Stores - ACME; 3PL=Third Party",
        )
        .unwrap();
        assert_eq!(w.warehouse("WH-MAIN"), "Stores - ACME");
        assert_eq!(w.warehouse("WH-EAST"), "WH-EAST - ACME");
        assert_eq!(w.location("Stores - ACME").as_deref(), Some("WH-MAIN"));
        assert_eq!(w.location("Third Party").as_deref(), Some("3PL"));
        assert_eq!(w.location("WH-EAST - ACME").as_deref(), Some("WH-EAST"));
        // Another company's warehouse is none of Stockade's.
        assert_eq!(w.location("Stores - OTHER"), None);
        assert_eq!(w.location(" - ACME"), None);
        let bare = Warehouses::new(None, "").unwrap();
        assert_eq!(
            bare.location("Stores - ACME").as_deref(),
            Some("Stores - ACME")
        );
        assert!(Warehouses::new(None, "A=X;B=X").is_err());
        assert!(Warehouses::new(None, "A").is_err());
    }

    #[test]
    fn bins_become_positions_and_fractions_are_refused_by_name() {
        let w = Warehouses::new(Some("ACME".into()), "").unwrap();
        let bins: Vec<Bin> = serde_json::from_value(json!([
            {"item_code": "A", "warehouse": "Stores - ACME", "actual_qty": 12.0,
             "reserved_qty": 3.0, "reserved_qty_for_production": 1.0,
             "reserved_qty_for_sub_contract": 0.0, "ordered_qty": 5.0, "planned_qty": 2.0,
             "projected_qty": 15.0},
            {"item_code": "A", "warehouse": "Stores - OTHER", "actual_qty": 1.0},
            {"item_code": "B", "warehouse": "Stores - ACME", "actual_qty": -2.0},
        ]))
        .unwrap();
        let rows = positions(bins, &w, &[], OffsetDateTime::UNIX_EPOCH).unwrap();
        assert_eq!(rows.len(), 2);
        let a = &rows[0].position;
        assert_eq!((a.on_hand, a.committed, a.incoming), (12, 4, 7));
        assert_eq!(rows[0].location, "Stores");
        assert_eq!(
            rows[1].position.on_hand, -2,
            "negative stock is ERPNext's own figure"
        );

        for bad in [json!(2.5), json!("lots"), json!(-1.0)] {
            let bins: Vec<Bin> = serde_json::from_value(json!([
                {"item_code": "A", "warehouse": "Stores - ACME", "reserved_qty": bad}
            ]))
            .unwrap();
            let e = positions(bins, &w, &[], OffsetDateTime::UNIX_EPOCH).unwrap_err();
            assert!(
                matches!(&e, AdapterError::Permanent(m) if m.contains("item A warehouse Stores - ACME reserved_qty")),
                "{e}"
            );
        }
    }

    #[test]
    fn posting_times_take_frappes_forms() {
        assert_eq!(clock("9:05:03"), Time::from_hms(9, 5, 3).ok());
        assert_eq!(clock("13:05:22.123456"), Time::from_hms(13, 5, 22).ok());
        assert_eq!(clock("noon"), None);
    }
}
