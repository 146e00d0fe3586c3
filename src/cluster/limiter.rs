//! Cluster-wide rate limits: GCRA in one Lua script per decision, so that any number of
//! instances together enforce one limit per client. Redis's own clock decides, so the
//! instances' clocks need not agree.

use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use redis::aio::ConnectionManager;

use crate::governance::ratelimit::{LimiterUnavailable, RateDecision, RateLimiter};
use crate::policy::Tier;

/// KEYS[1]: the client's theoretical arrival time (µs). ARGV[1]: µs between requests at
/// the sustained rate; ARGV[2]: the burst. Returns {allowed, remaining, retry_after_us,
/// reset_us}.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - interval * burst
if allow_at > now then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, math.floor((now + interval * burst - new_tat) / interval), 0, new_tat - now}
";

pub struct RedisLimiter {
    conn: ConnectionManager,
    script: Script,
    prefix: String,
}

impl RedisLimiter {
    pub fn new(conn: ConnectionManager, prefix: &str) -> Self {
        Self {
            conn,
            script: Script::new(GCRA),
            prefix: prefix.to_owned(),
        }
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn check(
        &self,
        client_id: &str,
        tier_name: &str,
        tier: Tier,
    ) -> Result<RateDecision, LimiterUnavailable> {
        let interval_us =
            (u64::from(tier.per_seconds) * 1_000_000 / u64::from(tier.requests.max(1))).max(1);
        let key = format!("{}:rl:{tier_name}:{client_id}", self.prefix);
        let mut conn = self.conn.clone();
        let mut call = self.script.key(key);
        call.arg(interval_us).arg(tier.requests);
        let answer: (i64, i64, i64, i64) =
            tokio::time::timeout(super::REDIS_TIMEOUT, call.invoke_async(&mut conn))
                .await
                .map_err(|_| LimiterUnavailable("redis timed out".into()))?
                .map_err(|e| LimiterUnavailable(e.to_string()))?;
        let (allowed, remaining, retry_after_us, reset_us) = answer;
        let seconds = |us: i64| (us.max(0) as u64).div_ceil(1_000_000);
        Ok(RateDecision {
            allowed: allowed == 1,
            policy: tier_name.to_owned(),
            quota: tier.requests,
            window_seconds: tier.per_seconds,
            remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            reset_seconds: seconds(reset_us),
            retry_after: (allowed != 1)
                .then(|| Duration::from_micros(retry_after_us.max(0) as u64)),
        })
    }
}
