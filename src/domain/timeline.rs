//! An order's timeline: every stage it went through, in time order, built from what the
//! store already keeps — the order's events in the outbox, each destination's delivery of
//! them with every failed attempt, the ERP's acknowledgement and the refunds of its
//! returns. Nothing is written twice to make it: the outbox is the record, so events and
//! deliveries purged after the outbox's retention leave the timeline with it. A refund is
//! dated by its RMA's last change, which is the refund.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::order::Order;
use super::outbound::EventKind;

/// The outbox destination that carries orders, shipments and returns to the ERP.
pub const ERP_DESTINATION: &str = "erp";
/// The cluster's event bus: instances telling each other, not a stage of the order.
pub const BUS_DESTINATION: &str = "nats";

/// What the store keeps about one order, raw.
#[derive(Debug, Clone, Default)]
pub struct OrderHistory {
    pub events: Vec<HistoryEvent>,
    pub deliveries: Vec<HistoryDelivery>,
    /// When the ERP first acknowledged the order, and its reference for it, read
    /// together so that one never shows without the other.
    pub erp_acknowledged: Option<(OffsetDateTime, Option<String>)>,
    pub refunds: Vec<HistoryRefund>,
}

#[derive(Debug, Clone)]
pub struct HistoryEvent {
    pub id: String,
    pub kind: EventKind,
    pub at: OffsetDateTime,
    pub traceparent: Option<String>,
    pub data: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct HistoryDelivery {
    pub event_id: String,
    pub destination: String,
    /// `pending`, `sent`, `dead` or `discarded`.
    pub state: String,
    pub attempts: u32,
    pub updated_at: OffsetDateTime,
    pub last_error: Option<String>,
    /// Every failed attempt: number, time, error.
    pub failures: Vec<(u32, OffsetDateTime, String)>,
}

#[derive(Debug, Clone)]
pub struct HistoryRefund {
    pub rma_id: String,
    pub reference: String,
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Accepted,
    Reserved,
    Backordered,
    Cancelled,
    /// Sent to the ERP: one entry per attempt.
    Submitted,
    /// The ERP holds the order under its own reference.
    Acknowledged,
    /// Another change (a shipment, a return) written to the ERP: one entry per attempt.
    ErpUpdated,
    Picked,
    Packed,
    Shipped,
    Delivered,
    ShipmentException,
    ReturnAuthorized,
    Returned,
    Refunded,
    /// An event delivered to a channel or subscriber: one entry per attempt.
    ChannelUpdated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Done,
    /// The attempt failed and will be retried.
    Failed,
    /// Delivery was given up: the event is a dead letter (or was discarded).
    DeadLettered,
    /// Waiting for its first or next attempt.
    Pending,
}

/// One stage of the order, with the system that performed it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineEntry {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub stage: Stage,
    /// `stockade`, `erp:<adapter>`, `warehouse`, or the destination's name.
    #[schema(example = "erp:netsuite")]
    pub system: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What happened, in a few words: locations, references, tracking numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The W3C trace id of the request that caused this stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "4bf92f3577b34da6a3ce929d0e0e4736")]
    pub trace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Timeline {
    pub order_id: String,
    pub entries: Vec<TimelineEntry>,
}

impl Timeline {
    /// Every stage of `order`, oldest first; entries at the same instant keep the order
    /// in which they happened (accepted before reserved, an attempt before its retry).
    pub fn build(order: &Order, history: &OrderHistory) -> Self {
        let erp = format!("erp:{}", order.erp.system);
        let mut entries = Vec::new();
        for event in &history.events {
            let trace_id = event.traceparent.as_deref().and_then(trace_id);
            let entry = |at, stage, system: &str, detail: Option<String>| TimelineEntry {
                at,
                stage,
                system: system.to_owned(),
                outcome: Outcome::Done,
                attempt: None,
                error: None,
                detail,
                trace_id: trace_id.clone(),
                event_id: Some(event.id.clone()),
            };
            match event.kind {
                EventKind::OrderAccepted => {
                    entries.push(entry(
                        event.at,
                        Stage::Accepted,
                        "stockade",
                        accepted(order),
                    ));
                    if let Some(detail) = reserved(order) {
                        entries.push(entry(event.at, Stage::Reserved, "stockade", Some(detail)));
                    }
                    if let Some(detail) = backordered(order) {
                        entries.push(entry(
                            event.at,
                            Stage::Backordered,
                            "stockade",
                            Some(detail),
                        ));
                    }
                }
                EventKind::OrderCancelled => {
                    entries.push(entry(event.at, Stage::Cancelled, "stockade", None));
                }
                EventKind::ShipmentUpdated => {
                    let (stage, detail) = shipment(&event.data);
                    entries.push(entry(event.at, stage, "warehouse", detail));
                }
                EventKind::ReturnAuthorized => {
                    let detail = event.data["id"].as_str().map(str::to_owned);
                    entries.push(entry(event.at, Stage::ReturnAuthorized, "stockade", detail));
                }
                EventKind::ReturnReceived => {
                    let detail = event.data["id"].as_str().map(str::to_owned);
                    entries.push(entry(event.at, Stage::Returned, "warehouse", detail));
                }
                EventKind::StockChanged | EventKind::DriftDetected => continue,
            }
            for delivery in history
                .deliveries
                .iter()
                .filter(|d| d.event_id == event.id && d.destination != BUS_DESTINATION)
            {
                let (stage, system) = if delivery.destination == ERP_DESTINATION {
                    let stage = if event.kind == EventKind::OrderAccepted {
                        Stage::Submitted
                    } else {
                        Stage::ErpUpdated
                    };
                    (stage, erp.as_str())
                } else {
                    (Stage::ChannelUpdated, delivery.destination.as_str())
                };
                entries.extend(attempts(delivery, stage, system, &entry));
            }
        }
        if let Some((at, reference)) = &history.erp_acknowledged {
            entries.push(TimelineEntry {
                at: *at,
                stage: Stage::Acknowledged,
                system: erp.clone(),
                outcome: Outcome::Done,
                attempt: None,
                error: None,
                detail: reference.clone(),
                trace_id: None,
                event_id: None,
            });
        }
        for refund in &history.refunds {
            entries.push(TimelineEntry {
                at: refund.at,
                stage: Stage::Refunded,
                system: erp.clone(),
                outcome: Outcome::Done,
                attempt: None,
                error: None,
                detail: Some(format!("{} as {}", refund.rma_id, refund.reference)),
                trace_id: None,
                event_id: None,
            });
        }
        // A stable sort: what was pushed in causal order stays so within one instant.
        entries.sort_by_key(|e| e.at);
        Self {
            order_id: order.id.clone(),
            entries,
        }
    }
}

/// One entry per failed attempt, then one for where the delivery stands now.
fn attempts(
    delivery: &HistoryDelivery,
    stage: Stage,
    system: &str,
    entry: &impl Fn(OffsetDateTime, Stage, &str, Option<String>) -> TimelineEntry,
) -> Vec<TimelineEntry> {
    let mut out: Vec<TimelineEntry> = delivery
        .failures
        .iter()
        .map(|(attempt, at, error)| TimelineEntry {
            outcome: Outcome::Failed,
            attempt: Some(*attempt),
            error: Some(error.clone()),
            ..entry(*at, stage, system, None)
        })
        .collect();
    let (outcome, attempt, error) = match delivery.state.as_str() {
        "sent" => (Outcome::Done, Some(delivery.attempts), None),
        "dead" | "discarded" => (
            Outcome::DeadLettered,
            Some(delivery.attempts),
            delivery.last_error.clone(),
        ),
        _ => (Outcome::Pending, None, None),
    };
    // A dead letter's last failure is already listed; its entry says it was given up.
    if outcome == Outcome::DeadLettered {
        out.retain(|e| e.attempt != attempt);
    }
    out.push(TimelineEntry {
        outcome,
        attempt,
        error,
        ..entry(delivery.updated_at, stage, system, None)
    });
    out
}

/// The trace id (32 hex digits) of a W3C `traceparent`: `00-<trace id>-<span id>-<flags>`.
pub fn trace_id(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.split('-');
    let (_version, id) = (parts.next()?, parts.next()?);
    let valid = id.len() == 32
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && id.bytes().any(|b| b != b'0');
    valid.then(|| id.to_ascii_lowercase())
}

fn accepted(order: &Order) -> Option<String> {
    Some(format!(
        "{} units on {} lines from {} order {}",
        order.units_ordered(),
        order.lines.len(),
        order.channel,
        order.external_id
    ))
}

fn reserved(order: &Order) -> Option<String> {
    let parts: Vec<String> = order
        .lines
        .iter()
        .flat_map(|l| {
            l.allocations
                .iter()
                .map(move |a| format!("{} {} at {}", l.sku, a.quantity, a.location))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn backordered(order: &Order) -> Option<String> {
    let parts: Vec<String> = order
        .lines
        .iter()
        .filter(|l| l.backordered > 0)
        .map(|l| format!("{} {}", l.sku, l.backordered))
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The milestone a `shipment.updated` event reports, and its carrier and tracking.
fn shipment(data: &serde_json::Value) -> (Stage, Option<String>) {
    let stage = match data["status"].as_str() {
        Some("picked") => Stage::Picked,
        Some("packed") => Stage::Packed,
        Some("delivered") => Stage::Delivered,
        Some("exception") => Stage::ShipmentException,
        _ => Stage::Shipped,
    };
    let detail = [&data["id"], &data["carrier"], &data["tracking_number"]]
        .iter()
        .filter_map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    (stage, (!detail.is_empty()).then_some(detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_id_is_read_from_a_valid_traceparent_only() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            trace_id(&format!("00-{id}-00f067aa0ba902b7-01")).as_deref(),
            Some(id)
        );
        assert_eq!(
            trace_id("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(trace_id("00-4bf92f3577b34da6-00f067aa0ba902b7-01"), None);
        assert_eq!(trace_id("garbage"), None);
    }

    #[test]
    fn a_dead_letter_lists_its_failures_then_says_it_was_given_up() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let delivery = HistoryDelivery {
            event_id: "evt_1".into(),
            destination: "shop".into(),
            state: "dead".into(),
            attempts: 3,
            updated_at: at,
            last_error: Some("503".into()),
            failures: (1..=3).map(|n| (n, at, "503".to_owned())).collect(),
        };
        let entry = |at, stage, system: &str, detail| TimelineEntry {
            at,
            stage,
            system: system.to_owned(),
            outcome: Outcome::Done,
            attempt: None,
            error: None,
            detail,
            trace_id: None,
            event_id: None,
        };
        let seen: Vec<_> = attempts(&delivery, Stage::ChannelUpdated, "shop", &entry)
            .iter()
            .map(|e| (e.attempt, e.outcome))
            .collect();
        assert_eq!(
            seen,
            [
                (Some(1), Outcome::Failed),
                (Some(2), Outcome::Failed),
                (Some(3), Outcome::DeadLettered)
            ]
        );
    }
}
