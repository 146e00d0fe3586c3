//! Governance: the tower layers every call passes (authentication, authorization, rate
//! limits, audit, versioning, hygiene), driven by `policies/`. They know the policies,
//! never the handlers; `api/stack.rs` puts them in order.

use std::sync::Arc;
use std::time::Duration;

use crate::metrics::Metrics;
use crate::policy::Policies;
use crate::store::Store;

pub mod audit;
pub mod auth;
pub mod gate;
pub mod jwks;
pub mod layers;
pub mod ratelimit;
pub mod shedding;

pub use auth::Principal;

pub struct Governance {
    pub policies: Arc<Policies>,
    pub auth: auth::Authenticator,
    pub limiter: Arc<dyn ratelimit::RateLimiter>,
    pub auditor: audit::Auditor,
    pub shedder: shedding::Shedder,
    pub metrics: Arc<Metrics>,
}

impl Governance {
    /// `limiter`: the shared one when the gateway runs as several instances, otherwise
    /// the in-process one is built here.
    pub async fn new(
        policies: Arc<Policies>,
        store: Arc<dyn Store>,
        limiter: Option<Arc<dyn ratelimit::RateLimiter>>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let limiter = limiter.unwrap_or_else(|| Arc::new(ratelimit::LocalLimiter::new(&policies)));
        Ok(Self {
            auth: auth::Authenticator::new(policies.clone()).await?,
            limiter,
            auditor: audit::Auditor::spawn(store),
            shedder: shedding::Shedder::new(policies.limits.shedding),
            metrics,
            policies,
        })
    }

    /// Background upkeep: JWKS refreshes (so removed keys stop working) and eviction of
    /// idle rate-limit state (so its memory stays bounded).
    pub fn spawn_upkeep(self: &Arc<Self>) {
        for issuer in self.auth.issuers() {
            let issuer = issuer.clone();
            tokio::spawn(async move {
                let every = Duration::from_secs(issuer.config.refresh_seconds.max(1));
                loop {
                    tokio::time::sleep(every).await;
                    issuer.refresh().await;
                }
            });
        }
        let limiter = self.limiter.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                limiter.evict_idle();
            }
        });
    }
}
