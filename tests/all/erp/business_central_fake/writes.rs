//! What the fake writes: orders by deep insert, lines changed with their etag, the
//! shipment fields of the custom page, `shipAndInvoice`, credit memos and their posting.

use super::odata::{Call, created, etag, line_row, ok, order_row};
use super::*;

// --- Writes -----------------------------------------------------------------------------

/// An item line of a deep insert, checked.
struct ItemLine {
    sequence: i64,
    sku: String,
    /// The code of the location its `locationId` names; blank for none.
    location: String,
    quantity: i64,
    unit_price: f64,
}

/// The code of the location a line's `locationId` names: blank when absent or the zero
/// GUID, refused when no location has that id.
fn line_location(env: &Environment, line: &Value) -> Result<String, Refusal> {
    match line.get("locationId").and_then(Value::as_str) {
        None | Some(ZERO_GUID) => Ok(String::new()),
        Some(id) => env.location_code(id).map(str::to_owned).ok_or_else(|| {
            // The API page's own message for an id that names no record.
            Refusal::dialog("The \"locationId\" does not match to a Location.")
        }),
    }
}

/// Item lines of a deep insert, each item and location known.
fn item_lines(env: &Environment, lines: &Value) -> Result<Vec<ItemLine>, Refusal> {
    let lines = lines.as_array().cloned().unwrap_or_default();
    if lines.is_empty() {
        return Err(Refusal::dialog(
            "There is nothing to post because the document has no lines.",
        ));
    }
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let sku = line["lineObjectNumber"].as_str().unwrap_or_default();
            if line["lineType"] != "Item" || !env.knows_item(sku) {
                let why = format!(
                    "The Item does not exist. Identification fields and values: No.='{sku}'"
                );
                return Err(Refusal::new(
                    StatusCode::NOT_FOUND,
                    "Internal_RecordNotFound",
                    why,
                ));
            }
            let quantity = line["quantity"].as_i64().filter(|q| *q > 0);
            let Some(quantity) = quantity else {
                return Err(Refusal::dialog("Quantity must be positive."));
            };
            let fallback = i64::try_from((i + 1) * 10_000).unwrap();
            Ok(ItemLine {
                sequence: line["sequence"].as_i64().unwrap_or(fallback),
                sku: sku.to_owned(),
                location: line_location(env, line)?,
                quantity,
                unit_price: line["unitPrice"].as_f64().unwrap_or(0.0),
            })
        })
        .collect()
}

fn customer_known(body: &Value) -> Result<(), Refusal> {
    match body["customerNumber"].as_str() {
        Some(CUSTOMER_NUMBER) => Ok(()),
        Some(other) => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "Internal_RecordNotFound",
            format!("The Customer does not exist. Identification fields and values: No.='{other}'"),
        )),
        None => Err(Refusal::dialog(
            "A customerNumber or a customerID must be provided.",
        )),
    }
}

pub(super) fn create_order(call: &Call<'_>) -> Response {
    let body = match call.json() {
        Ok(body) => body,
        Err(refusal) => return refusal.into_response(),
    };
    if let Err(refusal) = customer_known(&body) {
        return refusal.into_response();
    }
    let external = body["externalDocumentNumber"].as_str().unwrap_or_default();
    if external.chars().count() > 35 {
        let why = "The length of the string is 36, but it must be less than or equal to 35 \
                   characters.";
        return error(
            StatusCode::BAD_REQUEST,
            "Application_StringExceededLength",
            why,
        );
    }
    let mut env = call.shared.lock();
    let lines = match item_lines(&env, &body["salesOrderLines"]) {
        Ok(lines) => lines,
        Err(refusal) => return refusal.into_response(),
    };
    let id = env.guid();
    let number = format!("S-ORD101{:03}", env.next());
    let lines: Vec<OrderLine> = lines
        .into_iter()
        .map(|line| OrderLine {
            id: env.guid(),
            sequence: line.sequence,
            sku: line.sku,
            location: line.location,
            quantity: line.quantity,
            unit_price: line.unit_price,
            shipped: 0,
            to_ship: line.quantity,
            version: 1,
        })
        .collect();
    // A released or open order's outstanding quantity is what Business Central counts as
    // committed ("Qty. on Sales Order") at the line's location.
    for line in &lines {
        env.book(&line.sku, &line.location, 0, line.quantity);
    }
    let order = SalesOrder {
        id,
        number,
        external: external.to_owned(),
        your_reference: String::new(),
        tracking: String::new(),
        lines,
        deleted: false,
    };
    let row = order_row(&order);
    env.orders.push(order);
    created(row)
}

pub(super) fn patch_line(call: &Call<'_>, order_id: &str, line_id: &str) -> Response {
    let body = match call.json() {
        Ok(body) => body,
        Err(refusal) => return refusal.into_response(),
    };
    let if_match = call.if_match().map(str::to_owned);
    let mut env = call.shared.lock();
    let Some(order) = env.order(order_id) else {
        return not_found("salesOrders");
    };
    let Some(i) = order.lines.iter().position(|l| l.id == line_id) else {
        return not_found("salesOrderLines");
    };
    let line = &mut order.lines[i];
    match if_match.as_deref() {
        None => {
            return error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "An If-Match header is required.",
            );
        }
        Some("*") => {}
        Some(tag) if tag == etag(&line.id, line.version) => {}
        Some(_) => {
            let why = "Another user has already changed the record.";
            return error(StatusCode::CONFLICT, "Request_EntityChanged", why);
        }
    }
    let outstanding = line.quantity - line.shipped;
    if let Some(ship) = body.get("shipQuantity") {
        match ship.as_i64() {
            Some(q) if (0..=outstanding).contains(&q) => line.to_ship = q,
            _ => return dialog(&format!("You cannot ship more than {outstanding} units.")),
        }
    }
    line.version += 1;
    let order = env.order(order_id).unwrap().clone();
    ok(line_row(&env, &order, &order.lines[i]))
}

pub(super) fn patch_shipping(call: &Call<'_>, order_id: &str) -> Response {
    let body = match call.json() {
        Ok(body) => body,
        Err(refusal) => return refusal.into_response(),
    };
    if call.if_match().is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "An If-Match header is required.",
        );
    }
    let field = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
    let (reference, tracking) = (field("yourReference"), field("packageTrackingNumber"));
    for (value, max) in [(&reference, 35), (&tracking, 30)] {
        if value.chars().count() > max {
            let why = format!(
                "The length of the string is {}, but it must be less than or equal to {max} \
                 characters.",
                value.chars().count()
            );
            return error(
                StatusCode::BAD_REQUEST,
                "Application_StringExceededLength",
                &why,
            );
        }
    }
    let mut env = call.shared.lock();
    let Some(order) = env.order(order_id) else {
        return not_found("salesOrderShipping");
    };
    order.your_reference = reference;
    order.tracking = tracking;
    ok(json!({
        "id": order.id,
        "number": order.number,
        "yourReference": order.your_reference,
        "packageTrackingNumber": order.tracking,
    }))
}

/// Posts what each line's quantity to ship says, as a shipment and an invoice; deletes the
/// order once everything on it is shipped and invoiced.
pub(super) fn ship_and_invoice(shared: &Shared, order_id: &str) -> Response {
    let mut env = shared.lock();
    let Some(order) = env.order(order_id).cloned() else {
        return not_found("salesOrders");
    };
    let lines: Vec<(String, String, i64)> = order
        .lines
        .iter()
        .filter(|l| l.to_ship > 0)
        .map(|l| (l.sku.clone(), l.location.clone(), l.to_ship))
        .collect();
    if lines.is_empty() {
        return dialog("There is nothing to post.");
    }
    for number_prefix in ["102", "103"] {
        let id = env.guid();
        let number = format!("{number_prefix}{:03}", env.next());
        let posted = Posted {
            id,
            number,
            external: order.external.clone(),
            your_reference: order.your_reference.clone(),
            tracking: order.tracking.clone(),
            order_id: order.id.clone(),
            order_number: order.number.clone(),
            lines: lines.clone(),
        };
        match number_prefix {
            "102" => env.shipments.push(posted),
            _ => env.invoices.push(posted),
        }
    }
    for (sku, location, quantity) in &lines {
        env.book(sku, location, -quantity, -quantity);
    }
    let open = env.order(order_id).unwrap();
    for line in &mut open.lines {
        line.shipped += line.to_ship;
        line.to_ship = line.quantity - line.shipped;
        line.version += 1;
    }
    open.deleted = open.lines.iter().all(|l| l.shipped == l.quantity);
    StatusCode::NO_CONTENT.into_response()
}

pub(super) fn create_memo(call: &Call<'_>) -> Response {
    let body = match call.json() {
        Ok(body) => body,
        Err(refusal) => return refusal.into_response(),
    };
    if let Err(refusal) = customer_known(&body) {
        return refusal.into_response();
    }
    let mut env = call.shared.lock();
    let lines = match item_lines(&env, &body["salesCreditMemoLines"]) {
        Ok(lines) => lines,
        Err(refusal) => return refusal.into_response(),
    };
    let memo = CreditMemo {
        id: env.guid(),
        number: format!("S-CR104{:03}", env.next()),
        external: body["externalDocumentNumber"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        posted: false,
        lines: lines.into_iter().map(|l| (l.sku, l.quantity)).collect(),
    };
    let row = json!({
        "@odata.etag": etag(&memo.id, 1),
        "id": memo.id,
        "number": memo.number,
        "externalDocumentNumber": memo.external,
        "customerNumber": CUSTOMER_NUMBER,
        "status": "Draft",
    });
    env.credit_memos.push(memo);
    created(row)
}

pub(super) fn post_memo(shared: &Shared, id: &str) -> Response {
    let mut env = shared.lock();
    let Some(memo) = env.credit_memos.iter_mut().find(|m| m.id == id) else {
        return not_found("salesCreditMemos");
    };
    if memo.posted || memo.lines.is_empty() {
        return dialog("There is nothing to post.");
    }
    memo.posted = true;
    StatusCode::NO_CONTENT.into_response()
}
