//! A fake Acumatica instance on loopback (`/AcumaticaERP/entity/...`), faithful where the
//! adapter could go wrong: `POST /entity/auth/login` checks user, password, company and
//! branch, answers 204 and sets `.ASPXAUTH`, `ASP.NET_SessionId` and the other cookies,
//! both of which must come back; a session idle longer than its timeout is gone, logout
//! ends it, and logins beyond the licence's concurrent sessions are refused ("API Login
//! Limit"); open sessions are counted so a test can prove none is left open. A connected
//! application's `/identity/connect/token` issues bearer tokens for the resource-owner
//! password grant (scope `api`, user `name@company`), refused once expired. Records are
//! bare arrays of wrapped fields (`{"value": …}`, `{}` when empty), paged by `$top` and
//! `$skip`, with details only when `$expand`ed; `$filter` takes `eq`/`ne` clauses joined
//! by `and` and `or`. Creation is `PUT` answered 200; business rules fail as a 500 in the
//! ASP.NET shape with `OutcomeEntityHasErrorsException`. A sales order's open lines are
//! what it commits at their warehouse (the item's default one when the line names none);
//! a shipment takes from the lines still open, and its `ConfirmShipment` (202, then a
//! status location answering 204) relieves on-hand and the order's open quantity.
//! Tests can add latency, 5xx, throttling (429), cut-off and huge answers, answer a write
//! only after the client gave up, take the instance down, and refuse the next session.

mod records;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use stockade::adapters::ErpAdapter;
use stockade::adapters::acumatica::client::Limits;
use stockade::adapters::acumatica::{Acumatica, AcumaticaConfig, OAuthClient};
use stockade::config::Secret;

use super::{Doc, Fault, Figure, Stock};

pub const ACU_USER: &str = "stockade";
pub const ACU_PASSWORD: &str = "acu-test-password";
pub const ACU_COMPANY: &str = "Company";
pub const ACU_BRANCH: &str = "HEADOFFICE";
/// The connected application's client id and secret, for OAuth 2.
pub const ACU_CLIENT_ID: &str = "4F2B9C1E-58A7-4D0B-9E61-3C2A7F0D1B55@Company";
pub const ACU_CLIENT_SECRET: &str = "acu-client-secret";
/// The one customer web orders may be booked to.
pub const ACU_CUSTOMER: &str = "WEBSHOP";
/// The instance name, part of every path.
pub const INSTANCE: &str = "/AcumaticaERP";
pub const ENDPOINT: &str = "Default/22.200.001";

/// What the next requests suffer; each count is spent one request at a time.
#[derive(Default)]
pub struct AcuFaults {
    /// Added before the next answer only.
    pub next_latency: Option<Duration>,
    /// Answered 500 with a database timeout in the ASP.NET shape.
    pub fail_5xx: usize,
    /// Answered 429 with `Retry-After: 1`.
    pub throttle: usize,
    /// Answered 200 with a cut-off body.
    pub malformed: usize,
    /// Answered 200 with 9 MiB.
    pub huge: usize,
    /// The next write is saved, then answered only after this long.
    pub slow_write: Option<Duration>,
    /// Every request, the login included, is answered 503 by the web server.
    pub down: bool,
    /// The next request in a live session finds it ended.
    pub expire_next: bool,
}

/// The instance's records, in creation order.
#[derive(Default)]
pub struct Records {
    /// `InventoryID` → the `StockItem`, with its `WarehouseDetails`.
    pub items: BTreeMap<String, Value>,
    pub orders: Vec<Value>,
    pub shipments: Vec<Value>,
    pub invoices: Vec<Value>,
    pub next_number: u64,
}

pub struct AcuState {
    /// `.ASPXAUTH` → (`ASP.NET_SessionId`, when last used).
    sessions: Mutex<HashMap<String, (String, Instant)>>,
    /// Idle time after which a session is gone.
    pub session_ttl: Mutex<Duration>,
    /// The licence's concurrent API sessions.
    pub max_sessions: AtomicUsize,
    pub logins: AtomicUsize,
    pub logouts: AtomicUsize,
    /// The most sessions open at once.
    pub peak_sessions: AtomicUsize,
    pub records: Mutex<Records>,
    pub faults: Mutex<AcuFaults>,
    /// `<method> <path>?<query>` of every record request.
    pub requests: Mutex<Vec<String>>,
    /// Bearer token → when it expires.
    tokens: Mutex<HashMap<String, Instant>>,
    /// The lifetime of the tokens issued from now on.
    pub token_ttl: Mutex<Duration>,
    pub tokens_issued: AtomicUsize,
}

pub struct FakeAcumatica {
    pub addr: SocketAddr,
    pub state: Arc<AcuState>,
}

impl FakeAcumatica {
    pub async fn start() -> Self {
        let state = Arc::new(AcuState {
            sessions: Mutex::default(),
            session_ttl: Mutex::new(Duration::from_secs(10 * 60)),
            max_sessions: AtomicUsize::new(5),
            logins: AtomicUsize::new(0),
            logouts: AtomicUsize::new(0),
            peak_sessions: AtomicUsize::new(0),
            records: Mutex::default(),
            faults: Mutex::default(),
            requests: Mutex::default(),
            tokens: Mutex::default(),
            token_ttl: Mutex::new(Duration::from_secs(3600)),
            tokens_issued: AtomicUsize::new(0),
        });
        let base = format!("{INSTANCE}/entity/{ENDPOINT}");
        let app = Router::new()
            .route(&format!("{INSTANCE}/entity/auth/login"), post(login))
            .route(&format!("{INSTANCE}/entity/auth/logout"), post(logout))
            .route(&format!("{INSTANCE}/identity/connect/token"), post(token))
            .route(
                &format!("{base}/{{entity}}"),
                get(records::list).put(records::put),
            )
            .route(
                &format!("{base}/{{entity}}/{{action}}"),
                post(records::action),
            )
            .route(
                &format!("{base}/{{entity}}/{{action}}/status/{{id}}"),
                get(records::action_status),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, state }
    }

    /// The instance URL, as `STOCKADE_ACUMATICA_URL` takes it.
    pub fn url(&self) -> String {
        format!("http://{}{INSTANCE}", self.addr)
    }

    pub fn config(&self) -> AcumaticaConfig {
        AcumaticaConfig {
            url: self.url(),
            endpoint: ENDPOINT.into(),
            user: ACU_USER.into(),
            password: Secret::new(ACU_PASSWORD),
            company: ACU_COMPANY.into(),
            branch: ACU_BRANCH.into(),
            oauth: None,
            customer_id: ACU_CUSTOMER.into(),
            order_type: "SO".into(),
            return_order_type: "RC".into(),
            timeout: Duration::from_millis(700),
            page_size: 7,
            limits: Limits {
                sessions: 2,
                requests_per_minute: 100_000,
            },
        }
    }

    /// Sessions alive now.
    pub fn live_sessions(&self) -> usize {
        let ttl = *self.state.session_ttl.lock().unwrap();
        let mut sessions = self.state.sessions.lock().unwrap();
        sessions.retain(|_, (_, last)| last.elapsed() <= ttl);
        sessions.len()
    }

    /// A session another integration holds: one licence less for Stockade.
    pub fn hold_session(&self) -> String {
        let (auth, _) = open_session(&self.state);
        auth
    }

    pub fn release_session(&self, auth: &str) {
        self.state.sessions.lock().unwrap().remove(auth);
    }

    /// The same, with OAuth 2 through the connected application instead of sessions.
    pub fn oauth_config(&self) -> AcumaticaConfig {
        AcumaticaConfig {
            oauth: Some(OAuthClient {
                client_id: ACU_CLIENT_ID.into(),
                client_secret: Secret::new(ACU_CLIENT_SECRET),
            }),
            ..self.config()
        }
    }

    pub fn faults(&self) -> std::sync::MutexGuard<'_, AcuFaults> {
        self.state.faults.lock().unwrap()
    }

    pub fn records(&self) -> std::sync::MutexGuard<'_, Records> {
        self.state.records.lock().unwrap()
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Adds a stock item with its `(warehouse, on hand)` rows; the first warehouse is its
    /// default one.
    pub fn add_item(&self, sku: &str, warehouses: &[(&str, i64)]) {
        let rows: Vec<Value> = warehouses
            .iter()
            .enumerate()
            .map(|(n, (wh, qty))| records::warehouse_detail(n + 1, wh, *qty as f64))
            .collect();
        let default = warehouses.first().map_or("MAIN", |(wh, _)| *wh);
        self.records().items.insert(
            sku.to_owned(),
            json!({
                "id": records::guid(), "rowNumber": 1, "note": {"value": ""},
                "InventoryID": {"value": sku}, "Description": {"value": format!("Item {sku}")},
                "BaseUOM": {"value": "PIECE"}, "ItemClass": {"value": "STOCKITEM"},
                "DefaultWarehouseID": {"value": default}, "DefaultPrice": {"value": 19.9},
                "WarehouseDetails": rows, "custom": {},
                "_links": {"self": format!("{INSTANCE}/entity/{ENDPOINT}/StockItem/x")}
            }),
        );
    }
}

/// The ASP.NET Web API error body Acumatica answers with.
pub fn error(status: StatusCode, exception_type: &str, message: &str) -> Response {
    (
        status,
        [(CONTENT_TYPE, "application/json; charset=utf-8")],
        json!({
            "message": "An error has occurred.",
            "exceptionMessage": message,
            "exceptionType": exception_type,
            "stackTrace": "   at PX.Api.ContractBased.EntityService.GetOperationResult(...)\r\n   at PX.Api.ContractBased.SystemContracts.V2.RestController.PutEntity(...)"
        })
        .to_string(),
    )
        .into_response()
}

/// A business rule broken by a record: the shape of `OutcomeEntityHasErrorsException`.
pub fn entity_error(message: &str) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "PX.Api.ContractBased.OutcomeEntityHasErrorsException",
        &format!(
            "Inserting record raised at least one error. Please review the errors.\n{message}"
        ),
    )
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(CONTENT_TYPE, "text/html")],
        "<html><body><h1>Service Unavailable</h1></body></html>",
    )
        .into_response()
}

fn not_logged_in() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(CONTENT_TYPE, "application/json; charset=utf-8")],
        r#"{"message":"Authorization has been denied for this request."}"#,
    )
        .into_response()
}

fn open_session(s: &AcuState) -> (String, String) {
    let auth = format!("{:064X}", rand::random::<u128>());
    let sid = format!("{:024x}", rand::random::<u128>());
    let mut sessions = s.sessions.lock().unwrap();
    sessions.insert(auth.clone(), (sid.clone(), Instant::now()));
    s.peak_sessions.fetch_max(sessions.len(), Ordering::SeqCst);
    (auth, sid)
}

async fn login(State(s): State<Arc<AcuState>>, body: String) -> Response {
    let latency = {
        let mut f = s.faults.lock().unwrap();
        if f.down {
            return unavailable();
        }
        f.next_latency.take()
    };
    let Ok(v) = serde_json::from_str::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "System.Web.Http.HttpResponseException",
            "The request is invalid.",
        );
    };
    if v["name"] != ACU_USER
        || v["password"] != ACU_PASSWORD
        || v["company"] != ACU_COMPANY
        || (!v["branch"].is_null() && v["branch"] != ACU_BRANCH)
    {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "PX.Data.PXException",
            "Invalid credentials. Please try again.",
        );
    }
    let ttl = *s.session_ttl.lock().unwrap();
    let full = {
        let mut sessions = s.sessions.lock().unwrap();
        sessions.retain(|_, (_, last)| last.elapsed() <= ttl);
        sessions.len() >= s.max_sessions.load(Ordering::SeqCst)
    };
    if full {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "PX.Data.PXException",
            "API Login Limit",
        );
    }
    s.logins.fetch_add(1, Ordering::SeqCst);
    let (auth, sid) = open_session(&s);
    // The session exists whether or not the answer arrives in time.
    if let Some(d) = latency {
        tokio::time::sleep(d).await;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let headers = resp.headers_mut();
    for cookie in [
        format!("ASP.NET_SessionId={sid}; path=/; HttpOnly; SameSite=Lax"),
        format!(".ASPXAUTH={auth}; path=/; HttpOnly"),
        "UserBranch=16; path=/".to_owned(),
        "Locale=Culture=en-US&TimeZone=GMTM0500G; path=/".to_owned(),
        format!("requestid={:032X}; path=/", rand::random::<u128>()),
        "requeststat=+st:5+sc:~/entity/auth/login+start:0; path=/".to_owned(),
    ] {
        headers.append(SET_COOKIE, cookie.parse().unwrap());
    }
    resp
}

fn token_error(error: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(CONTENT_TYPE, "application/json")],
        json!({ "error": error }).to_string(),
    )
        .into_response()
}

/// The resource-owner password grant of a connected application, scope `api`.
async fn token(State(s): State<Arc<AcuState>>, body: String) -> Response {
    if s.faults.lock().unwrap().down {
        return unavailable();
    }
    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if field("client_id") != ACU_CLIENT_ID || field("client_secret") != ACU_CLIENT_SECRET {
        return token_error("invalid_client");
    }
    if field("grant_type") != "password" {
        return token_error("unsupported_grant_type");
    }
    if !field("scope").split(' ').any(|s| s == "api") {
        return token_error("invalid_scope");
    }
    if field("username") != format!("{ACU_USER}@{ACU_COMPANY}") || field("password") != ACU_PASSWORD
    {
        return token_error("invalid_grant");
    }
    let ttl = *s.token_ttl.lock().unwrap();
    let bearer = format!(
        "{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    );
    s.tokens
        .lock()
        .unwrap()
        .insert(bearer.clone(), Instant::now() + ttl);
    s.tokens_issued.fetch_add(1, Ordering::SeqCst);
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json")],
        json!({"access_token": bearer, "expires_in": ttl.as_secs(), "token_type": "Bearer", "scope": "api"})
            .to_string(),
    )
        .into_response()
}

/// Who a record request comes from.
enum Caller {
    Session(String),
    Token(String),
}

/// The live session the cookies name, or the unexpired token the bearer header carries.
fn caller(s: &AcuState, headers: &HeaderMap) -> Option<Caller> {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(bearer) = bearer else {
        return session(s, headers).map(Caller::Session);
    };
    let mut tokens = s.tokens.lock().unwrap();
    match tokens.get(bearer) {
        Some(expires) if Instant::now() < *expires => Some(Caller::Token(bearer.to_owned())),
        Some(_) => {
            tokens.remove(bearer);
            None
        }
        None => None,
    }
}

/// The session the cookies name, if it is alive; using it keeps it alive.
fn session(s: &AcuState, headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get(COOKIE)?.to_str().ok()?;
    let mut auth = None;
    let mut sid = None;
    for pair in cookies.split(';') {
        match pair.trim().split_once('=') {
            Some((".ASPXAUTH", v)) => auth = Some(v.to_owned()),
            Some(("ASP.NET_SessionId", v)) => sid = Some(v.to_owned()),
            _ => {}
        }
    }
    let (auth, sid) = (auth?, sid?);
    let ttl = *s.session_ttl.lock().unwrap();
    let mut sessions = s.sessions.lock().unwrap();
    let (known_sid, last) = sessions.get_mut(&auth)?;
    if *known_sid != sid {
        return None;
    }
    if last.elapsed() > ttl {
        sessions.remove(&auth);
        return None;
    }
    *last = Instant::now();
    Some(auth)
}

async fn logout(State(s): State<Arc<AcuState>>, headers: HeaderMap) -> Response {
    if s.faults.lock().unwrap().down {
        return unavailable();
    }
    if let Some(auth) = session(&s, &headers) {
        s.sessions.lock().unwrap().remove(&auth);
        s.logouts.fetch_add(1, Ordering::SeqCst);
    }
    // Acumatica answers a logout without a session as done, too.
    StatusCode::NO_CONTENT.into_response()
}

/// What a record request is answered with instead of its work: the session refused, or
/// a fault (after any latency).
pub async fn refused(s: &AcuState, headers: &HeaderMap) -> Option<Response> {
    if s.faults.lock().unwrap().down {
        return Some(unavailable());
    }
    let Some(caller) = caller(s, headers) else {
        return Some(not_logged_in());
    };
    let latency = {
        let mut f = s.faults.lock().unwrap();
        if f.expire_next {
            f.expire_next = false;
            match caller {
                Caller::Session(auth) => drop(s.sessions.lock().unwrap().remove(&auth)),
                Caller::Token(bearer) => drop(s.tokens.lock().unwrap().remove(&bearer)),
            }
            return Some(not_logged_in());
        }
        f.next_latency.take()
    };
    if let Some(d) = latency {
        tokio::time::sleep(d).await;
    }
    let mut f = s.faults.lock().unwrap();
    if f.fail_5xx > 0 {
        f.fail_5xx -= 1;
        return Some(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "System.Data.SqlClient.SqlException",
            "Execution Timeout Expired. The timeout period elapsed prior to completion of the operation.",
        ));
    }
    if f.throttle > 0 {
        f.throttle -= 1;
        return Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                r#"{"message":"The number of requests exceeds the limit of the license."}"#,
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
                r#"[{"id": "c86842ee", "InventoryID": {"val"#,
            )
                .into_response(),
        );
    }
    if f.huge > 0 {
        f.huge -= 1;
        let mut body = String::from(r#"[{"note": {"value": ""#);
        body.push_str(&"x".repeat(9 * 1024 * 1024));
        body.push_str("\"}}]");
        return Some((StatusCode::OK, [(CONTENT_TYPE, "application/json")], body).into_response());
    }
    None
}

/// The conformance suite's view of the fake instance: items with their on-hand per
/// warehouse (committed comes from open sales orders; Acumatica keeps no incoming or
/// quarantine figure on the item), documents counted by their reference.
impl super::ErpFake for FakeAcumatica {
    const NAME: &'static str = "acumatica";
    const FIGURES: &'static [Figure] = &[Figure::OnHand, Figure::Committed];

    async fn start() -> Self {
        FakeAcumatica::start().await
    }

    fn adapter(&self) -> Arc<dyn ErpAdapter> {
        Arc::new(Acumatica::new(self.config()).unwrap())
    }

    fn seed_stock(&self, rows: &[Stock]) {
        let mut by_item: BTreeMap<&str, Vec<(&str, i64)>> = BTreeMap::new();
        for r in rows {
            by_item
                .entry(&r.sku)
                .or_default()
                .push((&r.location, r.on_hand));
        }
        for (item, warehouses) in by_item {
            self.add_item(item, &warehouses);
        }
        // What is committed is what other customers' open orders hold.
        let mut by_location: BTreeMap<&str, Vec<(&str, i64)>> = BTreeMap::new();
        for r in rows.iter().filter(|r| r.committed > 0) {
            by_location
                .entry(&r.location)
                .or_default()
                .push((&r.sku, r.committed));
        }
        for (location, lines) in by_location {
            records::seed_order(&mut self.records(), location, &lines);
        }
    }

    fn documents_with_ref(&self, doc: Doc, external_ref: &str) -> usize {
        let records = self.records();
        let key =
            |d: &Value, field: &str| d[field]["value"].as_str().unwrap_or_default().to_owned();
        match doc {
            Doc::SalesOrder | Doc::Return => {
                let kind = if matches!(doc, Doc::SalesOrder) {
                    "SO"
                } else {
                    "RC"
                };
                records
                    .orders
                    .iter()
                    .filter(|o| {
                        key(o, "OrderType") == kind && key(o, "CustomerOrder") == external_ref
                    })
                    .count()
            }
            // The adapter describes a shipment as `<order id>/<shipment id>`.
            Doc::Shipment => records
                .shipments
                .iter()
                .filter(|s| {
                    key(s, "Description")
                        .split_once('/')
                        .is_some_and(|(_, id)| id == external_ref)
                })
                .count(),
            Doc::Credit => records
                .invoices
                .iter()
                .filter(|i| key(i, "CustomerOrder") == external_ref)
                .count(),
        }
    }

    fn ship(&self, erp_order: &str, lines: &[(&str, i64)]) {
        records::ship_by_hand(&mut self.records(), erp_order, lines);
    }

    fn inject(&self, fault: Fault) {
        let mut f = self.faults();
        match fault {
            Fault::Latency(d) => f.next_latency = Some(d),
            Fault::SlowWrite(d) => f.slow_write = Some(d),
            Fault::Throttle(n) => f.throttle += n,
            Fault::ServerError(n) => f.fail_5xx += n,
            Fault::ExpireSession => f.expire_next = true,
            Fault::Malformed(n) => f.malformed += n,
            Fault::Huge(n) => f.huge += n,
            Fault::Down(down) => f.down = down,
        }
    }
}
