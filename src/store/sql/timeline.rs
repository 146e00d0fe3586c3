//! What an order's timeline is made of: its events, their deliveries with every failed
//! attempt, the ERP's acknowledgement and the refunds of its returns.

use sqlx::{AnyConnection, Row};

use super::{corrupt, instant};
use crate::domain::outbound::EventKind;
use crate::domain::timeline::{HistoryDelivery, HistoryEvent, HistoryRefund, OrderHistory};
use crate::store::StoreResult;

pub(crate) async fn order_history(
    c: &mut AnyConnection,
    order_id: &str,
) -> StoreResult<OrderHistory> {
    let mut events = Vec::new();
    let rows = sqlx::query(
        "SELECT id, kind, payload, traceparent, created_at FROM outbox \
         WHERE aggregate = $1 AND kind <> 'stock.changed' ORDER BY seq",
    )
    .bind(order_id)
    .fetch_all(&mut *c)
    .await?;
    for r in rows {
        let kind: String = r.try_get("kind")?;
        events.push(HistoryEvent {
            id: r.try_get("id")?,
            kind: EventKind::parse(&kind).ok_or_else(|| corrupt(format!("event kind {kind}")))?,
            at: instant(r.try_get("created_at")?),
            traceparent: r.try_get("traceparent")?,
            data: serde_json::from_str(&r.try_get::<String, _>("payload")?).map_err(corrupt)?,
        });
    }

    let mut deliveries = Vec::new();
    let rows = sqlx::query(
        "SELECT id, event_id, destination, state, attempts, updated_at, last_error \
         FROM deliveries WHERE aggregate = $1 AND kind <> 'stock.changed' ORDER BY seq, destination",
    )
    .bind(order_id)
    .fetch_all(&mut *c)
    .await?;
    for r in rows {
        let id: String = r.try_get("id")?;
        let failures = sqlx::query_as::<_, (i64, i64, String)>(
            "SELECT attempt, at, error FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt",
        )
        .bind(&id)
        .fetch_all(&mut *c)
        .await?
        .into_iter()
        .map(|(attempt, at, error)| (count(attempt), instant(at), error))
        .collect();
        deliveries.push(HistoryDelivery {
            event_id: r.try_get("event_id")?,
            destination: r.try_get("destination")?,
            state: r.try_get("state")?,
            attempts: count(r.try_get("attempts")?),
            updated_at: instant(r.try_get("updated_at")?),
            last_error: r.try_get("last_error")?,
            failures,
        });
    }

    let acknowledged = sqlx::query_as::<_, (Option<i64>, Option<String>)>(
        "SELECT erp_acknowledged_at, erp_reference FROM orders WHERE id = $1",
    )
    .bind(order_id)
    .fetch_optional(&mut *c)
    .await?
    .and_then(|(at, reference)| Some((instant(at?), reference)));
    let refunds = sqlx::query_as::<_, (String, String, i64)>(
        "SELECT id, refund_reference, updated_at FROM rmas \
         WHERE order_id = $1 AND refund_reference IS NOT NULL ORDER BY updated_at",
    )
    .bind(order_id)
    .fetch_all(&mut *c)
    .await?
    .into_iter()
    .map(|(rma_id, reference, at)| HistoryRefund {
        rma_id,
        reference,
        at: instant(at),
    })
    .collect();

    Ok(OrderHistory {
        events,
        deliveries,
        erp_acknowledged: acknowledged,
        refunds,
    })
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}
