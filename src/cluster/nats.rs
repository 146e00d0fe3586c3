//! NATS JetStream as the event transport.
//!
//! Outbound: every event is published to `<prefix>.events.<type>` with `Nats-Msg-Id` set
//! to the event id, so the stream drops a repeat inside its duplicate window; a delivery
//! counts as sent only once the stream has acknowledged it.
//!
//! Inbound: canonical events (the items of `POST /v1/events`) are consumed from
//! `<prefix>.inbound.>` through one durable consumer shared by every instance, applied
//! through the same intake and deduplication, and acknowledged only after they are
//! committed. One that cannot be applied after the allowed deliveries is dead-lettered.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use async_trait::async_trait;
use axum::body::Bytes;
use futures::StreamExt;

use crate::adapters::{AdapterError, Destination};
use crate::domain::outbound::{Envelope, EventKind};
use crate::policy::DestinationPolicy;
use crate::services::Services;
use crate::services::events::EventStatus;
use crate::store::InboundDeadLetter;

/// How many times an inbound event is delivered before it becomes a dead letter.
pub const INBOUND_MAX_DELIVER: i64 = 5;

pub struct Nats {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub prefix: String,
}

impl Nats {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        let js = jetstream::new(client.clone());
        let this = Self {
            client,
            js,
            prefix: prefix.to_owned(),
        };
        this.js
            .get_or_create_stream(stream::Config {
                name: this.stream_name("EVENTS"),
                subjects: vec![format!("{prefix}.events.>")],
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await?;
        this.js
            .get_or_create_stream(stream::Config {
                name: this.stream_name("INBOUND"),
                subjects: vec![format!("{prefix}.inbound.>")],
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await?;
        Ok(this)
    }

    /// Stream names allow no dots; prefixes often have none either, but be sure.
    pub fn stream_name(&self, suffix: &str) -> String {
        format!(
            "{}_{suffix}",
            self.prefix
                .replace(['.', '*', '>', ' '], "_")
                .to_uppercase()
        )
    }
}

/// The event stream as an outbound destination.
pub struct NatsPublisher {
    pub nats: Arc<Nats>,
    pub policy: DestinationPolicy,
}

#[async_trait]
impl Destination for NatsPublisher {
    fn name(&self) -> &str {
        "nats"
    }

    fn wants(&self, _: EventKind) -> bool {
        true
    }

    fn max_attempts(&self) -> u32 {
        self.policy.max_attempts
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.policy.timeout_ms)
    }

    async fn deliver(&self, event: &Envelope) -> Result<(), AdapterError> {
        let body = serde_json::to_vec(event).map_err(|e| AdapterError::Permanent(e.to_string()))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, event.id.as_str());
        if let Some(tp) = &event.traceparent {
            headers.insert("traceparent", tp.as_str());
        }
        let subject = format!("{}.events.{}", self.nats.prefix, event.kind.as_str());
        let ack = self
            .nats
            .js
            .publish_with_headers(subject, headers, Bytes::from(body))
            .await
            .map_err(|e| AdapterError::Transient(e.to_string()))?;
        // Sent means stored by the stream, not merely written to a socket.
        ack.await
            .map_err(|e| AdapterError::Transient(e.to_string()))?;
        Ok(())
    }
}

/// Consumes inbound events for as long as the process runs.
pub fn spawn_consumer(nats: Arc<Nats>, services: Arc<Services>) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = consume(&nats, &services).await {
                tracing::warn!(error = %e, "inbound event consumer stopped; restarting");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn consume(nats: &Nats, services: &Services) -> anyhow::Result<()> {
    let stream_name = nats.stream_name("INBOUND");
    let stream = nats.js.get_stream(&stream_name).await?;
    let consumer = stream
        .get_or_create_consumer(
            "stockade",
            pull::Config {
                durable_name: Some("stockade".into()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                max_deliver: INBOUND_MAX_DELIVER,
                ..Default::default()
            },
        )
        .await?;
    let mut messages = consumer.messages().await?;
    while let Some(message) = messages.next().await {
        let message = message?;
        let (delivered, stream_seq) = message
            .info()
            .map(|i| (i.delivered, i.stream_sequence))
            .unwrap_or((1, 0));
        let traceparent = message
            .headers
            .as_ref()
            .and_then(|h| h.get("traceparent"))
            .map(|v| v.as_str().to_owned());
        let payload = String::from_utf8_lossy(&message.payload).into_owned();
        let outcome = match serde_json::from_str::<serde_json::Value>(&payload) {
            Err(e) => Err(Fate::Dead(format!("not JSON: {e}"))),
            Ok(value) => match services
                .ingest_events(vec![value], traceparent.as_deref())
                .await
            {
                Ok(results) => match results.into_iter().next() {
                    Some(r) if r.status == EventStatus::Rejected => {
                        Err(Fate::Dead(r.problem.map_or_else(String::new, |p| {
                            format!("{}: {}", p.code, p.detail)
                        })))
                    }
                    _ => Ok(()),
                },
                // Nothing was committed; try again unless this was the last delivery.
                Err(e) if delivered < INBOUND_MAX_DELIVER => Err(Fate::Retry(e.to_string())),
                Err(e) => Err(Fate::Dead(e.to_string())),
            },
        };
        match outcome {
            Ok(()) => message.ack().await.map_err(|e| anyhow::anyhow!(e))?,
            Err(Fate::Retry(why)) => {
                tracing::warn!(stream.seq = stream_seq, delivered, error = %why, "inbound event failed; redelivery later");
                message
                    .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                    .await
                    .map_err(|e| anyhow::anyhow!(e))?;
            }
            Err(Fate::Dead(why)) => {
                let v: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
                let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned();
                let letter = InboundDeadLetter {
                    stream: stream_name.clone(),
                    stream_seq,
                    kind: field("type"),
                    source: field("source"),
                    event_id: field("id"),
                    payload: payload.clone(),
                    deliveries: u32::try_from(delivered).unwrap_or(u32::MAX),
                    error: why.clone(),
                };
                services.store.record_inbound_dead_letter(&letter).await?;
                tracing::error!(stream.seq = stream_seq, event.id = %letter.event_id, error = %why, "inbound event dead-lettered");
                // Settled here: the dead-letter store has it now.
                message
                    .ack_with(AckKind::Term)
                    .await
                    .map_err(|e| anyhow::anyhow!(e))?;
            }
        }
    }
    Ok(())
}

enum Fate {
    Retry(String),
    Dead(String),
}
