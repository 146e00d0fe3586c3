//! How the fake reads requests: the URL's entity path, `$filter`, `$expand`,
//! `Prefer: odata.maxpagesize` and `$skiptoken` paging, and the rows it answers with.

use super::*;

// --- Routing ------------------------------------------------------------------------------

/// `salesOrders(<id>)` → (`salesOrders`, Some(id)); `salesOrders` → (`salesOrders`, None).
fn segment(s: &str) -> (&str, Option<&str>) {
    match s.split_once('(') {
        Some((name, key)) => (name, Some(key.trim_end_matches(')'))),
        None => (s, None),
    }
}

/// What a handler needs of the request.
pub(super) struct Call<'a> {
    pub(super) shared: &'a Shared,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

pub(super) async fn api(
    State(shared): State<Arc<Shared>>,
    Path((tenant, environment, rest)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if tenant != TENANT || environment != ENVIRONMENT {
        return error(
            StatusCode::NOT_FOUND,
            "BadRequest_NotFound",
            "The environment does not exist.",
        );
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let (custom, after) = match segments.as_slice() {
        ["v2.0", after @ ..] => (false, after),
        ["stockade", "inventory", "v1.0", after @ ..] => (true, after),
        _ => return not_found(&rest),
    };
    let Some((company, resource)) = after.split_first() else {
        return not_found(&rest);
    };
    if segment(company) != ("companies", Some(COMPANY)) {
        return not_found(company);
    }
    let route: Vec<(&str, Option<&str>)> = resource.iter().map(|s| segment(s)).collect();
    let call = Call {
        shared: &shared,
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    match (method.as_str(), custom, route.as_slice()) {
        ("GET", false, []) => company_row(&shared),
        ("GET", false, [("locations", None)]) => {
            shared.location_reads.fetch_add(1, Ordering::SeqCst);
            call.list("location", location_rows)
        }
        ("GET", false, [("salesOrders", None)]) => call.list("salesOrder", order_rows),
        ("POST", false, [("salesOrders", None)]) => writes::create_order(&call),
        ("GET", false, [("salesOrders", Some(id)), ("salesOrderLines", None)]) => {
            if shared.lock().order(id).is_none() {
                return not_found("salesOrders");
            }
            let id = id.to_string();
            call.list("salesOrderLine", move |env| line_rows(env, &id))
        }
        ("PATCH", false, [("salesOrders", Some(id)), ("salesOrderLines", Some(line))]) => {
            writes::patch_line(&call, id, line)
        }
        (
            "POST",
            false,
            [
                ("salesOrders", Some(id)),
                ("Microsoft.NAV.shipAndInvoice", None),
            ],
        ) => writes::ship_and_invoice(&shared, id),
        ("GET", false, [("salesShipments", None)]) => call.list("salesShipment", shipment_rows),
        ("GET", false, [("salesInvoices", None)]) => call.list("salesInvoice", invoice_rows),
        ("GET", false, [("salesCreditMemos", None)]) => call.list("salesCreditMemo", memo_rows),
        ("POST", false, [("salesCreditMemos", None)]) => writes::create_memo(&call),
        ("POST", false, [("salesCreditMemos", Some(id)), ("Microsoft.NAV.post", None)]) => {
            writes::post_memo(&shared, id)
        }
        ("GET", true, [("stockLevels", None)]) => call.list("stockLevel", stock_rows),
        ("PATCH", true, [("salesOrderShipping", Some(id))]) => writes::patch_shipping(&call, id),
        ("GET", true, [("shipmentTracking", None)]) => call.list("shipmentTracking", tracking_rows),
        _ => not_found(resource.last().copied().unwrap_or("")),
    }
}

// --- Lists: $filter, $expand, paging ------------------------------------------------------

/// `field eq 'value'` terms joined by `or` inside parentheses, groups joined by `and`:
/// the filters the adapter writes. A row matches when every group has a matching term.
type Filter = Vec<Vec<(String, String)>>;

fn parse_filter(filter: &str) -> Option<Filter> {
    filter
        .split(" and ")
        .map(|group| {
            let group = group.trim().trim_start_matches('(').trim_end_matches(')');
            group
                .split(" or ")
                .map(|term| {
                    let (field, value) = term.trim().split_once(" eq ")?;
                    let value = value.strip_prefix('\'')?.strip_suffix('\'')?;
                    Some((field.to_owned(), value.replace("''", "'")))
                })
                .collect()
        })
        .collect()
}

impl Call<'_> {
    fn query(&self) -> Vec<(String, String)> {
        let query = self.uri.query().unwrap_or_default();
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    fn param(&self, name: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    fn page_size(&self) -> usize {
        let prefer = self.headers.get("prefer").and_then(|v| v.to_str().ok());
        prefer
            .and_then(|p| p.strip_prefix("odata.maxpagesize="))
            .and_then(|n| n.parse().ok())
            .map_or(MAX_PAGE, |n: usize| n.clamp(1, MAX_PAGE))
    }

    fn list(&self, kind: &str, rows: impl FnOnce(&Environment) -> Vec<Value>) -> Response {
        let rows = rows(&self.shared.lock());
        let mut rows = match self.param("$filter") {
            None => rows,
            Some(filter) => match self.filtered(kind, rows, &filter) {
                Ok(rows) => rows,
                Err(refusal) => return refusal.into_response(),
            },
        };
        if self.param("$expand").as_deref() != Some("salesShipmentLines") {
            for row in &mut rows {
                row.as_object_mut().unwrap().remove("salesShipmentLines");
            }
        }
        if let Some(token) = self.param("$skiptoken") {
            self.shared
                .next_links_followed
                .fetch_add(1, Ordering::SeqCst);
            let Some(at) = rows.iter().position(|r| r["id"] == token.as_str()) else {
                return error(StatusCode::BAD_REQUEST, "BadRequest", "Invalid skip token.");
            };
            rows.drain(..=at);
        }
        let size = self.page_size();
        let more = rows.len() > size;
        rows.truncate(size);
        let mut body = json!({
            "@odata.context": format!("{}/v2.0/{TENANT}/{ENVIRONMENT}/api/v2.0/$metadata#{kind}s",
                self.shared.origin),
            "value": rows,
        });
        if more {
            body["@odata.nextLink"] = json!(self.next_link(&body["value"]));
        }
        ([("content-type", "application/json")], body.to_string()).into_response()
    }

    fn filtered(&self, kind: &str, rows: Vec<Value>, filter: &str) -> Result<Vec<Value>, Refusal> {
        let Some(filter) = parse_filter(filter) else {
            let why = "Syntax error at position 1 in the filter.";
            return Err(Refusal::new(StatusCode::BAD_REQUEST, "BadRequest", why));
        };
        if let Some(sample) = rows.first() {
            for (field, _) in filter.iter().flatten() {
                if sample.get(field).is_none() {
                    let why = format!(
                        "Could not find a property named '{field}' on type 'Microsoft.NAV.{kind}'."
                    );
                    return Err(Refusal::new(StatusCode::BAD_REQUEST, "BadRequest", why));
                }
            }
        }
        let matches = |row: &Value| {
            filter
                .iter()
                .all(|group| group.iter().any(|(f, v)| row[f] == v.as_str()))
        };
        Ok(rows.into_iter().filter(matches).collect())
    }

    /// Absolute, the original query kept, `aid=FIN&$skiptoken=<last id>` added, as
    /// Business Central writes it.
    fn next_link(&self, page: &Value) -> String {
        let last = page.as_array().and_then(|a| a.last()).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.query() {
            if k != "aid" && k != "$skiptoken" {
                query.append_pair(&k, &v);
            }
        }
        query
            .append_pair("aid", "FIN")
            .append_pair("$skiptoken", &last);
        format!(
            "{}{}?{}",
            self.shared.origin,
            self.uri.path(),
            query.finish()
        )
    }

    pub(super) fn json(&self) -> Result<Value, Refusal> {
        serde_json::from_slice(self.body).map_err(|_| {
            let why = "The request body is not valid JSON.";
            Refusal::new(StatusCode::BAD_REQUEST, "BadRequest", why)
        })
    }

    pub(super) fn if_match(&self) -> Option<&str> {
        self.headers.get("if-match").and_then(|v| v.to_str().ok())
    }
}

pub(super) fn created(row: Value) -> Response {
    (
        StatusCode::CREATED,
        [("content-type", "application/json")],
        row.to_string(),
    )
        .into_response()
}

pub(super) fn ok(row: Value) -> Response {
    ([("content-type", "application/json")], row.to_string()).into_response()
}

pub(super) fn etag(id: &str, version: u64) -> String {
    format!("W/\"{}\"", BASE64.encode(format!("'{version};{id};00;'")))
}

// --- Rows in Business Central's shapes ----------------------------------------------------

fn company_row(shared: &Shared) -> Response {
    let _ = shared;
    ok(json!({
        "@odata.etag": etag(COMPANY, 1),
        "id": COMPANY,
        "systemVersion": "26.0.0.0",
        "name": "CRONUS",
        "displayName": "CRONUS Stockade",
        "businessProfileId": "",
    }))
}

pub(super) fn order_row(o: &SalesOrder) -> Value {
    json!({
        "@odata.etag": etag(&o.id, 1),
        "id": o.id,
        "number": o.number,
        "externalDocumentNumber": o.external,
        "customerNumber": CUSTOMER_NUMBER,
        "currencyId": ZERO_GUID,
        "status": "Open",
        "fullyShipped": o.lines.iter().all(|l| l.shipped == l.quantity),
    })
}

fn order_rows(env: &Environment) -> Vec<Value> {
    env.orders
        .iter()
        .filter(|o| !o.deleted)
        .map(order_row)
        .collect()
}

fn location_rows(env: &Environment) -> Vec<Value> {
    env.locations
        .iter()
        .map(|(code, id)| {
            json!({
                "@odata.etag": etag(id, 1),
                "id": id,
                "code": code,
                "displayName": format!("Warehouse {code}"),
                "contact": "",
                "addressLine1": "",
                "city": "",
                "country": "",
            })
        })
        .collect()
}

pub(super) fn line_row(env: &Environment, order: &SalesOrder, l: &OrderLine) -> Value {
    let location_id = env
        .locations
        .get(&l.location)
        .map_or(ZERO_GUID, String::as_str);
    json!({
        "@odata.etag": etag(&l.id, l.version),
        "id": l.id,
        "documentId": order.id,
        "sequence": l.sequence,
        "locationId": location_id,
        "itemId": ZERO_GUID,
        "accountId": ZERO_GUID,
        "lineType": "Item",
        "lineObjectNumber": l.sku,
        "quantity": l.quantity,
        "unitPrice": l.unit_price,
        "shippedQuantity": l.shipped,
        "shipQuantity": l.to_ship,
        "invoicedQuantity": l.shipped,
        "invoiceQuantity": l.to_ship,
        "taxPercent": 6.00002,
    })
}

fn line_rows(env: &Environment, id: &str) -> Vec<Value> {
    let order = env.orders.iter().find(|o| o.id == id && !o.deleted);
    order.map_or_else(Vec::new, |o| {
        o.lines.iter().map(|l| line_row(env, o, l)).collect()
    })
}

fn posted_lines(doc: &Posted) -> Vec<Value> {
    doc.lines
        .iter()
        .enumerate()
        .map(|(i, (sku, _, quantity))| {
            json!({
                "id": format!("{}-{i}", doc.id),
                "documentId": doc.id,
                "sequence": (i + 1) * 10_000,
                "lineType": "Item",
                "lineObjectNumber": sku,
                "quantity": quantity,
            })
        })
        .collect()
}

fn shipment_rows(env: &Environment) -> Vec<Value> {
    env.shipments
        .iter()
        .map(|s| {
            json!({
                "@odata.etag": etag(&s.id, 1),
                "id": s.id,
                "number": s.number,
                "externalDocumentNumber": s.external,
                "postingDate": "2026-12-03",
                "customerPurchaseOrderReference": s.your_reference,
                "customerNumber": CUSTOMER_NUMBER,
                "salesShipmentLines": posted_lines(s),
            })
        })
        .collect()
}

fn tracking_rows(env: &Environment) -> Vec<Value> {
    env.shipments
        .iter()
        .map(|s| {
            json!({
                "@odata.etag": etag(&s.id, 1),
                "id": s.id,
                "number": s.number,
                "externalDocumentNumber": s.external,
                "yourReference": s.your_reference,
                "packageTrackingNumber": s.tracking,
            })
        })
        .collect()
}

fn invoice_rows(env: &Environment) -> Vec<Value> {
    env.invoices
        .iter()
        .map(|i| {
            json!({
                "@odata.etag": etag(&i.id, 1),
                "id": i.id,
                "number": i.number,
                "externalDocumentNumber": i.external,
                "orderId": i.order_id,
                "orderNumber": i.order_number,
                "customerPurchaseOrderReference": i.your_reference,
                "status": "Open",
            })
        })
        .collect()
}

fn memo_rows(env: &Environment) -> Vec<Value> {
    env.credit_memos
        .iter()
        .map(|m| {
            json!({
                "@odata.etag": etag(&m.id, u64::from(m.posted) + 1),
                "id": m.id,
                "number": m.number,
                "externalDocumentNumber": m.external,
                "customerNumber": CUSTOMER_NUMBER,
                "status": if m.posted { "Open" } else { "Draft" },
            })
        })
        .collect()
}

fn stock_rows(env: &Environment) -> Vec<Value> {
    env.stock
        .values()
        .map(|(id, s)| {
            json!({
                "@odata.etag": etag(id, 1),
                "id": id,
                "itemNumber": s.sku,
                "locationCode": s.location,
                "inventory": s.on_hand,
                "committedQuantity": s.committed,
                "unavailableQuantity": s.unavailable,
                "incomingQuantity": s.incoming,
            })
        })
        .collect()
}
