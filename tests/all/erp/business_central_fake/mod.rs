//! A fake Business Central environment and Entra tenant on loopback, speaking the part of
//! API v2.0 the adapter uses: lists with `$filter` (`eq` terms joined by `or` and `and`),
//! `Prefer: odata.maxpagesize` and absolute `@odata.nextLink`s paging by `$skiptoken`;
//! `locations`, one per location code seeded; sales orders created by deep insert, each
//! line's `locationId` checked and its quantity committed at that location; order lines
//! changed only with their etag in `If-Match`; `Microsoft.NAV.shipAndInvoice` posting a
//! shipment and an invoice (the shipped units taken off on hand and committed at each
//! line's location) and deleting the order once all of it is shipped; posted
//! `salesShipments` and `salesInvoices`; `salesCreditMemos` drafted and posted with
//! `Microsoft.NAV.post`; and the custom `stockade/inventory/v1.0` pages `stockLevels`,
//! `salesOrderShipping` and `shipmentTracking`. `Fault::SlowWrite` holds the answer to the
//! next POST: that is the request that makes a document, while a PATCH only prepares one.
//!
//! Tokens are issued for real by a client-credentials token endpoint that checks the
//! application's id, secret and scope, and they expire after a configurable lifetime; a
//! missing, unknown, expired or revoked token gets Business Central's 401. Every error
//! is in Business Central's `{"error": {"code", "message"}}` shape with a correlation id.
//! The 429 body (`Application_TooManyRequests`) and the 503 body are plausible, not
//! recorded: no real one was available. Business Central does not refuse a second order
//! with the same external document number, and neither does the fake: only the adapter's
//! look-up keeps orders single.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::Rng;
use serde_json::{Value, json};
use stockade::adapters::business_central::auth::ClientCredentials;
use stockade::adapters::business_central::{BusinessCentral, BusinessCentralConfig};
use stockade::config::Secret;

use super::{Doc, Fault, Stock};

mod gate;
mod odata;
mod writes;

pub const TENANT: &str = "7e1f0c52-5d1a-4b8e-9a51-1c2f3e4d5a6b";
pub const ENVIRONMENT: &str = "production";
pub const COMPANY: &str = "5f6d2f5a-3c1b-4e2d-8f70-00000000c0c1";
pub const CLIENT_ID: &str = "0b9e2a4c-8d71-4f3e-b6a5-2c1d0e9f8a7b";
const CLIENT_SECRET: &str = "Qx8~kP2.rT5-vW9_yZ1aB4cD7eF0gH3iJ6kL";
pub const SCOPE: &str = "https://api.businesscentral.dynamics.com/.default";
pub const CUSTOMER_NUMBER: &str = "10000";
const CUSTOM_API: &str = "stockade/inventory/v1.0";
/// Business Central serves at most this many entities per page.
const MAX_PAGE: usize = 20_000;
const ZERO_GUID: &str = "00000000-0000-0000-0000-000000000000";

#[derive(Clone)]
struct OrderLine {
    id: String,
    sequence: i64,
    sku: String,
    /// The code of the line's location; blank when the line names none.
    location: String,
    quantity: i64,
    unit_price: f64,
    shipped: i64,
    /// "Qty. to Ship": what the next posting ships, the outstanding quantity by default.
    to_ship: i64,
    version: u64,
}

#[derive(Clone)]
struct SalesOrder {
    id: String,
    number: String,
    external: String,
    your_reference: String,
    tracking: String,
    lines: Vec<OrderLine>,
    /// Business Central deletes an order once all of it is shipped and invoiced; the fake
    /// keeps it hidden so that documents can still be counted.
    deleted: bool,
}

/// A posted shipment or invoice.
struct Posted {
    id: String,
    number: String,
    external: String,
    your_reference: String,
    tracking: String,
    order_id: String,
    order_number: String,
    /// (sku, location code, quantity)
    lines: Vec<(String, String, i64)>,
}

struct CreditMemo {
    id: String,
    number: String,
    external: String,
    posted: bool,
    lines: Vec<(String, i64)>,
}

#[derive(Default)]
struct Faults {
    throttle: usize,
    server_error: usize,
    malformed: usize,
    huge: usize,
    down: bool,
    latency: Option<Duration>,
    slow_write: Option<Duration>,
}

struct Environment {
    /// (sku, location) → (row id, figures)
    stock: BTreeMap<(String, String), (String, Stock)>,
    /// Location code → the id of its `locations` record.
    locations: BTreeMap<String, String>,
    orders: Vec<SalesOrder>,
    shipments: Vec<Posted>,
    invoices: Vec<Posted>,
    credit_memos: Vec<CreditMemo>,
    /// Valid tokens and when each expires.
    tokens: HashMap<String, Instant>,
    token_lifetime: Duration,
    retry_after_secs: u64,
    service_time: Duration,
    next: u64,
    faults: Faults,
}

impl Environment {
    fn next(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    fn guid(&mut self) -> String {
        let n = self.next();
        format!("{:08x}-bc00-4000-8000-{n:012x}", n * 7919)
    }

    fn knows_item(&self, sku: &str) -> bool {
        self.stock.keys().any(|(s, _)| s == sku)
    }

    fn order(&mut self, id: &str) -> Option<&mut SalesOrder> {
        self.orders.iter_mut().find(|o| o.id == id && !o.deleted)
    }

    /// The code of the location with this id.
    fn location_code(&self, id: &str) -> Option<&str> {
        self.locations
            .iter()
            .find(|(_, known)| *known == id)
            .map(|(code, _)| code.as_str())
    }

    /// Changes the figures of `sku` at `location` as a sales document does: an order
    /// commits its units there, a posted shipment takes them off on hand and off what is
    /// committed. A line without a location moves no location's figures, and a pair
    /// without a stockkeeping unit (no seeded row) is one `stockLevels` never shows.
    fn book(&mut self, sku: &str, location: &str, on_hand: i64, committed: i64) {
        let Some((_, row)) = self.stock.get_mut(&(sku.to_owned(), location.to_owned())) else {
            return;
        };
        row.on_hand += on_hand;
        row.committed += committed;
    }
}

struct Shared {
    origin: String,
    env: Mutex<Environment>,
    token_requests: AtomicUsize,
    unauthorized: AtomicUsize,
    next_links_followed: AtomicUsize,
    location_reads: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Environment> {
        self.env.lock().unwrap()
    }
}

pub struct FakeBusinessCentral {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl FakeBusinessCentral {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            origin: format!("http://{addr}"),
            env: Mutex::new(Environment {
                stock: BTreeMap::new(),
                locations: BTreeMap::new(),
                orders: Vec::new(),
                shipments: Vec::new(),
                invoices: Vec::new(),
                credit_memos: Vec::new(),
                tokens: HashMap::new(),
                token_lifetime: Duration::from_secs(3599),
                retry_after_secs: 1,
                service_time: Duration::ZERO,
                next: 0,
                faults: Faults::default(),
            }),
            token_requests: AtomicUsize::new(0),
            unauthorized: AtomicUsize::new(0),
            next_links_followed: AtomicUsize::new(0),
            location_reads: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(gate::token))
            .route("/v2.0/{tenant}/{environment}/api/{*rest}", any(odata::api))
            .layer(middleware::from_fn_with_state(shared.clone(), gate::gate))
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { shared, addr }
    }

    /// The adapter's settings for this environment: short timeout, small pages.
    pub fn config(&self) -> BusinessCentralConfig {
        BusinessCentralConfig {
            tenant_id: TENANT.into(),
            environment: ENVIRONMENT.into(),
            company_id: COMPANY.into(),
            credentials: ClientCredentials {
                client_id: CLIENT_ID.into(),
                client_secret: Secret::new(CLIENT_SECRET),
            },
            base_url: format!("http://{}/v2.0/{TENANT}/{ENVIRONMENT}", self.addr),
            token_url: format!("http://{}/{TENANT}/oauth2/v2.0/token", self.addr),
            scope: SCOPE.into(),
            customer_number: CUSTOMER_NUMBER.into(),
            custom_api: CUSTOM_API.into(),
            timeout: Duration::from_millis(700),
            page_size: 25,
            concurrency: 5,
        }
    }

    pub fn adapter(&self) -> BusinessCentral {
        BusinessCentral::new(self.config()).unwrap()
    }

    /// Sets the figures of these items at these locations; each location code not seen
    /// before becomes a `locations` record.
    pub fn seed(&self, rows: &[Stock]) {
        let mut env = self.shared.lock();
        for row in rows {
            if !env.locations.contains_key(&row.location) {
                let id = env.guid();
                env.locations.insert(row.location.clone(), id);
            }
            let id = env.guid();
            env.stock
                .insert((row.sku.clone(), row.location.clone()), (id, row.clone()));
        }
    }

    pub fn count(&self, doc: Doc, reference: &str) -> usize {
        let env = self.shared.lock();
        match doc {
            Doc::SalesOrder => env
                .orders
                .iter()
                .filter(|o| o.external == reference)
                .count(),
            Doc::Shipment => env
                .shipments
                .iter()
                .filter(|s| s.your_reference == reference)
                .count(),
            Doc::Return => env
                .credit_memos
                .iter()
                .filter(|m| m.external == reference)
                .count(),
            Doc::Credit => env
                .credit_memos
                .iter()
                .filter(|m| m.external == reference && m.posted)
                .count(),
        }
    }

    /// A warehouse posting a shipment (without an invoice) of lines of a sales order; a
    /// SKU on several lines is taken from them in order.
    pub fn post_shipment(&self, order_id: &str, lines: &[(&str, i64)]) {
        let mut env = self.shared.lock();
        let id = env.guid();
        let number = format!("102{:03}", env.next());
        let order = env.order(order_id).expect("the order is open");
        let mut shipped = Vec::new();
        for (sku, quantity) in lines {
            let mut left = *quantity;
            for line in order.lines.iter_mut().filter(|l| l.sku == *sku) {
                let take = left.min(line.quantity - line.shipped);
                if take > 0 {
                    line.shipped += take;
                    line.to_ship = line.quantity - line.shipped;
                    left -= take;
                    shipped.push(((*sku).to_owned(), line.location.clone(), take));
                }
            }
            assert_eq!(left, 0, "the order has {quantity} of {sku} outstanding");
        }
        let posted = Posted {
            id,
            number,
            external: order.external.clone(),
            your_reference: String::new(),
            tracking: String::new(),
            order_id: order.id.clone(),
            order_number: order.number.clone(),
            lines: shipped,
        };
        for (sku, location, quantity) in &posted.lines {
            env.book(sku, location, -quantity, -quantity);
        }
        env.shipments.push(posted);
    }

    /// Whether the sales order is still open (not deleted after full posting).
    pub fn order_is_open(&self, order_id: &str) -> bool {
        self.shared.lock().order(order_id).is_some()
    }

    pub fn inject(&self, fault: Fault) {
        let mut env = self.shared.lock();
        match fault {
            // Revoking every token issued is what an administrator removing the app's
            // consent does; the next API call finds its token refused.
            Fault::ExpireSession => env.tokens.clear(),
            Fault::Latency(d) => env.faults.latency = Some(d),
            Fault::SlowWrite(d) => env.faults.slow_write = Some(d),
            Fault::Throttle(n) => env.faults.throttle += n,
            Fault::ServerError(n) => env.faults.server_error += n,
            Fault::Malformed(n) => env.faults.malformed += n,
            Fault::Huge(n) => env.faults.huge += n,
            Fault::Down(down) => env.faults.down = down,
        }
    }

    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.shared.lock().token_lifetime = lifetime;
    }

    pub fn set_retry_after(&self, secs: u64) {
        self.shared.lock().retry_after_secs = secs;
    }

    pub fn set_service_time(&self, time: Duration) {
        self.shared.lock().service_time = time;
    }

    pub fn token_requests(&self) -> usize {
        self.shared.token_requests.load(Ordering::SeqCst)
    }

    /// API calls refused with 401.
    pub fn unauthorized(&self) -> usize {
        self.shared.unauthorized.load(Ordering::SeqCst)
    }

    pub fn next_links_followed(&self) -> usize {
        self.shared.next_links_followed.load(Ordering::SeqCst)
    }

    /// Reads of the `locations` list.
    pub fn location_reads(&self) -> usize {
        self.shared.location_reads.load(Ordering::SeqCst)
    }

    /// Deletes the location with this code and makes it again under a new id, as an
    /// administrator setting a location up anew does; its figures stay.
    pub fn recreate_location(&self, code: &str) {
        let mut env = self.shared.lock();
        let id = env.guid();
        env.locations.insert(code.to_owned(), id);
    }

    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

// --- Errors in Business Central's shape -------------------------------------------------

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let correlation = format!("{:032x}", rand::rng().random::<u128>());
    let body = json!({ "error": {
        "code": code,
        "message": format!("{message}  CorrelationId:  {correlation}."),
    }});
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn not_found(segment: &str) -> Response {
    let message = format!("Resource not found for the segment '{segment}'.");
    error(
        StatusCode::NOT_FOUND,
        "BadRequest_ResourceNotFound",
        &message,
    )
}

fn dialog(message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "Application_DialogException",
        message,
    )
}

/// An error answer not yet rendered: small enough to travel in a `Result`.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn dialog(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Application_DialogException",
            message,
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error(self.status, self.code, &self.message)
    }
}

impl super::ErpFake for FakeBusinessCentral {
    const NAME: &'static str = "business_central";

    async fn start() -> Self {
        FakeBusinessCentral::start().await
    }

    fn adapter(&self) -> Arc<dyn stockade::adapters::ErpAdapter> {
        Arc::new(FakeBusinessCentral::adapter(self))
    }

    fn seed_stock(&self, rows: &[Stock]) {
        self.seed(rows);
    }

    fn documents_with_ref(&self, doc: Doc, external_ref: &str) -> usize {
        self.count(doc, external_ref)
    }

    fn ship(&self, erp_order: &str, lines: &[(&str, i64)]) {
        self.post_shipment(erp_order, lines);
    }

    fn inject(&self, fault: Fault) {
        FakeBusinessCentral::inject(self, fault);
    }
}
