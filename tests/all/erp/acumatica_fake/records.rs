//! The fake instance's records: lists with `$filter`, `$expand`, `$select`, `$top` and
//! `$skip`; `PUT` of sales orders, shipments and invoices checked as Acumatica checks
//! them; `ConfirmShipment`; and the stock each of them moves.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{ACU_CUSTOMER, AcuState, ENDPOINT, INSTANCE, Records, entity_error, error, refused};

/// Fields every record and detail row carries, whatever `$select` asks for.
const META: [&str; 5] = ["id", "rowNumber", "note", "custom", "_links"];

pub fn guid() -> String {
    let n = rand::random::<u128>();
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        n >> 96,
        (n >> 80) & 0xffff,
        (n >> 64) & 0xffff,
        (n >> 48) & 0xffff,
        n & 0xffff_ffff_ffff
    )
}

fn txt(v: &Value) -> &str {
    v["value"].as_str().unwrap_or_default()
}

fn num(v: &Value) -> f64 {
    v["value"].as_f64().unwrap_or(0.0)
}

fn ok_json(v: &Value) -> Response {
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json; charset=utf-8")],
        v.to_string(),
    )
        .into_response()
}

pub fn warehouse_detail(row: usize, warehouse: &str, on_hand: f64) -> Value {
    json!({
        "id": guid(), "rowNumber": row, "note": {"value": ""},
        "QtyOnHand": {"value": on_hand}, "WarehouseID": {"value": warehouse},
        "custom": {}, "_links": {}
    })
}

/// The detail collections of each top-level entity, returned only when expanded.
fn details_of(entity: &str) -> &'static [&'static str] {
    match entity {
        "StockItem" => &["WarehouseDetails"],
        "SalesOrder" => &["Details", "Shipments"],
        "Shipment" => &["Details", "Packages"],
        "Invoice" => &["Details"],
        _ => &[],
    }
}

/// One `Field eq 'v'` or `Field ne 'v'`.
struct Clause {
    field: String,
    value: String,
    equal: bool,
}

/// `$filter` as OData writes it without parentheses: `and` binds tighter than `or`.
fn parse_filter(filter: &str) -> Option<Vec<Vec<Clause>>> {
    filter
        .split(" or ")
        .map(|any| {
            any.split(" and ")
                .map(|clause| {
                    let (field, op, value) = clause
                        .trim()
                        .split_once(" eq ")
                        .map(|(f, v)| (f, true, v))
                        .or_else(|| clause.trim().split_once(" ne ").map(|(f, v)| (f, false, v)))?;
                    let value = value.trim().strip_prefix('\'')?.strip_suffix('\'')?;
                    Some(Clause {
                        field: field.trim().to_owned(),
                        value: value.replace("''", "'"),
                        equal: op,
                    })
                })
                .collect()
        })
        .collect()
}

fn holds(row: &Value, all: &[Clause]) -> bool {
    all.iter()
        .all(|c| (txt(&row[c.field.as_str()]) == c.value) == c.equal)
}

/// The record as answered: details only when expanded, fields only when selected.
fn project(entity: &str, row: &Value, expand: &[&str], select: Option<&str>) -> Value {
    let Value::Object(fields) = row else {
        return row.clone();
    };
    let mut top: BTreeSet<&str> = BTreeSet::new();
    let mut sub: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for f in select.into_iter().flat_map(|s| s.split(',')).map(str::trim) {
        match f.split_once('/') {
            Some((detail, field)) => {
                sub.entry(detail).or_default().insert(field);
            }
            None => {
                top.insert(f);
            }
        }
    }
    let details = details_of(entity);
    let mut out = Map::new();
    for (key, value) in fields {
        let is_detail = details.contains(&key.as_str());
        let wanted = if is_detail {
            expand.contains(&key.as_str())
        } else {
            select.is_none() || top.contains(key.as_str()) || META.contains(&key.as_str())
        };
        if !wanted {
            continue;
        }
        let value = match (sub.get(key.as_str()), value) {
            (Some(keep), Value::Array(rows)) => Value::Array(
                rows.iter()
                    .map(|r| {
                        let Value::Object(r) = r else {
                            return r.clone();
                        };
                        Value::Object(
                            r.iter()
                                .filter(|(k, _)| {
                                    keep.contains(k.as_str()) || META.contains(&k.as_str())
                                })
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect(),
                        )
                    })
                    .collect(),
            ),
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

fn param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn log(s: &AcuState, method: &str, entity: &str, query: &[(String, String)]) {
    let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    s.requests
        .lock()
        .unwrap()
        .push(format!("{method} {entity}?{}", q.join("&")));
}

pub async fn list(
    State(s): State<Arc<AcuState>>,
    Path(entity): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&s, &headers).await {
        return r;
    }
    log(&s, "GET", &entity, &query);
    let mut rows: Vec<Value> = {
        let records = s.records.lock().unwrap();
        match entity.as_str() {
            "StockItem" => records.items.values().cloned().collect(),
            "SalesOrder" => records.orders.clone(),
            "Shipment" => records.shipments.clone(),
            "Invoice" => records.invoices.clone(),
            _ => {
                return error(
                    StatusCode::NOT_FOUND,
                    "System.Web.Http.HttpResponseException",
                    "No HTTP resource was found that matches the request URI.",
                );
            }
        }
    };
    if let Some(filter) = param(&query, "$filter") {
        let Some(any) = parse_filter(filter) else {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "PX.Api.ContractBased.OptimizedExport.CannotOptimizeException",
                "The filter cannot be optimized.",
            );
        };
        rows.retain(|r| any.iter().any(|all| holds(r, all)));
    }
    let skip: usize = param(&query, "$skip")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let top: usize = param(&query, "$top")
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let expand: Vec<&str> = param(&query, "$expand")
        .map(|e| e.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let select = param(&query, "$select");
    let page: Vec<Value> = rows
        .iter()
        .skip(skip)
        .take(top)
        .enumerate()
        .map(|(n, r)| {
            let mut r = project(&entity, r, &expand, select);
            r["rowNumber"] = json!(n + 1);
            r
        })
        .collect();
    ok_json(&Value::Array(page))
}

pub async fn put(
    State(s): State<Arc<AcuState>>,
    Path(entity): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = refused(&s, &headers).await {
        return r;
    }
    log(&s, "PUT", &entity, &query);
    let Ok(Value::Object(body)) = serde_json::from_str::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "System.Web.Http.HttpResponseException",
            "The request is invalid.",
        );
    };
    let saved = {
        let mut records = s.records.lock().unwrap();
        match entity.as_str() {
            "SalesOrder" => save_order(&mut records, &body),
            "Shipment" => save_shipment(&mut records, &body),
            "Invoice" => save_invoice(&mut records, &body),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "PX.Api.ContractBased.NotSupportedException",
                    "The operation is not supported for this entity.",
                );
            }
        }
    };
    let saved = match saved {
        Ok(saved) => saved,
        Err(refusal) => return entity_error(&refusal),
    };
    let slow = s.faults.lock().unwrap().slow_write.take();
    if let Some(d) = slow {
        tokio::time::sleep(d).await;
    }
    let expand: Vec<&str> = param(&query, "$expand")
        .map(|e| e.split(',').map(str::trim).collect())
        .unwrap_or_default();
    ok_json(&project(&entity, &saved, &expand, param(&query, "$select")))
}

fn next_number(records: &mut Records) -> String {
    records.next_number += 1;
    format!("{:06}", records.next_number)
}

/// Why a record is refused: the message of its `OutcomeEntityHasErrorsException`.
type Refusal = String;

fn check_customer(body: &Map<String, Value>) -> Result<(), Refusal> {
    let customer = body.get("CustomerID").map(txt).unwrap_or_default();
    if customer != ACU_CUSTOMER {
        return Err(format!(
            "CustomerID: '{customer}' cannot be found in the system."
        ));
    }
    Ok(())
}

/// The item's row for `warehouse`, made when the item is first used there.
fn warehouse_row<'r>(
    records: &'r mut Records,
    sku: &str,
    warehouse: &str,
) -> Option<&'r mut Value> {
    let rows = records.items.get_mut(sku)?["WarehouseDetails"].as_array_mut()?;
    if !rows.iter().any(|r| txt(&r["WarehouseID"]) == warehouse) {
        let n = rows.len() + 1;
        rows.push(warehouse_detail(n, warehouse, 0.0));
    }
    rows.iter_mut()
        .find(|r| txt(&r["WarehouseID"]) == warehouse)
}

fn save_order(records: &mut Records, body: &Map<String, Value>) -> Result<Value, Refusal> {
    let kind = body.get("OrderType").map_or("SO", txt).to_owned();
    if kind != "SO" && kind != "RC" {
        return Err(format!(
            "OrderType: '{kind}' cannot be found in the system."
        ));
    }
    check_customer(body)?;
    let mut details = Vec::new();
    let lines = body
        .get("Details")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (n, line) in lines.iter().enumerate() {
        let sku = txt(&line["InventoryID"]).to_owned();
        let Some(item) = records.items.get(&sku) else {
            return Err(format!(
                "InventoryID: '{sku}' cannot be found in the system."
            ));
        };
        let qty = num(&line["OrderQty"]);
        if qty <= 0.0 || qty.fract() != 0.0 {
            return Err("OrderQty: The value must be greater than 0.".to_owned());
        }
        let warehouse = match txt(&line["WarehouseID"]) {
            "" => txt(&item["DefaultWarehouseID"]).to_owned(),
            w => w.to_owned(),
        };
        warehouse_row(records, &sku, &warehouse);
        details.push(json!({
            "id": guid(), "rowNumber": n + 1, "note": null,
            "LineNbr": {"value": n + 1}, "InventoryID": {"value": sku},
            "WarehouseID": {"value": warehouse}, "OrderQty": {"value": qty},
            "OpenQty": {"value": qty}, "QtyOnShipments": {"value": 0},
            "UnitPrice": line.get("UnitPrice").cloned().unwrap_or(json!({})),
            "Operation": {"value": if kind == "RC" { "Receipt" } else { "Issue" }},
            "LastModifiedDate": {"value": "08/06/2022 00:50:30"},
            "custom": {}, "_links": {}
        }));
    }
    let number = next_number(records);
    let order = json!({
        "id": guid(), "rowNumber": 1, "note": {"value": ""},
        "OrderType": {"value": kind}, "OrderNbr": {"value": number},
        "Status": {"value": "Open"}, "Hold": {"value": false},
        "CustomerID": {"value": ACU_CUSTOMER},
        "CustomerOrder": body.get("CustomerOrder").cloned().unwrap_or(json!({})),
        "Description": body.get("Description").cloned().unwrap_or(json!({})),
        "CurrencyID": body.get("CurrencyID").cloned().unwrap_or(json!({"value": "USD"})),
        "Date": {"value": "2026-03-02T00:00:00+03:00"},
        "Details": details, "Shipments": [], "custom": {},
        "_links": {"self": format!("{INSTANCE}/entity/{ENDPOINT}/SalesOrder/{kind}/{number}")}
    });
    records.orders.push(order.clone());
    Ok(order)
}

/// What is still free to ship on an order line.
fn free(line: &Value) -> f64 {
    num(&line["OpenQty"]) - num(&line["QtyOnShipments"])
}

fn save_shipment(records: &mut Records, body: &Map<String, Value>) -> Result<Value, Refusal> {
    check_customer(body)?;
    let warehouse = body
        .get("WarehouseID")
        .map(txt)
        .unwrap_or_default()
        .to_owned();
    let lines = body
        .get("Details")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if lines.is_empty() {
        return Err("Details: The shipment has no lines.".to_owned());
    }
    // Checked on a copy, so that a refused shipment moves nothing.
    let mut orders = records.orders.clone();
    let mut details = Vec::new();
    let mut order_numbers = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let (kind, number) = (txt(&line["OrderType"]), txt(&line["OrderNbr"]));
        let Some(order) = orders
            .iter_mut()
            .find(|o| txt(&o["OrderType"]) == kind && txt(&o["OrderNbr"]) == number)
        else {
            return Err(format!("OrderNbr: '{kind} {number}' cannot be found."));
        };
        let line_nbr = line["OrderLineNbr"]["value"].clone();
        let Some(base) = order["Details"]
            .as_array_mut()
            .and_then(|d| d.iter_mut().find(|l| l["LineNbr"]["value"] == line_nbr))
        else {
            return Err(format!("OrderLineNbr: line {line_nbr} cannot be found."));
        };
        let qty = num(&line["ShippedQty"]);
        if txt(&base["WarehouseID"]) != warehouse
            || txt(&base["InventoryID"]) != txt(&line["InventoryID"])
        {
            return Err("WarehouseID: The line does not match the order line.".to_owned());
        }
        if qty <= 0.0 || qty > free(base) {
            return Err(
                "ShippedQty: The quantity exceeds the open quantity of the order line.".to_owned(),
            );
        }
        base["QtyOnShipments"] = json!({"value": num(&base["QtyOnShipments"]) + qty});
        details.push(json!({
            "id": guid(), "rowNumber": n + 1, "note": null, "LineNbr": {"value": n + 1},
            "OrderType": {"value": kind}, "OrderNbr": {"value": number},
            "OrderLineNbr": {"value": line_nbr}, "InventoryID": base["InventoryID"].clone(),
            "WarehouseID": {"value": warehouse}, "ShippedQty": {"value": qty},
            "custom": {}, "_links": {}
        }));
        order_numbers.push((kind.to_owned(), number.to_owned()));
    }
    records.orders = orders;
    let date = body
        .get("ShipmentDate")
        .map(txt)
        .filter(|d| !d.is_empty())
        .map_or_else(
            || "2026-03-02T00:00:00+03:00".to_owned(),
            |d| format!("{d}T00:00:00+03:00"),
        );
    let packages: Vec<Value> = body
        .get("Packages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| json!({"id": guid(), "TrackingNbr": p["TrackingNbr"].clone(), "custom": {}}))
        .collect();
    let shipment = new_shipment(
        records,
        &warehouse,
        "Open",
        &date,
        body.get("Description"),
        details,
        packages,
    );
    link_shipment(records, &order_numbers, &shipment);
    Ok(shipment)
}

fn new_shipment(
    records: &mut Records,
    warehouse: &str,
    status: &str,
    date: &str,
    description: Option<&Value>,
    details: Vec<Value>,
    packages: Vec<Value>,
) -> Value {
    let number = next_number(records);
    let shipment = json!({
        "id": guid(), "rowNumber": 1, "note": {"value": ""},
        "ShipmentNbr": {"value": number}, "Type": {"value": "Shipment"},
        "Status": {"value": status}, "CustomerID": {"value": ACU_CUSTOMER},
        "WarehouseID": {"value": warehouse}, "ShipmentDate": {"value": date},
        "Description": description.cloned().unwrap_or(json!({})),
        "Details": details, "Packages": packages, "custom": {}, "_links": {}
    });
    records.shipments.push(shipment.clone());
    shipment
}

/// The order's `Shipments` tab lists every shipment made of its lines.
fn link_shipment(records: &mut Records, orders: &[(String, String)], shipment: &Value) {
    for order in records.orders.iter_mut().filter(|o| {
        orders
            .iter()
            .any(|(k, n)| txt(&o["OrderType"]) == k && txt(&o["OrderNbr"]) == n)
    }) {
        let Some(tab) = order["Shipments"].as_array_mut() else {
            continue;
        };
        if !tab
            .iter()
            .any(|s| s["ShipmentNbr"] == shipment["ShipmentNbr"])
        {
            tab.push(json!({
                "id": guid(), "ShipmentNbr": shipment["ShipmentNbr"].clone(),
                "ShipmentType": {"value": "Shipment"}, "Status": shipment["Status"].clone()
            }));
        }
    }
}

/// The goods leave: on-hand drops where they left from, and the order lines they came
/// from are that much less open.
fn relieve(records: &mut Records, detail: &Value, from_shipment: bool) {
    let (kind, number) = (txt(&detail["OrderType"]), txt(&detail["OrderNbr"]));
    let qty = num(&detail["ShippedQty"]);
    let sku = txt(&detail["InventoryID"]).to_owned();
    let warehouse = txt(&detail["WarehouseID"]).to_owned();
    if let Some(row) = warehouse_row(records, &sku, &warehouse) {
        row["QtyOnHand"] = json!({"value": num(&row["QtyOnHand"]) - qty});
    }
    let Some(order) = records
        .orders
        .iter_mut()
        .find(|o| txt(&o["OrderType"]) == kind && txt(&o["OrderNbr"]) == number)
    else {
        return;
    };
    if let Some(line) = order["Details"].as_array_mut().and_then(|d| {
        d.iter_mut()
            .find(|l| l["LineNbr"] == detail["OrderLineNbr"])
    }) {
        line["OpenQty"] = json!({"value": num(&line["OpenQty"]) - qty});
        if from_shipment {
            line["QtyOnShipments"] = json!({"value": num(&line["QtyOnShipments"]) - qty});
        }
    }
    let done = order["Details"]
        .as_array()
        .is_some_and(|d| d.iter().all(|l| num(&l["OpenQty"]) <= 0.0));
    if done {
        order["Status"] = json!({"value": "Completed"});
    }
}

fn save_invoice(records: &mut Records, body: &Map<String, Value>) -> Result<Value, Refusal> {
    check_customer(body)?;
    let kind = body.get("Type").map_or("Invoice", txt).to_owned();
    if kind != "Invoice" && kind != "Credit Memo" {
        return Err(format!("Type: '{kind}' is not a valid document type."));
    }
    let lines = body
        .get("Details")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for line in &lines {
        let sku = txt(&line["InventoryID"]);
        if !records.items.contains_key(sku) {
            return Err(format!(
                "InventoryID: '{sku}' cannot be found in the system."
            ));
        }
        if num(&line["Qty"]) <= 0.0 {
            return Err("Qty: The value must be greater than 0.".to_owned());
        }
    }
    let number = next_number(records);
    let invoice = json!({
        "id": guid(), "rowNumber": 1, "note": {"value": ""},
        "Type": {"value": kind}, "ReferenceNbr": {"value": format!("AR{number}")},
        "Status": {"value": "On Hold"}, "CustomerID": {"value": ACU_CUSTOMER},
        "CustomerOrder": body.get("CustomerOrder").cloned().unwrap_or(json!({})),
        "Description": body.get("Description").cloned().unwrap_or(json!({})),
        "Details": lines, "custom": {}, "_links": {}
    });
    records.invoices.push(invoice.clone());
    Ok(invoice)
}

pub async fn action(
    State(s): State<Arc<AcuState>>,
    Path((entity, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = refused(&s, &headers).await {
        return r;
    }
    log(&s, "POST", &format!("{entity}/{action}"), &[]);
    if entity != "Shipment" || action != "ConfirmShipment" {
        return error(
            StatusCode::NOT_FOUND,
            "System.Web.Http.HttpResponseException",
            "No HTTP resource was found that matches the request URI.",
        );
    }
    let body: Value = serde_json::from_str(&body).unwrap_or_default();
    let number = txt(&body["entity"]["ShipmentNbr"]).to_owned();
    let mut records = s.records.lock().unwrap();
    let Some(at) = records
        .shipments
        .iter()
        .position(|sh| txt(&sh["ShipmentNbr"]) == number)
    else {
        return entity_error(&format!("ShipmentNbr: '{number}' cannot be found."));
    };
    if txt(&records.shipments[at]["Status"]) != "Open" {
        return entity_error("Status: The shipment has already been confirmed.");
    }
    records.shipments[at]["Status"] = json!({"value": "Confirmed"});
    let details = records.shipments[at]["Details"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for d in &details {
        relieve(&mut records, d, true);
    }
    let location = format!(
        "{INSTANCE}/entity/{ENDPOINT}/Shipment/ConfirmShipment/status/{}",
        guid()
    );
    (StatusCode::ACCEPTED, [(LOCATION, location)]).into_response()
}

/// A long-running action's status: always done by the time it is asked.
pub async fn action_status(
    State(s): State<Arc<AcuState>>,
    Path(_): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&s, &headers).await {
        return r;
    }
    StatusCode::NO_CONTENT.into_response()
}

/// An open order of another customer holding `lines` at `warehouse`: how committed
/// stock comes to be.
pub fn seed_order(records: &mut Records, warehouse: &str, lines: &[(&str, i64)]) {
    let number = next_number(records);
    let details: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(n, (sku, qty))| {
            json!({
                "id": guid(), "rowNumber": n + 1, "note": null, "LineNbr": {"value": n + 1},
                "InventoryID": {"value": sku}, "WarehouseID": {"value": warehouse},
                "OrderQty": {"value": qty}, "OpenQty": {"value": qty},
                "QtyOnShipments": {"value": 0}, "Operation": {"value": "Issue"}
            })
        })
        .collect();
    records.orders.push(json!({
        "id": guid(), "rowNumber": 1, "note": {"value": ""},
        "OrderType": {"value": "SO"}, "OrderNbr": {"value": number},
        "Status": {"value": "Open"}, "CustomerID": {"value": "RETAILER"},
        "CustomerOrder": {"value": format!("PO-{warehouse}")},
        "Details": details, "Shipments": [], "custom": {}, "_links": {}
    }));
}

/// A confirmed shipment a warehouse clerk made of the order `erp_order` (`SO 000001`):
/// each line draws on the order lines of its item that are still free, from their
/// warehouse.
pub fn ship_by_hand(records: &mut Records, erp_order: &str, lines: &[(&str, i64)]) {
    let (kind, number) = erp_order.split_once(' ').expect("an order reference");
    let order = records
        .orders
        .iter()
        .find(|o| txt(&o["OrderType"]) == kind && txt(&o["OrderNbr"]) == number)
        .expect("the order was created")
        .clone();
    let mut details = Vec::new();
    let mut warehouse = String::new();
    for (sku, qty) in lines {
        let mut rest = *qty as f64;
        for base in order["Details"].as_array().into_iter().flatten() {
            let take = rest.min(free(base));
            if txt(&base["InventoryID"]) != *sku || take <= 0.0 {
                continue;
            }
            warehouse = txt(&base["WarehouseID"]).to_owned();
            details.push(json!({
                "id": guid(), "rowNumber": details.len() + 1, "note": null,
                "OrderType": {"value": kind}, "OrderNbr": {"value": number},
                "OrderLineNbr": base["LineNbr"].clone(), "InventoryID": {"value": sku},
                "WarehouseID": {"value": warehouse}, "ShippedQty": {"value": take}
            }));
            rest -= take;
        }
    }
    for d in &details {
        relieve(records, d, false);
    }
    let shipment = new_shipment(
        records,
        &warehouse,
        "Confirmed",
        "2026-03-02T00:00:00+03:00",
        None,
        details,
        Vec::new(),
    );
    link_shipment(records, &[(kind.to_owned(), number.to_owned())], &shipment);
}
