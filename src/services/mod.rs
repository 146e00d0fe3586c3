//! The canonical business services. Handlers call these; these call the domain for rules
//! and reach the store and the ERP adapter through their traits.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::adapters::ErpAdapter;
use crate::adapters::woocommerce::Connector;
use crate::cluster::invalidation::Publisher;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::policy::{Client, Policies};
use crate::store::Store;

mod admin;
mod availability;
pub mod dispatch;

pub use admin::Replayed;
pub use availability::AvailabilityCache;
pub mod events;
pub mod idempotency;
mod orders;
pub mod projection;
pub mod reconcile;
mod returns;
pub mod slo;
pub mod woocommerce;

pub struct Services {
    pub store: Arc<dyn Store>,
    pub policies: Arc<Policies>,
    pub erp: Arc<dyn ErpAdapter>,
    pub idempotency_retention: Duration,
    /// Keys being processed by this instance right now, per client.
    in_flight: Mutex<HashSet<(String, String)>>,
    /// Wakes the dispatcher when a change wrote events.
    outbox_wake: Arc<Notify>,
    cache: Arc<AvailabilityCache>,
    /// Tells other instances about movements, when there are other instances.
    invalidation: Option<Publisher>,
    /// The WooCommerce stores, by name.
    pub woocommerce: HashMap<String, Arc<Connector>>,
    pub metrics: Arc<Metrics>,
    /// Held by the reconciliation running on this instance, if one is.
    reconciling: Arc<tokio::sync::Mutex<()>>,
    /// This instance among those sharing the store, for the leases on periodic jobs.
    instance: String,
}

impl Services {
    pub fn new(
        store: Arc<dyn Store>,
        policies: Arc<Policies>,
        erp: Arc<dyn ErpAdapter>,
        idempotency_retention: Duration,
    ) -> Self {
        Self {
            store,
            erp,
            idempotency_retention,
            in_flight: Mutex::new(HashSet::new()),
            outbox_wake: Arc::new(Notify::new()),
            cache: Arc::new(AvailabilityCache::new(&policies)),
            invalidation: None,
            woocommerce: HashMap::new(),
            metrics: Arc::new(Metrics::new(&policies.slo.slo)),
            reconciling: Arc::default(),
            instance: crate::domain::ids::new_id("gw"),
            policies,
        }
    }

    /// The WooCommerce stores whose webhooks and orders this instance takes in.
    #[must_use]
    pub fn with_woocommerce(mut self, stores: Vec<Arc<Connector>>) -> Self {
        self.woocommerce = stores
            .into_iter()
            .map(|c| (c.name().to_owned(), c))
            .collect();
        self
    }

    /// Shares cache invalidations with the other instances through Redis.
    #[must_use]
    pub fn with_invalidation(mut self, publisher: Publisher) -> Self {
        self.invalidation = Some(publisher);
        self
    }

    /// What the dispatcher waits on between passes.
    pub fn outbox_wake(&self) -> Arc<Notify> {
        self.outbox_wake.clone()
    }

    /// The availability cache, for the invalidation subscriber.
    pub fn cache(&self) -> Arc<AvailabilityCache> {
        self.cache.clone()
    }

    /// The channel a call acts for: the one asked for, if the client holds it, or the
    /// client's first.
    pub fn resolve_channel(&self, client: &Client, asked: Option<&str>) -> Result<String> {
        match asked {
            Some(ch) if client.holds_channel(ch) && self.policies.channel(ch).is_some() => {
                Ok(ch.to_owned())
            }
            Some(ch) => Err(Error::ChannelNotAllowed(ch.to_owned())),
            None => Ok(client.default_channel().to_owned()),
        }
    }
}

impl Services {
    /// Whether this instance does a periodic job's next round for the cluster: it holds
    /// the job's lease for `period`, taking it over once another holder's has lapsed.
    /// With one instance that is always this one; a store that cannot be asked skips the
    /// round, which could not have written anything either.
    pub async fn lead(&self, job: &str, period: Duration) -> bool {
        let now = crate::domain::time::now();
        let until = now + period;
        match self.store.try_lease(job, &self.instance, now, until).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(job, error = %e, "job lease not taken; round skipped");
                false
            }
        }
    }
}
