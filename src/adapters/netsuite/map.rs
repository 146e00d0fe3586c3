//! NetSuite's shapes and Stockade's, translated here and nowhere else.
//!
//! SuiteQL answers every column as a string (`"12"`, even for numbers), leaves a NULL
//! column out of the row, and writes column names in lower case. A figure that does not
//! read as a whole number is refused rather than guessed, so no wrong quantity ever
//! reaches the projection.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::adapters::AdapterError;
use crate::domain::order::Order;
use crate::domain::quantity::Position;
use crate::domain::rma::Rma;
use crate::domain::shipment::{Milestone, Shipment, ShipmentLine, ShipmentStatus};
use crate::store::PositionRow;

pub type Row = Map<String, Value>;

/// One page of a SuiteQL answer (`count`, `offset`, `totalResults` and `links` unused).
#[derive(Deserialize)]
pub struct SuiteQlPage {
    pub items: Vec<Row>,
    #[serde(rename = "hasMore", default)]
    pub has_more: bool,
}

/// `{"type", "title", "status", "o:errorDetails": [{"detail", "o:errorCode"}]}`.
#[derive(Deserialize, Default)]
pub struct ErrorBody {
    #[serde(rename = "o:errorDetails", default)]
    details: Vec<ErrorDetail>,
    #[serde(default)]
    title: String,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    detail: String,
    #[serde(rename = "o:errorCode", default)]
    code: String,
}

impl ErrorBody {
    /// The first detail's code and text, or the title when there is none.
    pub fn first(&self) -> (&str, &str) {
        match self.details.first() {
            Some(d) => (&d.code, &d.detail),
            None => ("", &self.title),
        }
    }
}

/// On-hand, committed, available and on-order per item and location. Items are matched by
/// their name (`itemid`) and locations by their name: those are Stockade's SKU and location.
pub fn stock_query(skus: usize) -> String {
    format!(
        "SELECT item.itemid AS sku, location.name AS location, \
         ail.quantityonhand AS onhand, ail.quantitycommitted AS committed, \
         ail.quantityavailable AS available, ail.quantityonorder AS onorder \
         FROM aggregateItemLocation ail \
         JOIN item ON item.id = ail.item JOIN location ON location.id = ail.location \
         WHERE item.itemid IN ({}) ORDER BY item.itemid, location.name",
        placeholders(skus)
    )
}

/// Internal ids of items by name: a sales order line names its item by internal id.
pub fn item_ids_query(skus: usize) -> String {
    format!(
        "SELECT item.id AS id, item.itemid AS sku FROM item WHERE item.itemid IN ({})",
        placeholders(skus)
    )
}

/// The internal ids of locations by name (Stockade's location code is the name).
pub fn location_ids_query(locations: usize) -> String {
    format!(
        "SELECT location.id AS id, location.name AS name FROM location WHERE location.name IN ({})",
        placeholders(locations)
    )
}

/// Lines of the item fulfilments created from one sales order, with the external id and
/// memo Stockade wrote on the ones it recorded.
pub fn fulfilments_query() -> &'static str {
    "SELECT t.id AS id, t.externalid AS externalid, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate, \
     t.trackingnumbers AS tracking, t.memo AS memo, item.itemid AS sku, \
     ABS(tl.quantity) AS quantity \
     FROM transaction t JOIN transactionline tl ON tl.transaction = t.id \
     JOIN item ON item.id = tl.item \
     WHERE t.type = 'ItemShip' AND tl.createdfrom = ? AND tl.mainline = 'F' ORDER BY t.id"
}

/// How a fulfilment's memo names its carrier. A ship method is a NetSuite record chosen per
/// account, so the carrier's name travels in the memo, where it is read back from.
const CARRIER_MEMO: &str = "Carrier: ";

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

fn text<'a>(row: &'a Row, column: &str) -> Result<&'a str, AdapterError> {
    row.get(column).and_then(Value::as_str).ok_or_else(|| {
        AdapterError::Permanent(format!("NetSuite row without text column `{column}`"))
    })
}

/// A quantity column: absent (NULL) is zero; `"12"` and `"12.0"` are 12; anything else,
/// a fraction included, is refused.
fn quantity(row: &Row, column: &str) -> Result<i64, AdapterError> {
    let Some(value) = row.get(column) else {
        return Ok(0);
    };
    let refused = || {
        AdapterError::Permanent(format!(
            "NetSuite `{column}` is not a whole number: {value}"
        ))
    };
    let s = value.as_str().ok_or_else(refused)?;
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    if !fraction.bytes().all(|b| b == b'0') {
        return Err(refused());
    }
    whole.trim().parse().map_err(|_| refused())
}

/// Inventory rows as positions. What is on hand but neither committed nor available (on
/// hold, in a non-available status) is `unavailable`; what is on order is `incoming`.
pub fn positions(rows: &[Row], now: OffsetDateTime) -> Result<Vec<PositionRow>, AdapterError> {
    rows.iter()
        .map(|row| {
            let on_hand = quantity(row, "onhand")?;
            let committed = quantity(row, "committed")?;
            let available = quantity(row, "available")?;
            Ok(PositionRow {
                sku: text(row, "sku")?.to_owned(),
                location: text(row, "location")?.to_owned(),
                position: Position {
                    on_hand,
                    committed,
                    safety_stock: 0,
                    unavailable: (on_hand - committed - available).max(0),
                    incoming: quantity(row, "onorder")?,
                },
                updated_at: now,
                as_of: Some(now),
            })
        })
        .collect()
}

/// Item internal ids by SKU.
pub fn item_ids(rows: &[Row]) -> Result<HashMap<String, String>, AdapterError> {
    rows.iter()
        .map(|row| Ok((text(row, "sku")?.to_owned(), text(row, "id")?.to_owned())))
        .collect()
}

pub fn location_ids(rows: &[Row]) -> Result<HashMap<String, String>, AdapterError> {
    rows.iter()
        .map(|row| Ok((text(row, "name")?.to_owned(), text(row, "id")?.to_owned())))
        .collect()
}

fn item_id<'a>(ids: &'a HashMap<String, String>, sku: &str) -> Result<&'a str, AdapterError> {
    ids.get(sku)
        .map(String::as_str)
        .ok_or_else(|| AdapterError::Permanent(format!("NetSuite has no item named {sku}")))
}

/// A sales order for `customer`, carrying Stockade's order id as its external id (the key a
/// retry looks it up by) and the channel's own number as the customer's PO number. One
/// line per location Stockade reserved at, naming it, so NetSuite commits the units where
/// Stockade's projection expects them; units reserved nowhere (backordered) go on a line
/// of their own, where NetSuite's own rules place them.
pub fn sales_order(
    order: &Order,
    customer: &str,
    ids: &HashMap<String, String>,
    locations: &HashMap<String, String>,
) -> Result<Value, AdapterError> {
    let mut lines = Vec::new();
    for line in &order.lines {
        let item = item_id(ids, &line.sku)?;
        for a in &line.allocations {
            let location = locations.get(&a.location).ok_or_else(|| {
                AdapterError::Permanent(format!("NetSuite has no location named {}", a.location))
            })?;
            lines.push(json!({
                "item": { "id": item },
                "quantity": a.quantity,
                "rate": line.unit_price,
                "location": { "id": location },
            }));
        }
        let placed: i64 = line.allocations.iter().map(|a| a.quantity).sum();
        if line.quantity > placed {
            lines.push(json!({
                "item": { "id": item },
                "quantity": line.quantity - placed,
                "rate": line.unit_price,
            }));
        }
    }
    Ok(json!({
        "externalId": order.id,
        "entity": { "id": customer },
        "otherRefNum": order.external_id,
        "item": { "items": lines },
    }))
}

/// The body of a transform to a return authorization: the RMA's lines only.
pub fn return_authorization(
    rma: &Rma,
    ids: &HashMap<String, String>,
) -> Result<Value, AdapterError> {
    let lines = rma
        .lines
        .iter()
        .map(|line| {
            Ok(json!({ "item": { "id": item_id(ids, &line.sku)? }, "quantity": line.quantity }))
        })
        .collect::<Result<Vec<_>, AdapterError>>()?;
    Ok(json!({ "externalId": rma.id, "item": { "items": lines } }))
}

/// The body of a transform from a sales order to an item fulfilment: Stockade's shipment
/// id as the external id (the key a retry looks it up by), the shipped lines marked as
/// received by the fulfilment, the package with its tracking number, and the carrier in
/// the memo. Shipped as status `C`, since Stockade hears of a shipment once it has left.
pub fn item_fulfillment(
    shipment: &Shipment,
    ids: &HashMap<String, String>,
) -> Result<Value, AdapterError> {
    let lines = shipment
        .lines
        .iter()
        .map(|line| {
            Ok(json!({
                "item": { "id": item_id(ids, &line.sku)? },
                "quantity": line.quantity,
                "itemReceive": true,
            }))
        })
        .collect::<Result<Vec<_>, AdapterError>>()?;
    let mut body = json!({
        "externalId": shipment.id,
        "shipStatus": { "id": "C" },
        "item": { "items": lines },
    });
    if let Some(tracking) = &shipment.tracking_number {
        body["package"] = json!({ "items": [{
            "packageTrackingNumber": tracking,
            "packageDescr": shipment.carrier,
        }] });
    }
    if let Some(carrier) = &shipment.carrier {
        body["memo"] = json!(format!("{CARRIER_MEMO}{carrier}"));
    }
    Ok(body)
}

/// The external id of the credit memo booked for an RMA.
pub fn credit_external_id(rma: &Rma) -> String {
    format!("credit-{}", rma.id)
}

/// The internal id at the end of a created record's `Location`.
pub fn id_from_location(location: Option<&str>) -> Result<String, AdapterError> {
    location
        .and_then(|l| l.rsplit('/').next())
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
        .ok_or_else(|| {
            AdapterError::Transient("NetSuite created a record but named no Location".into())
        })
}

/// The `id` of a record answered in full.
pub fn record_id(body: &[u8]) -> Result<String, AdapterError> {
    #[derive(Deserialize)]
    struct Record {
        id: String,
    }
    serde_json::from_slice::<Record>(body)
        .map(|r| r.id)
        .map_err(|e| AdapterError::Transient(format!("NetSuite record without an id: {e}")))
}

/// Fulfilment lines grouped into shipments, in NetSuite's order.
pub fn shipments(order_id: &str, rows: &[Row]) -> Result<Vec<Shipment>, AdapterError> {
    let mut out: Vec<Shipment> = Vec::new();
    for row in rows {
        let id = text(row, "id")?;
        let line = ShipmentLine {
            sku: text(row, "sku")?.to_owned(),
            quantity: quantity(row, "quantity")?,
        };
        if let Some(last) = out.last_mut().filter(|s| s.reference == id) {
            last.lines.push(line);
            continue;
        }
        let shipped_at = date(text(row, "trandate")?)?;
        let column = |name: &str| row.get(name).and_then(Value::as_str);
        out.push(Shipment {
            // Stockade's own id when Stockade recorded the fulfilment.
            id: column("externalid").map_or_else(|| format!("shp_netsuite_{id}"), str::to_owned),
            order_id: order_id.to_owned(),
            reference: id.to_owned(),
            status: ShipmentStatus::Shipped,
            carrier: column("memo")
                .and_then(|m| m.strip_prefix(CARRIER_MEMO))
                .map(str::to_owned),
            tracking_number: column("tracking").map(str::to_owned),
            // TODO: NetSuite's fulfilment carries no tracking URL for an arbitrary carrier;
            // a channel that shows one must build it from the carrier and number.
            tracking_url: None,
            lines: vec![line],
            milestones: vec![Milestone {
                status: ShipmentStatus::Shipped,
                at: shipped_at,
                source: "netsuite".into(),
            }],
            shipped_at: Some(shipped_at),
        });
    }
    Ok(out)
}

fn date(s: &str) -> Result<OffsetDateTime, AdapterError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &format)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| AdapterError::Permanent(format!("NetSuite date `{s}` is not YYYY-MM-DD")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: Value) -> Row {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn quantities_are_strings_null_is_zero_and_fractions_are_refused() {
        let r = row(
            json!({"links": [], "sku": "A", "location": "W1", "onhand": "12",
            "committed": "3.0", "available": "7"}),
        );
        let p = &positions(&[r], OffsetDateTime::UNIX_EPOCH).unwrap()[0];
        assert_eq!((p.position.on_hand, p.position.committed), (12, 3));
        assert_eq!((p.position.unavailable, p.position.incoming), (2, 0));
        for bad in [json!("2.5"), json!("x"), json!(4)] {
            let r = row(json!({"sku": "A", "location": "W1", "onhand": bad}));
            assert!(matches!(
                positions(&[r], OffsetDateTime::UNIX_EPOCH),
                Err(AdapterError::Permanent(_))
            ));
        }
    }

    #[test]
    fn errors_read_netsuite_details() {
        let body = r#"{"type": "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html",
            "title": "Bad Request", "status": 429, "o:errorCode": "USER_ERROR",
            "o:errorDetails": [{"detail": "Concurrent request limit exceeded. Request blocked.",
            "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED"}]}"#;
        let e: ErrorBody = serde_json::from_str(body).unwrap();
        assert_eq!(e.first().0, "CONCURRENCY_LIMIT_EXCEEDED");
    }

    #[test]
    fn fulfilments_carry_the_shipment_id_tracking_and_carrier_both_ways() {
        let shipment = Shipment {
            id: "shp_1".into(),
            order_id: "ord_1".into(),
            reference: "WMS-9".into(),
            status: ShipmentStatus::Shipped,
            carrier: Some("DHL".into()),
            tracking_number: Some("JJD0001".into()),
            tracking_url: None,
            lines: vec![ShipmentLine {
                sku: "A".into(),
                quantity: 2,
            }],
            milestones: Vec::new(),
            shipped_at: None,
        };
        let ids = HashMap::from([("A".to_owned(), "98".to_owned())]);
        let body = item_fulfillment(&shipment, &ids).unwrap();
        assert_eq!(body["externalId"], "shp_1");
        assert_eq!(body["item"]["items"][0]["item"]["id"], "98");
        assert_eq!(body["item"]["items"][0]["itemReceive"], true);
        assert_eq!(
            body["package"]["items"][0]["packageTrackingNumber"],
            "JJD0001"
        );
        let r = row(json!({"links": [], "id": "120", "externalid": "shp_1",
            "trandate": "2026-12-03", "tracking": "JJD0001", "memo": body["memo"],
            "sku": "A", "quantity": "2"}));
        let read = &shipments("ord_1", &[r]).unwrap()[0];
        assert_eq!(
            (read.id.as_str(), read.reference.as_str()),
            ("shp_1", "120")
        );
        assert_eq!(read.carrier.as_deref(), Some("DHL"));
        assert_eq!(read.tracking_number.as_deref(), Some("JJD0001"));
    }

    #[test]
    fn created_records_are_named_by_location() {
        let l = "https://1234567.suitetalk.api.netsuite.com/services/rest/record/v1/salesOrder/18";
        assert_eq!(id_from_location(Some(l)).unwrap(), "18");
        assert!(id_from_location(Some("https://x/salesOrder/")).is_err());
        assert!(id_from_location(None).is_err());
    }
}
