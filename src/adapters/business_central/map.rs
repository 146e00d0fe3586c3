//! Business Central's shapes and Stockade's, translated here and nowhere else.
//!
//! API v2.0 answers OData v4 JSON: lists as `{"value": [...], "@odata.nextLink": "…"}`,
//! quantities as JSON numbers that may carry decimals (a unit of measure other than the
//! base one gives fractions), dates as `YYYY-MM-DD`, unset references as the zero GUID.
//! A quantity that is not a whole number is refused rather than rounded, so no wrong
//! figure reaches the projection.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Number, Value, json};
use time::OffsetDateTime;

use crate::adapters::AdapterError;
use crate::domain::order::Order;
use crate::domain::quantity::Position;
use crate::domain::rma::Rma;
use crate::domain::shipment::{Milestone, Shipment, ShipmentLine, ShipmentStatus};
use crate::store::PositionRow;

const ZERO_GUID: &str = "00000000-0000-0000-0000-000000000000";
/// Sales lines are numbered in steps of 10,000, as the client numbers them.
const SEQUENCE_STEP: usize = 10_000;

/// One page of a list.
#[derive(Deserialize)]
pub struct Page<T> {
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
}

/// `{"error": {"code": "BadRequest_NotFound", "message": "…  CorrelationId:  <guid>."}}`.
#[derive(Deserialize)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl ErrorBody {
    /// `code: message (correlation id …)`: the correlation id is what Microsoft's support
    /// asks for, so it is kept, moved out of the sentence.
    pub fn describe(body: &[u8]) -> String {
        let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(body) else {
            return "without Business Central's error body".to_owned();
        };
        let message: String = error.message.chars().take(400).collect();
        match message.split_once("CorrelationId:") {
            Some((text, id)) => format!(
                "{}: {} (correlation id {})",
                error.code,
                text.trim(),
                id.trim().trim_end_matches('.')
            ),
            None => format!("{}: {}", error.code, message.trim()),
        }
    }
}

/// An OData string literal: quoted, with quotes doubled.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

pub fn eq(field: &str, value: &str) -> String {
    format!("{field} eq {}", literal(value))
}

fn any_of(field: &str, values: &[String]) -> String {
    let terms: Vec<String> = values.iter().map(|v| eq(field, v)).collect();
    format!("({})", terms.join(" or "))
}

/// The `$filter` of a stock read: these items, at these locations; `None` reads all.
pub fn stock_filter(skus: &[String], locations: &[String]) -> Option<String> {
    let parts: Vec<String> = [("itemNumber", skus), ("locationCode", locations)]
        .into_iter()
        .filter(|(_, values)| !values.is_empty())
        .map(|(field, values)| any_of(field, values))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" and "))
}

/// A row of the custom `stockLevels` page: one item at one location.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StockRow {
    item_number: String,
    location_code: String,
    inventory: Number,
    committed_quantity: Number,
    unavailable_quantity: Number,
    incoming_quantity: Number,
}

fn whole(value: &Number, what: &str) -> Result<i64, AdapterError> {
    value
        .as_i64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        })
        .ok_or_else(|| {
            AdapterError::Permanent(format!(
                "Business Central `{what}` is not a whole number: {value}"
            ))
        })
}

/// Stock rows as positions, each with the time it was read as its `as_of`.
pub fn positions(
    rows: Vec<StockRow>,
    now: OffsetDateTime,
) -> Result<Vec<PositionRow>, AdapterError> {
    rows.into_iter()
        .map(|row| {
            Ok(PositionRow {
                position: Position {
                    on_hand: whole(&row.inventory, "inventory")?,
                    committed: whole(&row.committed_quantity, "committedQuantity")?,
                    safety_stock: 0,
                    unavailable: whole(&row.unavailable_quantity, "unavailableQuantity")?,
                    incoming: whole(&row.incoming_quantity, "incomingQuantity")?,
                },
                sku: row.item_number,
                location: row.location_code,
                updated_at: now,
                as_of: Some(now),
            })
        })
        .collect()
}

/// A money amount as the JSON number Business Central takes: `"19.90"` is 19.9.
fn amount(value: &str) -> Result<Number, AdapterError> {
    let digits = value.trim();
    let well_formed = !digits.is_empty()
        && digits.bytes().filter(|b| *b == b'.').count() <= 1
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    well_formed
        .then(|| digits.parse::<f64>().ok())
        .flatten()
        .and_then(Number::from_f64)
        .ok_or_else(|| AdapterError::Permanent(format!("`{value}` is not an amount")))
}

/// A row of `locations`: Business Central's id for one of Stockade's location codes.
#[derive(Deserialize)]
pub struct Location {
    pub id: String,
    pub code: String,
}

/// The `$filter` that reads these locations by code.
pub fn location_filter(codes: &[String]) -> String {
    any_of("code", codes)
}

/// Every location the order's allocations name, each once, in the order first named.
pub fn order_locations(order: &Order) -> Vec<String> {
    let mut codes: Vec<String> = Vec::new();
    let named = order.lines.iter().flat_map(|l| &l.allocations);
    for allocation in named.filter(|a| a.quantity > 0) {
        if !codes.contains(&allocation.location) {
            codes.push(allocation.location.clone());
        }
    }
    codes
}

/// One sales line to write: a SKU's units at one location id, or at none.
struct Placed<'a> {
    sku: &'a str,
    quantity: i64,
    unit_price: &'a str,
    location_id: Option<&'a str>,
}

/// Each order line as one sales line per allocation, at that location, so that Business
/// Central commits the units where Stockade reserved them; the rest (backordered) on a
/// line without a location.
fn placed<'a>(
    order: &'a Order,
    location_ids: &'a HashMap<String, String>,
) -> Result<Vec<Placed<'a>>, AdapterError> {
    let mut out = Vec::new();
    for line in &order.lines {
        let mut allocated = 0;
        for allocation in line.allocations.iter().filter(|a| a.quantity > 0) {
            let id = location_ids.get(&allocation.location).ok_or_else(|| {
                AdapterError::Permanent(format!(
                    "location `{}` has no Business Central id",
                    allocation.location
                ))
            })?;
            allocated += allocation.quantity;
            out.push(Placed {
                sku: &line.sku,
                quantity: allocation.quantity,
                unit_price: &line.unit_price,
                location_id: Some(id),
            });
        }
        if line.quantity > allocated {
            out.push(Placed {
                sku: &line.sku,
                quantity: line.quantity - allocated,
                unit_price: &line.unit_price,
                location_id: None,
            });
        }
    }
    Ok(out)
}

/// A sales order for `customer` with its lines in one deep insert, carrying Stockade's
/// order id as the external document number (the key a retry looks it up by). Items are
/// named by number: Stockade's SKU is Business Central's item number. `location_ids` maps
/// each location code the allocations name to its `locations` id.
pub fn sales_order(
    order: &Order,
    customer: &str,
    location_ids: &HashMap<String, String>,
) -> Result<Value, AdapterError> {
    let lines = placed(order, location_ids)?
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            let mut row = json!({
                "sequence": (i + 1) * SEQUENCE_STEP,
                "lineType": "Item",
                "lineObjectNumber": line.sku,
                "quantity": line.quantity,
                "unitPrice": amount(line.unit_price)?,
            });
            if let Some(id) = line.location_id {
                row["locationId"] = json!(id);
            }
            Ok(row)
        })
        .collect::<Result<Vec<_>, AdapterError>>()?;
    let to = &order.shipping_address;
    let date = order.created_at.date();
    Ok(json!({
        "externalDocumentNumber": order.id,
        "customerNumber": customer,
        // Business Central turns its own local currency code into the blank it stores.
        "currencyCode": order.currency,
        "orderDate": format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day()),
        "shipToName": to.name,
        "shipToAddressLine1": to.line1,
        "shipToAddressLine2": to.line2.clone().unwrap_or_default(),
        "shipToCity": to.city,
        "shipToState": to.region.clone().unwrap_or_default(),
        "shipToPostCode": to.postal_code,
        "shipToCountry": to.country,
        "salesOrderLines": lines,
    }))
}

/// A created or found document: its id and its number.
#[derive(Deserialize)]
pub struct DocKey {
    pub id: String,
    #[serde(default)]
    pub number: String,
}

/// A (posted) sales invoice, read for the order it was made from.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invoice {
    #[serde(default)]
    order_id: String,
}

impl Invoice {
    /// The id of the sales order invoiced; the zero GUID means it was made without one.
    pub fn order_id(self) -> Option<String> {
        (!self.order_id.is_empty() && self.order_id != ZERO_GUID).then_some(self.order_id)
    }
}

/// A line of an open sales order.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub id: String,
    #[serde(rename = "@odata.etag")]
    pub etag: String,
    line_type: String,
    line_object_number: String,
    quantity: Number,
    shipped_quantity: Number,
    ship_quantity: Number,
}

/// What each item line of the order ships in this shipment (0 for lines it does not
/// touch, since Business Central ships everything outstanding unless told otherwise),
/// for the lines whose quantity to ship must change. A SKU on several lines (one per
/// location it was allocated at, then its backordered rest) fills them in order.
/// Refused when the shipment holds more of a SKU than is still outstanding.
// TODO: ship from the location the parcel left; Stockade's shipment lines name no
// location, so a SKU allocated at two locations ships from its first lines first, and
// Business Central may take the units off the other location's figures.
pub fn ship_plan<'a>(
    lines: &'a [OrderLine],
    shipped: &[ShipmentLine],
) -> Result<Vec<(&'a OrderLine, i64)>, AdapterError> {
    let mut wanted: HashMap<&str, i64> = HashMap::new();
    for line in shipped {
        *wanted.entry(line.sku.as_str()).or_default() += line.quantity;
    }
    let mut plan = Vec::new();
    for line in lines.iter().filter(|l| l.line_type == "Item") {
        let outstanding =
            whole(&line.quantity, "quantity")? - whole(&line.shipped_quantity, "shippedQuantity")?;
        let left = wanted.entry(line.line_object_number.as_str()).or_default();
        let ship = (*left).min(outstanding).max(0);
        *left -= ship;
        if whole(&line.ship_quantity, "shipQuantity")? != ship {
            plan.push((line, ship));
        }
    }
    if let Some((sku, left)) = wanted.into_iter().find(|(_, left)| *left > 0) {
        return Err(AdapterError::Permanent(format!(
            "the shipment holds {left} more of {sku} than the sales order has outstanding"
        )));
    }
    Ok(plan)
}

/// A posted sales shipment with its lines.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostedShipment {
    number: String,
    posting_date: String,
    /// "Your Reference": the Stockade shipment id when Stockade recorded the shipment.
    #[serde(default)]
    customer_purchase_order_reference: String,
    #[serde(default)]
    sales_shipment_lines: Vec<PostedLine>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostedLine {
    line_type: String,
    line_object_number: String,
    quantity: Number,
}

/// A row of the custom `shipmentTracking` page over posted shipment headers.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tracking {
    number: String,
    #[serde(default)]
    package_tracking_number: String,
}

/// What the order's header must carry into the posted shipment: Stockade's shipment id as
/// "Your Reference" (35 characters) and the carrier's tracking number as "Package
/// Tracking No." (30 characters).
pub fn shipping_fields(shipment: &Shipment) -> Result<Value, AdapterError> {
    let tracking = shipment.tracking_number.clone().unwrap_or_default();
    for (what, value, max) in [
        ("shipment id", &shipment.id, 35),
        ("tracking number", &tracking, 30),
    ] {
        if value.chars().count() > max {
            return Err(AdapterError::Permanent(format!(
                "{what} `{value}` is longer than Business Central's {max} characters"
            )));
        }
    }
    Ok(json!({ "yourReference": shipment.id, "packageTrackingNumber": tracking }))
}

/// Posted shipments as Stockade's, in Business Central's order, with the tracking numbers
/// read beside them. One Stockade recorded keeps its own id; one the warehouse posted is
/// named after its number.
pub fn shipments(
    order: &Order,
    posted: Vec<PostedShipment>,
    tracking: Vec<Tracking>,
) -> Result<Vec<Shipment>, AdapterError> {
    let tracking: HashMap<String, String> = tracking
        .into_iter()
        .filter(|t| !t.package_tracking_number.is_empty())
        .map(|t| (t.number, t.package_tracking_number))
        .collect();
    posted
        .into_iter()
        .map(|doc| {
            let shipped_at = date(&doc.posting_date)?;
            let lines = shipped_lines(&doc.sales_shipment_lines)?;
            let reference = &doc.customer_purchase_order_reference;
            let id = if reference.starts_with("shp_") {
                reference.clone()
            } else {
                format!("shp_business_central_{}", doc.number)
            };
            Ok(Shipment {
                id,
                order_id: order.id.clone(),
                status: ShipmentStatus::Shipped,
                // TODO: map carriers to Business Central's shipping agent codes, which must
                // exist in its Shipping Agent table; the carrier is neither written nor read.
                carrier: None,
                tracking_number: tracking.get(&doc.number).cloned(),
                reference: doc.number,
                tracking_url: None,
                lines,
                milestones: vec![Milestone {
                    status: ShipmentStatus::Shipped,
                    at: shipped_at,
                    source: "business_central".into(),
                }],
                shipped_at: Some(shipped_at),
            })
        })
        .collect()
}

/// A posted shipment's item lines, one per SKU: an order line per location becomes a
/// shipment line per location, which Stockade counts by SKU.
fn shipped_lines(posted: &[PostedLine]) -> Result<Vec<ShipmentLine>, AdapterError> {
    let mut lines: Vec<ShipmentLine> = Vec::new();
    for line in posted.iter().filter(|l| l.line_type == "Item") {
        let quantity = whole(&line.quantity, "quantity")?;
        match lines.iter_mut().find(|l| l.sku == line.line_object_number) {
            Some(same) => same.quantity += quantity,
            None => lines.push(ShipmentLine {
                sku: line.line_object_number.clone(),
                quantity,
            }),
        }
    }
    Ok(lines)
}

fn date(s: &str) -> Result<OffsetDateTime, AdapterError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &format)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| {
            AdapterError::Permanent(format!("Business Central date `{s}` is not YYYY-MM-DD"))
        })
}

/// A sales credit memo, draft or posted.
#[derive(Deserialize)]
pub struct CreditMemo {
    pub id: String,
    #[serde(default)]
    status: String,
}

impl CreditMemo {
    /// Not yet posted: `Draft` (or `In Review` under an approval workflow).
    pub fn is_draft(&self) -> bool {
        matches!(self.status.as_str(), "Draft" | "In Review")
    }
}

/// A draft credit memo for the RMA's lines at the prices they were sold for, with the RMA
/// id as the external document number. A return of more than the order holds of a SKU is
/// refused here: Business Central would take it.
pub fn credit_memo(order: &Order, rma: &Rma, customer: &str) -> Result<Value, AdapterError> {
    let lines = rma
        .lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let sold = order.lines.iter().filter(|l| l.sku == line.sku);
            let ordered: i64 = sold.clone().map(|l| l.quantity).sum();
            if line.quantity > ordered {
                return Err(AdapterError::Permanent(format!(
                    "return {}: {} of {} asked back, {ordered} ordered",
                    rma.id, line.quantity, line.sku
                )));
            }
            let price = sold.map(|l| l.unit_price.as_str()).next().unwrap_or("0");
            Ok(json!({
                "sequence": (i + 1) * SEQUENCE_STEP,
                "lineType": "Item",
                "lineObjectNumber": line.sku,
                "quantity": line.quantity,
                "unitPrice": amount(price)?,
            }))
        })
        .collect::<Result<Vec<_>, AdapterError>>()?;
    Ok(json!({
        "externalDocumentNumber": rma.id,
        "customerNumber": customer,
        "currencyCode": order.currency,
        "salesCreditMemoLines": lines,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_rows_read_whole_numbers_and_refuse_fractions() {
        let page = r#"{"@odata.context": "x", "value": [{"@odata.etag": "W/\"1\"",
            "id": "a", "itemNumber": "1896-S", "locationCode": "EAST", "inventory": 12,
            "committedQuantity": 3.0, "unavailableQuantity": 0, "incomingQuantity": 5}],
            "@odata.nextLink": "https://h/x?aid=FIN&$skiptoken=a"}"#;
        let page: Page<StockRow> = serde_json::from_str(page).unwrap();
        assert!(page.next_link.unwrap().contains("$skiptoken=a"));
        let p = &positions(page.value, OffsetDateTime::UNIX_EPOCH).unwrap()[0];
        assert_eq!((p.sku.as_str(), p.location.as_str()), ("1896-S", "EAST"));
        assert_eq!(
            [
                p.position.on_hand,
                p.position.committed,
                p.position.incoming
            ],
            [12, 3, 5]
        );
        let fraction = r#"{"itemNumber": "A", "locationCode": "E", "inventory": 2.5,
            "committedQuantity": 0, "unavailableQuantity": 0, "incomingQuantity": 0}"#;
        let row: StockRow = serde_json::from_str(fraction).unwrap();
        assert!(matches!(
            positions(vec![row], OffsetDateTime::UNIX_EPOCH),
            Err(AdapterError::Permanent(_))
        ));
    }

    #[test]
    fn filters_quote_literals_the_odata_way() {
        assert_eq!(
            eq("externalDocumentNumber", "O'Brien"),
            "externalDocumentNumber eq 'O''Brien'"
        );
        let both = stock_filter(&["A".into(), "B".into()], &["EAST".into()]).unwrap();
        assert_eq!(
            both,
            "(itemNumber eq 'A' or itemNumber eq 'B') and (locationCode eq 'EAST')"
        );
        assert_eq!(stock_filter(&[], &[]), None);
    }

    #[test]
    fn the_documented_order_line_reads_and_plans_a_partial_shipment() {
        // The documented shape of a sales order line, with values of our own.
        let line = r#"{"@odata.etag": "W/\"JzE5OzE7MDA7Jw==\"", "id": "7d2c1e40-1111-4000-8000-000000000001",
            "documentId": "7d2c1e40-0000-4000-8000-000000000000", "sequence": 10000,
            "itemId": "7d2c1e40-2222-4000-8000-000000000002",
            "accountId": "00000000-0000-0000-0000-000000000000", "lineType": "Item",
            "lineObjectNumber": "1996-S", "description": "Whiteboard", "quantity": 12,
            "unitPrice": 1397.3, "taxPercent": 6.00002, "shipmentDate": "2026-12-03",
            "shippedQuantity": 0, "invoicedQuantity": 0, "invoiceQuantity": 12,
            "shipQuantity": 12}"#;
        let line: OrderLine = serde_json::from_str(line).unwrap();
        let lines = [line];
        let ship = |q| {
            vec![ShipmentLine {
                sku: "1996-S".into(),
                quantity: q,
            }]
        };
        let plan = ship_plan(&lines, &ship(5)).unwrap();
        assert_eq!(
            plan.iter()
                .map(|(l, q)| (l.id.as_str(), *q))
                .collect::<Vec<_>>(),
            [("7d2c1e40-1111-4000-8000-000000000001", 5)]
        );
        // All twelve are already the quantity to ship: nothing to change.
        assert!(ship_plan(&lines, &ship(12)).unwrap().is_empty());
        assert!(matches!(
            ship_plan(&lines, &ship(13)),
            Err(AdapterError::Permanent(_))
        ));
    }

    fn order_line(
        sku: &str,
        quantity: i64,
        allocations: &[(&str, i64)],
    ) -> crate::domain::order::OrderLine {
        use crate::domain::order::{Allocation, OrderLine};
        OrderLine {
            sku: sku.into(),
            quantity,
            unit_price: "19.90".into(),
            allocations: allocations
                .iter()
                .map(|(location, quantity)| Allocation {
                    location: (*location).into(),
                    quantity: *quantity,
                })
                .collect(),
            backordered: quantity - allocations.iter().map(|(_, q)| q).sum::<i64>(),
            shipped: 0,
        }
    }

    fn order(lines: Vec<crate::domain::order::OrderLine>) -> Order {
        use crate::domain::order::{Address, Customer, ErpLink, ErpState, OrderStatus};
        Order {
            id: "ord_1".into(),
            status: OrderStatus::Accepted,
            channel: "web".into(),
            external_id: "WEB-1".into(),
            currency: "EUR".into(),
            customer: Customer::default(),
            shipping_address: Address::default(),
            lines,
            erp: ErpLink {
                system: "business_central".into(),
                reference: None,
                state: ErpState::Pending,
            },
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn each_allocation_is_a_line_at_its_location_and_the_backorder_one_at_none() {
        let order = order(vec![
            order_line("A", 4, &[("EAST", 2), ("WEST", 1)]),
            order_line("B", 1, &[("EAST", 1), ("WEST", 0)]),
        ]);
        assert_eq!(order_locations(&order), ["EAST", "WEST"]);
        assert_eq!(
            location_filter(&order_locations(&order)),
            "(code eq 'EAST' or code eq 'WEST')"
        );
        let ids: HashMap<String, String> = [("EAST", "id-e"), ("WEST", "id-w")]
            .into_iter()
            .map(|(c, i)| (c.to_owned(), i.to_owned()))
            .collect();
        let body = sales_order(&order, "10000", &ids).unwrap();
        let lines: Vec<(u64, &str, i64, Option<&str>)> = body["salesOrderLines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["sequence"].as_u64().unwrap(),
                    l["lineObjectNumber"].as_str().unwrap(),
                    l["quantity"].as_i64().unwrap(),
                    l.get("locationId").and_then(Value::as_str),
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                (10_000, "A", 2, Some("id-e")),
                (20_000, "A", 1, Some("id-w")),
                (30_000, "A", 1, None),
                (40_000, "B", 1, Some("id-e")),
            ]
        );
        let unknown = HashMap::from([("EAST".to_owned(), "id-e".to_owned())]);
        assert!(matches!(
            sales_order(&order, "10000", &unknown),
            Err(AdapterError::Permanent(why)) if why.contains("`WEST`")
        ));
    }

    #[test]
    fn a_sku_on_several_lines_ships_from_them_in_order_and_reads_back_as_one() {
        let line = |id: &str, quantity: i64, shipped: i64| {
            serde_json::from_value::<OrderLine>(json!({
                "@odata.etag": "W/\"x\"", "id": id, "lineType": "Item",
                "lineObjectNumber": "A", "quantity": quantity, "shippedQuantity": shipped,
                "shipQuantity": quantity - shipped,
            }))
            .unwrap()
        };
        let lines = [line("east", 2, 1), line("west", 1, 0), line("none", 1, 0)];
        let ship = [ShipmentLine {
            sku: "A".into(),
            quantity: 2,
        }];
        let plan: Vec<(&str, i64)> = ship_plan(&lines, &ship)
            .unwrap()
            .into_iter()
            .map(|(l, q)| (l.id.as_str(), q))
            .collect();
        // The one outstanding at `east`, one at `west` (already its quantity to ship, so
        // unchanged), none of the backorder.
        assert_eq!(plan, [("none", 0)]);
        let more = [ShipmentLine {
            sku: "A".into(),
            quantity: 4,
        }];
        assert!(
            ship_plan(&lines, &more).is_err(),
            "only three are outstanding"
        );

        let posted: Vec<PostedLine> = serde_json::from_value(json!([
            {"lineType": "Item", "lineObjectNumber": "A", "quantity": 2},
            {"lineType": "Comment", "lineObjectNumber": "", "quantity": 0},
            {"lineType": "Item", "lineObjectNumber": "B", "quantity": 1},
            {"lineType": "Item", "lineObjectNumber": "A", "quantity": 1},
        ]))
        .unwrap();
        let read: Vec<(String, i64)> = shipped_lines(&posted)
            .unwrap()
            .into_iter()
            .map(|l| (l.sku, l.quantity))
            .collect();
        assert_eq!(read, [("A".to_owned(), 3), ("B".to_owned(), 1)]);
    }

    #[test]
    fn amounts_are_decimal_strings() {
        assert_eq!(amount("19.90").unwrap().to_string(), "19.9");
        for bad in ["", "1.2.3", "-4", "1e3", "abc"] {
            assert!(amount(bad).is_err(), "{bad}");
        }
    }
}
