//! Inbound canonical events, applied one by one so that a bad event never rejects the
//! others.

use serde::Serialize;
use utoipa::ToSchema;

use super::Services;
use crate::domain::events::{self, Event, EventBody, EventRef, MAX_BATCH};
use crate::domain::time::now;
use crate::error::{Error, Result};
use crate::problem::{self, Problem};
use crate::store::{Effects, EventContext, EventOutcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    Applied,
    /// Seen before from the same source; nothing changed.
    Duplicate,
    /// Nothing changed; `problem` says why.
    Rejected,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventResult {
    pub id: Option<String>,
    pub source: Option<String>,
    pub status: EventStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

impl Services {
    #[tracing::instrument(name = "ingest events", level = "debug", skip_all, fields(events = batch.len()))]
    pub async fn ingest_events(
        &self,
        batch: Vec<serde_json::Value>,
        traceparent: Option<&str>,
    ) -> Result<Vec<EventResult>> {
        if batch.len() > MAX_BATCH {
            return Err(Error::TooMany {
                what: "events",
                max: MAX_BATCH,
                got: batch.len(),
            });
        }
        let ctx = EventContext {
            restock_location: self.policies.returns.restock_location.clone(),
            now: now(),
            traceparent: traceparent.map(str::to_owned),
        };
        let mut results = Vec::with_capacity(batch.len());
        for value in batch {
            let event = match events::parse(value) {
                Ok(e) => e,
                Err((r, invalid)) => {
                    let p = Problem::new(problem::VALIDATION_FAILED, invalid.detail.clone())
                        .with("errors", [&invalid]);
                    results.push(rejected(r, p));
                    continue;
                }
            };
            let r = EventRef {
                id: Some(event.id.clone()),
                source: Some(event.source.clone()),
            };
            let outcome = self.store.apply_event(&event, &ctx).await?;
            results.push(match outcome {
                EventOutcome::Applied(effects) => {
                    self.observe(&event, &effects);
                    self.stock_moved(&effects.skus.iter().map(String::as_str).collect::<Vec<_>>()).await;
                    tracing::debug!(event.id = %event.id, event.source = %event.source, event.kind = event.body.kind(), "event applied");
                    // Every applied event wrote at least one outbound event.
                    self.outbox_wake.notify_one();
                    EventResult { id: r.id, source: r.source, status: EventStatus::Applied, problem: None }
                }
                EventOutcome::Duplicate => EventResult { id: r.id, source: r.source, status: EventStatus::Duplicate, problem: None },
                EventOutcome::Rejected(why) => {
                    tracing::info!(event.id = %event.id, event.source = %event.source, event.kind = event.body.kind(), problem.code = why.code, "event rejected");
                    rejected(r, Problem::new(problem::by_code(why.code), why.detail))
                }
            });
        }
        Ok(results)
    }
}

impl Services {
    /// What an applied event tells the metrics: a source's freshness, a shipment's stage.
    fn observe(&self, event: &Event, effects: &Effects) {
        if matches!(
            event.body,
            EventBody::StockCounted(_) | EventBody::StockAdjusted(_)
        ) {
            self.metrics.stock_updated(&event.source, event.occurred_at);
            let lag = now() - event.occurred_at;
            self.metrics
                .slos
                .stock_lag(lag.try_into().unwrap_or_default());
        }
        if let Some(submitted) = effects.shipped_order_submitted_at {
            self.metrics
                .order_stage("submitted_to_shipped", submitted, event.occurred_at);
        }
    }
}

fn rejected(r: EventRef, p: Problem) -> EventResult {
    EventResult {
        id: r.id,
        source: r.source,
        status: EventStatus::Rejected,
        problem: Some(p),
    }
}
