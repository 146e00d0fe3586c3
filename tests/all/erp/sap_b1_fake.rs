//! A fake SAP Business One Service Layer on loopback (`/b1s/v1`), faithful where the
//! adapter could go wrong: `Login` issues a `B1SESSION` cookie and a `ROUTEID` cookie, both
//! must come back, and a session idle longer than its timeout is gone (401 with error
//! code 301); lists page by `Prefer: odata.maxpagesize` (20 by default) with a relative
//! `odata.nextLink`; `$filter` takes `eq` and `startswith` clauses joined by `or`; creates
//! answer 201 with the whole document; a delivery note's lines based on an order
//! (`BaseType` 17) take the item from the order's line and never more than it has open;
//! an order commits each line's quantity at its `WarehouseCode` in the item's
//! `ItemWarehouseInfoCollection`, and a delivery note takes what it delivers off `InStock`
//! there, and off `Committed` too when it is based on an order;
//! errors come in the Service Layer's shape,
//! `{"error": {"code": <number>, "message": {"lang", "value"}}}`.
//! Tests can add latency, 5xx, throttling, cut-off and huge answers, answer a create only
//! after the client gave up, take the whole service down, and expire every session at once.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};
use stockade::adapters::ErpAdapter;
use stockade::adapters::sap_b1::{SapB1, SapB1Config};
use stockade::config::Secret;

use super::{Doc, Fault, Figure, Stock};

pub const SAP_COMPANY: &str = "SBODEMOUS";
pub const SAP_USER: &str = "stockade";
pub const SAP_PASSWORD: &str = "b1-test-password";
/// The one customer the fake company knows.
pub const SAP_CARD_CODE: &str = "C20000";
const ROUTE: &str = ".node1";
const DEFAULT_PAGE: usize = 20;

/// What the next requests suffer; each count is spent one request at a time.
#[derive(Default)]
pub struct SapFaults {
    /// Added before every answer.
    pub latency: Option<Duration>,
    /// Added before the next answer only.
    pub next_latency: Option<Duration>,
    /// Answered 500 in the Service Layer's error shape.
    pub fail_5xx: usize,
    /// Answered 503 with `Retry-After: <retry_after_secs>`, as a proxy in front sheds load.
    pub throttle: usize,
    pub retry_after_secs: u64,
    /// Answered 200 with a cut-off body.
    pub malformed: usize,
    /// Answered 200 with 17 MiB.
    pub huge: usize,
    /// The next create is saved, then answered only after this long.
    pub slow_create: Option<Duration>,
    /// Every request, the login included, is answered 503 in the Service Layer's shape.
    pub down: bool,
}

pub struct SapState {
    /// Session id → when it was last used.
    sessions: Mutex<HashMap<String, Instant>>,
    /// Idle time after which a session is gone.
    pub session_ttl: Mutex<Duration>,
    pub logins: AtomicUsize,
    pub logouts: AtomicUsize,
    /// `ItemCode` → the whole `Items` record.
    pub items: Mutex<BTreeMap<String, Value>>,
    /// Entity set → its documents, in creation order.
    pub documents: Mutex<BTreeMap<String, Vec<Value>>>,
    next_entry: AtomicI64,
    pub faults: Mutex<SapFaults>,
    /// `Prefer` header of every list request.
    pub prefers: Mutex<Vec<String>>,
    /// Every list request's entity set.
    pub lists: Mutex<Vec<String>>,
}

pub struct FakeSapB1 {
    pub addr: SocketAddr,
    pub state: Arc<SapState>,
}

impl FakeSapB1 {
    pub async fn start() -> Self {
        let state = Arc::new(SapState {
            sessions: Mutex::default(),
            session_ttl: Mutex::new(Duration::from_secs(30 * 60)),
            logins: AtomicUsize::new(0),
            logouts: AtomicUsize::new(0),
            items: Mutex::default(),
            documents: Mutex::default(),
            next_entry: AtomicI64::new(1),
            faults: Mutex::default(),
            prefers: Mutex::default(),
            lists: Mutex::default(),
        });
        let app = Router::new()
            .route("/b1s/v1/Login", post(login))
            .route("/b1s/v1/Logout", post(logout))
            .route("/b1s/v1/{entity}", get(list).post(create))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds an item with one `(warehouse, in_stock, committed, ordered)` row per warehouse,
    /// with the many null account fields and nested arrays real records carry.
    pub fn add_item(&self, code: &str, warehouses: &[(&str, Value, Value, Value)]) {
        let rows: Vec<Value> = warehouses
            .iter()
            .map(|(wh, in_stock, committed, ordered)| {
                json!({
                    "MinimalStock": 0.0, "MaximalStock": 0.0, "MinimalOrder": 0.0,
                    "StandardAveragePrice": 0.0, "Locked": "tNO",
                    "InventoryAccount": null, "CostAccount": null, "ExpensesAccount": null,
                    "WarehouseCode": wh, "InStock": in_stock, "Committed": committed,
                    "Ordered": ordered, "CountedQuantity": 0.0, "WasCounted": "tNO",
                    "ItemCode": code, "ItemCycleCounts": []
                })
            })
            .collect();
        self.state.items.lock().unwrap().insert(
            code.to_owned(),
            json!({
                "ItemCode": code, "ItemName": format!("Item {code}"), "ItemType": "itItems",
                "InventoryItem": "tYES", "SalesItem": "tYES", "ManageBatchNumbers": "tNO",
                "QuantityOnStock": 0.0, "ItemWarehouseInfoCollection": rows
            }),
        );
    }

    pub fn documents(&self, entity: &str) -> Vec<Value> {
        self.state
            .documents
            .lock()
            .unwrap()
            .get(entity)
            .cloned()
            .unwrap_or_default()
    }

    /// A delivery note copied from the order keyed `num_at_card`, as a warehouse clerk
    /// would make one: B1 copies the customer reference, and each line draws on the first
    /// order line of its item with some of it open, from that line's warehouse.
    pub fn deliver(
        &self,
        num_at_card: &str,
        lines: &[(&str, i64)],
        tracking: &str,
        cancelled: bool,
    ) {
        let mut documents = self.state.documents.lock().unwrap();
        let mut order = documents
            .get_mut("Orders")
            .and_then(|orders| orders.iter_mut().find(|o| o["NumAtCard"] == num_at_card));
        let mut note_lines = Vec::new();
        for (n, (item, qty)) in lines.iter().enumerate() {
            let mut line = json!({"LineNum": n, "ItemCode": item, "Quantity": *qty as f64});
            if let Some(order) = order.as_deref_mut()
                && let Some(Value::Array(base)) = order.get_mut("DocumentLines")
                && let Some(base) = base.iter_mut().find(|l| {
                    l["ItemCode"] == *item && l["RemainingOpenQuantity"].as_f64() > Some(0.0)
                })
            {
                let open = base["RemainingOpenQuantity"].as_f64().unwrap_or(0.0);
                base["RemainingOpenQuantity"] = json!((open - *qty as f64).max(0.0));
                line["BaseLine"] = base["LineNum"].clone();
                if let Some(warehouse) = base.get("WarehouseCode") {
                    line["WarehouseCode"] = warehouse.clone();
                }
            }
            if let Some(order) = order.as_deref() {
                line["BaseType"] = json!(17);
                line["BaseEntry"] = order["DocEntry"].clone();
            }
            note_lines.push(line);
        }
        let lines = note_lines;
        book_lines(
            &mut self.state.items.lock().unwrap(),
            "DeliveryNotes",
            &lines,
        );
        let entry = self.state.next_entry.fetch_add(1, Ordering::SeqCst);
        documents
            .entry("DeliveryNotes".into())
            .or_default()
            .push(json!({
                "DocEntry": entry, "DocNum": 1000 + entry, "DocType": "dDocument_Items",
                "DocDate": "2026-03-02", "CardCode": SAP_CARD_CODE, "NumAtCard": num_at_card,
                "TrackingNumber": tracking, "Cancelled": if cancelled { "tYES" } else { "tNO" },
                "DocumentStatus": "bost_Open", "DocumentLines": lines
            }));
    }

    /// A delivery note copied from the order whose `DocEntry` is `entry`.
    pub fn deliver_from(&self, entry: &str, lines: &[(&str, i64)]) {
        let order = self
            .documents("Orders")
            .into_iter()
            .find(|o| o["DocEntry"] == entry.parse::<i64>().unwrap())
            .expect("the order was created");
        let key = order["NumAtCard"].as_str().unwrap_or_default().to_owned();
        self.deliver(&key, lines, "", false);
    }

    /// Every session ends now, as when the Service Layer restarts.
    pub fn expire_sessions(&self) {
        self.state.sessions.lock().unwrap().clear();
    }

    pub fn live_sessions(&self) -> usize {
        self.state.sessions.lock().unwrap().len()
    }

    pub fn faults(&self) -> std::sync::MutexGuard<'_, SapFaults> {
        self.state.faults.lock().unwrap()
    }
}

fn error(status: StatusCode, code: i64, value: &str) -> Response {
    (
        status,
        [(
            CONTENT_TYPE,
            "application/json;odata=minimalmetadata;charset=utf-8",
        )],
        json!({"error": {"code": code, "message": {"lang": "en-us", "value": value}}}).to_string(),
    )
        .into_response()
}

fn invalid_session() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        301,
        "Invalid session or session already timeout.",
    )
}

fn unavailable() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        -1,
        "Service Unavailable: the Service Layer is not running",
    )
}

async fn login(State(s): State<Arc<SapState>>, body: String) -> Response {
    if s.faults.lock().unwrap().down {
        return unavailable();
    }
    let Ok(v) = serde_json::from_str::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            -1000,
            "Invalid JSON in request body",
        );
    };
    if v["CompanyDB"] != SAP_COMPANY || v["UserName"] != SAP_USER || v["Password"] != SAP_PASSWORD {
        return error(StatusCode::UNAUTHORIZED, 100_000_027, "Login failed");
    }
    s.logins.fetch_add(1, Ordering::SeqCst);
    let id = format!("{:032x}", rand::random::<u128>());
    s.sessions
        .lock()
        .unwrap()
        .insert(id.clone(), Instant::now());
    let minutes = s.session_ttl.lock().unwrap().as_secs().div_ceil(60);
    let mut resp = ok_json(json!({
        "odata.metadata": "/b1s/v1/$metadata#B1Sessions/@Element",
        "SessionId": id, "Version": "1000110", "SessionTimeout": minutes
    }));
    let headers = resp.headers_mut();
    headers.append(
        SET_COOKIE,
        format!("B1SESSION={id}; path=/b1s; HttpOnly")
            .parse()
            .unwrap(),
    );
    headers.append(
        SET_COOKIE,
        format!("ROUTEID={ROUTE}; path=/b1s").parse().unwrap(),
    );
    resp
}

fn ok_json(v: Value) -> Response {
    (
        StatusCode::OK,
        [(
            CONTENT_TYPE,
            "application/json;odata=minimalmetadata;charset=utf-8",
        )],
        v.to_string(),
    )
        .into_response()
}

/// The session the cookies name, if it is alive; using it keeps it alive.
fn session(s: &SapState, headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get(COOKIE)?.to_str().ok()?;
    let mut id = None;
    let mut route = None;
    for pair in cookies.split(';') {
        match pair.trim().split_once('=') {
            Some(("B1SESSION", v)) => id = Some(v.to_owned()),
            Some(("ROUTEID", v)) => route = Some(v.to_owned()),
            _ => {}
        }
    }
    // Without its route the balancer sends the call to a node that never saw the session.
    if route.as_deref() != Some(ROUTE) {
        return None;
    }
    let id = id?;
    let ttl = *s.session_ttl.lock().unwrap();
    let mut sessions = s.sessions.lock().unwrap();
    let last = sessions.get_mut(&id)?;
    if last.elapsed() > ttl {
        sessions.remove(&id);
        return None;
    }
    *last = Instant::now();
    Some(id)
}

async fn logout(State(s): State<Arc<SapState>>, headers: HeaderMap) -> Response {
    let Some(id) = session(&s, &headers) else {
        return invalid_session();
    };
    s.sessions.lock().unwrap().remove(&id);
    s.logouts.fetch_add(1, Ordering::SeqCst);
    StatusCode::NO_CONTENT.into_response()
}

/// The fault to answer with instead, after any latency.
async fn faulted(s: &SapState) -> Option<Response> {
    let latency = {
        let mut f = s.faults.lock().unwrap();
        f.next_latency.take().or(f.latency)
    };
    if let Some(d) = latency {
        tokio::time::sleep(d).await;
    }
    let mut f = s.faults.lock().unwrap();
    if f.down {
        return Some(unavailable());
    }
    if f.fail_5xx > 0 {
        f.fail_5xx -= 1;
        return Some(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            -1,
            "Internal server error",
        ));
    }
    if f.throttle > 0 {
        f.throttle -= 1;
        return Some(
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [("retry-after", f.retry_after_secs.to_string())],
                "busy",
            )
                .into_response(),
        );
    }
    if f.malformed > 0 {
        f.malformed -= 1;
        return Some(
            (
                StatusCode::OK,
                [(CONTENT_TYPE, "application/json")],
                r#"{"value": [{"ItemCode": "A"#,
            )
                .into_response(),
        );
    }
    if f.huge > 0 {
        f.huge -= 1;
        let mut body = String::from(r#"{"value": [], "padding": ""#);
        body.push_str(&"x".repeat(17 * 1024 * 1024));
        body.push_str("\"}");
        return Some((StatusCode::OK, [(CONTENT_TYPE, "application/json")], body).into_response());
    }
    None
}

/// One clause of a `$filter` as the adapter writes them.
enum Clause {
    /// `Field eq 'v'`
    Eq(String, String),
    /// `startswith(Field, 'v')`
    StartsWith(String, String),
}

impl Clause {
    fn holds(&self, row: &Value) -> bool {
        match self {
            Self::Eq(field, v) => row[field.as_str()] == v.as_str(),
            Self::StartsWith(field, v) => row[field.as_str()]
                .as_str()
                .is_some_and(|s| s.starts_with(v.as_str())),
        }
    }
}

/// `$filter` as the adapter writes it: `Field eq 'v'` and `startswith(Field, 'v')` joined
/// by ` or `.
fn parse_filter(filter: &str) -> Option<Vec<Clause>> {
    let text = |v: &str| {
        let v = v.trim().strip_prefix('\'')?.strip_suffix('\'')?;
        Some(v.replace("''", "'"))
    };
    filter
        .split(" or ")
        .map(|clause| {
            let clause = clause.trim();
            if let Some(args) = clause
                .strip_prefix("startswith(")
                .and_then(|c| c.strip_suffix(')'))
            {
                let (field, value) = args.split_once(',')?;
                return Some(Clause::StartsWith(field.trim().to_owned(), text(value)?));
            }
            let (field, value) = clause.split_once(" eq ")?;
            Some(Clause::Eq(field.trim().to_owned(), text(value)?))
        })
        .collect()
}

async fn list(
    State(s): State<Arc<SapState>>,
    Path(entity): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    if session(&s, &headers).is_none() {
        return invalid_session();
    }
    if let Some(r) = faulted(&s).await {
        return r;
    }
    let prefer = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    s.prefers.lock().unwrap().push(prefer.clone());
    s.lists.lock().unwrap().push(entity.clone());
    let rows: Vec<Value> = if entity == "Items" {
        s.items.lock().unwrap().values().cloned().collect()
    } else if matches!(
        entity.as_str(),
        "Orders" | "DeliveryNotes" | "ReturnRequest" | "CreditNotes"
    ) {
        s.documents
            .lock()
            .unwrap()
            .get(&entity)
            .cloned()
            .unwrap_or_default()
    } else {
        return error(
            StatusCode::NOT_FOUND,
            -2028,
            "No matching records found (ODBC -2028)",
        );
    };
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut rows = rows;
    if let Some(filter) = param("$filter") {
        let Some(clauses) = parse_filter(&filter) else {
            return error(StatusCode::BAD_REQUEST, -1000, "Invalid filter expression");
        };
        rows.retain(|r| clauses.iter().any(|c| c.holds(r)));
    }
    let skip: usize = param("$skip").and_then(|v| v.parse().ok()).unwrap_or(0);
    let top: Option<usize> = param("$top").and_then(|v| v.parse().ok());
    let page = prefer
        .strip_prefix("odata.maxpagesize=")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_PAGE);
    let end = rows
        .len()
        .min(skip + page)
        .min(top.map_or(usize::MAX, |t| skip + t));
    let select: Option<Vec<String>> =
        param("$select").map(|s| s.split(',').map(|f| f.trim().to_owned()).collect());
    let value: Vec<Value> = rows[skip.min(end)..end]
        .iter()
        .map(|r| match &select {
            Some(fields) => Value::Object(
                fields
                    .iter()
                    .filter_map(|f| r.get(f).map(|v| (f.clone(), v.clone())))
                    .collect::<Map<_, _>>(),
            ),
            None => r.clone(),
        })
        .collect();
    let mut body = json!({
        "odata.metadata": format!("/b1s/v1/$metadata#{entity}"),
        "value": value
    });
    if end < rows.len() && top.is_none() {
        let mut next: Vec<String> = query
            .iter()
            .filter(|(k, _)| k != "$skip")
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
            .collect();
        next.push(format!("$skip={end}"));
        body["odata.nextLink"] = json!(format!("/b1s/v1/{entity}?{}", next.join("&")));
    }
    (
        StatusCode::OK,
        [
            (
                "content-type",
                "application/json;odata=minimalmetadata;charset=utf-8".to_owned(),
            ),
            ("preference-applied", format!("odata.maxpagesize={page}")),
        ],
        body.to_string(),
    )
        .into_response()
}

async fn create(
    State(s): State<Arc<SapState>>,
    Path(entity): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if session(&s, &headers).is_none() {
        return invalid_session();
    }
    if let Some(r) = faulted(&s).await {
        return r;
    }
    if !matches!(
        entity.as_str(),
        "Orders" | "DeliveryNotes" | "ReturnRequest" | "CreditNotes"
    ) {
        return error(
            StatusCode::BAD_REQUEST,
            -5006,
            "The requested action is not supported for this object.",
        );
    }
    let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            -1000,
            "Invalid JSON in request body",
        );
    };
    let doc = match save(&s, entity, doc) {
        Ok(doc) => doc,
        Err((status, code, why)) => return error(status, code, &why),
    };
    let slow = s.faults.lock().unwrap().slow_create.take();
    if let Some(d) = slow {
        tokio::time::sleep(d).await;
    }
    (
        StatusCode::CREATED,
        [(
            CONTENT_TYPE,
            "application/json;odata=minimalmetadata;charset=utf-8",
        )],
        doc.to_string(),
    )
        .into_response()
}

/// A refusal in the Service Layer's terms: status, error code, message.
type Refusal = (StatusCode, i64, String);

fn refusal(status: StatusCode, code: i64, value: &str) -> Refusal {
    (status, code, value.to_owned())
}

/// Checks a new document as B1 does and saves it; the saved document, or the refusal.
fn save(s: &SapState, entity: String, mut doc: Map<String, Value>) -> Result<Value, Refusal> {
    if doc.get("CardCode").and_then(Value::as_str) != Some(SAP_CARD_CODE) {
        return Err(refusal(StatusCode::BAD_REQUEST, -10, "Invalid BP code"));
    }
    let Some(Value::Array(lines)) = doc.get_mut("DocumentLines") else {
        return Err(refusal(
            StatusCode::BAD_REQUEST,
            -5002,
            "To generate this document, first define the numbering series in the Administration module",
        ));
    };
    if lines.is_empty() {
        return Err(refusal(
            StatusCode::BAD_REQUEST,
            -5002,
            "Document has no lines",
        ));
    }
    // Checked and saved under one lock, so that two creates never both draw on the same
    // open quantity.
    let mut documents = s.documents.lock().unwrap();
    for (n, line) in lines.iter_mut().enumerate() {
        based_on_order(&mut documents, line)?;
        let item = line["ItemCode"].as_str().unwrap_or_default().to_owned();
        if !s.items.lock().unwrap().contains_key(&item) {
            return Err(refusal(
                StatusCode::BAD_REQUEST,
                -10,
                &format!("Invalid item code '{item}'"),
            ));
        }
        let Some(qty) = quantity(&line["Quantity"]).filter(|q| *q > 0.0) else {
            return Err(refusal(
                StatusCode::BAD_REQUEST,
                -10,
                "Quantity must be positive",
            ));
        };
        line["LineNum"] = json!(n);
        line["Quantity"] = json!(qty);
        line["LineStatus"] = json!("bost_Open");
        if entity == "Orders" {
            line["RemainingOpenQuantity"] = json!(qty);
        }
    }
    if let Some(Value::Array(lines)) = doc.get("DocumentLines") {
        take_open_quantities(&mut documents, lines);
        book_lines(&mut s.items.lock().unwrap(), &entity, lines);
    }
    let entry = s.next_entry.fetch_add(1, Ordering::SeqCst);
    doc.insert("DocEntry".into(), json!(entry));
    doc.insert("DocNum".into(), json!(1000 + entry));
    doc.insert("DocumentStatus".into(), json!("bost_Open"));
    doc.insert("Cancelled".into(), json!("tNO"));
    let doc = Value::Object(doc);
    documents.entry(entity).or_default().push(doc.clone());
    Ok(doc)
}

/// Moves the warehouse figures of the items on these lines as B1 does for `entity`: an
/// order commits its quantity, a delivery note takes it off `InStock` and, for a line
/// based on an order, off `Committed`. A line without a `WarehouseCode` would use the
/// item's default warehouse, which the fake does not keep, so it moves nothing.
fn book_lines(items: &mut BTreeMap<String, Value>, entity: &str, lines: &[Value]) {
    for line in lines {
        let qty = quantity(&line["Quantity"]).unwrap_or(0.0);
        let (in_stock, committed) = match entity {
            "Orders" => (0.0, qty),
            "DeliveryNotes" if line["BaseType"] == 17 => (-qty, -qty),
            "DeliveryNotes" => (-qty, 0.0),
            _ => continue,
        };
        let (Some(item), Some(warehouse)) =
            (line["ItemCode"].as_str(), line["WarehouseCode"].as_str())
        else {
            continue;
        };
        let Some(Value::Array(rows)) = items
            .get_mut(item)
            .and_then(|i| i.get_mut("ItemWarehouseInfoCollection"))
        else {
            continue;
        };
        if !rows.iter().any(|r| r["WarehouseCode"] == warehouse) {
            // B1 links an item to a warehouse on the first document that uses it there.
            rows.push(json!({"WarehouseCode": warehouse, "ItemCode": item,
                "InStock": 0.0, "Committed": 0.0, "Ordered": 0.0}));
        }
        let row = rows
            .iter_mut()
            .find(|r| r["WarehouseCode"] == warehouse)
            .expect("added above");
        for (field, change) in [("InStock", in_stock), ("Committed", committed)] {
            let now = quantity(&row[field]).unwrap_or(0.0);
            row[field] = json!(now + change);
        }
    }
}

fn quantity(v: &Value) -> Option<f64> {
    match v {
        Value::Number(q) => q.as_f64(),
        Value::String(q) => q.parse().ok(),
        _ => None,
    }
}

/// The order line a line with `BaseType` 17 is based on, checked: it must exist, and the
/// line may not take more than it has open. The item and warehouse come from it.
fn based_on_order(
    documents: &mut BTreeMap<String, Vec<Value>>,
    line: &mut Value,
) -> Result<(), Refusal> {
    if line.get("BaseType").is_none() {
        return Ok(());
    }
    let invalid = |what: &str| refusal(StatusCode::BAD_REQUEST, -5002, what);
    if line["BaseType"] != 17 {
        return Err(invalid("Invalid base document type"));
    }
    let base = documents
        .get("Orders")
        .into_iter()
        .flatten()
        .find(|o| o["DocEntry"] == line["BaseEntry"])
        .and_then(|o| {
            let lines = o["DocumentLines"].as_array()?;
            lines
                .iter()
                .find(|l| l["LineNum"] == line["BaseLine"])
                .cloned()
        });
    let Some(base) = base else {
        return Err(refusal(
            StatusCode::NOT_FOUND,
            -2028,
            "No matching records found (ODBC -2028)",
        ));
    };
    let open = base["RemainingOpenQuantity"].as_f64().unwrap_or(0.0);
    if quantity(&line["Quantity"]).is_none_or(|q| q > open) {
        return Err(invalid(
            "Quantity exceeds the open quantity of the base document line",
        ));
    }
    line["ItemCode"] = base["ItemCode"].clone();
    if let Some(warehouse) = base.get("WarehouseCode") {
        line["WarehouseCode"] = warehouse.clone();
    }
    Ok(())
}

/// Lowers the open quantity of the order lines these lines are based on.
fn take_open_quantities(documents: &mut BTreeMap<String, Vec<Value>>, lines: &[Value]) {
    for line in lines.iter().filter(|l| l["BaseType"] == 17) {
        let orders = documents.get_mut("Orders").into_iter().flatten();
        let Some(order) = orders
            .into_iter()
            .find(|o| o["DocEntry"] == line["BaseEntry"])
        else {
            continue;
        };
        if let Some(Value::Array(base)) = order.get_mut("DocumentLines")
            && let Some(base) = base.iter_mut().find(|l| l["LineNum"] == line["BaseLine"])
        {
            let open = base["RemainingOpenQuantity"].as_f64().unwrap_or(0.0);
            let taken = line["Quantity"].as_f64().unwrap_or(0.0);
            base["RemainingOpenQuantity"] = json!(open - taken);
        }
    }
}

/// The conformance suite's view of the fake company: items with their warehouse figures
/// (B1 keeps no quarantine figure), documents counted by their customer reference.
impl super::ErpFake for FakeSapB1 {
    const NAME: &'static str = "sap_b1";
    const FIGURES: &'static [Figure] = &[Figure::OnHand, Figure::Committed, Figure::Incoming];

    async fn start() -> Self {
        FakeSapB1::start().await
    }

    fn adapter(&self) -> Arc<dyn ErpAdapter> {
        Arc::new(
            SapB1::new(SapB1Config {
                url: self.url(),
                company_db: SAP_COMPANY.into(),
                user: SAP_USER.into(),
                password: Secret::new(SAP_PASSWORD),
                card_code: SAP_CARD_CODE.into(),
                timeout: Duration::from_millis(700),
                page_size: 7,
            })
            .unwrap(),
        )
    }

    fn seed_stock(&self, rows: &[Stock]) {
        let mut by_item: BTreeMap<&str, Vec<(&str, Value, Value, Value)>> = BTreeMap::new();
        for r in rows {
            by_item.entry(&r.sku).or_default().push((
                &r.location,
                json!(r.on_hand as f64),
                json!(r.committed as f64),
                json!(r.incoming as f64),
            ));
        }
        for (item, warehouses) in by_item {
            self.add_item(item, &warehouses);
        }
    }

    fn documents_with_ref(&self, doc: Doc, external_ref: &str) -> usize {
        let entity = match doc {
            Doc::SalesOrder => "Orders",
            Doc::Shipment => "DeliveryNotes",
            Doc::Return => "ReturnRequest",
            Doc::Credit => "CreditNotes",
        };
        let matches = |d: &Value| {
            let key = d["NumAtCard"].as_str().unwrap_or_default();
            match doc {
                // The adapter keys a delivery note by `<order id>/<shipment id>`.
                Doc::Shipment => key.split_once('/').is_some_and(|(_, s)| s == external_ref),
                _ => key == external_ref,
            }
        };
        self.documents(entity).iter().filter(|d| matches(d)).count()
    }

    fn ship(&self, erp_order: &str, lines: &[(&str, i64)]) {
        self.deliver_from(erp_order, lines);
    }

    fn inject(&self, fault: Fault) {
        match fault {
            Fault::ExpireSession => self.expire_sessions(),
            fault => {
                let mut f = self.faults();
                match fault {
                    Fault::Latency(d) => f.next_latency = Some(d),
                    Fault::SlowWrite(d) => f.slow_create = Some(d),
                    Fault::Throttle(n) => {
                        f.throttle += n;
                        f.retry_after_secs = 1;
                    }
                    Fault::ServerError(n) => f.fail_5xx += n,
                    Fault::Malformed(n) => f.malformed += n,
                    Fault::Huge(n) => f.huge += n,
                    Fault::Down(down) => f.down = down,
                    Fault::ExpireSession => unreachable!("handled above"),
                }
            }
        }
    }
}
