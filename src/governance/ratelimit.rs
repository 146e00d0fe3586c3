//! Per-client rate limits (GCRA) behind an interface a shared backend can implement.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{HeaderName, HeaderValue};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::policy::{Policies, Tier};

/// The outcome of one rate-limit decision, with what the headers report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    /// The tier's name, quoted in the headers.
    pub policy: String,
    /// Requests per window.
    pub quota: u32,
    pub window_seconds: u32,
    pub remaining: u32,
    /// Seconds until the quota is whole again.
    pub reset_seconds: u64,
    /// When refused: how long until one more request is allowed.
    pub retry_after: Option<Duration>,
}

impl RateDecision {
    /// `RateLimit-Policy` and `RateLimit` as structured fields (IETF httpapi
    /// ratelimit-headers draft): `"tier";q=600;w=60` and `"tier";r=599;t=1`.
    pub fn headers(&self) -> [(HeaderName, HeaderValue); 2] {
        // Built by hand: this runs on every limited answer, and `format!` costs more than
        // the rest of the decision.
        let field = |a: &str, x: u64, b: &str, y: u64| {
            let (mut x_digits, mut y_digits) = (itoa::Buffer::new(), itoa::Buffer::new());
            let mut s = String::with_capacity(self.policy.len() + 32);
            s.push('"');
            s.push_str(&self.policy);
            s.push_str(a);
            s.push_str(x_digits.format(x));
            s.push_str(b);
            s.push_str(y_digits.format(y));
            HeaderValue::try_from(s).unwrap_or(HeaderValue::from_static(""))
        };
        [
            (
                HeaderName::from_static("ratelimit-policy"),
                field(
                    "\";q=",
                    self.quota.into(),
                    ";w=",
                    self.window_seconds.into(),
                ),
            ),
            (
                HeaderName::from_static("ratelimit"),
                field("\";r=", self.remaining.into(), ";t=", self.reset_seconds),
            ),
        ]
    }
}

/// The shared limiter could not be asked; the route's policy decides what happens.
#[derive(Debug, Clone, thiserror::Error)]
#[error("rate limiter unavailable: {0}")]
pub struct LimiterUnavailable(pub String);

/// Decides whether a client may make one more request under its tier.
#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    async fn check(
        &self,
        client_id: &str,
        tier_name: &str,
        tier: Tier,
    ) -> Result<RateDecision, LimiterUnavailable>;
    /// The same decision when it needs no waiting (an in-process limiter); `None` when it
    /// must ask a shared store.
    fn check_now(
        &self,
        client_id: &str,
        tier_name: &str,
        tier: Tier,
    ) -> Option<Result<RateDecision, LimiterUnavailable>> {
        let _ = (client_id, tier_name, tier);
        None
    }
    /// Drops state of clients that have not been seen for a while, bounding memory.
    fn evict_idle(&self) {}
}

type Keyed = DefaultKeyedRateLimiter<String, StateInformationMiddleware>;

/// In-process GCRA via `governor`, one keyed limiter per tier.
pub struct LocalLimiter {
    tiers: HashMap<String, Keyed>,
    clock: DefaultClock,
}

impl LocalLimiter {
    pub fn new(policies: &Policies) -> Self {
        let tiers = policies
            .limits
            .tiers
            .iter()
            .map(|(name, tier)| {
                let limiter = governor::RateLimiter::keyed(quota(*tier))
                    .with_middleware::<StateInformationMiddleware>();
                (name.clone(), limiter)
            })
            .collect();
        Self {
            tiers,
            clock: DefaultClock::default(),
        }
    }
}

fn quota(tier: Tier) -> Quota {
    let requests = NonZeroU32::new(tier.requests).unwrap_or(NonZeroU32::MIN);
    let period = Duration::from_secs(u64::from(tier.per_seconds)) / requests.get();
    Quota::with_period(period.max(Duration::from_nanos(1)))
        .map_or_else(|| Quota::per_second(requests), |q| q.allow_burst(requests))
}

#[async_trait]
impl RateLimiter for LocalLimiter {
    async fn check(
        &self,
        client_id: &str,
        tier_name: &str,
        tier: Tier,
    ) -> Result<RateDecision, LimiterUnavailable> {
        Ok(self.decide(client_id, tier_name, tier))
    }

    fn check_now(
        &self,
        client_id: &str,
        tier_name: &str,
        tier: Tier,
    ) -> Option<Result<RateDecision, LimiterUnavailable>> {
        Some(Ok(self.decide(client_id, tier_name, tier)))
    }

    fn evict_idle(&self) {
        for limiter in self.tiers.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

impl LocalLimiter {
    fn decide(&self, client_id: &str, tier_name: &str, tier: Tier) -> RateDecision {
        let mut decision = RateDecision {
            allowed: true,
            policy: tier_name.to_owned(),
            quota: tier.requests,
            window_seconds: tier.per_seconds,
            remaining: tier.requests,
            reset_seconds: 0,
            retry_after: None,
        };
        let Some(limiter) = self.tiers.get(tier_name) else {
            return decision;
        };
        let per_request = quota(tier).replenish_interval();
        match limiter.check_key(&client_id.to_owned()) {
            Ok(state) => {
                decision.remaining = state.remaining_burst_capacity();
                let missing = decision.quota.saturating_sub(decision.remaining);
                decision.reset_seconds = (per_request * missing).as_secs_f64().ceil() as u64;
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                decision.allowed = false;
                decision.remaining = 0;
                decision.reset_seconds = (per_request * tier.requests).as_secs_f64().ceil() as u64;
                decision.retry_after = Some(wait);
            }
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(requests: u32, per_seconds: u32) -> (LocalLimiter, Tier) {
        let tier = Tier {
            requests,
            per_seconds,
        };
        let tiers = HashMap::from([(
            "t".to_owned(),
            governor::RateLimiter::keyed(quota(tier))
                .with_middleware::<StateInformationMiddleware>(),
        )]);
        (
            LocalLimiter {
                tiers,
                clock: DefaultClock::default(),
            },
            tier,
        )
    }

    #[tokio::test]
    async fn a_burst_past_the_quota_is_refused_with_a_wait() {
        let (l, tier) = limiter(3, 60);
        for expected_remaining in [2, 1, 0] {
            let d = l.check("c", "t", tier).await.unwrap();
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
        }
        let d = l.check("c", "t", tier).await.unwrap();
        assert!(!d.allowed);
        let wait = d.retry_after.unwrap();
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(
            l.check("other", "t", tier).await.unwrap().allowed,
            "limits are per client"
        );
    }

    #[tokio::test]
    async fn headers_are_structured_fields() {
        let (l, tier) = limiter(600, 60);
        let d = l.check("c", "t", tier).await.unwrap();
        let [(policy_name, policy), (name, value)] = d.headers();
        assert_eq!(policy_name, "ratelimit-policy");
        assert_eq!(policy, "\"t\";q=600;w=60");
        assert_eq!(name, "ratelimit");
        assert_eq!(value, "\"t\";r=599;t=1");
    }
}
