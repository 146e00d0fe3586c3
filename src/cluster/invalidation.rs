//! Availability-cache invalidation across instances: a movement on one instance publishes
//! its SKUs, and every instance (itself included) marks them stale.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use redis::aio::ConnectionManager;

use crate::services::AvailabilityCache;

/// Tells the other instances which SKUs moved.
#[derive(Clone)]
pub struct Publisher {
    conn: ConnectionManager,
    channel: String,
}

impl Publisher {
    pub fn new(conn: ConnectionManager, prefix: &str) -> Self {
        Self {
            conn,
            channel: channel(prefix),
        }
    }

    /// Publishes before the change is answered, so that when a client hears of a change,
    /// the other instances have been told. A failure is logged; the cache TTL then bounds
    /// how stale another instance can be.
    pub async fn publish(&self, skus: &[&str]) {
        if skus.is_empty() {
            return;
        }
        let mut conn = self.conn.clone();
        let payload = skus.join("\n");
        let sent = tokio::time::timeout(
            super::REDIS_TIMEOUT,
            redis::cmd("PUBLISH")
                .arg(&self.channel)
                .arg(payload)
                .query_async::<i64>(&mut conn),
        )
        .await;
        if !matches!(sent, Ok(Ok(_))) {
            tracing::warn!(
                skus = skus.len(),
                "cache invalidation not published; other instances fall back to the TTL"
            );
        }
    }
}

fn channel(prefix: &str) -> String {
    format!("{prefix}:stock-moved")
}

/// Listens for other instances' movements for as long as the process runs, reconnecting
/// after an outage. Every (re)subscription marks the whole cache stale, since messages
/// sent while disconnected are lost.
pub fn spawn_subscriber(client: redis::Client, prefix: &str, cache: Arc<AvailabilityCache>) {
    let channel = channel(prefix);
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(100);
        loop {
            match client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                    Ok(()) => {
                        cache.invalidate_all();
                        delay = Duration::from_millis(100);
                        let mut messages = pubsub.on_message();
                        while let Some(msg) = messages.next().await {
                            if let Ok(payload) = msg.get_payload::<String>() {
                                cache.invalidate(payload.lines());
                            }
                        }
                        tracing::warn!("cache invalidation subscription ended; reconnecting");
                    }
                    Err(e) => tracing::warn!(error = %e, "cache invalidation subscribe failed"),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "redis unreachable for cache invalidation; retrying");
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    });
}
