//! What each scenario sends. A scenario turns a request number into a request, and says
//! which answers count as success, as an expected refusal, or as an error.

use std::sync::Arc;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    /// One cached SKU, the same request every time (the comparison with nginx).
    Availability,
    /// Storefront browsing: mostly single SKUs from a hot set, some five-SKU pages.
    Browse,
    /// Order acceptance on SKUs with plenty of stock, a fresh idempotency key each time.
    Orders,
    /// A checkout burst on a few contended SKUs: sold-out answers are expected.
    Checkout,
    /// Warehouse event batches (ten stock adjustments each).
    Events,
    /// Browsing, checkouts, events, a reconciliation sweep and admin reads together.
    Mixed,
    /// Single SKUs drawn from the whole catalog, so the cache rarely helps.
    Uncached,
    /// The whole catalog in pages of 100 SKUs, one page after another: what a channel's
    /// full stock sync reads, and how a long-running gateway has touched every SKU.
    Sweep,
}

pub struct Request {
    pub method: &'static str,
    pub path: String,
    pub body: Option<Bytes>,
    pub key: Option<Arc<str>>,
    pub idempotency_key: Option<String>,
}

pub enum Outcome {
    Ok,
    Refused,
    Error,
}

pub trait Scenario: Send + Sync {
    fn name(&self) -> &'static str;
    fn request(&self, n: u64, rng: &mut SmallRng) -> Request;
    fn classify(&self, method: &str, status: u16) -> Outcome {
        match status {
            200..=299 => Outcome::Ok,
            // Sold out, or a repeat still in flight: the business answering, not failing.
            409 if method == "POST" => Outcome::Refused,
            _ => Outcome::Error,
        }
    }
}

/// SKUs seeded by the demo catalog that sell in the web channel.
const HOT: [&str; 20] = [
    "TEE-BLK-S",
    "TEE-BLK-M",
    "TEE-BLK-L",
    "TEE-WHT-S",
    "TEE-NVY-M",
    "HOODIE-GRY-M",
    "CAP-RED",
    "CAP-BLU",
    "BEANIE-GRN",
    "SOCK-3PK-S",
    "SOCK-3PK-M",
    "SOCK-3PK-L",
    "MUG-LOGO",
    "BOTTLE-STEEL",
    "TOTE-CANVAS",
    "POSTER-A3",
    "NOTEBOOK-A5",
    "PEN-SET",
    "STICKER-PACK",
    "GIFT-CARD-25",
];

/// SKUs the load scripts import with ample stock (`LOAD-000` … `LOAD-099`).
pub const LOAD_SKUS: u64 = 100;

/// SKUs per page of a reconciliation sweep.
const RECONCILE_PAGE: u64 = 25;

fn get(path: String, key: &Arc<str>) -> Request {
    Request {
        method: "GET",
        path,
        body: None,
        key: Some(key.clone()),
        idempotency_key: None,
    }
}

fn post(path: &str, body: &serde_json::Value, key: &Arc<str>) -> Request {
    Request {
        method: "POST",
        path: path.to_owned(),
        body: Some(Bytes::from(body.to_string())),
        key: Some(key.clone()),
        idempotency_key: None,
    }
}

fn order(n: u64, sku: &str, quantity: u64) -> serde_json::Value {
    json!({"channel": "web", "external_id": format!("LG-{n}-{}", std::process::id()), "currency": "EUR",
        "customer": {"name": "Load Test"}, "lines": [{"sku": sku, "quantity": quantity, "unit_price": "9.90"}],
        "shipping_address": {"name": "Load Test", "line1": "1 Bench Road", "city": "Perf", "postal_code": "12345", "country": "DE"}})
}

struct Availability(Arc<str>);
struct Browse(Arc<str>);
struct Orders(Arc<str>);
struct Checkout(Arc<str>);
struct Events(Arc<str>);
struct Mixed(Arc<str>, Arc<str>);
struct Uncached(Arc<str>, u64);
struct Sweep(Arc<str>, u64);

impl Scenario for Availability {
    fn name(&self) -> &'static str {
        "availability"
    }
    fn request(&self, _: u64, _: &mut SmallRng) -> Request {
        get("/v1/availability/TEE-BLK-M".into(), &self.0)
    }
}

impl Scenario for Browse {
    fn name(&self) -> &'static str {
        "browse"
    }
    fn request(&self, _: u64, rng: &mut SmallRng) -> Request {
        if rng.random_ratio(1, 10) {
            let skus: Vec<String> = (0..5)
                .map(|_| format!("sku={}", HOT[rng.random_range(0..HOT.len())]))
                .collect();
            get(format!("/v1/availability?{}", skus.join("&")), &self.0)
        } else {
            get(
                format!("/v1/availability/{}", HOT[rng.random_range(0..HOT.len())]),
                &self.0,
            )
        }
    }
}

impl Scenario for Orders {
    fn name(&self) -> &'static str {
        "orders"
    }
    fn request(&self, n: u64, rng: &mut SmallRng) -> Request {
        let sku = format!("LOAD-{:03}", rng.random_range(0..LOAD_SKUS));
        let mut r = post("/v1/orders", &order(n, &sku, 1), &self.0);
        r.idempotency_key = Some(format!("lg-{}-{n}", std::process::id()));
        r
    }
}

impl Scenario for Checkout {
    fn name(&self) -> &'static str {
        "checkout"
    }
    fn request(&self, n: u64, _: &mut SmallRng) -> Request {
        // One buyer in ten retries the previous buyer's request, same key and same body: a
        // replay (or a 409 while the first is still in flight), never a second order. Each
        // request is drawn from its own number so that a retry can rebuild it exactly.
        let n = if n % 10 == 9 { n - 1 } else { n };
        let rng = &mut SmallRng::seed_from_u64(n);
        // Three scarce SKUs most buyers want, and the load SKUs for the rest.
        let sku = if rng.random_ratio(7, 10) {
            ["TEE-NVY-XL", "TEE-WHT-M", "HOODIE-BLK-M"][rng.random_range(0..3)].to_owned()
        } else {
            format!("LOAD-{:03}", rng.random_range(0..LOAD_SKUS))
        };
        let mut r = post(
            "/v1/orders",
            &order(n, &sku, rng.random_range(1..=2)),
            &self.0,
        );
        r.idempotency_key = Some(format!("lg-{}-{n}", std::process::id()));
        r
    }
}

impl Scenario for Events {
    fn name(&self) -> &'static str {
        "events"
    }
    fn request(&self, n: u64, rng: &mut SmallRng) -> Request {
        let events: Vec<serde_json::Value> = (0..10)
            .map(|i| {
                json!({"id": format!("lg-{}-{n}-{i}", std::process::id()), "type": "stock.adjusted", "source": "loadgen",
                    "occurred_at": "2026-12-03T12:00:00Z",
                    "data": {"sku": format!("LOAD-{:03}", rng.random_range(0..LOAD_SKUS)), "location": "WH-MAIN",
                        "delta": if i % 2 == 0 { 1 } else { -1 }, "bucket": "on_hand", "reason": "cycle count"}})
            })
            .collect();
        post("/v1/events", &json!({"events": events}), &self.0)
    }
}

impl Scenario for Mixed {
    fn name(&self) -> &'static str {
        "mixed"
    }
    fn request(&self, n: u64, rng: &mut SmallRng) -> Request {
        match rng.random_range(0..100) {
            0..70 => Browse(self.0.clone()).request(n, rng),
            70..85 => Checkout(self.0.clone()).request(n, rng),
            85..95 => Events(self.0.clone()).request(n, rng),
            // Reconciliation: a channel's stock sync sweeping the load SKUs in pages.
            95..97 => {
                let page = rng.random_range(0..LOAD_SKUS / RECONCILE_PAGE);
                let skus: Vec<String> = (page * RECONCILE_PAGE..(page + 1) * RECONCILE_PAGE)
                    .map(|i| format!("sku=LOAD-{i:03}"))
                    .collect();
                get(format!("/v1/availability?{}", skus.join("&")), &self.0)
            }
            97..99 => get("/v1/admin/audit?limit=50".into(), &self.1),
            _ => get("/v1/admin/outbox".into(), &self.1),
        }
    }
}

impl Scenario for Uncached {
    fn name(&self) -> &'static str {
        "uncached"
    }
    fn request(&self, _: u64, rng: &mut SmallRng) -> Request {
        get(
            format!("/v1/availability/CAT-{:07}", rng.random_range(0..self.1)),
            &self.0,
        )
    }
}

impl Scenario for Sweep {
    fn name(&self) -> &'static str {
        "sweep"
    }
    fn request(&self, n: u64, _: &mut SmallRng) -> Request {
        let first = (n * 100) % self.1;
        let skus: Vec<String> = (first..(first + 100).min(self.1))
            .map(|i| format!("sku=CAT-{i:07}"))
            .collect();
        get(format!("/v1/availability?{}", skus.join("&")), &self.0)
    }
}

pub fn build(kind: Kind, key: &str, catalog: u64) -> Arc<dyn Scenario> {
    let key: Arc<str> = Arc::from(format!("Bearer {key}"));
    match kind {
        Kind::Availability => Arc::new(Availability(key)),
        Kind::Browse => Arc::new(Browse(key)),
        Kind::Orders => Arc::new(Orders(key)),
        Kind::Checkout => Arc::new(Checkout(key)),
        Kind::Events => Arc::new(Events(key)),
        Kind::Mixed => Arc::new(Mixed(key, Arc::from("Bearer stockade-demo-admin-key"))),
        Kind::Uncached => Arc::new(Uncached(key, catalog.max(1))),
        Kind::Sweep => Arc::new(Sweep(key, catalog.max(1))),
    }
}
