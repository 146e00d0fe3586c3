//! A fake ERPNext site on loopback, speaking the part of Frappe's REST API the adapter
//! uses: `/api/resource/<DocType>` lists (`fields`, `filters` in both the three- and the
//! four-element form, the latter on child tables, `order_by`, `limit_start`,
//! `limit_page_length` with 20 rows by default and `0` for all, `{"data": [...]}` with no
//! total), documents read, inserted (submitted at once with `docstatus: 1`) and submitted
//! by `PUT`, and `/api/method/frappe.auth.get_logged_user`.
//!
//! It checks `Authorization: token <key>:<secret>` for real: no header is a 403
//! `PermissionError`, an unknown key or a wrong secret a 401 `AuthenticationError`. Errors
//! come in Frappe's shape (`exc_type`, `exception`, `_server_messages` as a JSON string of
//! JSON strings), validation errors as 417. Its rate limiter answers as Frappe's does: 429,
//! a plain-text "Too Many Requests", `Retry-After` and the `X-RateLimit-*` headers. A site
//! in maintenance answers 503 `SessionStopped`. The documents' rules live in [`books`].

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};
use stockade::adapters::ErpAdapter;
use stockade::adapters::erpnext::auth::ApiToken;
use stockade::adapters::erpnext::map::Warehouses;
use stockade::adapters::erpnext::{ErpNext, ErpNextConfig};
use stockade::config::Secret;

use super::{Doc, Fault, Figure, Stock};

pub mod books;

use books::{Books, Refusal, flt};

pub const API_KEY: &str = "4c1e9a0d7b3f2e8";
pub const API_SECRET: &str = "b72f0c9e41d5a63";
pub const COMPANY: &str = "Acme Retail";
pub const ABBR: &str = "ACME";
pub const CUSTOMER: &str = "Web Shop";
pub const USER: &str = "stockade@acme.example";
const DEFAULT_PAGE: usize = 20;

/// What the next requests suffer; each count is spent one request at a time.
#[derive(Default)]
pub struct Faults {
    /// Added after the work of the next answer only.
    pub next_latency: Option<Duration>,
    /// Answered 500, as an unhandled database error.
    pub fail_5xx: usize,
    /// Answered by the rate limiter with `Retry-After: <retry_after_secs>`.
    pub throttle: usize,
    pub retry_after_secs: u64,
    /// Answered 200 with a cut-off body.
    pub malformed: usize,
    /// Answered 200 with 9 MiB.
    pub huge: usize,
    /// The next write is saved, then answered only after this long.
    pub slow_write: Option<Duration>,
    /// Every request is answered 503 `SessionStopped`, as a site in maintenance.
    pub down: bool,
    /// The next request's credential is refused once, as while the site's cache of API
    /// keys is rebuilt.
    pub refuse_once: bool,
}

/// One list request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub doctype: String,
    pub limit_start: usize,
    pub limit_page_length: usize,
    pub order_by: String,
}

#[derive(Default)]
pub struct SiteState {
    pub books: Mutex<Books>,
    pub faults: Mutex<Faults>,
    /// Credentials refused, counted.
    pub refusals: AtomicUsize,
    pub lists: Mutex<Vec<Listed>>,
    /// Doctypes the API user has no role for.
    pub forbidden: Mutex<BTreeSet<String>>,
}

pub struct FakeErpNext {
    pub addr: SocketAddr,
    pub state: Arc<SiteState>,
}

impl FakeErpNext {
    pub async fn start() -> Self {
        let state = Arc::new(SiteState::default());
        let app = Router::new()
            .route("/api/method/{method}", get(method))
            .route("/api/resource/{doctype}", get(list).post(insert))
            .route("/api/resource/{doctype}/{name}", get(read).put(update))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self) -> ErpNextConfig {
        ErpNextConfig {
            url: self.url(),
            token: ApiToken {
                key: API_KEY.into(),
                secret: Secret::new(API_SECRET),
            },
            company: COMPANY.into(),
            customer: CUSTOMER.into(),
            warehouses: Warehouses::new(Some(ABBR.into()), "").unwrap(),
            timeout: Duration::from_millis(700),
            page_size: 7,
        }
    }

    pub fn books(&self) -> MutexGuard<'_, Books> {
        self.state.books.lock().unwrap()
    }

    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        self.state.faults.lock().unwrap()
    }

    pub fn documents(&self, doctype: &str) -> Vec<Value> {
        self.books().rows(doctype)
    }

    /// The bin of `item` at `warehouse`, if ERPNext has one.
    pub fn bin(&self, item: &str, warehouse: &str) -> Option<Value> {
        self.books()
            .bins
            .iter()
            .find(|b| b["item_code"] == item && b["warehouse"] == warehouse)
            .cloned()
    }

    /// A submitted delivery note made from the sales order `so` as a clerk's "Create ›
    /// Delivery Note" makes one: `po_no` copied, each line drawn from the first rows of
    /// its item with something left to deliver, from those rows' warehouses.
    pub fn deliver(&self, so: &str, lines: &[(&str, i64)], tracking: &str) -> Value {
        let mut books = self.books();
        let order = books
            .find("Sales Order", so)
            .cloned()
            .expect("the order exists");
        let mut left: Vec<(Value, f64)> = order["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r.clone(), flt(&r["qty"]) - flt(&r["delivered_qty"])))
            .collect();
        let mut items = Vec::new();
        for (item, qty) in lines {
            let mut rest = *qty as f64;
            for (row, open) in left.iter_mut().filter(|(r, _)| r["item_code"] == *item) {
                let take = rest.min(*open);
                if take <= 0.0 {
                    continue;
                }
                items.push(json!({"item_code": item, "qty": take, "rate": row["rate"],
                    "warehouse": row["warehouse"], "against_sales_order": so, "so_detail": row["name"]}));
                *open -= take;
                rest -= take;
            }
        }
        let body = json!({"customer": CUSTOMER, "company": COMPANY, "po_no": order["po_no"],
            "lr_no": tracking, "docstatus": 1, "items": items});
        let Value::Object(body) = body else {
            unreachable!()
        };
        books
            .insert("Delivery Note", body)
            .expect("the order has that much left to deliver")
    }
}

/// Frappe's error body: `exception`, `exc_type` and `_server_messages`, a JSON string of
/// JSON strings.
pub fn frappe_error(status: StatusCode, exc_type: &str, message: &str) -> Response {
    let inner = json!({"message": message, "title": "Message", "indicator": "red",
        "raise_exception": 1, "__frappe_exc_id": format!("{:032x}", rand::random::<u128>())});
    let messages = serde_json::to_string(&[inner.to_string()]).unwrap();
    let body = json!({
        "exception": format!("frappe.exceptions.{exc_type}: {message}"),
        "exc_type": exc_type,
        "_server_messages": messages,
    });
    (
        status,
        [(CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn refused((status, exc_type, message): Refusal) -> Response {
    frappe_error(status, exc_type, &message)
}

fn ok(data: Value) -> Response {
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json")],
        json!({"data": data}).to_string(),
    )
        .into_response()
}

/// The answer to send instead of doing the work, if any: maintenance, the credential,
/// the rate limiter, then the injected faults.
fn gate(s: &SiteState, headers: &HeaderMap) -> Option<Response> {
    let mut f = s.faults.lock().unwrap();
    if f.down {
        return Some(frappe_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SessionStopped",
            "Session Stopped",
        ));
    }
    let Some(auth) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Some(frappe_error(
            StatusCode::FORBIDDEN,
            "PermissionError",
            "Not permitted",
        ));
    };
    let pair = auth.strip_prefix("token ").and_then(|t| t.split_once(':'));
    if pair != Some((API_KEY, API_SECRET)) || std::mem::take(&mut f.refuse_once) {
        s.refusals.fetch_add(1, Ordering::SeqCst);
        // Frappe raises AuthenticationError without a message for a bad key or secret.
        let body = json!({"exc_type": "AuthenticationError",
            "exception": "frappe.exceptions.AuthenticationError"});
        return Some(
            (
                StatusCode::UNAUTHORIZED,
                [(CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response(),
        );
    }
    if f.throttle > 0 {
        f.throttle -= 1;
        let reset = f.retry_after_secs.to_string();
        return Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    ("content-type", "text/html; charset=utf-8".to_owned()),
                    ("retry-after", reset.clone()),
                    ("x-ratelimit-reset", reset),
                    // Frappe's limit counts microseconds of request time per window.
                    ("x-ratelimit-limit", "600000000".to_owned()),
                    ("x-ratelimit-remaining", "0".to_owned()),
                ],
                "Too Many Requests",
            )
                .into_response(),
        );
    }
    if f.fail_5xx > 0 {
        f.fail_5xx -= 1;
        return Some(frappe_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "OperationalError",
            "(2013, 'Lost connection to MySQL server during query')",
        ));
    }
    if f.malformed > 0 {
        f.malformed -= 1;
        return Some(
            (
                StatusCode::OK,
                [(CONTENT_TYPE, "application/json")],
                r#"{"data": [{"item_code": "SK"#,
            )
                .into_response(),
        );
    }
    if f.huge > 0 {
        f.huge -= 1;
        let mut body = String::from(r#"{"data": [], "padding": ""#);
        body.push_str(&"x".repeat(9 * 1024 * 1024));
        body.push_str("\"}");
        return Some((StatusCode::OK, [(CONTENT_TYPE, "application/json")], body).into_response());
    }
    None
}

/// Holds the answer as long as the next latency says, after its work is done.
async fn answer(s: &SiteState, resp: Response) -> Response {
    let latency = s.faults.lock().unwrap().next_latency.take();
    if let Some(d) = latency {
        tokio::time::sleep(d).await;
    }
    resp
}

fn forbidden(s: &SiteState, doctype: &str) -> Option<Response> {
    s.forbidden.lock().unwrap().contains(doctype).then(|| {
        frappe_error(
            StatusCode::FORBIDDEN,
            "PermissionError",
            &format!("<details><summary>You are not permitted to access this resource.</summary>User <strong>{USER}</strong> does not have doctype access via role permission for document <strong>{doctype}</strong></details>"),
        )
    })
}

async fn method(
    State(s): State<Arc<SiteState>>,
    Path(method): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&s, &headers) {
        return r;
    }
    let resp = if method == "frappe.auth.get_logged_user" {
        (
            StatusCode::OK,
            [(CONTENT_TYPE, "application/json")],
            json!({"message": USER}).to_string(),
        )
            .into_response()
    } else {
        frappe_error(
            StatusCode::FORBIDDEN,
            "PermissionError",
            &format!(
                "<details><summary>You are not permitted to access this resource.</summary>Function <strong>{method}</strong> is not whitelisted.</details>"
            ),
        )
    };
    answer(&s, resp).await
}

fn json_param(query: &[(String, String)], name: &str) -> Result<Option<Value>, Refusal> {
    match query.iter().find(|(k, _)| k == name) {
        None => Ok(None),
        Some((_, v)) => serde_json::from_str(v)
            .map(Some)
            .map_err(|e| invalid(format!("{name}: {e}"))),
    }
}

fn invalid(message: String) -> Refusal {
    (StatusCode::EXPECTATION_FAILED, "ValidationError", message)
}

async fn list(
    State(s): State<Arc<SiteState>>,
    Path(doctype): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&s, &headers).or_else(|| forbidden(&s, &doctype)) {
        return r;
    }
    let resp = match listing(&s, &doctype, &query) {
        Ok(rows) => ok(Value::Array(rows)),
        Err(r) => refused(r),
    };
    answer(&s, resp).await
}

fn listing(
    s: &SiteState,
    doctype: &str,
    query: &[(String, String)],
) -> Result<Vec<Value>, Refusal> {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let fields: Vec<String> = match json_param(query, "fields")? {
        Some(v) => serde_json::from_value(v).map_err(|e| invalid(format!("fields: {e}")))?,
        None => vec!["name".into()],
    };
    let filters: Vec<Vec<Value>> = match json_param(query, "filters")? {
        None => Vec::new(),
        // The dict form: `{"field": value}` means equality.
        Some(Value::Object(m)) => m
            .into_iter()
            .map(|(k, v)| vec![json!(k), json!("="), v])
            .collect(),
        Some(v) => serde_json::from_value(v).map_err(|e| invalid(format!("filters: {e}")))?,
    };
    let order_by = param("order_by").unwrap_or_else(|| "modified desc".into());
    let start: usize = param("limit_start")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let length: usize = param("limit_page_length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_PAGE);
    s.lists.lock().unwrap().push(Listed {
        doctype: doctype.to_owned(),
        limit_start: start,
        limit_page_length: length,
        order_by: order_by.clone(),
    });
    let rows = s
        .books
        .lock()
        .unwrap()
        .select(doctype, &filters, &order_by)?;
    let end = if length == 0 {
        rows.len()
    } else {
        rows.len().min(start + length)
    };
    Ok(rows[start.min(end)..end]
        .iter()
        .map(|r| {
            if fields.iter().any(|f| f == "*") {
                return r.clone();
            }
            Value::Object(
                fields
                    .iter()
                    .map(|f| (f.clone(), r[f.as_str()].clone()))
                    .collect::<Map<_, _>>(),
            )
        })
        .collect())
}

async fn read(
    State(s): State<Arc<SiteState>>,
    Path((doctype, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&s, &headers).or_else(|| forbidden(&s, &doctype)) {
        return r;
    }
    let found = s.books.lock().unwrap().find(&doctype, &name).cloned();
    let resp = match found {
        Some(doc) => ok(doc),
        None => refused(books::not_found(&doctype, &name)),
    };
    answer(&s, resp).await
}

/// Writes answer only after the slow-write delay, when one is set: the work is done, the
/// answer comes after the client gave up.
async fn written(s: &SiteState, result: Result<Value, Refusal>) -> Response {
    let resp = match result {
        Ok(doc) => ok(doc),
        Err(r) => return answer(s, refused(r)).await,
    };
    let slow = s.faults.lock().unwrap().slow_write.take();
    if let Some(d) = slow {
        tokio::time::sleep(d).await;
    }
    answer(s, resp).await
}

fn object(body: &str) -> Result<Map<String, Value>, Refusal> {
    match serde_json::from_str(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(invalid("Invalid JSON in request body".into())),
    }
}

async fn insert(
    State(s): State<Arc<SiteState>>,
    Path(doctype): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = gate(&s, &headers).or_else(|| forbidden(&s, &doctype)) {
        return r;
    }
    let doc = match object(&body) {
        Ok(doc) => doc,
        Err(r) => return refused(r),
    };
    let result = s.books.lock().unwrap().insert(&doctype, doc);
    written(&s, result).await
}

async fn update(
    State(s): State<Arc<SiteState>>,
    Path((doctype, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = gate(&s, &headers).or_else(|| forbidden(&s, &doctype)) {
        return r;
    }
    let changes = match object(&body) {
        Ok(changes) => changes,
        Err(r) => return refused(r),
    };
    let result = s.books.lock().unwrap().update(&doctype, &name, changes);
    written(&s, result).await
}

/// The key after `<order id>/` in a document's `po_no`.
fn keyed(doc: &Value, external_ref: &str) -> bool {
    doc["po_no"]
        .as_str()
        .and_then(|k| k.split_once('/'))
        .is_some_and(|(_, id)| id == external_ref)
}

/// The conformance suite's view of the fake site: bins per item and `<location> - ACME`
/// warehouse (a bin keeps no quarantine figure), documents counted by their `po_no`.
impl super::ErpFake for FakeErpNext {
    const NAME: &'static str = "erpnext";
    const FIGURES: &'static [Figure] = &[Figure::OnHand, Figure::Committed, Figure::Incoming];

    async fn start() -> Self {
        FakeErpNext::start().await
    }

    fn adapter(&self) -> Arc<dyn ErpAdapter> {
        Arc::new(ErpNext::new(self.config()).unwrap())
    }

    fn seed_stock(&self, rows: &[Stock]) {
        let mut books = self.books();
        for r in rows {
            let warehouse = format!("{} - {ABBR}", r.location);
            books.seed_bin(
                &r.sku,
                &warehouse,
                r.on_hand as f64,
                r.committed as f64,
                r.incoming as f64,
            );
        }
    }

    fn documents_with_ref(&self, doc: Doc, external_ref: &str) -> usize {
        // Sales orders carry the order id itself; the rest `<order id>/<id>`.
        let (doctype, is_return) = match doc {
            Doc::SalesOrder => ("Sales Order", false),
            Doc::Shipment => ("Delivery Note", false),
            Doc::Return => ("Delivery Note", true),
            Doc::Credit => ("Sales Invoice", true),
        };
        let wanted = |d: &Value| match doc {
            Doc::SalesOrder => d["po_no"] == external_ref,
            _ => (d["is_return"] == 1) == is_return && keyed(d, external_ref),
        };
        self.documents(doctype)
            .iter()
            .filter(|d| d["docstatus"].as_i64() < Some(2) && wanted(d))
            .count()
    }

    fn ship(&self, erp_order: &str, lines: &[(&str, i64)]) {
        self.deliver(erp_order, lines, "");
    }

    fn inject(&self, fault: Fault) {
        let mut f = self.faults();
        match fault {
            Fault::Latency(d) => f.next_latency = Some(d),
            Fault::SlowWrite(d) => f.slow_write = Some(d),
            Fault::Throttle(n) => {
                f.throttle += n;
                f.retry_after_secs = 1;
            }
            Fault::ServerError(n) => f.fail_5xx += n,
            Fault::ExpireSession => f.refuse_once = true,
            Fault::Malformed(n) => f.malformed += n,
            Fault::Huge(n) => f.huge += n,
            Fault::Down(down) => f.down = down,
        }
    }
}
