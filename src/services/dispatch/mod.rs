//! The dispatcher: delivers the outbox to every destination, at least once.
//!
//! Each pass routes new events to their destinations, claims due deliveries under a
//! lease (several instances share the work without delivering one event twice at the
//! same time), delivers them concurrently with a timeout each, and settles them: sent,
//! retried later with exponential backoff and jitter, or dead-lettered. A destination
//! that keeps failing rests behind its circuit breaker. Events about one order reach a
//! destination in the order they were written.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::Notify;
use utoipa::ToSchema;

use crate::adapters::{AdapterError, Destination};
use crate::domain::outbound::EventKind;
use crate::policy::DispatcherPolicy;
use crate::store::{ClaimedDelivery, Failure, Store};

mod breaker;
pub mod erp;

pub use breaker::{Breaker, BreakerState};

pub struct Dispatcher {
    store: Arc<dyn Store>,
    destinations: HashMap<String, Arc<dyn Destination>>,
    breakers: Mutex<HashMap<String, Breaker>>,
    policy: DispatcherPolicy,
    /// This instance, as the owner of its leases.
    owner: String,
    /// Event type → the destinations that take it.
    routes: HashMap<String, Vec<String>>,
    wake: Arc<Notify>,
}

/// A destination's health, for `/readyz` and operators.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DestinationHealth {
    pub destination: String,
    pub breaker: BreakerState,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        destinations: Vec<Arc<dyn Destination>>,
        policy: DispatcherPolicy,
        wake: Arc<Notify>,
    ) -> Self {
        let cooldown = Duration::from_millis(policy.breaker_cooldown_ms);
        let breakers = destinations
            .iter()
            .map(|d| {
                (
                    d.name().to_owned(),
                    Breaker::new(policy.breaker_failures, cooldown),
                )
            })
            .collect();
        let routes = EventKind::ALL
            .iter()
            .map(|k| {
                let mut names: Vec<String> = destinations
                    .iter()
                    .filter(|d| d.wants(*k))
                    .map(|d| d.name().to_owned())
                    .collect();
                names.sort();
                (k.as_str().to_owned(), names)
            })
            .collect();
        Self {
            store,
            routes,
            destinations: destinations
                .into_iter()
                .map(|d| (d.name().to_owned(), d))
                .collect(),
            breakers: Mutex::new(breakers),
            policy,
            owner: crate::domain::ids::new_id("inst"),
            wake,
        }
    }

    /// How long delivered events are kept.
    pub fn retention(&self) -> Duration {
        Duration::from_secs(u64::from(self.policy.retention_days) * 86_400)
    }

    pub fn health(&self) -> Vec<DestinationHealth> {
        let now = Instant::now();
        let breakers = self
            .breakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: Vec<DestinationHealth> = breakers
            .iter()
            .map(|(name, b)| DestinationHealth {
                destination: name.clone(),
                breaker: b.state(now),
            })
            .collect();
        out.sort_by(|a, b| a.destination.cmp(&b.destination));
        out
    }

    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let tick = Duration::from_millis(self.policy.tick_ms.max(10));
            loop {
                let worked = match self.pass().await {
                    Ok(n) => n > 0,
                    Err(e) => {
                        tracing::warn!(error = %e, "dispatcher pass failed");
                        false
                    }
                };
                if !worked {
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(tick) => {}
                    }
                }
            }
        })
    }

    /// One pass: route, claim, deliver, settle. Returns how many deliveries it settled.
    pub async fn pass(&self) -> crate::error::Result<usize> {
        while self.store.fan_out(&self.routes, 500).await? > 0 {}
        let paused = self.paused();
        let lease = Duration::from_secs(self.policy.lease_seconds);
        let claimed = self
            .store
            .claim_deliveries(&self.owner, lease, self.policy.batch, &paused)
            .await?;
        let n = claimed.len();
        futures::stream::iter(claimed)
            .for_each_concurrent(self.policy.concurrency.max(1), |d| self.deliver(d))
            .await;
        Ok(n)
    }

    fn paused(&self) -> Vec<String> {
        let now = Instant::now();
        let breakers = self
            .breakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        breakers
            .iter()
            .filter(|(_, b)| !b.allows(now))
            .map(|(n, _)| n.clone())
            .collect()
    }

    async fn deliver(&self, d: ClaimedDelivery) {
        let Some(destination) = self.destinations.get(&d.destination) else {
            self.settle(
                &d,
                Err(AdapterError::Permanent(format!(
                    "no destination `{}` is configured",
                    d.destination
                ))),
            )
            .await;
            return;
        };
        let started = Instant::now();
        let outcome = match tokio::time::timeout(
            destination.timeout(),
            destination.deliver(&d.event),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(AdapterError::Transient(format!(
                "no answer within {} ms",
                destination.timeout().as_millis()
            ))),
        };
        tracing::debug!(event.id = %d.event.id, destination = %d.destination, upstream.duration_ms = started.elapsed().as_millis() as u64, ok = outcome.is_ok(), "delivery attempted");
        self.settle(&d, outcome).await;
    }

    async fn settle(&self, d: &ClaimedDelivery, outcome: Result<(), AdapterError>) {
        let now = Instant::now();
        let counts_against_breaker = matches!(
            outcome,
            Err(AdapterError::Transient(_) | AdapterError::Throttled { .. })
        );
        if let Some(b) = self
            .breakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(&d.destination)
        {
            if counts_against_breaker {
                b.failed(now);
            } else {
                b.succeeded();
            }
        }
        let max_attempts = self
            .destinations
            .get(&d.destination)
            .map_or(1, |dest| dest.max_attempts());
        let result = match outcome {
            Ok(()) => self.store.delivery_sent(&d.id, &self.owner).await,
            Err(e) => {
                let attempt = d.attempts + 1;
                let failure = match &e {
                    AdapterError::Permanent(_) => Failure::Dead,
                    _ if attempt >= max_attempts => Failure::Dead,
                    AdapterError::Throttled {
                        retry_after: Some(wait),
                    } => Failure::Retry {
                        at: OffsetDateTime::now_utc() + *wait,
                    },
                    _ => Failure::Retry {
                        at: OffsetDateTime::now_utc() + self.backoff(attempt),
                    },
                };
                if failure == Failure::Dead {
                    tracing::error!(event.id = %d.event.id, event.kind = d.event.kind.as_str(), destination = %d.destination, attempts = attempt, error = %e, "event dead-lettered");
                } else {
                    tracing::warn!(event.id = %d.event.id, destination = %d.destination, attempt, error = %e, "delivery failed; will retry");
                }
                self.store
                    .delivery_failed(&d.id, &self.owner, &e.to_string(), failure)
                    .await
            }
        };
        if let Err(e) = result {
            // The lease will expire and the delivery be tried again; consumers deduplicate.
            tracing::warn!(delivery.id = %d.id, error = %e, "delivery outcome not recorded");
        }
    }

    /// `base · 2^(attempt-1)`, capped, then scaled by a random factor in [0.5, 1) so that
    /// retries from many events do not arrive in lockstep.
    fn backoff(&self, attempt: u32) -> time::Duration {
        let exp = self
            .policy
            .backoff_base_ms
            .saturating_mul(1 << attempt.saturating_sub(1).min(20));
        let capped = exp.min(self.policy.backoff_max_ms) as f64;
        let jittered = capped * rand::random_range(0.5..1.0);
        time::Duration::milliseconds(jittered as i64)
    }
}
