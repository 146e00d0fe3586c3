//! The dispatcher: delivers the outbox to every destination, at least once.
//!
//! Each pass routes new events to their destinations, claims due deliveries under a
//! lease (several instances share the work without delivering one event twice at the
//! same time), delivers them concurrently with a timeout each, and settles them: sent,
//! retried later with exponential backoff and jitter, or dead-lettered. A destination
//! that keeps failing rests behind its circuit breaker. Events about one order reach a
//! destination in the order they were written.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::Notify;
use utoipa::ToSchema;

use crate::adapters::http::in_span;
use crate::adapters::{AdapterError, Destination};
use crate::domain::outbound::EventKind;
use crate::policy::DispatcherPolicy;
use crate::store::{ClaimedDelivery, Failure, Store};

mod breaker;
pub mod erp;
mod group;

pub use breaker::{Breaker, BreakerState};
use group::GroupCommit;

/// How long the dispatcher lets events gather before a pass.
const GATHER: Duration = Duration::from_millis(5);

pub struct Dispatcher {
    store: Arc<dyn Store>,
    destinations: HashMap<String, Arc<dyn Destination>>,
    breakers: Mutex<HashMap<String, Breaker>>,
    policy: DispatcherPolicy,
    /// This instance, as the owner of its leases.
    owner: String,
    /// Event type → the destinations that take it.
    routes: HashMap<String, Vec<String>>,
    /// Deliveries claimed and not yet settled, per destination.
    in_flight: HashMap<String, AtomicUsize>,
    /// Deliveries marked sent together, a commit for many under load.
    sent: Arc<GroupCommit<String>>,
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
        let in_flight = destinations
            .iter()
            .map(|d| (d.name().to_owned(), AtomicUsize::new(0)))
            .collect();
        let owner = crate::domain::ids::new_id("inst");
        Self {
            sent: {
                let store = store.clone();
                let owner = owner.clone();
                GroupCommit::new(move |ids: Vec<String>| {
                    let (store, owner) = (store.clone(), owner.clone());
                    Box::pin(async move {
                        store
                            .deliveries_sent(&ids, &owner)
                            .await
                            .map_err(|e| e.to_string())
                    })
                })
            },
            store,
            routes,
            in_flight,
            destinations: destinations
                .into_iter()
                .map(|d| (d.name().to_owned(), d))
                .collect(),
            breakers: Mutex::new(breakers),
            policy,
            owner,
            wake,
        }
    }

    /// Deliveries in flight at once to this destination.
    fn per_destination(&self, name: &str) -> usize {
        self.destinations
            .get(name)
            .and_then(|d| d.concurrency())
            .unwrap_or(self.policy.concurrency)
            .max(1)
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
                let worked = match self.clone().pass().await {
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
                // A short pause lets the events of concurrent requests gather, so that one
                // pass routes and claims them together: under load a few transactions
                // carry many events instead of each event taking the writer on its own.
                tokio::time::sleep(GATHER).await;
            }
        })
    }

    /// One pass: route new events, claim what is due for destinations with room, and
    /// hand each claimed delivery to its own task. A slow destination fills only its own
    /// slots; the others keep moving. Returns how many deliveries it claimed.
    pub async fn pass(self: Arc<Self>) -> crate::error::Result<usize> {
        while self.store.fan_out(&self.routes, 500).await? > 0 {}
        let (mut paused, trials) = self.paused();
        let lease = Duration::from_secs(self.policy.lease_seconds);
        // A destination due a trial gets one delivery, claimed on its own below.
        paused.extend(trials.iter().cloned());
        let mut claimed = Vec::new();
        if paused.len() < self.destinations.len() {
            // Claim no more than there is room for, so that nothing waits long on its lease.
            let room: usize = self
                .in_flight
                .iter()
                .filter(|(d, _)| !paused.contains(d))
                .map(|(d, n)| {
                    self.per_destination(d)
                        .saturating_sub(n.load(Ordering::Acquire))
                })
                .sum();
            let limit = u32::try_from(room)
                .unwrap_or(u32::MAX)
                .min(self.policy.batch);
            claimed = self
                .store
                .claim_deliveries(&self.owner, lease, limit, &paused)
                .await?;
        }
        for destination in &trials {
            let others: Vec<String> = self
                .destinations
                .keys()
                .filter(|d| *d != destination)
                .cloned()
                .collect();
            let trial = self
                .store
                .claim_deliveries(&self.owner, lease, 1, &others)
                .await?;
            if trial.iter().any(|d| &d.destination == destination)
                && let Some(b) = self
                    .breakers
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .get_mut(destination)
            {
                b.trial_started(Instant::now());
            }
            claimed.extend(trial);
        }
        let n = claimed.len();
        for d in claimed {
            let Some(counter) = self.in_flight.get(&d.destination) else {
                let unknown = format!("no destination `{}` is configured", d.destination);
                self.settle(&d, Err(AdapterError::Permanent(unknown))).await;
                continue;
            };
            counter.fetch_add(1, Ordering::AcqRel);
            let me = self.clone();
            tokio::spawn(async move {
                let destination = d.destination.clone();
                me.deliver(d).await;
                if let Some(counter) = me.in_flight.get(&destination) {
                    counter.fetch_sub(1, Ordering::AcqRel);
                }
                me.wake.notify_one();
            });
        }
        Ok(n)
    }

    /// Destinations to leave alone this pass (full, or resting behind their breaker), and
    /// those due a single trial delivery.
    fn paused(&self) -> (Vec<String>, Vec<String>) {
        let now = Instant::now();
        let breakers = self
            .breakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let full = self
            .in_flight
            .iter()
            .filter(|(d, n)| n.load(Ordering::Acquire) >= self.per_destination(d))
            .map(|(d, _)| d);
        let resting = breakers
            .iter()
            .filter(|(_, b)| !b.allows(now))
            .map(|(d, _)| d);
        let mut paused: Vec<String> = full.chain(resting).cloned().collect();
        paused.sort();
        paused.dedup();
        let trials = breakers
            .iter()
            .filter(|(d, b)| b.wants_trial(now) && !paused.contains(d))
            .map(|(d, _)| d.clone())
            .collect();
        (paused, trials)
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
        // The event's trace continues into every call the destination makes for it.
        let span = tracing::debug_span!("deliver", destination = %d.destination,
            event.id = %d.event.id, event.kind = d.event.kind.as_str(), attempt = d.attempts + 1);
        let delivery = in_span(
            d.event.traceparent.as_deref(),
            span,
            destination.deliver(&d.event),
        );
        let outcome = match tokio::time::timeout(destination.timeout(), delivery).await {
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
            Ok(()) => self.sent.write(d.id.clone()).await,
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
                    .map_err(|e| e.to_string())
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
