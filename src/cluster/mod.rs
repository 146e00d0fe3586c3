//! Running as several instances: the shared state behind the single-node mechanisms.
//! Redis carries cluster-wide rate limits and availability-cache invalidation; without
//! `STOCKADE_REDIS_URL` each instance keeps its own. NATS JetStream, when configured,
//! carries events in and out.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub mod invalidation;
pub mod limiter;
pub mod nats;

/// How long any one Redis call may take before the caller treats Redis as down.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// A connection that reconnects on its own, with short timeouts, so a Redis outage costs
/// a request a quarter of a second at most, never a hang.
pub async fn connect(url: &str) -> anyhow::Result<(redis::Client, ConnectionManager)> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(REDIS_TIMEOUT)
        .set_response_timeout(REDIS_TIMEOUT)
        .set_number_of_retries(1)
        .set_max_delay(1000);
    let manager = tokio::time::timeout(
        Duration::from_secs(5),
        client.get_connection_manager_with_config(config),
    )
    .await
    .map_err(|_| anyhow::anyhow!("redis did not answer within 5 s"))??;
    Ok((client, manager))
}
