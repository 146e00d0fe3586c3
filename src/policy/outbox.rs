//! Where events go and how hard the dispatcher tries: `outbox.toml` (tuning, all
//! optional) and `subscribers.toml` (HTTPS endpoints that follow events).

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxPolicy {
    pub dispatcher: DispatcherPolicy,
    pub erp: DestinationPolicy,
    pub nats: DestinationPolicy,
}

impl Default for OutboxPolicy {
    fn default() -> Self {
        Self {
            dispatcher: DispatcherPolicy::default(),
            erp: DestinationPolicy {
                max_attempts: 12,
                timeout_ms: 10_000,
            },
            nats: DestinationPolicy {
                max_attempts: 20,
                timeout_ms: 5_000,
            },
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatcherPolicy {
    /// Deliveries claimed per pass.
    pub batch: u32,
    /// Deliveries in flight at once, per destination.
    pub concurrency: usize,
    /// How long a claimed delivery is this instance's before another may take it over.
    pub lease_seconds: u64,
    /// How often an idle dispatcher looks for due work (new work wakes it at once).
    pub tick_ms: u64,
    /// The first retry waits about this long; each later one twice as long, with jitter.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Consecutive failures that open a destination's circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker rests before one trial delivery decides whether the
    /// destination is back.
    pub breaker_cooldown_ms: u64,
    /// Delivered events are kept this long, then purged.
    pub retention_days: u32,
}

impl Default for DispatcherPolicy {
    fn default() -> Self {
        Self {
            batch: 100,
            concurrency: 16,
            lease_seconds: 30,
            tick_ms: 1000,
            backoff_base_ms: 500,
            backoff_max_ms: 300_000,
            breaker_failures: 5,
            breaker_cooldown_ms: 10_000,
            retention_days: 7,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationPolicy {
    /// Attempts before the event becomes a dead letter.
    pub max_attempts: u32,
    /// How long one delivery may take.
    pub timeout_ms: u64,
}

/// An HTTPS endpoint that receives signed events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscriber {
    /// Unique; the destination's name in dead letters and metrics.
    pub name: String,
    pub url: String,
    /// Event types, or `["*"]` for every type.
    pub events: Vec<String>,
    /// The environment variable that holds the signing secret…
    #[serde(default)]
    pub secret_env: Option<String>,
    /// …or a file, relative to the policy directory.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn default_attempts() -> u32 {
    8
}

fn default_timeout() -> u64 {
    5000
}

impl Subscriber {
    pub fn wants(&self, kind: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == kind)
    }
}
