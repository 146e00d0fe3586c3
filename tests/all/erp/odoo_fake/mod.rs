//! A fake Odoo on loopback serving both external APIs over one database ([`records`]):
//!
//! - `POST /jsonrpc`: the `{"jsonrpc", "method": "call", "params": {"service": "object",
//!   "method": "execute_kw", "args": [db, uid, key, model, method, args, kwargs]}}`
//!   envelope; a wrong database, user id or key is refused as Odoo does, with HTTP 200 and
//!   an `error` member (`{code, message, data: {name, message, arguments, context,
//!   debug}}`), and so is every exception a method raises.
//! - `POST /json/2/<model>/<method>`: `Authorization: bearer <key>` (a wrong one is the
//!   documented 401 `werkzeug.exceptions.Unauthorized` "Invalid apikey"),
//!   `X-Odoo-Database` when sent, the named parameters as the body and the bare return
//!   value as the answer; exceptions come with a 4xx status and the same
//!   `{name, message, arguments, context, debug}` body.
//!
//! An expired session is answered in the recorded shape (JSON-RPC code 100,
//! `odoo.http.SessionExpiredException`; JSON-2 a 401 naming that exception). The proxy in
//! front throttles with 429 and `Retry-After`, fails with 502 (JSON-RPC) or 500 (JSON-2),
//! and answers 503 while the service is down. Tests can also cut answers short, make them
//! huge, hold the next answer, and hold the answer to the next call that makes a document
//! (`create`, `button_validate`) after the work is done.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};
use stockade::adapters::ErpAdapter;
use stockade::adapters::odoo::client::Transport;
use stockade::adapters::odoo::map::WarehouseMap;
use stockade::adapters::odoo::{Odoo, OdooConfig};
use stockade::config::Secret;

use super::{Doc, Fault, Figure, Stock};

pub mod records;

use records::{Db, Raised, id_of, no_method, raise};

pub const ODOO_DB: &str = "stockade-test";
pub const ODOO_UID: i64 = 2;
pub const ODOO_KEY: &str = "0dd0-test-api-key";
pub use records::PARTNER as ODOO_PARTNER;
/// Stockade's location codes and the fake's warehouse codes (Odoo allows five characters).
pub const WAREHOUSES: &str = "WH-EAST=EAST,WH-WEST=WEST,WH-MAIN=MAIN,3PL-EAST=3PLE";

/// What the next requests suffer; each count is spent one request at a time.
#[derive(Default)]
pub struct Faults {
    pub next_latency: Option<Duration>,
    pub fail_5xx: usize,
    pub throttle: usize,
    /// The `Retry-After` of a throttling answer, in seconds (1 when left at 0).
    pub retry_after_secs: u64,
    pub malformed: usize,
    pub huge: usize,
    /// Requests answered with the session-expired error.
    pub expire: usize,
    /// The next call that makes a document is done, then answered this late.
    pub slow_write: Option<Duration>,
    pub down: bool,
}

pub struct OdooState {
    pub db: Mutex<Db>,
    pub faults: Mutex<Faults>,
    /// `model.method` of every call that got past authentication.
    pub calls: Mutex<Vec<String>>,
    /// The `limit` of every `search_read`.
    pub limits: Mutex<Vec<Value>>,
    /// Calls answered with the session-expired error.
    pub expired: AtomicUsize,
}

/// A fake Odoo whose conformance adapter speaks JSON-2 when `JSON2`, JSON-RPC otherwise.
pub struct FakeOdooOn<const JSON2: bool> {
    pub addr: SocketAddr,
    pub state: Arc<OdooState>,
}

pub type FakeOdoo = FakeOdooOn<false>;
pub type FakeOdooJson2 = FakeOdooOn<true>;

impl<const JSON2: bool> FakeOdooOn<JSON2> {
    pub async fn start() -> Self {
        let state = Arc::new(OdooState {
            db: Mutex::new(Db::new()),
            faults: Mutex::default(),
            calls: Mutex::default(),
            limits: Mutex::default(),
            expired: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/jsonrpc", post(jsonrpc))
            .route("/json/2/{model}/{method}", post(json2))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn db(&self) -> MutexGuard<'_, Db> {
        self.state.db.lock().unwrap()
    }

    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        self.state.faults.lock().unwrap()
    }

    pub fn calls(&self) -> Vec<String> {
        self.state.calls.lock().unwrap().clone()
    }

    /// The adapter's settings for this fake over `transport`.
    pub fn config(&self, transport: Transport) -> OdooConfig {
        OdooConfig {
            url: self.url(),
            transport,
            api_key: Secret::new(ODOO_KEY),
            partner_id: ODOO_PARTNER,
            warehouses: WarehouseMap::parse(WAREHOUSES).unwrap(),
            timeout: Duration::from_millis(700),
            page_size: 7,
        }
    }

    pub fn json_rpc() -> Transport {
        Transport::JsonRpc {
            database: ODOO_DB.into(),
            uid: ODOO_UID,
        }
    }

    pub fn json_2() -> Transport {
        Transport::Json2 {
            database: Some(ODOO_DB.into()),
        }
    }

    /// Records of `model` matching `keep`.
    pub fn count(&self, model: &str, keep: impl Fn(&records::Record) -> bool) -> usize {
        self.db().all(model).filter(|r| keep(r)).count()
    }
}

/// The fake's warehouse code for a Stockade location.
pub fn warehouse_code(location: &str) -> String {
    WarehouseMap::parse(WAREHOUSES)
        .unwrap()
        .warehouse_code(location)
        .to_owned()
}

// --- The two transports --------------------------------------------------------------------

/// The start of the traceback in `debug`, as Odoo's own begin.
const TRACEBACK: &str = "Traceback (most recent call last):\n  File \"/opt/odoo/odoo/http.py\", \
                         line 2212, in _transactioning\n";

/// An exception as the `data` of a JSON-RPC error and the body of a JSON-2 one.
fn exception_body(e: &Raised) -> Value {
    json!({
        "name": e.name,
        "message": e.message,
        "arguments": [e.message],
        "context": {},
        "debug": format!("{TRACEBACK}{}: {}\n", e.name, e.message),
    })
}

fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

fn rpc_error(id: &Value, code: i64, message: &str, e: &Raised) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": {
        "code": code, "message": message, "data": exception_body(e)}});
    json_response(StatusCode::OK, body.to_string())
}

/// The recorded Odoo answer for an expired session, `id` `null` as it came.
fn rpc_session_expired() -> Response {
    let e = raise("odoo.http.SessionExpiredException", "Session expired");
    rpc_error(&Value::Null, 100, "Odoo Session Expired", &e)
}

async fn jsonrpc(State(s): State<Arc<OdooState>>, body: Bytes) -> Response {
    if let Some(r) = proxy(&s, false).await {
        return r;
    }
    let Ok(envelope) = serde_json::from_slice::<Value>(&body) else {
        let e = raise("werkzeug.exceptions.BadRequest", "Invalid JSON data");
        return rpc_error(&Value::Null, 400, "Odoo Server Error", &e);
    };
    let id = envelope["id"].clone();
    let params = &envelope["params"];
    let args = params["args"].as_array().cloned().unwrap_or_default();
    if params["service"] != "object" || params["method"] != "execute_kw" || args.len() < 5 {
        let e = raise(
            "builtins.TypeError",
            "execute_kw() takes db, uid, password, model, method",
        );
        return rpc_error(&id, 200, "Odoo Server Error", &e);
    }
    if args[0] != ODOO_DB {
        let e = raise(
            "psycopg2.OperationalError",
            format!(
                "connection to server failed: FATAL:  database {} does not exist",
                args[0]
            ),
        );
        return rpc_error(&id, 200, "Odoo Server Error", &e);
    }
    if args[1] != ODOO_UID || args[2] != ODOO_KEY {
        let e = raise("odoo.exceptions.AccessDenied", "Access Denied");
        return rpc_error(&id, 200, "Odoo Server Error", &e);
    }
    if session_expired(&s) {
        return rpc_session_expired();
    }
    let (model, method) = (
        args[3].as_str().unwrap_or(""),
        args[4].as_str().unwrap_or(""),
    );
    let positional = args
        .get(5)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let kwargs = args
        .get(6)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let (ids, named) = name_arguments(method, positional, kwargs);
    match run(&s, model, method, ids, named).await {
        Ok(result) => answer(&s, json!({"jsonrpc": "2.0", "id": id, "result": result})),
        Err(e) => rpc_error(&id, 200, "Odoo Server Error", &e),
    }
}

/// `execute_kw`'s positional arguments as the named ones JSON-2 takes: a record method's
/// first is its ids; `search_read` and `create` take theirs in signature order.
fn name_arguments(
    method: &str,
    positional: Vec<Value>,
    mut named: Map<String, Value>,
) -> (Option<Value>, Map<String, Value>) {
    let names: &[&str] = match method {
        "search_read" => &["domain", "fields", "offset", "limit", "order"],
        "create" => &["vals_list"],
        _ => &["ids", "vals"],
    };
    let mut ids = None;
    for (name, value) in names.iter().zip(positional) {
        if *name == "ids" {
            ids = Some(value);
        } else {
            named.insert((*name).to_owned(), value);
        }
    }
    (ids, named)
}

async fn json2(
    State(s): State<Arc<OdooState>>,
    Path((model, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = proxy(&s, true).await {
        return r;
    }
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.to_owned());
    if bearer.as_deref() != Some(ODOO_KEY) {
        let e = raise("werkzeug.exceptions.Unauthorized", "Invalid apikey");
        let mut body = exception_body(&e);
        body["arguments"] = json!(["Invalid apikey", 401]);
        return json_response(StatusCode::UNAUTHORIZED, body.to_string());
    }
    if let Some(db) = headers.get("x-odoo-database")
        && db.as_bytes() != ODOO_DB.as_bytes()
    {
        let e = raise("werkzeug.exceptions.NotFound", "Database not found.");
        return json_response(StatusCode::NOT_FOUND, exception_body(&e).to_string());
    }
    if session_expired(&s) {
        let e = raise("odoo.http.SessionExpiredException", "Session expired");
        return json_response(StatusCode::UNAUTHORIZED, exception_body(&e).to_string());
    }
    let Ok(Value::Object(mut named)) = serde_json::from_slice::<Value>(&body) else {
        let e = raise("werkzeug.exceptions.BadRequest", "Invalid JSON data");
        return json_response(StatusCode::BAD_REQUEST, exception_body(&e).to_string());
    };
    let ids = named.remove("ids");
    match run(&s, &model, &method, ids, named).await {
        Ok(result) => answer(&s, result),
        Err(e) => {
            let status = match e.name {
                "odoo.exceptions.AccessError" => StatusCode::FORBIDDEN,
                "odoo.exceptions.MissingError" => StatusCode::NOT_FOUND,
                "builtins.AttributeError" | "builtins.KeyError" => StatusCode::NOT_FOUND,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            json_response(status, exception_body(&e).to_string())
        }
    }
}

// --- Faults --------------------------------------------------------------------------------

/// What the proxy in front answers instead of Odoo, after any latency.
async fn proxy(s: &OdooState, json2: bool) -> Option<Response> {
    let latency = s.faults.lock().unwrap().next_latency.take();
    if let Some(d) = latency {
        tokio::time::sleep(d).await;
    }
    let mut f = s.faults.lock().unwrap();
    let html = |status: StatusCode, text: &str| {
        let page =
            format!("<html><head><title>{text}</title></head><body><h1>{text}</h1></body></html>");
        Some((status, [(CONTENT_TYPE, "text/html")], page).into_response())
    };
    if f.down {
        return html(StatusCode::SERVICE_UNAVAILABLE, "503 Service Unavailable");
    }
    if f.fail_5xx > 0 {
        f.fail_5xx -= 1;
        if json2 {
            let e = raise("builtins.RuntimeError", "Odoo worker crashed");
            return Some(json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                exception_body(&e).to_string(),
            ));
        }
        return html(StatusCode::BAD_GATEWAY, "502 Bad Gateway");
    }
    if f.throttle > 0 {
        f.throttle -= 1;
        return Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", f.retry_after_secs.max(1).to_string())],
                "Too Many Requests",
            )
                .into_response(),
        );
    }
    None
}

fn session_expired(s: &OdooState) -> bool {
    let mut f = s.faults.lock().unwrap();
    if f.expire == 0 {
        return false;
    }
    f.expire -= 1;
    s.expired.fetch_add(1, Ordering::SeqCst);
    true
}

/// A successful answer, unless it is to be cut short or made huge.
fn answer(s: &OdooState, body: Value) -> Response {
    let mut f = s.faults.lock().unwrap();
    if f.malformed > 0 {
        f.malformed -= 1;
        let text = body.to_string();
        return json_response(StatusCode::OK, text[..text.len() / 2].to_owned());
    }
    if f.huge > 0 {
        f.huge -= 1;
        let padding = "x".repeat(17 * 1024 * 1024);
        return json_response(
            StatusCode::OK,
            json!({"result": [], "padding": padding}).to_string(),
        );
    }
    json_response(StatusCode::OK, body.to_string())
}

// --- Methods -------------------------------------------------------------------------------

fn ids_of(ids: Option<Value>) -> Result<Vec<i64>, Raised> {
    let ids = match ids {
        Some(Value::Array(ids)) => ids,
        Some(id @ Value::Number(_)) => vec![id],
        _ => return Err(raise("builtins.TypeError", "missing the records' ids")),
    };
    ids.iter()
        .map(|v| id_of(v).ok_or_else(|| raise("builtins.ValueError", format!("bad id {v}"))))
        .collect()
}

async fn run(
    s: &OdooState,
    model: &str,
    method: &str,
    ids: Option<Value>,
    named: Map<String, Value>,
) -> Result<Value, Raised> {
    s.calls.lock().unwrap().push(format!("{model}.{method}"));
    let context = named.get("context").cloned().unwrap_or(Value::Null);
    let makes_document = matches!(method, "create" | "button_validate");
    let result = {
        let mut db = s.db.lock().unwrap();
        match method {
            "search_read" => {
                s.limits
                    .lock()
                    .unwrap()
                    .push(named.get("limit").cloned().unwrap_or(Value::Null));
                db.search_read(model, &named)
            }
            "create" => {
                let vals_list = match named.get("vals_list") {
                    Some(Value::Array(list)) => list.clone(),
                    Some(one @ Value::Object(_)) => vec![one.clone()],
                    _ => return Err(raise("builtins.TypeError", "create() missing 'vals_list'")),
                };
                let mut made = Vec::new();
                for vals in &vals_list {
                    made.push(db.create(model, vals)?);
                }
                Ok(json!(made))
            }
            "write" => db.write(
                model,
                &ids_of(ids)?,
                named.get("vals").unwrap_or(&Value::Null),
            ),
            "action_confirm" => db.action_confirm(model, &ids_of(ids)?),
            "button_validate" if model == "stock.picking" => {
                db.button_validate(&ids_of(ids)?, &context)
            }
            "action_post" => db.action_post(model, &ids_of(ids)?),
            _ => Err(no_method(model, method)),
        }
    }?;
    let slow = if makes_document {
        s.faults.lock().unwrap().slow_write.take()
    } else {
        None
    };
    if let Some(d) = slow {
        tokio::time::sleep(d).await;
    }
    Ok(result)
}

// --- The conformance suite's view ----------------------------------------------------------

impl<const JSON2: bool> FakeOdooOn<JSON2> {
    pub fn seed(&self, rows: &[Stock]) {
        let mut db = self.db();
        for r in rows {
            let warehouse = db.warehouse(&warehouse_code(&r.location));
            let stock = db.stock_location(warehouse);
            db.quant(&r.sku, stock, r.on_hand as f64, r.committed as f64);
        }
    }

    fn documents(&self, doc: Doc, external_ref: &str) -> usize {
        match doc {
            Doc::SalesOrder => self.count("sale.order", |o| o["client_order_ref"] == external_ref),
            Doc::Shipment => self.count("stock.picking", |p| {
                p["picking_type_code"] == "outgoing"
                    && p["state"] == "done"
                    && p["origin"]
                        .as_str()
                        .and_then(|o| o.split_once('/'))
                        .is_some_and(|(_, s)| s == external_ref)
            }),
            Doc::Return => self.count("stock.picking", |p| {
                p["picking_type_code"] == "incoming" && p["origin"] == external_ref
            }),
            Doc::Credit => self.count("account.move", |m| {
                m["move_type"] == "out_refund" && m["ref"] == external_ref
            }),
        }
    }

    fn inject_fault(&self, fault: Fault) {
        let mut f = self.faults();
        match fault {
            Fault::Latency(d) => f.next_latency = Some(d),
            Fault::SlowWrite(d) => f.slow_write = Some(d),
            Fault::Throttle(n) => f.throttle += n,
            Fault::ServerError(n) => f.fail_5xx += n,
            Fault::ExpireSession => f.expire += 1,
            Fault::Malformed(n) => f.malformed += n,
            Fault::Huge(n) => f.huge += n,
            Fault::Down(down) => f.down = down,
        }
    }
}

/// Odoo keeps on hand (`quantity`) and reserved (`reserved_quantity`) per quant; nothing
/// on a quant says quarantined or incoming.
const ODOO_FIGURES: &[Figure] = &[Figure::OnHand, Figure::Committed];

macro_rules! erp_fake {
    ($json2:literal, $name:literal, $transport:ident) => {
        impl super::ErpFake for FakeOdooOn<$json2> {
            const NAME: &'static str = $name;
            const FIGURES: &'static [Figure] = ODOO_FIGURES;

            async fn start() -> Self {
                Self::start().await
            }

            fn adapter(&self) -> Arc<dyn ErpAdapter> {
                Arc::new(Odoo::new(self.config(Self::$transport())).unwrap())
            }

            fn seed_stock(&self, rows: &[Stock]) {
                self.seed(rows);
            }

            fn documents_with_ref(&self, doc: Doc, external_ref: &str) -> usize {
                self.documents(doc, external_ref)
            }

            fn ship(&self, erp_order: &str, lines: &[(&str, i64)]) {
                self.db().ship(erp_order.parse().unwrap(), lines);
            }

            fn inject(&self, fault: Fault) {
                self.inject_fault(fault);
            }
        }
    };
}

erp_fake!(false, "odoo", json_rpc);
erp_fake!(true, "odoo_json2", json_2);
