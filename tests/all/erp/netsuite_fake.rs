//! A fake NetSuite account on loopback, speaking the part of SuiteTalk REST the adapter
//! uses: SuiteQL (`Prefer: transient`, `limit`/`offset` paging, `hasMore`, every value a
//! string, NULL columns left out), records read by internal or external id (`eid:`),
//! sales orders created with a 204 and a `Location`, and `!transform` from sales orders to
//! fulfilments (with their package tracking number and memo) and return authorizations and
//! from those to credit memos, never for more than the source still holds.
//!
//! It checks OAuth 1.0a token-based authentication for real: the realm must be the
//! account, the HMAC-SHA256 signature is recomputed over the base string, a stale
//! timestamp or a spent nonce is refused. It refuses requests over its concurrency limit
//! as NetSuite does (429, `CONCURRENCY_LIMIT_EXCEEDED`) and answers every error in
//! NetSuite's shape.
//!
//! It does not run SQL: it recognises the adapter's queries by the table they read and
//! takes their bound parameters, which is enough to prove paging and mapping. Stock does
//! not move when orders are created.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde_json::{Value, json};
use sha2::Sha256;
use stockade::adapters::netsuite::auth::TokenCredentials;
use stockade::adapters::netsuite::{NetSuite, NetSuiteConfig};
use stockade::config::Secret;

use super::{Doc, Fault, Stock};

pub const ACCOUNT: &str = "1234567_SB1";
const CONSUMER_KEY: &str = "ef7c3b5a9d1e40f28c6b4a2d0e8f1a3c5b7d9e0f2a4c6e8b0d2f4a6c8e0b2d4f";
const CONSUMER_SECRET: &str = "3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c";
const TOKEN_ID: &str = "9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b";
const TOKEN_SECRET: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
pub const CUSTOMER_ID: &str = "107";
/// NetSuite refuses timestamps further than this from its clock.
const TIMESTAMP_WINDOW_SECS: i64 = 300;
/// Over this many requests at once, the account refuses.
pub const CONCURRENCY_LIMIT: usize = 3;
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Clone)]
struct Record {
    kind: &'static str,
    id: u64,
    external_id: Option<String>,
    created_from: Option<u64>,
    /// (item internal id, quantity)
    lines: Vec<(u64, i64)>,
    /// A fulfilment's package tracking number and memo, as SuiteQL reads them back.
    tracking: Option<String>,
    memo: Option<String>,
}

#[derive(Default)]
struct Faults {
    throttle: usize,
    server_error: usize,
    malformed: usize,
    huge: usize,
    expire: bool,
    down: bool,
    latency: Option<Duration>,
    slow_write: Option<Duration>,
}

#[derive(Default)]
struct Account {
    /// sku → internal id
    items: BTreeMap<String, u64>,
    /// (sku, location) → figures
    stock: BTreeMap<(String, String), Stock>,
    /// location name → internal id
    locations: BTreeMap<String, u64>,
    records: Vec<Record>,
    next_id: u64,
    nonces: HashSet<String>,
    faults: Faults,
    /// How long every answer takes, so that requests overlap as they do on a real account.
    service_time: Duration,
    /// Every request's method, path and `traceparent`, in arrival order.
    seen: Vec<(String, Option<String>)>,
}

struct Shared {
    base: String,
    account: Mutex<Account>,
    in_flight: AtomicUsize,
    refused_for_concurrency: AtomicUsize,
    signatures_refused: AtomicUsize,
    /// SuiteQL reads of stock balances answered.
    stock_reads: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Account> {
        self.account.lock().unwrap()
    }
}

pub struct FakeNetSuite {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl FakeNetSuite {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            base: format!("http://{addr}"),
            account: Mutex::new(Account {
                next_id: 100,
                ..Account::default()
            }),
            in_flight: AtomicUsize::new(0),
            refused_for_concurrency: AtomicUsize::new(0),
            signatures_refused: AtomicUsize::new(0),
            stock_reads: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/services/rest/query/v1/suiteql", post(suiteql))
            .route("/services/rest/record/v1/{kind}", post(create))
            .route("/services/rest/record/v1/{kind}/{id}", get(read))
            .route(
                "/services/rest/record/v1/{kind}/{id}/{verb}/{target}",
                post(transform),
            )
            .layer(middleware::from_fn_with_state(shared.clone(), gate))
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { shared, addr }
    }

    /// The adapter's settings for this account: short timeout, small pages.
    pub fn config(&self) -> NetSuiteConfig {
        NetSuiteConfig {
            account_id: ACCOUNT.into(),
            credentials: TokenCredentials {
                consumer_key: Secret::new(CONSUMER_KEY),
                consumer_secret: Secret::new(CONSUMER_SECRET),
                token_id: Secret::new(TOKEN_ID),
                token_secret: Secret::new(TOKEN_SECRET),
            },
            base_url: format!("http://{}", self.addr),
            customer_id: CUSTOMER_ID.into(),
            timeout: Duration::from_millis(700),
            concurrency: CONCURRENCY_LIMIT,
            page_size: 50,
        }
    }

    pub fn adapter(&self) -> NetSuite {
        NetSuite::new(self.config())
    }

    /// The same settings as a gateway process reads them (`STOCKADE_ERP=netsuite`).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let c = self.config();
        vec![
            ("STOCKADE_ERP", "netsuite".into()),
            ("STOCKADE_NETSUITE_ACCOUNT_ID", c.account_id),
            (
                "STOCKADE_NETSUITE_CONSUMER_KEY",
                c.credentials.consumer_key.expose().into(),
            ),
            (
                "STOCKADE_NETSUITE_CONSUMER_SECRET",
                c.credentials.consumer_secret.expose().into(),
            ),
            (
                "STOCKADE_NETSUITE_TOKEN_ID",
                c.credentials.token_id.expose().into(),
            ),
            (
                "STOCKADE_NETSUITE_TOKEN_SECRET",
                c.credentials.token_secret.expose().into(),
            ),
            ("STOCKADE_NETSUITE_BASE_URL", c.base_url),
            ("STOCKADE_NETSUITE_CUSTOMER_ID", c.customer_id),
            ("STOCKADE_NETSUITE_CONCURRENCY", c.concurrency.to_string()),
            ("STOCKADE_NETSUITE_PAGE_SIZE", c.page_size.to_string()),
        ]
    }

    pub fn url(&self) -> String {
        self.shared.base.clone()
    }

    pub fn seed(&self, rows: &[Stock]) {
        let mut account = self.shared.lock();
        for row in rows {
            if !account.items.contains_key(&row.sku) {
                let id = account.next_id;
                account.next_id += 1;
                account.items.insert(row.sku.clone(), id);
            }
            if !account.locations.contains_key(&row.location) {
                let id = account.next_id;
                account.next_id += 1;
                account.locations.insert(row.location.clone(), id);
            }
            account
                .stock
                .insert((row.sku.clone(), row.location.clone()), row.clone());
        }
    }

    /// The external ids of every record of this kind, in creation order (`None` for one
    /// made in the UI).
    pub fn external_ids(&self, doc: Doc) -> Vec<Option<String>> {
        let kind = kind_of(doc);
        let account = self.shared.lock();
        let records = account.records.iter().filter(|r| r.kind == kind);
        records.map(|r| r.external_id.clone()).collect()
    }

    pub fn count(&self, doc: Doc, external_id: &str) -> usize {
        let kind = kind_of(doc);
        let account = self.shared.lock();
        let matches = |r: &&Record| r.kind == kind && r.external_id.as_deref() == Some(external_id);
        account.records.iter().filter(matches).count()
    }

    /// A warehouse fulfilling lines of a sales order, as the UI's "Fulfill" does.
    pub fn fulfil(&self, sales_order: &str, lines: &[(&str, i64)]) {
        let mut account = self.shared.lock();
        let lines = lines
            .iter()
            .map(|(sku, q)| (account.items[*sku], *q))
            .collect();
        let from = sales_order.parse().unwrap();
        account.add("itemFulfillment", None, Some(from), lines);
    }

    pub fn inject(&self, fault: Fault) {
        let faults = &mut self.shared.lock().faults;
        match fault {
            Fault::Latency(d) => faults.latency = Some(d),
            Fault::SlowWrite(d) => faults.slow_write = Some(d),
            Fault::Throttle(n) => faults.throttle += n,
            Fault::ServerError(n) => faults.server_error += n,
            Fault::ExpireSession => faults.expire = true,
            Fault::Malformed(n) => faults.malformed += n,
            Fault::Huge(n) => faults.huge += n,
            Fault::Down(down) => faults.down = down,
        }
    }

    /// The requests whose `traceparent` belongs to `trace_id`, with their parent ids.
    pub fn calls_in_trace(&self, trace_id: &str) -> Vec<(String, String)> {
        self.shared
            .lock()
            .seen
            .iter()
            .filter_map(|(call, tp)| {
                let mut parts = tp.as_deref()?.split('-');
                let (_, trace, parent) = (parts.next()?, parts.next()?, parts.next()?);
                (trace == trace_id).then(|| (call.clone(), parent.to_owned()))
            })
            .collect()
    }

    pub fn set_service_time(&self, time: Duration) {
        self.shared.lock().service_time = time;
    }

    pub fn refused_for_concurrency(&self) -> usize {
        self.shared.refused_for_concurrency.load(Ordering::SeqCst)
    }

    pub fn signatures_refused(&self) -> usize {
        self.shared.signatures_refused.load(Ordering::SeqCst)
    }

    pub fn stock_reads(&self) -> usize {
        self.shared.stock_reads.load(Ordering::SeqCst)
    }
}

fn kind_of(doc: Doc) -> &'static str {
    match doc {
        Doc::SalesOrder => "salesOrder",
        Doc::Shipment => "itemFulfillment",
        Doc::Return => "returnAuthorization",
        Doc::Credit => "creditMemo",
    }
}

impl Account {
    /// Commits a new sales order's lines at their locations, as NetSuite does for an order
    /// pending fulfilment; a line without a location commits nothing anywhere.
    fn commit(&mut self, body: &Value) -> Result<(), String> {
        let mut commits = Vec::new();
        for line in body["item"]["items"].as_array().into_iter().flatten() {
            let Some(location) = line["location"]["id"].as_str() else {
                continue;
            };
            let id = |v: &Value| v.as_str().and_then(|s| s.parse::<u64>().ok());
            let name = self
                .locations
                .iter()
                .find(|(_, l)| Some(**l) == id(&line["location"]["id"]));
            let sku = self
                .items
                .iter()
                .find(|(_, i)| Some(**i) == id(&line["item"]["id"]));
            match (sku, name) {
                (Some((sku, _)), Some((name, _))) => commits.push((
                    sku.clone(),
                    name.clone(),
                    line["quantity"].as_i64().unwrap_or(0),
                )),
                _ => {
                    return Err(format!(
                        "Invalid Field Value {location} for the following field: location"
                    ));
                }
            }
        }
        for (sku, location, quantity) in commits {
            let figures = self
                .stock
                .entry((sku.clone(), location.clone()))
                .or_insert_with(|| Stock {
                    sku,
                    location,
                    on_hand: 0,
                    committed: 0,
                    unavailable: 0,
                    incoming: 0,
                });
            figures.committed += quantity;
        }
        Ok(())
    }

    fn add(
        &mut self,
        kind: &'static str,
        ext: Option<String>,
        from: Option<u64>,
        lines: Vec<(u64, i64)>,
    ) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.records.push(Record {
            kind,
            id,
            external_id: ext,
            created_from: from,
            lines,
            tracking: None,
            memo: None,
        });
        id
    }

    /// Units of `item` already on records of `kind` made from record `from`.
    fn taken(&self, kind: &str, from: u64, item: u64) -> i64 {
        self.records
            .iter()
            .filter(|r| r.kind == kind && r.created_from == Some(from))
            .flat_map(|r| &r.lines)
            .filter(|(i, _)| *i == item)
            .map(|(_, q)| q)
            .sum()
    }

    fn find(&self, kind: &str, id: &str) -> Option<&Record> {
        let by = |r: &&Record| match id.strip_prefix("eid:") {
            Some(ext) => r.external_id.as_deref() == Some(ext),
            None => r.id.to_string() == id,
        };
        self.records.iter().filter(|r| r.kind == kind).find(by)
    }
}

// --- Errors in NetSuite's shape ---------------------------------------------------------

fn error(status: StatusCode, code: &str, detail: &str) -> Response {
    let body = json!({
        "type": "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html",
        "title": status.canonical_reason().unwrap_or_default(),
        "status": status.as_u16(),
        "o:errorDetails": [{ "detail": detail, "o:errorCode": code }],
    });
    (
        status,
        [(
            "content-type",
            "application/vnd.oracle.resource+json; type=error",
        )],
        body.to_string(),
    )
        .into_response()
}

fn created(shared: &Shared, kind: &str, id: u64) -> Response {
    let location = format!("{}/services/rest/record/v1/{kind}/{id}", shared.base);
    (StatusCode::NO_CONTENT, [("location", location)]).into_response()
}

// --- The gate: concurrency, authentication, faults -------------------------------------

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn gate(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let traceparent = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let call = format!("{} {}", request.method(), request.uri().path());
    shared.lock().seen.push((call, traceparent));
    let _in_flight = InFlight(&shared.in_flight);
    if shared.in_flight.fetch_add(1, Ordering::SeqCst) >= CONCURRENCY_LIMIT {
        shared
            .refused_for_concurrency
            .fetch_add(1, Ordering::SeqCst);
        return concurrency_refusal();
    }
    if let Err(detail) = authenticate(&shared, &request) {
        shared.signatures_refused.fetch_add(1, Ordering::SeqCst);
        return error(StatusCode::UNAUTHORIZED, "INVALID_LOGIN", detail);
    }
    let is_write = request.method() == Method::POST && !request.uri().path().ends_with("suiteql");
    let (latency, fault) = {
        let mut account = shared.lock();
        let service_time = account.service_time;
        let faults = &mut account.faults;
        let slow = if is_write {
            faults.slow_write.take()
        } else {
            None
        };
        (
            slow.or(faults.latency.take()).unwrap_or(service_time),
            take_fault(faults),
        )
    };
    if let Some(fault) = fault {
        return fault;
    }
    let response = next.run(request).await;
    tokio::time::sleep(latency).await;
    response
}

fn concurrency_refusal() -> Response {
    let body = json!({
        "type": "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html",
        "title": "Bad Request",
        "status": 429,
        "o:errorCode": "USER_ERROR",
        "o:errorDetails": [{
            "detail": "Concurrent request limit exceeded. Request blocked.",
            "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED",
        }],
    });
    (StatusCode::TOO_MANY_REQUESTS, body.to_string()).into_response()
}

fn take_fault(faults: &mut Faults) -> Option<Response> {
    let take = |n: &mut usize| std::mem::replace(n, n.saturating_sub(1)) > 0;
    if take(&mut faults.throttle) {
        return Some(concurrency_refusal());
    }
    if faults.down {
        return Some(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "The service is temporarily unavailable.",
        ));
    }
    if take(&mut faults.server_error) {
        return Some(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNEXPECTED_ERROR",
            "An unexpected error occurred.",
        ));
    }
    if take(&mut faults.malformed) {
        return Some(
            (
                StatusCode::OK,
                "{\"count\": 3, \"items\": [{\"links\": [], \"sku\"",
            )
                .into_response(),
        );
    }
    if take(&mut faults.huge) {
        let body = format!(
            "{{\"items\": [], \"pad\": \"{}\"}}",
            "x".repeat(12 * 1024 * 1024)
        );
        return Some((StatusCode::OK, body).into_response());
    }
    None
}

/// Refusals name what NetSuite's own answer names: only that the login was invalid.
fn authenticate(shared: &Shared, request: &Request) -> Result<(), &'static str> {
    let refuse = Err;
    let header = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let Some(params) = header.and_then(|h| h.strip_prefix("OAuth ")) else {
        return refuse("Invalid login attempt.");
    };
    let mut oauth: BTreeMap<String, String> = BTreeMap::new();
    for part in params.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            return refuse("Invalid login attempt.");
        };
        let v = percent_decode_str(v.trim_matches('"'))
            .decode_utf8_lossy()
            .into_owned();
        oauth.insert(k.to_owned(), v);
    }
    let param = |k: &str| oauth.get(k).map(String::as_str).unwrap_or_default();
    if param("realm") != ACCOUNT
        || param("oauth_consumer_key") != CONSUMER_KEY
        || param("oauth_token") != TOKEN_ID
        || param("oauth_signature_method") != "HMAC-SHA256"
    {
        return refuse("Invalid login attempt.");
    }
    let query = request.uri().query().unwrap_or_default();
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (pct(&k), pct(&v)))
        .chain(
            oauth
                .iter()
                .filter(|(k, _)| k.as_str() != "realm" && k.as_str() != "oauth_signature")
                .map(|(k, v)| (pct(k), pct(v))),
        )
        .collect();
    pairs.sort();
    let joined: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let url = format!("{}{}", shared.base, request.uri().path());
    let base = format!(
        "{}&{}&{}",
        request.method(),
        pct(&url),
        pct(&joined.join("&"))
    );
    let key = format!("{}&{}", pct(CONSUMER_SECRET), pct(TOKEN_SECRET));
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(base.as_bytes());
    if BASE64.encode(mac.finalize().into_bytes()) != param("oauth_signature") {
        return refuse("Invalid login attempt. The signature does not match.");
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let stamp: i64 = param("oauth_timestamp").parse().unwrap_or(0);
    if (stamp - now).abs() > TIMESTAMP_WINDOW_SECS {
        return refuse("Invalid login attempt. The timestamp is out of range.");
    }
    let mut account = shared.lock();
    if !account.nonces.insert(param("oauth_nonce").to_owned()) {
        return refuse("Invalid login attempt. The nonce has been used.");
    }
    if std::mem::take(&mut account.faults.expire) {
        return refuse("Invalid login attempt. The token is not valid now.");
    }
    Ok(())
}

fn pct(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

// --- SuiteQL ----------------------------------------------------------------------------

async fn suiteql(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    if headers.get("prefer").and_then(|v| v.to_str().ok()) != Some("transient") {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            "The Prefer: transient header is required.",
        );
    }
    let query = request.uri().query().unwrap_or_default().to_owned();
    let number = |name: &str, default: usize| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map_or(Some(default), |(_, v)| v.parse().ok())
    };
    let (Some(limit), Some(offset)) = (number("limit", 1000), number("offset", 0)) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            "Invalid limit or offset.",
        );
    };
    if !(1..=1000).contains(&limit) {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            "The limit must be between 1 and 1000.",
        );
    }
    let body: Bytes = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_CONTENT",
            "The request body is not JSON.",
        );
    };
    let q = body["q"].as_str().unwrap_or_default();
    let params: Vec<String> = body["params"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if q.matches('?').count() != params.len() {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            "The number of parameters does not match the query.",
        );
    }
    let rows = {
        let account = shared.lock();
        if q.contains("FROM aggregateItemLocation") {
            shared.stock_reads.fetch_add(1, Ordering::SeqCst);
            stock_rows(&account, &params)
        } else if q.contains("FROM item WHERE") {
            let skus: HashSet<&String> = params.iter().collect();
            let items = account.items.iter().filter(|(sku, _)| skus.contains(sku));
            items
                .map(|(sku, id)| json!({"links": [], "id": id.to_string(), "sku": sku}))
                .collect()
        } else if q.contains("FROM location WHERE") {
            let names: HashSet<&String> = params.iter().collect();
            let known = account
                .locations
                .iter()
                .filter(|(name, _)| names.contains(name));
            known
                .map(|(name, id)| json!({"links": [], "id": id.to_string(), "name": name}))
                .collect()
        } else if q.contains("'ItemShip'") {
            fulfilment_rows(&account, &params[0])
        } else if q.contains("FROM DUAL") {
            vec![json!({"links": [], "ok": "1"})]
        } else {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER",
                "Invalid search query.",
            );
        }
    };
    let page: Vec<Value> = rows.iter().skip(offset).take(limit).cloned().collect();
    let has_more = offset + page.len() < rows.len();
    let link = |rel: &str, offset: usize| {
        let path = "/services/rest/query/v1/suiteql";
        let href = format!("{}{path}?limit={limit}&offset={offset}", shared.base);
        json!({ "rel": rel, "href": href })
    };
    let mut links = vec![link("self", offset)];
    if has_more {
        links.push(link("next", offset + limit));
    }
    collection(json!({
        "links": links,
        "count": page.len(),
        "hasMore": has_more,
        "items": page,
        "offset": offset,
        "totalResults": rows.len(),
    }))
}

fn collection(v: Value) -> Response {
    (
        [(
            "content-type",
            "application/vnd.oracle.resource+json; type=collection",
        )],
        v.to_string(),
    )
        .into_response()
}

fn stock_rows(account: &Account, skus: &[String]) -> Vec<Value> {
    let wanted: HashSet<&String> = skus.iter().collect();
    let mut rows = Vec::new();
    for ((sku, location), s) in &account.stock {
        if !wanted.contains(sku) {
            continue;
        }
        let mut row = json!({
            "links": [],
            "sku": sku,
            "location": location,
            "onhand": s.on_hand.to_string(),
            "available": (s.on_hand - s.committed - s.unavailable).max(0).to_string(),
        });
        // NULL columns are left out of a row, as SuiteQL does.
        if s.committed != 0 {
            row["committed"] = json!(s.committed.to_string());
        }
        if s.incoming != 0 {
            row["onorder"] = json!(format!("{}.0", s.incoming));
        }
        rows.push(row);
    }
    rows
}

fn fulfilment_rows(account: &Account, sales_order: &str) -> Vec<Value> {
    let sku_of = |item: u64| {
        account
            .items
            .iter()
            .find(|(_, id)| **id == item)
            .map(|(s, _)| s.clone())
    };
    let fulfilments = account.records.iter().filter(|r| {
        r.kind == "itemFulfillment"
            && r.created_from.map(|id| id.to_string()).as_deref() == Some(sales_order)
    });
    let mut rows = Vec::new();
    for f in fulfilments {
        for (item, quantity) in &f.lines {
            let mut row = json!({
                "links": [],
                "id": f.id.to_string(),
                "trandate": "2026-12-03",
                "sku": sku_of(*item),
                "quantity": quantity.to_string(),
            });
            // NULL columns are left out of a row, as SuiteQL does.
            let optional = [
                ("externalid", &f.external_id),
                ("tracking", &f.tracking),
                ("memo", &f.memo),
            ];
            for (column, value) in optional {
                if let Some(value) = value {
                    row[column] = json!(value);
                }
            }
            rows.push(row);
        }
    }
    rows
}

// --- Records ----------------------------------------------------------------------------

async fn read(
    State(shared): State<Arc<Shared>>,
    Path((kind, id)): Path<(String, String)>,
) -> Response {
    let account = shared.lock();
    let Some(record) = account.find(&kind, &id) else {
        let detail = "The record instance does not exist. Provide a valid record instance ID.";
        return error(StatusCode::NOT_FOUND, "NONEXISTENT_ID", detail);
    };
    let self_link = format!(
        "{}/services/rest/record/v1/{kind}/{}",
        shared.base, record.id
    );
    let body = json!({
        "links": [{"rel": "self", "href": self_link}],
        "id": record.id.to_string(),
        "externalId": record.external_id,
        "item": {"links": [{"rel": "self", "href": format!("{self_link}/item")}]},
        "status": {"id": "B", "refName": "Pending Fulfillment"},
    });
    (
        [(
            "content-type",
            "application/vnd.oracle.resource+json; type=singular",
        )],
        body.to_string(),
    )
        .into_response()
}

/// Lines of a create or transform body: `item.items[].item.id` (a number or a string) and
/// `quantity`.
fn lines_of(account: &Account, body: &Value) -> Result<Vec<(u64, i64)>, String> {
    let items = body["item"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    items
        .iter()
        .map(|line| {
            let id = &line["item"]["id"];
            let id = id
                .as_u64()
                .or_else(|| id.as_str().and_then(|s| s.parse().ok()));
            let known = id.filter(|id| account.items.values().any(|v| v == id));
            let quantity = line["quantity"].as_i64().filter(|q| *q > 0);
            match (known, quantity) {
                (Some(id), Some(q)) => Ok((id, q)),
                _ => Err(format!(
                    "Error while accessing resource: You have entered an Invalid Field Value {} \
                     for the following field: item",
                    line["item"]["id"]
                )),
            }
        })
        .collect()
}

async fn create(
    State(shared): State<Arc<Shared>>,
    Path(kind): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_CONTENT",
            "The request body is not JSON.",
        );
    };
    if kind != "salesOrder" {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            "This record type is not served here.",
        );
    }
    let mut account = shared.lock();
    if body["entity"]["id"].as_str() != Some(CUSTOMER_ID) {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_CONTENT",
            "Please enter value(s) for: Customer",
        );
    }
    let lines = match lines_of(&account, &body) {
        Ok(lines) if !lines.is_empty() => lines,
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "USER_ERROR",
                "You must enter at least one line item for this transaction.",
            );
        }
        Err(detail) => return error(StatusCode::BAD_REQUEST, "INVALID_CONTENT", &detail),
    };
    let ext = body["externalId"].as_str().map(str::to_owned);
    if let Some(ext) = &ext {
        if account.find("salesOrder", &format!("eid:{ext}")).is_some() {
            return error(
                StatusCode::BAD_REQUEST,
                "DUP_RCRD",
                "This record already exists.",
            );
        }
    }
    if let Err(detail) = account.commit(&body) {
        return error(StatusCode::BAD_REQUEST, "INVALID_CONTENT", &detail);
    }
    let id = account.add("salesOrder", ext, None, lines);
    created(&shared, "salesOrder", id)
}

async fn transform(
    State(shared): State<Arc<Shared>>,
    Path((kind, id, verb, target)): Path<(String, String, String, String)>,
    body: Bytes,
) -> Response {
    let allowed = matches!(
        (kind.as_str(), target.as_str()),
        ("salesOrder", "itemFulfillment" | "returnAuthorization")
            | ("returnAuthorization", "creditMemo")
    );
    if verb != "!transform" || !allowed {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            "This transformation is not allowed.",
        );
    }
    let body = serde_json::from_slice::<Value>(&body).unwrap_or(json!({}));
    let mut account = shared.lock();
    let Some(source) = account.find(&kind, &id).cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            "NONEXISTENT_ID",
            "The record instance does not exist.",
        );
    };
    let target: &'static str = match target.as_str() {
        "itemFulfillment" => "itemFulfillment",
        "returnAuthorization" => "returnAuthorization",
        _ => "creditMemo",
    };
    // Without lines in the body, every line of the source is carried over.
    let lines = match lines_of(&account, &body) {
        Ok(lines) if lines.is_empty() => source.lines.clone(),
        Ok(lines) => lines,
        Err(detail) => return error(StatusCode::BAD_REQUEST, "INVALID_CONTENT", &detail),
    };
    for (item, quantity) in &lines {
        let ordered: i64 = source
            .lines
            .iter()
            .filter(|(i, _)| i == item)
            .map(|(_, q)| q)
            .sum();
        if *quantity > ordered - account.taken(target, source.id, *item) {
            return error(
                StatusCode::BAD_REQUEST,
                "USER_ERROR",
                "A line asks for more than the source record holds.",
            );
        }
    }
    let ext = body["externalId"].as_str().map(str::to_owned);
    if let Some(ext) = &ext {
        if account.find(target, &format!("eid:{ext}")).is_some() {
            return error(
                StatusCode::BAD_REQUEST,
                "DUP_RCRD",
                "This record already exists.",
            );
        }
    }
    let new = account.add(target, ext, Some(source.id), lines);
    if target == "itemFulfillment" {
        let record = account.records.last_mut().expect("just added");
        record.tracking = body["package"]["items"][0]["packageTrackingNumber"]
            .as_str()
            .map(str::to_owned);
        record.memo = body["memo"].as_str().map(str::to_owned);
    }
    created(&shared, target, new)
}

impl super::ErpFake for FakeNetSuite {
    const NAME: &'static str = "netsuite";

    async fn start() -> Self {
        FakeNetSuite::start().await
    }

    fn adapter(&self) -> Arc<dyn stockade::adapters::ErpAdapter> {
        Arc::new(FakeNetSuite::adapter(self))
    }

    fn seed_stock(&self, rows: &[Stock]) {
        self.seed(rows);
    }

    fn documents_with_ref(&self, doc: Doc, external_ref: &str) -> usize {
        match doc {
            // The adapter keeps a return's id for the return itself.
            Doc::Credit => self.count(doc, &format!("credit-{external_ref}")),
            _ => self.count(doc, external_ref),
        }
    }

    fn ship(&self, erp_order: &str, lines: &[(&str, i64)]) {
        self.fulfil(erp_order, lines);
    }

    fn inject(&self, fault: Fault) {
        FakeNetSuite::inject(self, fault);
    }
}
