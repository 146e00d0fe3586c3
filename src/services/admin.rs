//! Operations on the outbox (dead letters, replay, discard, backlog) and the metrics.

use super::Services;
use super::dispatch::BreakerState;
use super::dispatch::DestinationHealth;
use crate::error::{Error, Result};
use crate::metrics::DestinationLabel;
use crate::store::{DeadLetterDetail, DeadLetterQuery, DeliveryState};

/// What a replay did.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Replayed {
    /// Dead letters put back in line (outbound) or applied again (inbound).
    pub replayed: u64,
}

impl Services {
    /// Puts one dead letter back in line. Replaying what is not dead changes nothing, so a
    /// repeated replay is harmless; the event keeps its id, so consumers apply it once.
    pub async fn replay_dead_letter(&self, id: &str) -> Result<DeadLetterDetail> {
        let detail = self.dead_letter(id).await?;
        if detail.letter.destination.starts_with("inbound:") {
            if matches!(
                detail.letter.state,
                DeliveryState::Dead | DeliveryState::Discarded
            ) {
                self.reapply_inbound(id).await?;
            }
        } else {
            self.store
                .replay_dead_letters(&DeadLetterQuery::default(), Some(&[id.to_owned()]))
                .await?;
            self.outbox_wake.notify_one();
        }
        self.dead_letter(id).await
    }

    pub async fn replay_dead_letters(&self, query: &DeadLetterQuery) -> Result<Replayed> {
        if query.inbound {
            let mut replayed = 0;
            for letter in self.store.dead_letters(query).await? {
                if self.reapply_inbound(&letter.id).await.is_ok() {
                    replayed += 1;
                }
            }
            return Ok(Replayed { replayed });
        }
        let replayed = self.store.replay_dead_letters(query, None).await?;
        self.outbox_wake.notify_one();
        tracing::info!(dead_letters = replayed, "dead letters replayed");
        Ok(Replayed { replayed })
    }

    pub async fn discard_dead_letter(&self, id: &str, reason: &str) -> Result<DeadLetterDetail> {
        if reason.trim().is_empty() {
            return Err(Error::Invalid(vec![crate::domain::ValidationError::new(
                "invalid-text",
                "/reason",
                "say why the event is discarded",
            )]));
        }
        let detail = self.dead_letter(id).await?;
        if detail.letter.destination.starts_with("inbound:") {
            self.store
                .set_inbound_state(id, DeliveryState::Discarded, Some(reason))
                .await?;
        } else {
            self.store.discard_dead_letter(id, reason).await?;
        }
        self.dead_letter(id).await
    }

    pub async fn dead_letter(&self, id: &str) -> Result<DeadLetterDetail> {
        self.store
            .dead_letter(id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "dead letter",
                id: id.to_owned(),
            })
    }

    /// Applies an inbound dead letter's event again through the normal intake; it is
    /// settled once the intake applies it or finds it already applied.
    async fn reapply_inbound(&self, id: &str) -> Result<()> {
        let payload = self
            .store
            .inbound_payload(id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "dead letter",
                id: id.to_owned(),
            })?;
        let value: serde_json::Value =
            serde_json::from_str(&payload).map_err(|e| Error::MalformedJson(e.to_string()))?;
        let results = self.ingest_events(vec![value], None).await?;
        match results.first() {
            Some(r) if r.status != super::events::EventStatus::Rejected => {
                self.store
                    .set_inbound_state(id, DeliveryState::Replayed, None)
                    .await?;
                Ok(())
            }
            Some(r) => Err(Error::ReplayRejected(
                r.problem
                    .as_ref()
                    .map_or_else(String::new, |p| p.detail.clone()),
            )),
            None => Err(Error::Internal(anyhow::anyhow!(
                "no result for the replayed event"
            ))),
        }
    }
}

impl Services {
    /// The metrics in the Prometheus text format, with the figures that live in the store
    /// and the dispatcher read now: backlog and its age, dead letters, breakers.
    pub async fn metrics_text(&self, destinations: &[DestinationHealth]) -> Result<String> {
        let stats = self.store.outbox_stats().await?;
        let m = &self.metrics;
        m.outbox_unrouted.set(gauge(stats.unrouted));
        // Every destination this instance delivers to shows, at zero when it has nothing
        // waiting; one that no longer exists drops out.
        for family in [&m.outbox_pending, &m.dead_letters, &m.breaker_open] {
            family.clear();
        }
        m.outbox_oldest.clear();
        for d in destinations {
            let label = DestinationLabel {
                destination: d.destination.clone(),
            };
            m.outbox_pending.get_or_create(&label).set(0);
            m.dead_letters.get_or_create(&label).set(0);
            m.outbox_oldest.get_or_create(&label).set(0.0);
        }
        for d in &stats.destinations {
            let label = DestinationLabel {
                destination: d.destination.clone(),
            };
            m.outbox_pending.get_or_create(&label).set(gauge(d.pending));
            m.dead_letters.get_or_create(&label).set(gauge(d.dead));
            let age = d.oldest_pending_ms.map_or(0.0, |ms| ms as f64 / 1000.0);
            m.outbox_oldest.get_or_create(&label).set(age);
        }
        for d in destinations {
            let label = DestinationLabel {
                destination: d.destination.clone(),
            };
            let open = i64::from(d.breaker != BreakerState::Closed);
            m.breaker_open.get_or_create(&label).set(open);
        }
        Ok(m.render())
    }
}

fn gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
