//! What operations watch, in the Prometheus text format: requests, latency, the order
//! workflow's stages, stock freshness, the outbox, dead letters, sheds and rate-limit
//! refusals, the availability cache and the circuit breakers.
//!
//! Counters and histograms move as things happen, from the layer or service that saw
//! them; figures that live in the store or the dispatcher (backlog, dead letters,
//! breakers) are read when `/metrics` is scraped, so they are never stale or double
//! counted across instances. Each gateway has its own registry (no process-wide global),
//! which is also what lets several gateways run in one test process.

use std::sync::atomic::AtomicU64;

pub mod slo;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use time::OffsetDateTime;

use crate::policy::Slo;
use slo::SloBook;

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Call {
    /// The route's template (`/v1/orders/{id}`), or `unmatched`: never the raw path, so
    /// the number of series stays bounded.
    pub route: String,
    pub method: String,
    pub status: u16,
    /// The client's id from `policies/clients.toml`, or `anonymous`.
    pub client: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Route {
    pub route: String,
    pub method: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClientLabel {
    pub client: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PriorityLabel {
    pub priority: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabel {
    /// `hit` or `miss`.
    pub result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    /// `accepted_to_submitted` or `submitted_to_shipped`.
    pub stage: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DestinationLabel {
    pub destination: String,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<Call, Counter>,
    pub latency: Family<Route, Histogram>,
    pub rate_limited: Family<ClientLabel, Counter>,
    pub shed: Family<PriorityLabel, Counter>,
    pub cache: Family<CacheLabel, Counter>,
    pub order_stage: Family<StageLabel, Histogram>,
    /// Unix time of the newest figure each stock source gave: a warehouse's count, the
    /// ERP's projection.
    pub stock_updated: Family<SourceLabel, Gauge<f64, AtomicU64>>,
    pub outbox_pending: Family<DestinationLabel, Gauge>,
    pub outbox_oldest: Family<DestinationLabel, Gauge<f64, AtomicU64>>,
    pub outbox_unrouted: Gauge,
    pub dead_letters: Family<DestinationLabel, Gauge>,
    pub breaker_open: Family<DestinationLabel, Gauge>,
    /// The last reconciliation's drift ratio: SKU-locations over threshold / compared.
    pub drift_ratio: Gauge<f64, AtomicU64>,
    /// The service level objectives' windows, fed by the same observations.
    pub slos: SloBook,
}

impl Metrics {
    pub fn new(slos: &[Slo]) -> Self {
        let mut registry = Registry::with_prefix("stockade");
        // 1 ms to ~33 s: a cached read and a slow ERP both land inside the buckets.
        let latency = Family::<Route, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        // 1 s to ~3 days: an order waits minutes for its ERP and days for its carrier.
        let order_stage = Family::<StageLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(1.0, 2.0, 18))
        });
        let metrics = Self {
            registry: Registry::default(),
            requests: Family::default(),
            latency,
            rate_limited: Family::default(),
            shed: Family::default(),
            cache: Family::default(),
            order_stage,
            stock_updated: Family::default(),
            outbox_pending: Family::default(),
            outbox_oldest: Family::default(),
            outbox_unrouted: Gauge::default(),
            dead_letters: Family::default(),
            breaker_open: Family::default(),
            drift_ratio: Gauge::default(),
            slos: SloBook::new(slos),
        };
        let r = &mut registry;
        r.register(
            "http_requests",
            "Requests answered, by route, method, status and client",
            metrics.requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time to answer, by route and method",
            metrics.latency.clone(),
        );
        r.register(
            "rate_limited",
            "Calls refused by a client's rate limit",
            metrics.rate_limited.clone(),
        );
        r.register(
            "shed",
            "Calls shed under overload, by priority class",
            metrics.shed.clone(),
        );
        r.register(
            "availability_cache",
            "Availability reads, answered from the cache (hit) or computed (miss)",
            metrics.cache.clone(),
        );
        r.register(
            "order_stage_duration_seconds",
            "Time an order spent between workflow stages",
            metrics.order_stage.clone(),
        );
        r.register(
            "stock_source_updated_timestamp_seconds",
            "Unix time of the newest figure from each stock source",
            metrics.stock_updated.clone(),
        );
        r.register(
            "outbox_pending",
            "Deliveries waiting, by destination",
            metrics.outbox_pending.clone(),
        );
        r.register(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest waiting delivery, by destination",
            metrics.outbox_oldest.clone(),
        );
        r.register(
            "outbox_unrouted",
            "Events written but not yet routed to destinations",
            metrics.outbox_unrouted.clone(),
        );
        r.register(
            "dead_letters",
            "Deliveries given up and waiting for an operator, by destination",
            metrics.dead_letters.clone(),
        );
        r.register(
            "breaker_open",
            "1 while a destination's circuit breaker is open or half-open",
            metrics.breaker_open.clone(),
        );
        r.register(
            "drift_ratio",
            "Share of SKU-locations whose drift exceeded the threshold at the last reconciliation",
            metrics.drift_ratio.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    pub fn request(&self, route: &str, method: &str, status: u16, client: &str, seconds: f64) {
        let call = Call {
            route: route.to_owned(),
            method: method.to_owned(),
            status,
            client: client.to_owned(),
        };
        self.requests.get_or_create(&call).inc();
        self.slos.answered(method, route, status, seconds);
        let route = Route {
            route: call.route,
            method: call.method,
        };
        self.latency.get_or_create(&route).observe(seconds);
    }

    pub fn cache_result(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.cache
            .get_or_create(&CacheLabel {
                result: result.to_owned(),
            })
            .inc();
    }

    /// The time an order spent between two workflow steps.
    pub fn order_stage(&self, stage: &str, from: OffsetDateTime, to: OffsetDateTime) {
        let seconds = (to - from).as_seconds_f64().max(0.0);
        self.order_stage
            .get_or_create(&StageLabel {
                stage: stage.to_owned(),
            })
            .observe(seconds);
    }

    /// A source gave figures as of `at`; the gauge only moves forward.
    pub fn stock_updated(&self, source: &str, at: OffsetDateTime) {
        let gauge = self.stock_updated.get_or_create(&SourceLabel {
            source: source.to_owned(),
        });
        let t = at.unix_timestamp_nanos() as f64 / 1e9;
        if t > gauge.get() {
            gauge.set(t);
        }
    }

    /// When a source's newest figure held, if it gave any.
    pub fn stock_source_time(&self, source: &str) -> Option<OffsetDateTime> {
        let label = SourceLabel {
            source: source.to_owned(),
        };
        let seconds = self.stock_updated.get(&label)?.get();
        OffsetDateTime::from_unix_timestamp_nanos((seconds * 1e9) as i128).ok()
    }

    /// The whole registry in the Prometheus text format (0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}
