//! Subscribers: HTTPS endpoints that follow Stockade's events (a marketplace, a B2B
//! portal, an analytics system). Each event is POSTed as JSON and signed:
//!
//! `Stockade-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
//!
//! The timestamp lets a receiver refuse replays older than it tolerates; the event id in
//! the body (and in `Stockade-Event-Id`) lets it drop repeats.

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{AdapterError, Destination, http};
use crate::domain::outbound::{Envelope, EventKind};
use crate::policy::Subscriber;

pub struct Webhook {
    policy: Subscriber,
    secret: Vec<u8>,
    http: reqwest::Client,
}

impl Webhook {
    pub fn new(policy: Subscriber, secret: Vec<u8>, http: reqwest::Client) -> Self {
        Self {
            policy,
            secret,
            http,
        }
    }
}

/// `t=<unix>,v1=<hex hmac>` over `"<t>.<body>"`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[async_trait]
impl Destination for Webhook {
    fn name(&self) -> &str {
        &self.policy.name
    }

    fn wants(&self, kind: EventKind) -> bool {
        self.policy.wants(kind.as_str())
    }

    fn max_attempts(&self) -> u32 {
        self.policy.max_attempts
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.policy.timeout_ms)
    }

    async fn deliver(&self, event: &Envelope) -> Result<(), AdapterError> {
        let body = serde_json::to_vec(event).map_err(|e| AdapterError::Permanent(e.to_string()))?;
        let signature = sign(
            &self.secret,
            time::OffsetDateTime::now_utc().unix_timestamp(),
            &body,
        );
        let req = self
            .http
            .post(&self.policy.url)
            .timeout(self.timeout())
            .header("content-type", "application/json")
            .header("stockade-event-id", &event.id)
            .header("stockade-event-type", event.kind.as_str())
            .header("stockade-signature", signature);
        let resp = http::send(req.body(body))
            .await
            .map_err(|e| AdapterError::Transient(e.without_url().to_string()))?;
        classify(resp.status().as_u16(), resp.headers())
    }
}

/// 2xx delivered; 408, 425, 429 and 5xx worth retrying; any other answer never will be.
pub fn classify(status: u16, headers: &reqwest::header::HeaderMap) -> Result<(), AdapterError> {
    match status {
        200..=299 => Ok(()),
        429 => Err(AdapterError::Throttled {
            retry_after: http::retry_after(headers),
        }),
        408 | 425 | 500..=599 => Err(AdapterError::Transient(format!("HTTP {status}"))),
        _ => Err(AdapterError::Permanent(format!("HTTP {status}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_timestamp_and_body() {
        let a = sign(b"secret", 1_700_000_000, b"{}");
        assert!(a.starts_with("t=1700000000,v1="));
        assert_eq!(a.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(a, sign(b"secret", 1_700_000_001, b"{}"));
        assert_ne!(a, sign(b"other", 1_700_000_000, b"{}"));
        assert_ne!(a, sign(b"secret", 1_700_000_000, b"{ }"));
    }

    #[test]
    fn answers_are_classified() {
        let h = reqwest::header::HeaderMap::new();
        assert!(classify(204, &h).is_ok());
        assert!(matches!(classify(503, &h), Err(AdapterError::Transient(_))));
        assert!(matches!(
            classify(429, &h),
            Err(AdapterError::Throttled { .. })
        ));
        assert!(matches!(classify(400, &h), Err(AdapterError::Permanent(_))));
        assert!(matches!(classify(410, &h), Err(AdapterError::Permanent(_))));
    }
}
