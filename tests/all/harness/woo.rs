//! A fake WooCommerce store on loopback. It speaks the part of the wc/v3 REST API a
//! connector uses (products, variations, batch stock writes, orders, notes, refunds), checks
//! HTTP Basic and one-legged OAuth 1.0a credentials as WooCommerce does, and sends webhooks
//! signed as WooCommerce signs them, with switches to lose, repeat, hold and reorder
//! deliveries and to inject throttling, server errors, latency and malformed bodies.
//!
//! It keeps the quirks a connector has to survive, because a fake without them proves little:
//! - JSON is written as WordPress's `wp_json_encode` writes it (`\/` for slashes, `\u00e9`
//!   for non-ASCII), so a webhook signature only verifies over the raw bytes;
//! - `X-WC-Webhook-Delivery-ID` is a hash of the webhook id and the current second, so two
//!   deliveries of one topic within the same second carry the same id;
//! - a paid order reduces the stock of what it sells, as checkout does;
//! - dates have whole seconds and `modified_after` is strict, so a change in the same second
//!   as a cursor is not "after" it;
//! - a refund restocks unless `api_restock` is false (it defaults to true), and an
//!   over-refund is answered 500;
//! - nothing is retried, and a webhook is disabled after more than five consecutive failures.
//!
//! Where it departs from a real store, it says so: the store's clock is UTC (so
//! `date_modified` equals `date_modified_gmt`); the API's own writes fire no webhook unless
//! `echo_api_writes` is on; a delivery's body is built when its event fires, as with
//! synchronous delivery, so a held delivery sent late carries an older state.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Iso8601;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};
use tokio::sync::mpsc;

// --- Configuration ---------------------------------------------------------------------

/// Which credentials the fake accepts. A real store takes Basic only over HTTPS and OAuth
/// 1.0a over plain HTTP; the fake is plain HTTP, so this switch stands in for that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WooAuth {
    Basic,
    OAuth1,
    Either,
}

#[derive(Clone, Debug)]
pub struct WooConfig {
    pub consumer_key: String,
    pub consumer_secret: String,
    pub webhook_secret: String,
    pub auth: WooAuth,
}

impl Default for WooConfig {
    fn default() -> Self {
        Self {
            consumer_key: "ck_test_5d1f0c2b8e7a4936b1c0de2f4a6b8c0d1e2f3a4b".into(),
            consumer_secret: "cs_test_9a8b7c6d5e4f30211f2e3d4c5b6a79880f1e2d3c".into(),
            webhook_secret: "test-woo-webhook-secret".into(),
            auth: WooAuth::Either,
        }
    }
}

/// Each topic is its own webhook in WooCommerce, with its own id.
const WEBHOOKS: [(&str, u64); 4] = [
    ("order.created", 11),
    ("order.updated", 12),
    ("product.created", 13),
    ("product.updated", 14),
];
/// WooCommerce keeps a batch to this many items in total (create + update + delete).
const BATCH_LIMIT: usize = 100;
/// OAuth timestamps and nonces are valid for 15 minutes either side of the store's clock.
const OAUTH_WINDOW_SECS: i64 = 15 * 60;
/// A webhook whose failure count is already above this is disabled on its next failure.
const MAX_DELIVERY_FAILURES: u32 = 5;
const PRICE_CENTS: i64 = 1250;
const USER_AGENT: &str = "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)";
const WC_DATE: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");

// --- The store's data ------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Simple,
    Variable,
    Variation,
}

struct Product {
    id: u64,
    parent_id: u64,
    kind: Kind,
    name: String,
    sku: String,
    manage_stock: bool,
    stock: Option<i64>,
    variations: Vec<u64>,
    created: OffsetDateTime,
    modified: OffsetDateTime,
}

struct Order {
    json: Value,
    created: OffsetDateTime,
    modified: OffsetDateTime,
    notes: Vec<Value>,
    refunds: Vec<Refund>,
}

struct Refund {
    json: Value,
    cents: i64,
    api_refund: bool,
    api_restock: bool,
}

struct Store {
    home: String,
    /// Products, variations, orders and refunds share one id space, as WordPress posts do.
    next_post: u64,
    /// Order items, notes and meta rows.
    next_row: u64,
    products: BTreeMap<u64, Product>,
    orders: BTreeMap<u64, Order>,
    nonces: HashMap<String, i64>,
    clock_shift: time::Duration,
}

#[derive(Default)]
struct Hooks {
    url: Option<String>,
    lose: usize,
    lost: usize,
    duplicate: bool,
    hold: bool,
    held: Vec<Delivery>,
    echo_api_writes: bool,
    statuses: Vec<u16>,
    failures: BTreeMap<u64, u32>,
    disabled: BTreeSet<u64>,
}

#[derive(Default)]
struct Faults {
    fail: usize,
    fail_status: u16,
    malform: usize,
    latency: Duration,
}

#[derive(Default)]
struct Log {
    requests: Vec<(String, String, u16)>,
    batch_sizes: Vec<usize>,
}

#[derive(Clone)]
struct Delivery {
    topic: &'static str,
    body: Vec<u8>,
}

pub struct WooState {
    config: WooConfig,
    store: Mutex<Store>,
    hooks: Mutex<Hooks>,
    faults: Mutex<Faults>,
    log: Mutex<Log>,
    queue: mpsc::UnboundedSender<Delivery>,
    client: reqwest::Client,
}

pub struct FakeWoo {
    pub addr: SocketAddr,
    pub state: Arc<WooState>,
}

// --- The test's side: catalog, orders, webhooks, observation, faults -------------------

impl FakeWoo {
    pub async fn start(config: WooConfig) -> FakeWoo {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (queue, queued) = mpsc::unbounded_channel();
        let state = Arc::new(WooState {
            config,
            store: Mutex::new(Store {
                home: format!("http://{addr}"),
                next_post: 100,
                next_row: 1000,
                products: BTreeMap::new(),
                orders: BTreeMap::new(),
                nonces: HashMap::new(),
                clock_shift: time::Duration::ZERO,
            }),
            hooks: Mutex::default(),
            faults: Mutex::default(),
            log: Mutex::default(),
            queue,
            // WooCommerce waits up to a minute for an answer and follows no redirect.
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        });
        tokio::spawn(deliver_in_order(state.clone(), queued));
        let app = router(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeWoo { addr, state }
    }

    /// The store URL; the REST API lives under `/wp-json/wc/v3`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn api_url(&self) -> String {
        format!("{}/wp-json/wc/v3", self.base_url())
    }

    pub fn add_simple_product(&self, sku: &str, stock: Option<i64>) -> u64 {
        let (id, created) = self.state.store().add(Kind::Simple, 0, sku, stock);
        self.state.fire("product.created", &created);
        id
    }

    pub fn add_product_without_sku(&self, name: &str) -> u64 {
        let (id, created) = {
            let mut store = self.state.store();
            let (id, _) = store.add(Kind::Simple, 0, "", None);
            store.products.get_mut(&id).unwrap().name = name.to_owned();
            (id, store.product_json(id))
        };
        self.state.fire("product.created", &created);
        id
    }

    /// A variation given `Some(stock)` manages its own stock; one given `None` follows its
    /// parent: `manage_stock: "parent"` with the parent's quantity, or `false` and `null`.
    pub fn add_variable_product(
        &self,
        parent_sku: &str,
        parent_stock: Option<i64>,
        variations: &[(&str, Option<i64>)],
    ) -> (u64, Vec<u64>) {
        let mut created = Vec::new();
        let (parent, ids) = {
            let mut store = self.state.store();
            let (parent, json) = store.add(Kind::Variable, 0, parent_sku, parent_stock);
            created.push(json);
            let mut ids = Vec::new();
            for (sku, stock) in variations {
                let (id, json) = store.add(Kind::Variation, parent, sku, *stock);
                store.products.get_mut(&parent).unwrap().variations.push(id);
                created.push(json);
                ids.push(id);
            }
            (parent, ids)
        };
        for json in &created {
            self.state.fire("product.created", json);
        }
        (parent, ids)
    }

    /// `stock_quantity` as the API shows it for the product or variation with that SKU.
    pub fn stock_of(&self, sku: &str) -> Option<i64> {
        let store = self.state.store();
        store.stock_view(store.by_sku(sku)).1
    }

    pub fn manage_stock_of(&self, sku: &str) -> Value {
        let store = self.state.store();
        store.stock_view(store.by_sku(sku)).0
    }

    /// A shop manager editing stock in wp-admin: fires `product.updated`.
    pub fn set_stock_by_admin(&self, sku: &str, stock: Option<i64>) {
        self.admin_edit(
            |store| store.by_sku(sku),
            |p| {
                p.manage_stock = stock.is_some();
                p.stock = stock;
            },
        );
    }

    /// Fires `product.updated`.
    pub fn rename_sku(&self, product_or_variation_id: u64, sku: &str) {
        self.admin_edit(
            |store| {
                assert!(!store.sku_taken(sku), "SKU {sku} is already used");
                product_or_variation_id
            },
            |p| p.sku = sku.to_owned(),
        );
    }

    fn admin_edit(&self, find: impl FnOnce(&Store) -> u64, edit: impl FnOnce(&mut Product)) {
        let json = {
            let mut store = self.state.store();
            let id = find(&store);
            let now = store.now();
            let product = store.products.get_mut(&id).expect("no such product");
            edit(product);
            product.modified = now;
            store.product_json(id)
        };
        self.state.fire("product.updated", &json);
    }

    /// A paid checkout: status `processing`, stock reduced for every managed line. A line
    /// without a SKU sells the first product that has none. Fires `order.created`.
    pub fn create_order(&self, lines: &[(Option<&str>, i64)]) -> u64 {
        let (id, json) = self.state.store().create_order(lines);
        self.state.fire("order.created", &json);
        id
    }

    /// Changes the order as the admin would (the closure must not call the fake), bumps its
    /// modification date and fires `order.updated`.
    pub fn update_order(&self, id: u64, change: impl FnOnce(&mut Value)) {
        let json = {
            let mut store = self.state.store();
            let now = store.now();
            let order = store.orders.get_mut(&id).expect("no such order");
            change(&mut order.json);
            order.touch(now);
            order.json.clone()
        };
        self.state.fire("order.updated", &json);
    }

    pub fn order(&self, id: u64) -> Value {
        self.state.store().orders[&id].json.clone()
    }

    /// Newest first, as the API lists them.
    pub fn notes(&self, order_id: u64) -> Vec<Value> {
        self.state.store().orders[&order_id].notes.clone()
    }

    /// As the API shows them, plus the `api_refund` and `api_restock` the request carried.
    pub fn refunds(&self, order_id: u64) -> Vec<Value> {
        let store = self.state.store();
        let refunds = store.orders[&order_id].refunds.iter().map(|r| {
            let mut json = r.json.clone();
            json["api_refund"] = r.api_refund.into();
            json["api_restock"] = r.api_restock.into();
            json
        });
        refunds.collect()
    }

    /// The delivery URL of every topic; until it is set nothing is delivered.
    pub fn deliver_to(&self, url: &str) {
        self.state.hooks().url = Some(url.to_owned());
    }

    /// The ping WooCommerce sends when a webhook is saved: unsigned, form-encoded
    /// `webhook_id=N`. WooCommerce treats anything but 200 as a failure. 0 means no answer.
    pub async fn send_ping(&self) -> u16 {
        let url = self.state.delivery_url();
        let sent = self.state.client.post(url).header("user-agent", USER_AGENT);
        let sent = sent
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("webhook_id={}", webhook_id("order.created")))
            .send()
            .await;
        sent.map_or(0, |r| r.status().as_u16())
    }

    pub fn lose_next_deliveries(&self, n: usize) {
        self.state.hooks().lose = n;
    }

    /// How many deliveries `lose_next_deliveries` dropped.
    pub fn lost(&self) -> usize {
        self.state.hooks().lost
    }

    pub fn duplicate_deliveries(&self, on: bool) {
        self.state.hooks().duplicate = on;
    }

    /// While on, deliveries queue up (with the body of the moment they fired) until
    /// `release_held_reversed`.
    pub fn hold_deliveries(&self, on: bool) {
        self.state.hooks().hold = on;
    }

    /// Sends every held delivery, newest first. Does not turn holding off.
    pub async fn release_held_reversed(&self) {
        let held = std::mem::take(&mut self.state.hooks().held);
        for delivery in held.iter().rev() {
            self.state.deliver(delivery).await;
        }
    }

    /// Makes the API's own writes fire `product.updated` and `order.updated`, as a real store
    /// does, so a connector must not take its own writes for news. Off by default.
    pub fn echo_api_writes(&self, on: bool) {
        self.state.hooks().echo_api_writes = on;
    }

    /// Webhooks disabled after repeated failures; they deliver nothing until reactivated.
    pub fn disabled_topics(&self) -> Vec<&'static str> {
        let hooks = self.state.hooks();
        let disabled = WEBHOOKS
            .iter()
            .filter(|(_, id)| hooks.disabled.contains(id));
        disabled.map(|(topic, _)| *topic).collect()
    }

    pub fn reactivate_webhooks(&self) {
        let mut hooks = self.state.hooks();
        hooks.disabled.clear();
        hooks.failures.clear();
    }

    /// Sends a delivery with WooCommerce's headers and the given signature (none when
    /// `None`); the answer is returned, not recorded in `delivery_statuses`.
    pub async fn send_signed_raw(&self, topic: &str, body: &[u8], signature: Option<&str>) -> u16 {
        let topic = WEBHOOKS
            .iter()
            .find(|(t, _)| *t == topic)
            .map(|(t, _)| *t)
            .expect("unknown topic");
        let delivery = Delivery {
            topic,
            body: body.to_vec(),
        };
        let id = delivery_id(topic, self.state.store().now());
        self.state.post(&delivery, &id, signature).await
    }

    /// The signature WooCommerce would send with this body.
    pub fn signature_of(&self, body: &[u8]) -> String {
        self.state.signature(body)
    }

    /// What the receiver answered each delivery, repeats included; 0 for no answer.
    pub fn delivery_statuses(&self) -> Vec<u16> {
        self.state.hooks().statuses.clone()
    }

    pub async fn wait_deliveries_answered(&self, n: usize, within: Duration) {
        let start = Instant::now();
        loop {
            let answered = self.state.hooks().statuses.len();
            if answered >= n {
                return;
            }
            assert!(
                start.elapsed() < within,
                "only {answered} of {n} webhook deliveries were answered within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Items (create + update + delete) in each products or variations batch request that
    /// passed authentication, in order, including refused ones.
    pub fn batch_sizes(&self) -> Vec<usize> {
        self.state.log().batch_sizes.clone()
    }

    /// Every API request: method, path with query, and the status it got.
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        self.state.log().requests.clone()
    }

    /// The next `n` API requests get `status` before authentication, as from the host in
    /// front of WordPress; a 429 comes with `Retry-After: 1`.
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut faults = self.state.faults();
        (faults.fail, faults.fail_status) = (n, status);
    }

    /// The next `n` successful API answers are cut off halfway through their body.
    pub fn malform_next(&self, n: usize) {
        self.state.faults().malform = n;
    }

    pub fn set_latency(&self, d: Duration) {
        self.state.faults().latency = d;
    }

    /// Moves the store's clock, for dates and for OAuth timestamps.
    pub fn shift_clock(&self, by: time::Duration) {
        self.state.store().clock_shift += by;
    }
}

// --- Webhooks --------------------------------------------------------------------------

fn webhook_id(topic: &str) -> u64 {
    WEBHOOKS.iter().find(|(t, _)| *t == topic).unwrap().1
}

/// WooCommerce hashes the webhook id with the current second, so the id is not unique.
fn delivery_id(topic: &str, now: OffsetDateTime) -> String {
    let seed = format!("{}{}", webhook_id(topic), now.unix_timestamp());
    hex::encode(&Sha256::digest(seed)[..16])
}

/// What WordPress's `wp_json_encode` writes: PHP's `json_encode` without flags escapes `/`
/// and writes every non-ASCII character as `\u` escapes of its UTF-16 units.
fn php_json(value: &Value) -> Vec<u8> {
    let compact = value.to_string();
    let mut out = String::with_capacity(compact.len() + compact.len() / 8);
    for c in compact.chars() {
        match c {
            // Outside strings JSON has neither slashes nor non-ASCII, so this only escapes.
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.into_bytes()
}

/// One delivery at a time, in the order the events fired.
async fn deliver_in_order(state: Arc<WooState>, mut queued: mpsc::UnboundedReceiver<Delivery>) {
    while let Some(delivery) = queued.recv().await {
        state.deliver(&delivery).await;
    }
}

impl WooState {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap()
    }

    fn hooks(&self) -> MutexGuard<'_, Hooks> {
        self.hooks.lock().unwrap()
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap()
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap()
    }

    fn delivery_url(&self) -> String {
        let url = self.hooks().url.clone();
        url.expect("no delivery URL: call deliver_to first")
    }

    /// The body is built now, so a held delivery sent late carries the state it fired with.
    fn fire(&self, topic: &'static str, payload: &Value) {
        let mut hooks = self.hooks();
        if hooks.url.is_none() {
            return;
        }
        if hooks.lose > 0 {
            hooks.lose -= 1;
            hooks.lost += 1;
            return;
        }
        let delivery = Delivery {
            topic,
            body: php_json(payload),
        };
        if hooks.hold {
            hooks.held.push(delivery);
        } else {
            // The worker lives as long as the state, so the channel is open.
            let _ = self.queue.send(delivery);
        }
    }

    /// An API write seen as a real store sees it, when `echo_api_writes` is on.
    fn echo(&self, topic: &'static str, payloads: &[Value]) {
        if self.hooks().echo_api_writes {
            payloads.iter().for_each(|p| self.fire(topic, p));
        }
    }

    async fn deliver(&self, delivery: &Delivery) {
        let webhook = webhook_id(delivery.topic);
        let copies = {
            let hooks = self.hooks();
            if hooks.disabled.contains(&webhook) {
                return;
            }
            if hooks.duplicate { 2 } else { 1 }
        };
        let id = delivery_id(delivery.topic, self.store().now());
        let signature = self.signature(&delivery.body);
        for _ in 0..copies {
            let status = self.post(delivery, &id, Some(&signature)).await;
            let mut hooks = self.hooks();
            hooks.statuses.push(status);
            // WooCommerce counts 2xx, 301 and 302 as delivered and resets the count.
            if (200..=302).contains(&status) {
                hooks.failures.remove(&webhook);
            } else if hooks.failures.get(&webhook).copied().unwrap_or(0) > MAX_DELIVERY_FAILURES {
                hooks.disabled.insert(webhook);
            } else {
                *hooks.failures.entry(webhook).or_default() += 1;
            }
        }
    }

    fn signature(&self, body: &[u8]) -> String {
        let key = self.config.webhook_secret.as_bytes();
        let mac = Hmac::<Sha256>::new_from_slice(key)
            .unwrap()
            .chain_update(body);
        BASE64.encode(mac.finalize().into_bytes())
    }

    async fn post(&self, delivery: &Delivery, id: &str, signature: Option<&str>) -> u16 {
        let (resource, event) = delivery.topic.split_once('.').unwrap();
        let source = format!("{}/", self.store().home);
        let mut request = self
            .client
            .post(self.delivery_url())
            .header(CONTENT_TYPE, "application/json")
            .header("user-agent", USER_AGENT)
            .header("x-wc-webhook-source", source)
            .header("x-wc-webhook-topic", delivery.topic)
            .header("x-wc-webhook-resource", resource)
            .header("x-wc-webhook-event", event)
            .header("x-wc-webhook-id", webhook_id(delivery.topic))
            .header("x-wc-webhook-delivery-id", id)
            .body(delivery.body.clone());
        if let Some(signature) = signature {
            request = request.header("x-wc-webhook-signature", signature);
        }
        request.send().await.map_or(0, |r| r.status().as_u16())
    }
}

// --- HTTP: routes, the gate every request passes, handlers -----------------------------

type S = State<Arc<WooState>>;
type Answer = Result<Response, WcError>;

/// A WordPress REST error, `{"code", "message", "data": {"status"}}`, answered with that
/// status.
struct WcError(Value);

impl IntoResponse for WcError {
    fn into_response(self) -> Response {
        let status = self.0["data"]["status"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok());
        reply(
            StatusCode::from_u16(status.unwrap_or(500)).unwrap(),
            &self.0,
        )
    }
}

fn router(state: Arc<WooState>) -> Router {
    let at = |path: &str| format!("/wp-json/wc/v3{path}");
    Router::new()
        .route(&at("/products"), get(list_products))
        .route(&at("/products/batch"), post(batch_products))
        .route(&at("/products/{id}"), get(get_product))
        .route(&at("/products/{id}/variations"), get(list_variations))
        .route(
            &at("/products/{id}/variations/batch"),
            post(batch_variations),
        )
        .route(&at("/products/{id}/variations/{vid}"), get(get_variation))
        .route(&at("/orders"), get(list_orders))
        .route(&at("/orders/{id}"), get(get_order).put(put_order))
        .route(&at("/orders/{id}/notes"), get(list_notes).post(add_note))
        .route(
            &at("/orders/{id}/refunds"),
            get(list_refunds).post(add_refund),
        )
        .fallback(no_route)
        .method_not_allowed_fallback(no_route)
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

/// Latency and injected faults first (they come from in front of WordPress), then
/// authentication; every request is logged with the status it got.
async fn gate(State(s): S, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let target = request.uri().path_and_query().map(ToString::to_string);
    let latency = s.faults().latency;
    tokio::time::sleep(latency).await;
    let fault = {
        let mut faults = s.faults();
        take_one(&mut faults.fail).then_some(faults.fail_status)
    };
    let mut response = match fault {
        Some(status) => fault_response(status),
        None => match s.authenticate(&request) {
            Ok(()) => next.run(request).await,
            Err(refused) => refused.into_response(),
        },
    };
    if response.status().is_success() && take_one(&mut s.faults().malform) {
        let (mut parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        parts.headers.remove(CONTENT_LENGTH);
        response = Response::from_parts(parts, Body::from(bytes.slice(..bytes.len() / 2)));
    }
    let status = response.status().as_u16();
    s.log()
        .requests
        .push((method, target.unwrap_or_default(), status));
    response
}

/// Counts one down; true when there was one to take.
fn take_one(counter: &mut usize) -> bool {
    let hit = *counter > 0;
    *counter = counter.saturating_sub(1);
    hit
}

fn fault_response(status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap();
    match status {
        429 => {
            let mut r = wc_err(429, "rest_too_many_requests", "Too many requests.").into_response();
            r.headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            r
        }
        // WordPress's own fatal-error handler answers REST calls in JSON.
        500 => {
            let message = "<p>There has been a critical error on this website.</p>";
            let mut error = wc_err(500, "internal_server_error", message);
            error.0["additional_errors"] = json!([]);
            error.into_response()
        }
        // Anything else comes from the web server or proxy in front, as HTML.
        _ => {
            let html = format!("<html><body><h1>{code}</h1></body></html>");
            (code, [(CONTENT_TYPE, "text/html")], html).into_response()
        }
    }
}

async fn no_route() -> WcError {
    let message = "No route was found matching the URL and request method.";
    wc_err(404, "rest_no_route", message)
}

async fn list_products(State(s): S, RawQuery(q): RawQuery) -> Answer {
    let q = params(q);
    let store = s.store();
    let skus: Option<Vec<&str>> = q.get("sku").map(|v| v.split(',').collect());
    let listed = store.products.values().filter(|p| {
        p.kind != Kind::Variation
            && skus
                .as_ref()
                .is_none_or(|skus| skus.contains(&p.sku.as_str()))
            && q.get("type").is_none_or(|t| t == kind_name(p.kind))
    });
    let ids = sorted(listed.map(|p| (p.created, p.modified, p.id)).collect(), &q)?;
    paged(ids.iter().map(|id| store.product_json(*id)).collect(), &q)
}

async fn get_product(State(s): S, Path(id): Path<u64>) -> Answer {
    let store = s.store();
    let found = store.products.contains_key(&id);
    let found = found.then(|| reply(StatusCode::OK, &store.product_json(id)));
    found.ok_or_else(|| wc_err(404, "woocommerce_rest_product_invalid_id", "Invalid ID."))
}

async fn list_variations(State(s): S, Path(id): Path<u64>, RawQuery(q): RawQuery) -> Answer {
    let store = s.store();
    let parent = store.products.get(&id).filter(|p| p.kind == Kind::Variable);
    let parent =
        parent.ok_or_else(|| wc_err(404, "woocommerce_rest_product_invalid_id", "Invalid ID."))?;
    paged(
        parent
            .variations
            .iter()
            .map(|v| store.variation_json(*v))
            .collect(),
        &params(q),
    )
}

async fn get_variation(State(s): S, Path((id, vid)): Path<(u64, u64)>) -> Answer {
    let store = s.store();
    let found = store
        .products
        .get(&vid)
        .is_some_and(|v| v.parent_id == id && id != 0);
    let found = found.then(|| reply(StatusCode::OK, &store.variation_json(vid)));
    found.ok_or_else(|| {
        wc_err(
            404,
            "woocommerce_rest_product_variation_invalid_id",
            "Invalid ID.",
        )
    })
}

async fn batch_products(State(s): S, body: Bytes) -> Answer {
    batch(&s, None, &body_json(&body)?)
}

async fn batch_variations(State(s): S, Path(id): Path<u64>, body: Bytes) -> Answer {
    batch(&s, Some(id), &body_json(&body)?)
}

/// Each item is answered on its own: the written resource, or `{"id", "error"}`.
fn batch(s: &WooState, parent: Option<u64>, body: &Value) -> Answer {
    let items = |action: &str| body[action].as_array().cloned().unwrap_or_default();
    let total: usize = ["create", "update", "delete"]
        .map(|a| items(a).len())
        .iter()
        .sum();
    s.log().batch_sizes.push(total);
    if total > BATCH_LIMIT {
        let message = format!("Unable to accept more than {BATCH_LIMIT} items for this request.");
        return Err(wc_err(
            413,
            "woocommerce_rest_request_entity_too_large",
            &message,
        ));
    }
    let mut answer = Map::new();
    let mut written = Vec::new();
    {
        let mut store = s.store();
        let mut updated = Vec::new();
        for item in items("update") {
            updated.push(match store.update_stock(parent, &item) {
                Ok(id) => {
                    written.push(store.product_json(id));
                    match parent {
                        Some(_) => store.variation_json(id),
                        None => store.product_json(id),
                    }
                }
                Err(WcError(error)) => json!({"id": item["id"], "error": error}),
            });
        }
        // TODO: batch create and delete are refused item by item. A connector pushing stock
        // never sends them, and a fake that half-creates products would mislead its tests.
        let refused = |item: &Value| {
            let id = if item.is_u64() { item } else { &item["id"] };
            let error = wc_err(400, "fake_woo_unsupported", "The fake store only updates.");
            json!({"id": id, "error": error.0})
        };
        for action in ["create", "delete"]
            .into_iter()
            .filter(|a| body.get(a).is_some())
        {
            answer.insert(action.into(), items(action).iter().map(refused).collect());
        }
        if body.get("update").is_some() {
            answer.insert("update".into(), updated.into());
        }
    }
    s.echo("product.updated", &written);
    Ok(reply(StatusCode::OK, &answer.into()))
}

async fn list_orders(State(s): S, RawQuery(q): RawQuery) -> Answer {
    let q = params(q);
    let after = q.get("modified_after").map(|v| parse_date(v));
    let after = after.map(|a| a.ok_or_else(|| invalid_param("modified_after", "Invalid date.")));
    let after = after.transpose()?;
    let statuses: Vec<&str> = q
        .get("status")
        .map_or(vec!["any"], |v| v.split(',').collect());
    if let Some(bad) = statuses
        .iter()
        .find(|s| **s != "any" && !ORDER_STATUSES.contains(*s))
    {
        return Err(invalid_param(
            "status",
            &format!("{bad} is not a valid order status."),
        ));
    }
    let store = s.store();
    let listed = store.orders.iter().filter(|(_, o)| {
        let status = o.json["status"].as_str().unwrap_or_default();
        statuses.iter().any(|s| *s == "any" || *s == status) && after.is_none_or(|t| o.modified > t)
    });
    let ids = sorted(
        listed.map(|(id, o)| (o.created, o.modified, *id)).collect(),
        &q,
    )?;
    paged(
        ids.iter().map(|id| store.orders[id].json.clone()).collect(),
        &q,
    )
}

async fn get_order(State(s): S, Path(id): Path<u64>) -> Answer {
    Ok(reply(StatusCode::OK, &s.store().order(id)?.json))
}

async fn put_order(State(s): S, Path(id): Path<u64>, body: Bytes) -> Answer {
    let order = s.store().put_order(id, &body_json(&body)?)?;
    s.echo("order.updated", std::slice::from_ref(&order));
    Ok(reply(StatusCode::OK, &order))
}

async fn list_notes(State(s): S, Path(id): Path<u64>) -> Answer {
    Ok(reply(
        StatusCode::OK,
        &s.store().order(id)?.notes.clone().into(),
    ))
}

async fn add_note(State(s): S, Path(id): Path<u64>, body: Bytes) -> Answer {
    let note = s.store().add_note(id, &body_json(&body)?)?;
    Ok(reply(StatusCode::CREATED, &note))
}

async fn list_refunds(State(s): S, Path(id): Path<u64>) -> Answer {
    let store = s.store();
    let refunds: Vec<Value> = store
        .order(id)?
        .refunds
        .iter()
        .map(|r| r.json.clone())
        .collect();
    Ok(reply(StatusCode::OK, &refunds.into()))
}

async fn add_refund(State(s): S, Path(id): Path<u64>, body: Bytes) -> Answer {
    let (refund, order) = s.store().add_refund(id, &body_json(&body)?)?;
    s.echo("order.updated", &[order]);
    Ok(reply(StatusCode::CREATED, &refund))
}

// --- Answers and request parsing, WordPress style --------------------------------------

fn reply(status: StatusCode, body: &Value) -> Response {
    let content_type = [(CONTENT_TYPE, "application/json; charset=UTF-8")];
    (status, content_type, php_json(body)).into_response()
}

fn wc_err(status: u16, code: &str, message: &str) -> WcError {
    WcError(json!({"code": code, "message": message, "data": {"status": status}}))
}

fn invalid_param(name: &str, why: &str) -> WcError {
    let mut error = wc_err(
        400,
        "rest_invalid_param",
        &format!("Invalid parameter(s): {name}"),
    );
    error.0["data"]["params"][name] = why.into();
    error
}

fn body_json(body: &Bytes) -> Result<Value, WcError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) if value.is_object() => Ok(value),
        _ => Err(wc_err(
            400,
            "rest_invalid_json",
            "Invalid JSON body passed.",
        )),
    }
}

/// Query parameters as PHP's `$_GET` holds them: decoded, `+` as a space, the last one wins.
fn params(query: Option<String>) -> HashMap<String, String> {
    let query = query.unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// Ids of `(created, modified, id)` rows in the asked order: `orderby` date (the default),
/// modified or id, `order` desc (the default) or asc. Ties go by id.
fn sorted(
    mut rows: Vec<(OffsetDateTime, OffsetDateTime, u64)>,
    q: &HashMap<String, String>,
) -> Result<Vec<u64>, WcError> {
    match q.get("orderby").map_or("date", String::as_str) {
        "date" => rows.sort_by_key(|&(created, _, id)| (created, id)),
        "modified" => rows.sort_by_key(|&(_, modified, id)| (modified, id)),
        "id" => rows.sort_by_key(|&(_, _, id)| id),
        _ => {
            return Err(invalid_param(
                "orderby",
                "orderby is not one of date, id, modified.",
            ));
        }
    }
    match q.get("order").map_or("desc", String::as_str) {
        "desc" => rows.reverse(),
        "asc" => {}
        _ => return Err(invalid_param("order", "order is not one of asc, desc.")),
    }
    Ok(rows.into_iter().map(|(_, _, id)| id).collect())
}

/// `page` and `per_page` (1 to 100, default 10), with the totals WordPress puts in headers.
fn paged(items: Vec<Value>, q: &HashMap<String, String>) -> Answer {
    let number = |name: &str, default: usize, least: usize, most: usize| {
        let n = q.get(name).map_or(Ok(default), |v| v.parse::<usize>());
        let n = n.map_err(|_| invalid_param(name, &format!("{name} is not of type integer.")))?;
        let why = format!("{name} must be between {least} (inclusive) and {most} (inclusive)");
        (least..=most)
            .contains(&n)
            .then_some(n)
            .ok_or_else(|| invalid_param(name, &why))
    };
    let per_page = number("per_page", 10, 1, 100)?;
    let page = number("page", 1, 1, usize::MAX)?;
    let (total, pages) = (items.len(), items.len().div_ceil(per_page));
    let shown: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut response = reply(StatusCode::OK, &shown.into());
    response.headers_mut().insert("x-wp-total", total.into());
    response
        .headers_mut()
        .insert("x-wp-totalpages", pages.into());
    Ok(response)
}

/// An ISO 8601 date as WordPress takes it; without an offset, in the store's zone (UTC).
fn parse_date(value: &str) -> Option<OffsetDateTime> {
    let with_offset = OffsetDateTime::parse(value, &Iso8601::DEFAULT);
    let local =
        || PrimitiveDateTime::parse(value, &Iso8601::DEFAULT).map(PrimitiveDateTime::assume_utc);
    with_offset.or_else(|_| local()).ok()
}

fn wc_date(t: OffsetDateTime) -> String {
    t.format(WC_DATE).unwrap()
}

fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// "12.5", "12.50", 12.5 or 12 as cents; more than two decimals is not money.
fn cents_of(value: &Value) -> Option<i64> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || fraction.len() > 2 || !digits(fraction) {
        return None;
    }
    Some(whole.parse::<i64>().ok()? * 100 + format!("{fraction:0<2}").parse::<i64>().ok()?)
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Simple => "simple",
        Kind::Variable => "variable",
        Kind::Variation => "variation",
    }
}

// --- Authentication --------------------------------------------------------------------

const OAUTH_PARAMS: [&str; 5] = [
    "oauth_consumer_key",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_signature",
    "oauth_signature_method",
];
/// RFC 3986 unreserved characters stay as they are; everything else is percent-encoded.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn auth_error(message: &str) -> WcError {
    wc_err(401, "woocommerce_rest_authentication_error", message)
}

impl WooState {
    fn authenticate(&self, request: &Request) -> Result<(), WcError> {
        let header = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let basic = header.and_then(|v| v.strip_prefix("Basic "));
        let query = request.uri().query().unwrap_or_default().as_bytes();
        let query: Vec<(String, String)> = form_urlencoded::parse(query).into_owned().collect();
        let oauth = query
            .iter()
            .any(|(k, v)| OAUTH_PARAMS.contains(&k.as_str()) && !v.is_empty());
        match (basic, oauth, self.config.auth) {
            (Some(credentials), _, WooAuth::Basic | WooAuth::Either) => {
                self.check_basic(credentials)
            }
            (_, true, WooAuth::OAuth1 | WooAuth::Either) => {
                self.check_oauth(request.method(), request.uri().path(), &query)
            }
            _ => Err(wc_err(
                401,
                "woocommerce_rest_cannot_view",
                "Sorry, you cannot list resources.",
            )),
        }
    }

    fn check_basic(&self, credentials: &str) -> Result<(), WcError> {
        let decoded = BASE64.decode(credentials.trim()).ok();
        let decoded = decoded
            .and_then(|d| String::from_utf8(d).ok())
            .unwrap_or_default();
        let (key, secret) = decoded.split_once(':').unwrap_or((&decoded, ""));
        if key != self.config.consumer_key {
            return Err(auth_error("Consumer key is invalid."));
        }
        if secret != self.config.consumer_secret {
            return Err(auth_error("Consumer secret is invalid."));
        }
        Ok(())
    }

    /// Signature first, then the timestamp, then the nonce, which is spent only by a request
    /// that passed the other two.
    fn check_oauth(
        &self,
        method: &Method,
        path: &str,
        query: &[(String, String)],
    ) -> Result<(), WcError> {
        let param = |name: &str| {
            let found = query.iter().rev().find(|(k, v)| k == name && !v.is_empty());
            found.map(|(_, v)| v.as_str())
        };
        let missing: Vec<&str> = OAUTH_PARAMS
            .into_iter()
            .filter(|n| param(n).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(auth_error(&format!(
                "Missing OAuth parameter {}",
                missing.join(", ")
            )));
        }
        if param("oauth_consumer_key") != Some(self.config.consumer_key.as_str()) {
            return Err(auth_error("Consumer key is invalid."));
        }
        let mut store = self.store();
        // The URL is the store's home URL and the path, whatever Host the request named.
        let signed = query.iter().filter(|(k, _)| k != "oauth_signature");
        let base = signature_base(method.as_str(), &format!("{}{path}", store.home), signed);
        let key = format!("{}&", self.config.consumer_secret);
        let digest = match param("oauth_signature_method") {
            Some("HMAC-SHA1") => hmac_digest::<Hmac<Sha1>>(&key, &base),
            Some("HMAC-SHA256") => hmac_digest::<Hmac<Sha256>>(&key, &base),
            _ => {
                return Err(auth_error(
                    "Invalid signature - signature method is invalid.",
                ));
            }
        };
        // PHP decoded a `+` in the signature to a space; WooCommerce puts it back.
        let given = param("oauth_signature")
            .unwrap_or_default()
            .replace(' ', "+");
        if BASE64.encode(digest) != given {
            return Err(auth_error(
                "Invalid signature - provided signature does not match.",
            ));
        }
        let now = store.now().unix_timestamp();
        let stamp: i64 = param("oauth_timestamp")
            .unwrap_or_default()
            .parse()
            .unwrap_or(0);
        if (stamp - now).abs() > OAUTH_WINDOW_SECS {
            return Err(auth_error("Invalid timestamp."));
        }
        store.nonces.retain(|_, at| *at >= now - OAUTH_WINDOW_SECS);
        let nonce = param("oauth_nonce").unwrap_or_default().to_owned();
        if store.nonces.insert(nonce, stamp).is_some() {
            return Err(auth_error("Invalid nonce - nonce has already been used."));
        }
        Ok(())
    }
}

fn hmac_digest<M: Mac + hmac::digest::KeyInit>(key: &str, message: &str) -> Vec<u8> {
    let mac = <M as Mac>::new_from_slice(key.as_bytes()).unwrap();
    mac.chain_update(message.as_bytes())
        .finalize()
        .into_bytes()
        .to_vec()
}

/// `METHOD&pct(URL)&pct(k=v&…)`, each key and value percent-encoded, the pairs sorted.
fn signature_base<'a>(
    method: &str,
    url: &str,
    params: impl Iterator<Item = &'a (String, String)>,
) -> String {
    let pct = |s: &str| utf8_percent_encode(s, RFC3986).to_string();
    let mut pairs: Vec<(String, String)> = params.map(|(k, v)| (pct(k), pct(v))).collect();
    pairs.sort();
    let joined: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{method}&{}&{}", pct(url), pct(&joined.join("&")))
}

// --- Store rules: catalog, stock, orders, notes, refunds -------------------------------

const ORDER_STATUSES: [&str; 9] = [
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "checkout-draft",
    "trash",
];

impl Store {
    /// Whole seconds, as WordPress stores dates.
    fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc() + self.clock_shift;
        now.replace_nanosecond(0).unwrap()
    }

    fn post_id(&mut self) -> u64 {
        self.next_post += 1;
        self.next_post
    }

    fn row_id(&mut self) -> u64 {
        self.next_row += 1;
        self.next_row
    }

    fn sku_taken(&self, sku: &str) -> bool {
        self.products.values().any(|p| p.sku == sku)
    }

    fn by_sku(&self, sku: &str) -> u64 {
        let found = self.products.values().find(|p| p.sku == sku);
        found
            .unwrap_or_else(|| panic!("no product with SKU {sku}"))
            .id
    }

    fn order(&self, id: u64) -> Result<&Order, WcError> {
        self.orders.get(&id).ok_or_else(no_order)
    }

    /// Adds a product; answers its id and its `product.created` body.
    fn add(&mut self, kind: Kind, parent_id: u64, sku: &str, stock: Option<i64>) -> (u64, Value) {
        assert!(
            sku.is_empty() || !self.sku_taken(sku),
            "SKU {sku} is already used"
        );
        let (id, now) = (self.post_id(), self.now());
        // A slash and a non-ASCII letter in every name, so bodies exercise PHP's escaping.
        let name = match kind {
            Kind::Variation => format!("{} - {sku}", self.products[&parent_id].name),
            _ => format!("Café mug {sku} / 350ml"),
        };
        let product = Product {
            id,
            parent_id,
            kind,
            name,
            sku: sku.to_owned(),
            manage_stock: stock.is_some(),
            stock,
            variations: Vec::new(),
            created: now,
            modified: now,
        };
        self.products.insert(id, product);
        (id, self.product_json(id))
    }

    /// `manage_stock` and `stock_quantity` as the API shows them: a variation that does not
    /// manage its stock shows its parent's as `"parent"`, or `false` and `null`.
    fn stock_view(&self, id: u64) -> (Value, Option<i64>) {
        let product = &self.products[&id];
        if product.manage_stock {
            return (true.into(), product.stock);
        }
        match self.products.get(&product.parent_id) {
            Some(parent) if parent.manage_stock => ("parent".into(), parent.stock),
            _ => (false.into(), None),
        }
    }

    /// The product whose stock a sale of `id` moves: itself, its parent, or none.
    fn stock_holder(&mut self, id: u64) -> Option<&mut Product> {
        let product = self.products.get(&id)?;
        let holder = if product.manage_stock {
            id
        } else {
            product.parent_id
        };
        self.products.get_mut(&holder).filter(|p| p.manage_stock)
    }

    /// One batch item: `manage_stock` first, then `stock_quantity` or `inventory_delta`,
    /// which only a product that manages its stock keeps.
    fn update_stock(&mut self, parent: Option<u64>, item: &Value) -> Result<u64, WcError> {
        let invalid = || match parent {
            None => wc_err(400, "woocommerce_rest_product_invalid_id", "Invalid ID."),
            Some(_) => wc_err(
                400,
                "woocommerce_rest_product_variation_invalid_id",
                "Invalid ID.",
            ),
        };
        let integer = |name: &str| {
            let value = match &item[name] {
                Value::Null => return Ok(None),
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            let why = format!("{name} is not of type integer.");
            value.map(Some).ok_or_else(|| invalid_param(name, &why))
        };
        let (quantity, delta) = (integer("stock_quantity")?, integer("inventory_delta")?);
        let now = self.now();
        let id = item["id"].as_u64().ok_or_else(invalid)?;
        let product = self.products.get_mut(&id).ok_or_else(invalid)?;
        if parent.is_some_and(|p| product.kind != Kind::Variation || product.parent_id != p) {
            return Err(invalid());
        }
        match &item["manage_stock"] {
            Value::Null => {}
            Value::Bool(on) => product.manage_stock = *on,
            _ => {
                return Err(invalid_param(
                    "manage_stock",
                    "manage_stock is not of type boolean.",
                ));
            }
        }
        product.stock = match (product.manage_stock, quantity, delta) {
            (false, _, _) => None,
            (true, Some(quantity), _) => Some(quantity),
            (true, None, Some(delta)) => Some(product.stock.unwrap_or(0) + delta),
            (true, None, None) => product.stock,
        };
        product.modified = now;
        Ok(id)
    }

    fn create_order(&mut self, lines: &[(Option<&str>, i64)]) -> (u64, Value) {
        let (id, now) = (self.post_id(), self.now());
        let mut items = Vec::new();
        for (sku, quantity) in lines {
            let product_id = match sku {
                Some(sku) => self.by_sku(sku),
                None => {
                    let found = self.products.values().find(|p| p.sku.is_empty());
                    found
                        .expect("a line without a SKU needs add_product_without_sku")
                        .id
                }
            };
            if let Some(holder) = self.stock_holder(product_id) {
                holder.stock = Some(holder.stock.unwrap_or(0) - quantity);
                holder.modified = now;
            }
            items.push(self.line_json(product_id, *quantity));
        }
        let total = PRICE_CENTS * lines.iter().map(|(_, q)| q).sum::<i64>();
        let rows = [(); 5].map(|()| self.row_id());
        let json = order_json(&self.home, id, now, items, total, rows);
        let order = Order {
            json: json.clone(),
            created: now,
            modified: now,
            notes: Vec::new(),
            refunds: Vec::new(),
        };
        self.orders.insert(id, order);
        (id, json)
    }

    fn line_json(&mut self, product_id: u64, quantity: i64) -> Value {
        let (item_id, meta_id) = (self.row_id(), self.row_id());
        let product = &self.products[&product_id];
        let parent = self.products.get(&product.parent_id);
        let meta = match parent {
            Some(_) => json!([{"id": meta_id, "key": "pa_variant",
                "value": product.sku.to_lowercase(), "display_key": "Variant",
                "display_value": product.sku}]),
            None => json!([]),
        };
        let total = money(PRICE_CENTS * quantity);
        json!({
            "id": item_id, "name": product.name,
            "product_id": parent.map_or(product.id, |p| p.id),
            "variation_id": parent.map_or(0, |_| product.id),
            "quantity": quantity, "tax_class": "", "subtotal": total, "subtotal_tax": "0.00",
            "total": total, "total_tax": "0.00", "taxes": [], "meta_data": meta,
            "sku": product.sku, "price": PRICE_CENTS as f64 / 100.0,
            "image": {"id": "", "src": ""}, "parent_name": parent.map(|p| p.name.clone()),
        })
    }

    fn put_order(&mut self, id: u64, body: &Value) -> Result<Value, WcError> {
        let now = self.now();
        let order = self.orders.get_mut(&id).ok_or_else(no_order)?;
        if let Some(status) = body.get("status") {
            let status = status.as_str().filter(|s| ORDER_STATUSES.contains(s));
            let why = "status is not one of the order statuses.";
            let status = status.ok_or_else(|| invalid_param("status", why))?;
            order.json["status"] = status.into();
            if status == "completed" {
                order.json["date_completed"] = wc_date(now).into();
                order.json["date_completed_gmt"] = wc_date(now).into();
            }
        }
        for field in ["customer_note", "transaction_id"] {
            if let Some(value) = body.get(field).and_then(Value::as_str) {
                order.json[field] = value.into();
            }
        }
        for address in ["billing", "shipping"] {
            for (k, v) in body[address].as_object().into_iter().flatten() {
                order.json[address][k] = v.clone();
            }
        }
        // An entry replaces the one with the same key, as `update_meta_data` does.
        for entry in body["meta_data"].as_array().into_iter().flatten() {
            let meta = order.json["meta_data"].as_array_mut().unwrap();
            match meta.iter_mut().find(|m| m["key"] == entry["key"]) {
                Some(existing) => existing["value"] = entry["value"].clone(),
                None => {
                    self.next_row += 1;
                    let (key, value) = (&entry["key"], &entry["value"]);
                    meta.push(json!({"id": self.next_row, "key": key, "value": value}));
                }
            }
        }
        order.touch(now);
        Ok(order.json.clone())
    }

    fn add_note(&mut self, id: u64, body: &Value) -> Result<Value, WcError> {
        let (note_id, now) = (self.row_id(), self.now());
        let up = format!("{}/wp-json/wc/v3/orders/{id}", self.home);
        let order = self.orders.get_mut(&id).ok_or_else(no_order)?;
        let Some(text) = body["note"].as_str().filter(|n| !n.is_empty()) else {
            let mut error = wc_err(
                400,
                "rest_missing_callback_param",
                "Missing parameter(s): note",
            );
            error.0["data"]["params"] = json!(["note"]);
            return Err(error);
        };
        let note = json!({
            "id": note_id, "author": "system", "date_created": wc_date(now),
            "date_created_gmt": wc_date(now), "note": text,
            "customer_note": body["customer_note"].as_bool().unwrap_or(false),
            "_links": {"self": [{"href": format!("{up}/notes/{note_id}")}], "up": [{"href": up}]},
        });
        order.notes.insert(0, note.clone());
        Ok(note)
    }

    /// Answers the refund and the order as it now stands. `api_refund` and `api_restock`
    /// default to true, as in WooCommerce.
    fn add_refund(&mut self, id: u64, body: &Value) -> Result<(Value, Value), WcError> {
        let (refund_id, now) = (self.post_id(), self.now());
        let order = self.order(id)?;
        let cents = cents_of(&body["amount"])
            .filter(|c| *c > 0)
            .ok_or_else(|| {
                let message = "Refund amount must be greater than zero.";
                wc_err(400, "woocommerce_rest_invalid_order_refund", message)
            })?;
        let left = cents_of(&order.json["total"]).unwrap_or(0)
            - order.refunds.iter().map(|r| r.cents).sum::<i64>();
        if cents > left {
            // wc_create_refund's error carries no status, so the REST API answers 500.
            let code = "woocommerce_rest_cannot_create_order_refund";
            return Err(wc_err(500, code, "Invalid refund amount."));
        }
        let flag = |name: &str| body[name].as_bool().unwrap_or(true);
        let (api_refund, api_restock) = (flag("api_refund"), flag("api_restock"));
        let sold = order.json["line_items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut lines = Vec::new();
        for asked in body["line_items"].as_array().into_iter().flatten() {
            // Lines the order does not have are skipped, as WooCommerce skips them.
            let Some(line) = sold.iter().find(|l| l["id"] == asked["id"]) else {
                continue;
            };
            let quantity = asked["quantity"].as_i64().unwrap_or(0);
            let refunded = money(-cents_of(&asked["refund_total"]).unwrap_or(0));
            lines.push(json!({
                "id": self.row_id(), "name": line["name"], "product_id": line["product_id"],
                "variation_id": line["variation_id"], "quantity": -quantity, "tax_class": "",
                "subtotal": refunded, "subtotal_tax": "0.00", "total": refunded,
                "total_tax": "0.00", "taxes": [], "sku": line["sku"], "price": line["price"],
                "meta_data": [{"id": self.row_id(), "key": "_refunded_item_id",
                    "value": line["id"].to_string()}],
            }));
            let variation = line["variation_id"].as_u64().filter(|v| *v != 0);
            let product = variation.or(line["product_id"].as_u64()).unwrap_or(0);
            if let Some(holder) = self.stock_holder(product).filter(|_| api_restock) {
                holder.stock = Some(holder.stock.unwrap_or(0) + quantity.max(0));
                holder.modified = now;
            }
        }
        let (reason, up) = (
            body["reason"].as_str().unwrap_or_default(),
            self.order_url(id),
        );
        let refund = json!({
            "id": refund_id, "date_created": wc_date(now), "date_created_gmt": wc_date(now),
            "amount": money(cents), "reason": reason, "refunded_by": 1,
            "refunded_payment": api_refund, "meta_data": [], "line_items": lines,
            "_links": {"self": [{"href": format!("{up}/refunds/{refund_id}")}], "up": [{"href": up}]},
        });
        let order = self.orders.get_mut(&id).unwrap();
        let summary = json!({"id": refund_id, "reason": reason, "total": money(-cents)});
        order.json["refunds"].as_array_mut().unwrap().push(summary);
        if cents == left {
            order.json["status"] = "refunded".into();
        }
        order.refunds.push(Refund {
            json: refund.clone(),
            cents,
            api_refund,
            api_restock,
        });
        order.touch(now);
        Ok((refund, order.json.clone()))
    }

    fn order_url(&self, id: u64) -> String {
        format!("{}/wp-json/wc/v3/orders/{id}", self.home)
    }

    /// A product as `GET /products/{id}` shows it; a variation shows as `type: variation`.
    fn product_json(&self, id: u64) -> Value {
        let p = &self.products[&id];
        let (manage_stock, quantity) = self.stock_view(id);
        let slug = p
            .name
            .to_lowercase()
            .replace(|c: char| !c.is_alphanumeric(), "-");
        let (price, home) = (money(PRICE_CENTS), &self.home);
        joined([
            json!({
                "id": p.id, "name": p.name, "slug": slug,
                "permalink": format!("{home}/product/{slug}/"), "type": kind_name(p.kind),
                "date_created": wc_date(p.created), "date_created_gmt": wc_date(p.created),
                "date_modified": wc_date(p.modified), "date_modified_gmt": wc_date(p.modified),
                "status": "publish", "featured": false, "catalog_visibility": "visible",
            }),
            json!({
                "description": "", "short_description": "", "sku": p.sku, "price": price,
                "regular_price": price, "sale_price": "", "on_sale": false, "purchasable": true,
                "virtual": false, "downloadable": false, "tax_status": "taxable", "tax_class": "",
            }),
            json!({
                "manage_stock": manage_stock, "stock_quantity": quantity,
                "stock_status": stock_status(quantity), "backorders": "no",
                "backorders_allowed": false, "backordered": false, "parent_id": p.parent_id,
                "variations": p.variations, "attributes": [], "meta_data": [],
                "_links": {"self": [{"href": format!("{home}/wp-json/wc/v3/products/{id}")}],
                    "collection": [{"href": format!("{home}/wp-json/wc/v3/products")}]},
            }),
        ])
    }

    /// A variation as `GET /products/{parent}/variations/{id}` shows it.
    fn variation_json(&self, id: u64) -> Value {
        let v = &self.products[&id];
        let (manage_stock, quantity) = self.stock_view(id);
        let price = money(PRICE_CENTS);
        let up = format!("{}/wp-json/wc/v3/products/{}", self.home, v.parent_id);
        let permalink = format!(
            "{}/?p={}&attribute_variant={}",
            self.home, v.parent_id, v.sku
        );
        joined([
            json!({
                "id": v.id, "date_created": wc_date(v.created),
                "date_created_gmt": wc_date(v.created), "date_modified": wc_date(v.modified),
                "date_modified_gmt": wc_date(v.modified), "description": "",
                "permalink": permalink, "sku": v.sku, "status": "publish", "menu_order": 0,
            }),
            json!({
                "price": price, "regular_price": price, "sale_price": "", "on_sale": false,
                "date_on_sale_from": null, "date_on_sale_from_gmt": null,
                "date_on_sale_to": null, "date_on_sale_to_gmt": null, "purchasable": true,
                "tax_status": "taxable", "tax_class": "",
            }),
            json!({
                "virtual": false, "downloadable": false, "downloads": [], "download_limit": -1,
                "download_expiry": -1, "weight": "", "shipping_class": "",
                "shipping_class_id": 0, "dimensions": {"length": "", "width": "", "height": ""},
            }),
            json!({
                "manage_stock": manage_stock, "stock_quantity": quantity,
                "stock_status": stock_status(quantity), "backorders": "no",
                "backorders_allowed": false, "backordered": false, "image": null,
                "attributes": [{"id": 0, "name": "Variant", "option": v.sku}], "meta_data": [],
                "_links": {"self": [{"href": format!("{up}/variations/{id}")}],
                    "collection": [{"href": format!("{up}/variations")}], "up": [{"href": up}]},
            }),
        ])
    }
}

impl Order {
    /// Every change moves the modification date; dates never go backwards.
    fn touch(&mut self, now: OffsetDateTime) {
        self.modified = self.modified.max(now);
        self.json["date_modified"] = wc_date(self.modified).into();
        self.json["date_modified_gmt"] = wc_date(self.modified).into();
    }
}

fn no_order() -> WcError {
    wc_err(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
}

/// One object from parts, so that no single `json!` nests deeper than the macro's default
/// recursion limit allows.
fn joined<const N: usize>(parts: [Value; N]) -> Value {
    let mut object = Map::new();
    for part in parts {
        if let Value::Object(fields) = part {
            object.extend(fields);
        }
    }
    object.into()
}

fn stock_status(quantity: Option<i64>) -> &'static str {
    match quantity {
        Some(q) if q <= 0 => "outofstock",
        _ => "instock",
    }
}

/// A paid guest checkout in the shape `GET /orders/{id}` answers. `rows` are ids for the
/// three meta entries, the shipping line and its meta entry.
fn order_json(
    home: &str,
    id: u64,
    now: OffsetDateTime,
    lines: Vec<Value>,
    total: i64,
    rows: [u64; 5],
) -> Value {
    let date = wc_date(now);
    // A slash and accents in the address, as real addresses have.
    let address = json!({
        "first_name": "Zoë", "last_name": "Tester", "company": "",
        "address_1": "Rue du Marché 12/3", "address_2": "", "city": "Genève", "state": "GE",
        "postcode": "1204", "country": "CH", "email": "zoe.tester@example.com",
        "phone": "+41 22 555 01 00",
    });
    let summary: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{} &times; {}",
                l["name"].as_str().unwrap_or_default(),
                l["quantity"]
            )
        })
        .collect();
    let hash = |seed: String| hex::encode(Sha256::digest(seed));
    joined([
        json!({
            "id": id, "parent_id": 0, "number": id.to_string(), "created_via": "checkout",
            "order_key": format!("wc_order_{}", &hash(format!("{id}{date}"))[..13]),
            "cart_hash": &hash(id.to_string())[..32], "version": "9.4.2",
            "status": "processing", "currency": "CHF", "customer_id": 0, "customer_note": "",
        }),
        json!({
            "date_created": date, "date_created_gmt": date, "date_modified": date,
            "date_modified_gmt": date, "date_paid": date, "date_paid_gmt": date,
            "date_completed": null, "date_completed_gmt": null,
        }),
        json!({
            "discount_total": "0.00", "discount_tax": "0.00", "shipping_total": "0.00",
            "shipping_tax": "0.00", "cart_tax": "0.00", "total": money(total),
            "total_tax": "0.00", "prices_include_tax": false,
        }),
        json!({
            "customer_ip_address": "203.0.113.7",
            "customer_user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0",
            "billing": address, "shipping": address, "payment_method": "stripe",
            "payment_method_title": "Credit Card (Stripe)",
            "transaction_id": format!("ch_test_{id}"),
        }),
        // Meta values are whatever plugins stored: strings, numbers, objects.
        json!({"meta_data": [
            {"id": rows[0], "key": "_wc_order_attribution_source_type", "value": "typein"},
            {"id": rows[1], "key": "_loyalty_points", "value": 120},
            {"id": rows[2], "key": "_gift", "value": {"wrap": true, "message": "Bon anniversaire"}},
        ]}),
        json!({
            "line_items": lines, "tax_lines": [], "fee_lines": [], "coupon_lines": [],
            "refunds": [],
            "shipping_lines": [{"id": rows[3], "method_title": "Free shipping",
                "method_id": "free_shipping", "instance_id": "1", "total": "0.00",
                "total_tax": "0.00", "taxes": [],
                "meta_data": [{"id": rows[4], "key": "Items", "value": summary.join(", ")}]}],
            "_links": {"self": [{"href": format!("{home}/wp-json/wc/v3/orders/{id}")}],
                "collection": [{"href": format!("{home}/wp-json/wc/v3/orders")}]},
        }),
    ])
}
