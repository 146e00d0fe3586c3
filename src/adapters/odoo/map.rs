//! Odoo's records and Stockade's canonical shapes, mapped in one place.
//!
//! Odoo answers an empty value with `false`, not `null`, and a many-to-one as a pair
//! `[id, "display name"]`; both are read here and nowhere else. Quantities are floats
//! (`10.0`) in the product's unit of measure; Stockade counts whole units, so a
//! fractional or negative figure is refused with the product and warehouse named rather
//! than rounded into a wrong availability.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::adapters::AdapterError;
use crate::domain::order::Order;
use crate::domain::quantity::Position;
use crate::domain::rma::Rma;
use crate::domain::shipment::{Milestone, Shipment, ShipmentLine, ShipmentStatus};
use crate::store::PositionRow;

/// The `source` of shipment milestones read from Odoo.
const SOURCE: &str = "odoo";

/// A many-to-one: `[id, "name"]`, or `false` when unset.
fn many2one<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Array(pair) => match pair.first().and_then(Value::as_i64) {
            Some(id) => Ok(Some(id)),
            None => Err(serde::de::Error::custom("a many-to-one without an id")),
        },
        Value::Bool(false) | Value::Null => Ok(None),
        other => Err(serde::de::Error::custom(format!(
            "`{other}` is not a many-to-one"
        ))),
    }
}

/// A text field: a string, or `false` when empty.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) if !s.is_empty() => Ok(Some(s)),
        Value::String(_) | Value::Bool(false) | Value::Null => Ok(None),
        other => Err(serde::de::Error::custom(format!("`{other}` is not text"))),
    }
}

/// `stock.warehouse`, with what orders and returns need of it.
#[derive(Debug, Clone, Deserialize)]
pub struct Warehouse {
    pub id: i64,
    pub code: String,
    #[serde(deserialize_with = "many2one", default)]
    pub lot_stock_id: Option<i64>,
    #[serde(deserialize_with = "many2one", default)]
    pub delivery_route_id: Option<i64>,
    #[serde(deserialize_with = "many2one", default)]
    pub in_type_id: Option<i64>,
}

/// The fields read of every warehouse.
pub const WAREHOUSE_FIELDS: &[&str] = &["code", "lot_stock_id", "delivery_route_id", "in_type_id"];

/// `stock.location`: which warehouse an internal location belongs to.
#[derive(Debug, Deserialize)]
pub struct Location {
    pub id: i64,
    #[serde(deserialize_with = "many2one", default)]
    pub warehouse_id: Option<i64>,
}

/// `product.product`: Stockade's SKU is its internal reference, `default_code`.
#[derive(Debug, Deserialize)]
pub struct Product {
    pub id: i64,
    #[serde(deserialize_with = "text", default)]
    pub default_code: Option<String>,
}

/// `stock.quant`: what one location holds of one product (per lot or package, so a
/// warehouse's figure is the sum of its quants).
#[derive(Debug, Deserialize)]
pub struct Quant {
    pub id: i64,
    #[serde(deserialize_with = "many2one", default)]
    pub product_id: Option<i64>,
    #[serde(deserialize_with = "many2one", default)]
    pub location_id: Option<i64>,
    pub quantity: f64,
    #[serde(default)]
    pub reserved_quantity: f64,
}

/// `sale.order`, as far as the adapter follows it.
#[derive(Debug, Deserialize)]
pub struct SaleOrder {
    pub id: i64,
    pub name: String,
    /// `draft`, `sent`, `sale`, `cancel` (and `done` before Odoo 17).
    pub state: String,
    #[serde(deserialize_with = "many2one", default)]
    pub warehouse_id: Option<i64>,
}

/// `stock.picking`: a delivery, or a return coming in.
#[derive(Debug, Deserialize)]
pub struct Picking {
    pub id: i64,
    pub name: String,
    #[serde(deserialize_with = "text", default)]
    pub origin: Option<String>,
    pub state: String,
    #[serde(deserialize_with = "text", default)]
    pub carrier_tracking_ref: Option<String>,
    #[serde(deserialize_with = "text", default)]
    pub date_done: Option<String>,
}

pub const PICKING_FIELDS: &[&str] = &[
    "name",
    "origin",
    "state",
    "carrier_tracking_ref",
    "date_done",
];

/// `stock.move`: one product's line of a picking. `quantity` is what is reserved or
/// picked (Odoo 17 and later); `product_uom_qty` what the line asks for.
#[derive(Debug, Deserialize)]
pub struct Move {
    pub id: i64,
    #[serde(deserialize_with = "many2one", default)]
    pub picking_id: Option<i64>,
    #[serde(deserialize_with = "many2one", default)]
    pub product_id: Option<i64>,
    #[serde(default)]
    pub product_uom_qty: f64,
    #[serde(default)]
    pub quantity: f64,
}

pub const MOVE_FIELDS: &[&str] = &["picking_id", "product_id", "product_uom_qty", "quantity"];

/// A record found by reference, with its workflow state (`sale.order`, `stock.picking`,
/// `account.move`).
#[derive(Debug, Deserialize)]
pub struct Found {
    pub id: i64,
    pub state: String,
}

/// Stockade's location codes and Odoo's warehouse codes (`stock.warehouse.code`, at most
/// five characters in Odoo). A location not named in the table goes by its own code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WarehouseMap {
    to_odoo: BTreeMap<String, String>,
}

impl WarehouseMap {
    /// `WH-EAST=EAST,WH-WEST=WEST`: each Stockade location with its Odoo warehouse code.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut to_odoo = BTreeMap::new();
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((ours, theirs)) = pair.split_once('=') else {
                return Err(format!("`{pair}` is not `<location>=<warehouse code>`"));
            };
            let (ours, theirs) = (ours.trim(), theirs.trim());
            if ours.is_empty() || theirs.is_empty() {
                return Err(format!("`{pair}` names an empty code"));
            }
            if to_odoo.values().any(|v| v == theirs) || to_odoo.contains_key(ours) {
                return Err(format!(
                    "`{pair}`: each location and warehouse may appear once"
                ));
            }
            to_odoo.insert(ours.to_owned(), theirs.to_owned());
        }
        Ok(Self { to_odoo })
    }

    pub fn warehouse_code<'a>(&'a self, location: &'a str) -> &'a str {
        self.to_odoo.get(location).map_or(location, String::as_str)
    }

    pub fn location_code<'a>(&'a self, warehouse: &'a str) -> &'a str {
        self.to_odoo
            .iter()
            .find(|(_, theirs)| theirs.as_str() == warehouse)
            .map_or(warehouse, |(ours, _)| ours.as_str())
    }
}

/// The warehouses as Stockade names them: location code → warehouse.
pub fn by_location(warehouses: Vec<Warehouse>, map: &WarehouseMap) -> HashMap<String, Warehouse> {
    warehouses
        .into_iter()
        .map(|w| (map.location_code(&w.code).to_owned(), w))
        .collect()
}

/// Whole, non-negative units from one of Odoo's float quantities.
fn units(n: f64, what: impl Fn() -> String) -> Result<i64, AdapterError> {
    if n >= 0.0 && n.fract() == 0.0 && n < 1e15 {
        Ok(n as i64)
    } else {
        Err(AdapterError::Permanent(format!(
            "{}: `{n}` is not a whole, non-negative number of units",
            what()
        )))
    }
}

/// Positions per (SKU, Stockade location): the quants of each warehouse's internal
/// locations summed, on-hand from `quantity`, committed from `reserved_quantity` (what
/// confirmed deliveries hold). `skus` names the products by id; `homes` names each
/// internal location's Stockade location.
// TODO: Odoo keeps no quarantine figure on quants (a quality hold is a separate location
// or a lot state), and incoming goods live on receipts, not quants; `unavailable` and
// `incoming` are always 0 here.
pub fn positions(
    quants: &[Quant],
    skus: &HashMap<i64, String>,
    homes: &HashMap<i64, String>,
    now: OffsetDateTime,
) -> Result<Vec<PositionRow>, AdapterError> {
    let mut sums: BTreeMap<(&str, &str), (f64, f64)> = BTreeMap::new();
    for q in quants {
        let (Some(sku), Some(home)) = (
            q.product_id.and_then(|p| skus.get(&p)),
            q.location_id.and_then(|l| homes.get(&l)),
        ) else {
            continue;
        };
        let sum = sums.entry((sku.as_str(), home.as_str())).or_default();
        sum.0 += q.quantity;
        sum.1 += q.reserved_quantity;
    }
    let mut rows = Vec::with_capacity(sums.len());
    for ((sku, home), (on_hand, reserved)) in sums {
        let at = |field: &str| format!("product {sku} at {home} {field}");
        rows.push(PositionRow {
            position: Position {
                on_hand: units(on_hand, || at("quantity"))?,
                committed: units(reserved, || at("reserved_quantity"))?,
                ..Position::default()
            },
            sku: sku.to_owned(),
            location: home.to_owned(),
            updated_at: now,
            as_of: Some(now),
        });
    }
    Ok(rows)
}

fn product<'a>(products: &'a HashMap<String, i64>, sku: &str) -> Result<&'a i64, AdapterError> {
    products.get(sku).ok_or_else(|| {
        AdapterError::Permanent(format!(
            "SKU {sku} is no product's internal reference in Odoo"
        ))
    })
}

/// A `sale.order` for `create`: the customer web orders are booked to, Stockade's order
/// id as the customer reference (`client_order_ref`, the key a retry looks up), and one
/// line per allocation whose route is the delivery route of the allocation's warehouse,
/// so confirming the order reserves the units where Stockade reserved them. The
/// backordered rest goes on a line without a route (the order's warehouse).
pub fn sale_order(
    order: &Order,
    partner_id: i64,
    products: &HashMap<String, i64>,
    warehouses: &HashMap<String, Warehouse>,
) -> Result<Value, AdapterError> {
    let mut lines = Vec::new();
    let mut order_warehouse = None;
    for line in &order.lines {
        let product_id = product(products, &line.sku)?;
        let price: f64 = line.unit_price.parse().map_err(|_| {
            AdapterError::Permanent(format!(
                "order {}: price `{}` of {} is not a number",
                order.id, line.unit_price, line.sku
            ))
        })?;
        let mut vals = |quantity: i64, route: Option<i64>| {
            let mut v = json!({
                "product_id": product_id,
                "product_uom_qty": quantity,
                "price_unit": price,
            });
            if let Some(route) = route {
                v["route_id"] = json!(route);
            }
            lines.push(json!([0, 0, v]));
        };
        for a in &line.allocations {
            let warehouse = warehouses.get(&a.location).ok_or_else(|| {
                AdapterError::Permanent(format!(
                    "order {}: location {} is no warehouse in Odoo",
                    order.id, a.location
                ))
            })?;
            let Some(route) = warehouse.delivery_route_id else {
                return Err(AdapterError::Permanent(format!(
                    "order {}: warehouse {} has no delivery route",
                    order.id, warehouse.code
                )));
            };
            order_warehouse.get_or_insert(warehouse.id);
            vals(a.quantity, Some(route));
        }
        let placed: i64 = line.allocations.iter().map(|a| a.quantity).sum();
        if line.quantity > placed {
            vals(line.quantity - placed, None);
        }
    }
    let mut vals = json!({
        "partner_id": partner_id,
        "client_order_ref": order.id,
        "origin": format!("{} {}", order.channel, order.external_id),
        "order_line": lines,
    });
    if let Some(warehouse) = order_warehouse {
        vals["warehouse_id"] = json!(warehouse);
    }
    Ok(vals)
}

/// The source document of a delivery Stockade validated: the sale order's name, a slash,
/// the shipment's id. Looked up before every validation, so a repeat finds the first.
pub fn shipment_key(sale_order: &str, shipment_id: &str) -> String {
    format!("{sale_order}/{shipment_id}")
}

/// What validating one open delivery takes for a shipment: the picking, and for each of
/// its moves the quantity shipped (0 for a move the shipment does not touch, which Odoo
/// then leaves on a backorder). The shipment must fit one delivery: each SKU's units are
/// drawn from the picking's moves of that product in order, never more than they ask.
pub fn validation(
    moves: &[Move],
    skus: &HashMap<i64, String>,
    shipment: &Shipment,
) -> Result<(i64, Vec<(i64, i64)>), AdapterError> {
    let pickings: BTreeSet<i64> = moves.iter().filter_map(|m| m.picking_id).collect();
    for picking in pickings {
        let own: Vec<&Move> = moves
            .iter()
            .filter(|m| m.picking_id == Some(picking))
            .collect();
        if let Some(taken) = draw(&own, skus, shipment)? {
            return Ok((picking, taken));
        }
    }
    // TODO: a shipment drawing on two open deliveries (two warehouses) would need one
    // validation per delivery under the same key; the WMS reports one per location today.
    Err(AdapterError::Permanent(format!(
        "shipment {}: no open delivery of the order holds all of its lines",
        shipment.id
    )))
}

/// The quantities `shipment` takes from these moves of one picking, if they suffice.
fn draw(
    moves: &[&Move],
    skus: &HashMap<i64, String>,
    shipment: &Shipment,
) -> Result<Option<Vec<(i64, i64)>>, AdapterError> {
    let mut taken: Vec<(i64, i64)> = moves.iter().map(|m| (m.id, 0)).collect();
    for line in &shipment.lines {
        if line.quantity <= 0 {
            return Err(AdapterError::Permanent(format!(
                "shipment {}: {} units of {} is not a quantity to deliver",
                shipment.id, line.quantity, line.sku
            )));
        }
        let mut rest = line.quantity;
        for (m, take) in moves.iter().zip(taken.iter_mut()) {
            if m.product_id.and_then(|p| skus.get(&p)) != Some(&line.sku) {
                continue;
            }
            let asked = units(m.product_uom_qty, || {
                format!("move {} product_uom_qty", m.id)
            })?;
            let step = rest.min(asked - take.1);
            take.1 += step;
            rest -= step;
        }
        if rest > 0 {
            return Ok(None);
        }
    }
    Ok(Some(taken))
}

/// The `write` on a delivery before it is validated: each move's quantity (picked when
/// shipped), the tracking number, and the key as the source document.
pub fn picking_write(taken: &[(i64, i64)], shipment: &Shipment, key: &str) -> Value {
    let moves: Vec<Value> = taken
        .iter()
        .map(|(id, q)| json!([1, id, {"quantity": q, "picked": *q > 0}]))
        .collect();
    let mut vals = json!({ "origin": key, "move_ids": moves });
    if let Some(tracking) = &shipment.tracking_number {
        vals["carrier_tracking_ref"] = json!(tracking);
    }
    vals
}

/// The order's validated deliveries (`pickings` in id order) as shipments.
///
/// A delivery Stockade validated reads back under Stockade's shipment id, taken from its
/// source document `<sale order>/<shipment id>`. Odoo copies the source document onto
/// the backorder it makes for the rest, so a later delivery may carry the same key; only
/// the first (the one validated, always the older) claims the id.
pub fn shipments(
    order: &Order,
    sale_order: &str,
    pickings: &[Picking],
    moves: &[Move],
    skus: &HashMap<i64, String>,
) -> Result<Vec<Shipment>, AdapterError> {
    let mut claimed = BTreeSet::new();
    pickings
        .iter()
        .map(|p| {
            let id = p
                .origin
                .as_deref()
                .and_then(|o| o.strip_prefix(sale_order)?.strip_prefix('/'))
                .filter(|id| !id.is_empty() && claimed.insert(id.to_owned()))
                .map_or_else(|| format!("odoo-picking-{}", p.id), str::to_owned);
            shipment(order, id, p, moves, skus)
        })
        .collect()
}

/// One validated delivery: shipped at `date_done`, its lines one per SKU in SKU order (a
/// picking's moves carry no order Stockade could keep).
fn shipment(
    order: &Order,
    id: String,
    picking: &Picking,
    moves: &[Move],
    skus: &HashMap<i64, String>,
) -> Result<Shipment, AdapterError> {
    let mut per_sku: BTreeMap<&str, i64> = BTreeMap::new();
    for m in moves.iter().filter(|m| m.picking_id == Some(picking.id)) {
        let Some(sku) = m.product_id.and_then(|p| skus.get(&p)) else {
            return Err(AdapterError::Permanent(format!(
                "delivery {}: move {} is of a product without an internal reference",
                picking.name, m.id
            )));
        };
        let quantity = units(m.quantity, || {
            format!("delivery {} {sku} quantity", picking.name)
        })?;
        *per_sku.entry(sku).or_default() += quantity;
    }
    let shipped_at = match picking.date_done.as_deref() {
        Some(d) => Some(datetime(d).ok_or_else(|| {
            AdapterError::Permanent(format!(
                "delivery {}: date_done `{d}` is not a date and time",
                picking.name
            ))
        })?),
        None => None,
    };
    Ok(Shipment {
        id,
        order_id: order.id.clone(),
        reference: picking.name.clone(),
        status: ShipmentStatus::Shipped,
        // TODO: the carrier is `carrier_id` of the `delivery` module, a record per
        // company; it is not mapped, so shipments read back carry none.
        carrier: None,
        tracking_number: picking.carrier_tracking_ref.clone(),
        tracking_url: None,
        lines: per_sku
            .into_iter()
            .filter(|(_, q)| *q > 0)
            .map(|(sku, quantity)| ShipmentLine {
                sku: sku.to_owned(),
                quantity,
            })
            .collect(),
        milestones: shipped_at
            .map(|at| Milestone {
                status: ShipmentStatus::Shipped,
                at,
                source: SOURCE.into(),
            })
            .into_iter()
            .collect(),
        shipped_at,
    })
}

/// Odoo's datetimes: `YYYY-MM-DD HH:MM:SS`, UTC, without a zone.
pub fn datetime(s: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    PrimitiveDateTime::parse(s.get(..19)?, format)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// Where returned goods come from and go to.
pub struct ReturnRoute {
    pub picking_type_id: i64,
    pub from: i64,
    pub to: i64,
}

/// An incoming `stock.picking` for the goods the customer may send back, its source
/// document the RMA id (the key a retry looks up).
pub fn return_picking(
    rma: &Rma,
    partner_id: i64,
    route: &ReturnRoute,
    products: &HashMap<String, i64>,
) -> Result<Value, AdapterError> {
    let mut moves = Vec::new();
    for l in &rma.lines {
        moves.push(json!([0, 0, {
            "name": format!("{} ({})", l.sku, l.reason),
            "product_id": product(products, &l.sku)?,
            "product_uom_qty": l.quantity,
            "location_id": route.from,
            "location_dest_id": route.to,
        }]));
    }
    Ok(json!({
        "picking_type_id": route.picking_type_id,
        "partner_id": partner_id,
        "origin": rma.id,
        "location_id": route.from,
        "location_dest_id": route.to,
        "move_ids": moves,
    }))
}

/// A credit note (`account.move`, `out_refund`) for what came back, resellable or
/// damaged, at the price sold; `ref` is the RMA id.
pub fn credit_note(
    order: &Order,
    rma: &Rma,
    partner_id: i64,
    products: &HashMap<String, i64>,
) -> Result<Value, AdapterError> {
    let mut lines = Vec::new();
    for l in rma
        .lines
        .iter()
        .filter(|l| l.received_resellable + l.received_damaged > 0)
    {
        let price = order
            .lines
            .iter()
            .find(|o| o.sku == l.sku)
            .and_then(|o| o.unit_price.parse::<f64>().ok())
            .unwrap_or(0.0);
        lines.push(json!([0, 0, {
            "product_id": product(products, &l.sku)?,
            "quantity": l.received_resellable + l.received_damaged,
            "price_unit": price,
        }]));
    }
    if lines.is_empty() {
        return Err(AdapterError::Permanent(format!(
            "return {}: nothing was received, so there is nothing to credit",
            rma.id
        )));
    }
    Ok(json!({
        "move_type": "out_refund",
        "partner_id": partner_id,
        "ref": rma.id,
        "invoice_origin": order.id,
        "invoice_line_ids": lines,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odoo_false_and_pairs_are_read() {
        let quants: Vec<Quant> = serde_json::from_value(json!([
            {"id": 1, "product_id": [7, "[SKU-1] Cap"], "location_id": [8, "EAST/Stock"],
             "quantity": 12.0, "reserved_quantity": 5.0},
            {"id": 2, "product_id": [7, "[SKU-1] Cap"], "location_id": [9, "EAST/Stock/Shelf 1"],
             "quantity": 3.0, "reserved_quantity": 0.0},
            {"id": 3, "product_id": false, "location_id": [8, "EAST/Stock"], "quantity": 1.0},
        ]))
        .unwrap();
        let skus = HashMap::from([(7, "SKU-1".to_owned())]);
        let homes = HashMap::from([(8, "WH-EAST".to_owned()), (9, "WH-EAST".to_owned())]);
        let rows = positions(&quants, &skus, &homes, OffsetDateTime::UNIX_EPOCH).unwrap();
        assert_eq!(rows.len(), 1, "quants of one warehouse are summed");
        assert_eq!(
            (rows[0].position.on_hand, rows[0].position.committed),
            (15, 5)
        );
    }

    #[test]
    fn the_documented_search_read_result_parses() {
        // The shape of Odoo's own `search_read` example: `false` for empty, pairs for
        // many-to-one, `id` always there.
        let body = r#"[{"comment": false, "country_id": [21, "Belgium"], "id": 7,
                        "name": "Agrolait"},
                       {"comment": false, "country_id": false, "id": 18, "name": "Axelor"}]"#;
        let rows: Vec<Location> = serde_json::from_str::<Vec<Value>>(body)
            .unwrap()
            .into_iter()
            .map(|mut r| {
                r["warehouse_id"] = r["country_id"].take();
                serde_json::from_value(r).unwrap()
            })
            .collect();
        assert_eq!(rows[1].warehouse_id, None);
        assert_eq!(rows[0].warehouse_id, Some(21));
    }

    #[test]
    fn fractional_figures_are_refused_by_name() {
        let quants = vec![Quant {
            id: 1,
            product_id: Some(7),
            location_id: Some(8),
            quantity: 2.5,
            reserved_quantity: 0.0,
        }];
        let skus = HashMap::from([(7, "SKU-1".to_owned())]);
        let homes = HashMap::from([(8, "WH-EAST".to_owned())]);
        let e = positions(&quants, &skus, &homes, OffsetDateTime::UNIX_EPOCH).unwrap_err();
        assert!(
            matches!(&e, AdapterError::Permanent(m) if m.contains("SKU-1 at WH-EAST quantity")),
            "{e}"
        );
    }

    #[test]
    fn warehouse_codes_map_both_ways_and_bad_tables_are_refused() {
        let map = WarehouseMap::parse("WH-EAST=EAST, 3PL-EAST=3PLE").unwrap();
        assert_eq!(map.warehouse_code("WH-EAST"), "EAST");
        assert_eq!(map.location_code("3PLE"), "3PL-EAST");
        assert_eq!(
            map.location_code("WH"),
            "WH",
            "unlisted codes are their own"
        );
        assert!(WarehouseMap::parse("WH-EAST").is_err());
        assert!(WarehouseMap::parse("A=X,B=X").is_err());
    }

    #[test]
    fn odoo_datetimes_are_utc() {
        let at = datetime("2026-04-14 14:33:31").unwrap();
        assert_eq!(at.unix_timestamp(), 1_776_177_211);
        assert!(datetime("14/04/2026").is_none());
    }
}
