//! Available-to-sell for a channel, through the availability cache.
//!
//! The cache is keyed by channel and SKU and lives here, behind every governance layer,
//! so cached answers are still authenticated, rate limited and audited. An answer is never
//! older than its TTL, and never stale at all after a change made through this instance:
//! every movement bumps the SKU's invalidation counter, and an entry computed before the
//! bump is not served again. One computation per key runs at a time (moka's per-key
//! compute lock); callers who find a fresh entry never take that lock.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
use moka::future::Cache;
use moka::ops::compute::{CompResult, Op};

use super::Services;
use crate::domain::availability::{SkuAvailability, Source, degrade, summarize};
use crate::domain::order::MAX_LINES;
use crate::domain::time::now;
use crate::error::{Error, Result};
use crate::policy::{Client, Policies};
use crate::store::{Store, StoreError};

/// The most SKUs one availability call may ask for.
pub const MAX_SKUS: usize = MAX_LINES;
const STRIPES: usize = 4096;
const CAPACITY: u64 = 200_000;

/// Items found, in the order asked, and SKUs that do not exist.
pub struct AvailabilityAnswer {
    pub items: Vec<SkuAvailability>,
    pub missing: Vec<String>,
}

#[derive(Clone)]
struct Cached {
    /// `None`: the SKU does not exist (also worth remembering for a TTL).
    value: Option<SkuAvailability>,
    computed: Instant,
    /// The SKU's invalidation counter when the computation started.
    stripe: u64,
}

pub struct AvailabilityCache {
    entries: Cache<(String, String), Arc<Cached>>,
    /// Invalidation counters, striped by SKU hash so memory stays fixed; two SKUs sharing
    /// a stripe only cost each other a recomputation.
    stripes: Box<[AtomicU64]>,
}

impl AvailabilityCache {
    pub fn new(policies: &Policies) -> Self {
        // Entries are kept as long as the longest fallback window, so a last-known figure
        // exists when the backend fails; freshness is checked against the TTL on read.
        let keep = policies
            .channels
            .iter()
            .map(|c| c.fallback.max_age_seconds)
            .max()
            .unwrap_or(0)
            .max(60);
        Self {
            entries: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(Duration::from_secs(keep))
                .build(),
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn stripe(&self, sku: &str) -> &AtomicU64 {
        let mut h = DefaultHasher::new();
        sku.hash(&mut h);
        &self.stripes[(h.finish() % STRIPES as u64) as usize]
    }

    /// Marks every cached answer as stale.
    pub fn invalidate_all(&self) {
        for stripe in &self.stripes {
            stripe.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Marks every cached answer for these SKUs, in every channel, as stale.
    pub fn invalidate<'a>(&self, skus: impl IntoIterator<Item = &'a str>) {
        for sku in skus {
            self.stripe(sku).fetch_add(1, Ordering::AcqRel);
        }
    }

    fn fresh(&self, c: &Cached, sku: &str, ttl: Duration) -> bool {
        c.stripe == self.stripe(sku).load(Ordering::Acquire) && c.computed.elapsed() < ttl
    }
}

impl Services {
    #[tracing::instrument(name = "availability", level = "debug", skip_all, fields(skus = skus.len()))]
    pub async fn availability(
        &self,
        client: &Client,
        channel: Option<&str>,
        skus: &[String],
        route_ttl: Option<Duration>,
    ) -> Result<AvailabilityAnswer> {
        if skus.len() > MAX_SKUS {
            return Err(Error::TooMany {
                what: "SKUs",
                max: MAX_SKUS,
                got: skus.len(),
            });
        }
        let channel = self.resolve_channel(client, channel)?;
        let ttl = self
            .policies
            .channel(&channel)
            .and_then(|c| c.cache_ttl_ms)
            .map(Duration::from_millis)
            .or(route_ttl)
            .unwrap_or_default();
        let mut unique: Vec<&String> = Vec::with_capacity(skus.len());
        for sku in skus {
            if !unique.contains(&sku) {
                unique.push(sku);
            }
        }
        let answers = join_all(unique.iter().map(|sku| self.one(&channel, sku, ttl))).await;
        let mut out = AvailabilityAnswer {
            items: Vec::with_capacity(unique.len()),
            missing: Vec::new(),
        };
        for (sku, answer) in unique.into_iter().zip(answers) {
            match answer? {
                Some(item) => out.items.push(self.within_freshness(&channel, item)),
                None => out.missing.push(sku.clone()),
            }
        }
        Ok(out)
    }

    async fn one(
        &self,
        channel: &str,
        sku: &str,
        ttl: Duration,
    ) -> Result<Option<SkuAvailability>> {
        if ttl.is_zero() {
            return Ok(compute(self.store.as_ref(), &self.policies, channel, sku).await?);
        }
        let cache = &self.cache;
        let key = (channel.to_owned(), sku.to_owned());
        if let Some(c) = cache.entries.get(&key).await
            && cache.fresh(&c, sku, ttl)
        {
            self.metrics.cache_result(true);
            return Ok(served_from_cache(&c));
        }
        let result = cache
            .entries
            .entry(key)
            .and_try_compute_with(|existing| async move {
                let existing = existing.map(moka::Entry::into_value);
                if existing.as_ref().is_some_and(|c| cache.fresh(c, sku, ttl)) {
                    return Ok(Op::Nop);
                }
                let stripe = cache.stripe(sku).load(Ordering::Acquire);
                let started = Instant::now();
                match compute(self.store.as_ref(), &self.policies, channel, sku).await {
                    Ok(value) => Ok(Op::Put(Arc::new(Cached { value, computed: started, stripe }))),
                    // The stale entry stays, and the answer below is the channel's fallback.
                    Err(e) if existing.as_ref().is_some_and(|c| self.fallback(channel, c).is_some()) => {
                        tracing::warn!(error = %e, "availability backend failed; serving the channel's fallback");
                        Ok(Op::Nop)
                    }
                    Err(e) => Err(e),
                }
            })
            .await?;
        // Computed meanwhile by a concurrent reader counts as a hit: the store was not asked.
        let (answer, hit) = match result {
            CompResult::Inserted(e) | CompResult::ReplacedWith(e) => {
                (e.into_value().value.clone(), false)
            }
            CompResult::Unchanged(e) => {
                let c = e.into_value();
                if cache.fresh(&c, sku, ttl) {
                    (served_from_cache(&c), true)
                } else {
                    (self.fallback(channel, &c), false)
                }
            }
            CompResult::StillNone(_) | CompResult::Removed(_) => (None, false),
        };
        self.metrics.cache_result(hit);
        Ok(answer)
    }

    /// A last-known answer shaped by the channel's fallback policy, marked stale.
    fn fallback(&self, channel: &str, last: &Cached) -> Option<SkuAvailability> {
        let policy = self
            .policies
            .channel(channel)
            .map(|c| c.fallback.clone())
            .unwrap_or_default();
        if last.computed.elapsed() > Duration::from_secs(policy.max_age_seconds) {
            return None;
        }
        Some(degrade(last.value.clone()?, policy.rule()))
    }

    /// An answer whose figures are older than the channel's freshness bound is shaped by
    /// the channel's fallback, like one that could not be computed at all.
    fn within_freshness(&self, channel: &str, answer: SkuAvailability) -> SkuAvailability {
        let Some(c) = self
            .policies
            .channel(channel)
            .filter(|_| answer.source != Source::Fallback)
        else {
            return answer;
        };
        match c.freshness_seconds {
            Some(bound)
                if now() - answer.as_of
                    > time::Duration::seconds(i64::try_from(bound).unwrap_or(i64::MAX)) =>
            {
                degrade(answer, c.fallback.rule())
            }
            _ => answer,
        }
    }

    /// Called after every change that moved stock, before it is answered: this instance's
    /// cache at once, the other instances' through the invalidation channel.
    pub(crate) async fn stock_moved(&self, skus: &[&str]) {
        self.cache.invalidate(skus.iter().copied());
        if let Some(publisher) = &self.invalidation {
            publisher.publish(skus).await;
        }
    }
}

fn served_from_cache(c: &Cached) -> Option<SkuAvailability> {
    c.value.clone().map(|mut v| {
        v.source = Source::Cache;
        v
    })
}

/// Computes one SKU's answer for a channel from the store.
#[tracing::instrument(name = "availability read", level = "debug", skip_all, fields(channel = %channel, sku = %sku))]
async fn compute(
    store: &dyn Store,
    policies: &Policies,
    channel: &str,
    sku: &str,
) -> Result<Option<SkuAvailability>, StoreError> {
    let wanted = [sku.to_owned()];
    let Some(info) = store.skus(&wanted).await?.into_iter().next() else {
        return Ok(None);
    };
    let eligible: Vec<String> = policies
        .eligible_locations(channel)
        .iter()
        .map(|(l, _)| l.clone())
        .collect();
    let rows = store.positions(&wanted, &eligible).await?;
    let position_at = |loc: &str| rows.iter().find(|r| r.location == loc).map(|r| r.position);
    // As old as the oldest figure an outside system of record vouches for; the ledger's
    // own figures are current by definition.
    let as_of = rows
        .iter()
        .filter_map(|r| r.as_of)
        .min()
        .unwrap_or_else(now);
    Ok(Some(summarize(
        sku,
        info.backorderable,
        &eligible,
        position_at,
        as_of,
    )))
}
