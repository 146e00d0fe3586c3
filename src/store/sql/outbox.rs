//! The outbox and its deliveries: events appended inside the transaction of the change
//! that caused them, routed to destinations, claimed with leases, settled, dead-lettered.

use std::time::Duration;

use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{Dialect, Tx, conn, corrupt, instant, ledger, micros, placeholders};
use crate::domain::ids::new_id;
use crate::domain::outbound::{Envelope, EventKind, StockChanged, StockPosition};
use crate::store::{
    Attempt, ClaimedDelivery, DeadLetter, DeadLetterDetail, DeadLetterQuery, DeliveryState,
    DestinationStats, Failure, InboundDeadLetter, OutboxStats, StoreResult,
};

/// Appends one event; returns its id.
pub(crate) async fn append(
    c: &mut AnyConnection,
    kind: EventKind,
    aggregate: &str,
    data: &impl serde::Serialize,
    traceparent: Option<&str>,
    at: i64,
) -> StoreResult<String> {
    let id = new_id("evt");
    sqlx::query(
        "INSERT INTO outbox (id, kind, aggregate, payload, traceparent, created_at, fanned_out) \
         VALUES ($1, $2, $3, $4, $5, $6, 0)",
    )
    .bind(&id)
    .bind(kind.as_str())
    .bind(aggregate)
    .bind(serde_json::to_string(data).map_err(corrupt)?)
    .bind(traceparent)
    .bind(at)
    .execute(&mut *c)
    .await?;
    Ok(id)
}

/// One `stock.changed` per SKU, with its positions at every location after the change.
pub(crate) async fn stock_changed(
    c: &mut AnyConnection,
    skus: &[String],
    traceparent: Option<&str>,
    at: i64,
) -> StoreResult<()> {
    let mut skus = skus.to_vec();
    skus.sort();
    skus.dedup();
    for chunk in skus.chunks(500) {
        let rows = ledger::positions_of(c, chunk).await?;
        for sku in chunk {
            let positions: Vec<StockPosition> = rows
                .iter()
                .filter(|r| &r.sku == sku)
                .map(|r| StockPosition {
                    location: r.location.clone(),
                    on_hand: r.position.on_hand,
                    committed: r.position.committed,
                    safety_stock: r.position.safety_stock,
                    unavailable: r.position.unavailable,
                    available_to_sell: r.position.available_to_sell(),
                })
                .collect();
            let data = StockChanged {
                sku: sku.clone(),
                positions,
            };
            append(c, EventKind::StockChanged, sku, &data, traceparent, at).await?;
        }
    }
    Ok(())
}

pub(crate) async fn fan_out(
    tx: &mut Tx,
    dialect: Dialect,
    routes: &std::collections::HashMap<String, Vec<String>>,
    limit: u32,
) -> StoreResult<u64> {
    let c = conn(tx);
    let sql = format!(
        "SELECT seq, id, kind, aggregate, created_at FROM outbox WHERE fanned_out = 0 ORDER BY seq LIMIT $1{}",
        dialect.skip_locked()
    );
    let rows: Vec<(i64, String, String, String, i64)> = sqlx::query_as(&sql)
        .bind(i64::from(limit))
        .fetch_all(&mut *c)
        .await?;
    let now = micros(OffsetDateTime::now_utc());
    for (seq, id, kind, aggregate, created_at) in &rows {
        for destination in routes.get(kind).into_iter().flatten() {
            sqlx::query(
                "INSERT INTO deliveries (id, seq, event_id, kind, aggregate, destination, state, attempts, \
                 next_attempt_at, lease_until, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, 0, $8, $8) \
                 ON CONFLICT (event_id, destination) DO NOTHING",
            )
            .bind(new_id("dlv"))
            .bind(*seq)
            .bind(id)
            .bind(kind)
            .bind(aggregate)
            .bind(destination)
            .bind(*created_at)
            .bind(now)
            .execute(&mut *c)
            .await?;
        }
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        let seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let sql = format!(
            "UPDATE outbox SET fanned_out = 1 WHERE seq IN ({})",
            placeholders(1, seqs.len())
        );
        let mut q = sqlx::query(&sql);
        for s in &seqs {
            q = q.bind(*s);
        }
        q.execute(&mut *c).await?;
        tracing::debug!(
            events = rows.len(),
            outbox.first = first.0,
            outbox.last = last.0,
            "outbox routed"
        );
    }
    Ok(rows.len() as u64)
}

pub(crate) async fn claim(
    tx: &mut Tx,
    dialect: Dialect,
    owner: &str,
    lease: Duration,
    limit: u32,
    paused: &[String],
) -> StoreResult<Vec<ClaimedDelivery>> {
    let c = conn(tx);
    let now = micros(OffsetDateTime::now_utc());
    let until = now + i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 2);
    let skip = if paused.is_empty() {
        String::new()
    } else {
        format!(
            " AND d.destination NOT IN ({})",
            placeholders(5, paused.len())
        )
    };
    // An event waits while an earlier event of the same aggregate for the same destination
    // is unsettled (pending or dead): per order, destinations see events in order.
    let sql = format!(
        "UPDATE deliveries SET lease_owner = $1, lease_until = $2 WHERE id IN (\
           SELECT d.id FROM deliveries d WHERE d.state = 'pending' AND d.next_attempt_at <= $3 \
           AND d.lease_until < $3{skip} \
           AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.destination = d.destination \
             AND e.aggregate = d.aggregate AND e.seq < d.seq AND e.state IN ('pending', 'dead')) \
           ORDER BY d.seq LIMIT $4{}) \
         RETURNING id, event_id, aggregate, destination, attempts",
        dialect.skip_locked()
    );
    let mut q = sqlx::query(&sql)
        .bind(owner)
        .bind(until)
        .bind(now)
        .bind(i64::from(limit));
    for p in paused {
        q = q.bind(p);
    }
    let rows = q.fetch_all(&mut *c).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let event_id: String = r.try_get("event_id")?;
        let event = envelope(c, &event_id)
            .await?
            .ok_or_else(|| corrupt(format!("delivery of missing event {event_id}")))?;
        out.push(ClaimedDelivery {
            id: r.try_get("id")?,
            destination: r.try_get("destination")?,
            attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(0),
            aggregate: r.try_get("aggregate")?,
            event,
        });
    }
    Ok(out)
}

async fn envelope(c: &mut AnyConnection, event_id: &str) -> StoreResult<Option<Envelope>> {
    let row =
        sqlx::query("SELECT id, kind, payload, traceparent, created_at FROM outbox WHERE id = $1")
            .bind(event_id)
            .fetch_optional(&mut *c)
            .await?;
    let Some(r) = row else { return Ok(None) };
    let kind: String = r.try_get("kind")?;
    Ok(Some(Envelope {
        id: r.try_get("id")?,
        kind: EventKind::parse(&kind).ok_or_else(|| corrupt(format!("event kind {kind}")))?,
        occurred_at: instant(r.try_get("created_at")?),
        traceparent: r.try_get("traceparent")?,
        data: serde_json::from_str(&r.try_get::<String, _>("payload")?).map_err(corrupt)?,
    }))
}

pub(crate) async fn sent(c: &mut AnyConnection, ids: &[String], owner: &str) -> StoreResult<()> {
    let now = micros(OffsetDateTime::now_utc());
    for id in ids {
        let done = sqlx::query(
            "UPDATE deliveries SET state = 'sent', attempts = attempts + 1, lease_owner = NULL, lease_until = 0, \
             last_error = NULL, updated_at = $3 WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .bind(now)
        .execute(&mut *c)
        .await?;
        if done.rows_affected() == 0 {
            // The lease ran out and another instance took the delivery: it may be
            // delivered twice, which consumers absorb by the event id.
            tracing::warn!(
                delivery.id = id.as_str(),
                "delivery settled after its lease was taken over"
            );
        }
    }
    Ok(())
}

pub(crate) async fn failed(
    tx: &mut Tx,
    id: &str,
    owner: &str,
    error: &str,
    failure: &Failure,
) -> StoreResult<()> {
    let c = conn(tx);
    let now = micros(OffsetDateTime::now_utc());
    let Some((attempts,)) = sqlx::query_as::<_, (i64,)>(
        "SELECT attempts FROM deliveries WHERE id = $1 AND lease_owner = $2",
    )
    .bind(id)
    .bind(owner)
    .fetch_optional(&mut *c)
    .await?
    else {
        return Ok(());
    };
    let attempt = attempts + 1;
    let error: String = error.chars().take(2000).collect();
    sqlx::query(
        "INSERT INTO delivery_attempts (delivery_id, attempt, at, error) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(attempt)
    .bind(now)
    .bind(&error)
    .execute(&mut *c)
    .await?;
    let (state, next) = match failure {
        Failure::Retry { at } => ("pending", micros(*at)),
        Failure::Dead => ("dead", now),
    };
    sqlx::query(
        "UPDATE deliveries SET state = $2, attempts = $3, next_attempt_at = $4, last_error = $5, \
         lease_owner = NULL, lease_until = 0, updated_at = $6 WHERE id = $1",
    )
    .bind(id)
    .bind(state)
    .bind(attempt)
    .bind(next)
    .bind(&error)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

const LETTER_COLUMNS: &str = "id, event_id, kind, aggregate, destination, state, attempts, last_error, discard_reason, created_at, updated_at";

/// The WHERE clause of a dead-letter query, with its binds from `$first` on.
fn letter_filter(q: &DeadLetterQuery, first: usize) -> (String, Vec<Bind>) {
    let state = q.state.clone().unwrap_or(DeliveryState::Dead);
    let mut conditions = vec![format!("state = ${first}")];
    let mut binds = vec![Bind::Text(state.as_str().to_owned())];
    let mut push = |condition: &str, bind: Bind| {
        conditions.push(format!("{condition} ${}", first + binds.len()));
        binds.push(bind);
    };
    if let Some(d) = &q.destination {
        push("destination =", Bind::Text(d.clone()));
    }
    if let Some(k) = &q.kind {
        push("kind =", Bind::Text(k.clone()));
    }
    if let Some(a) = &q.aggregate {
        push("aggregate =", Bind::Text(a.clone()));
    }
    if let Some(s) = q.since {
        push("updated_at >=", Bind::Int(micros(s)));
    }
    if let Some(u) = q.until {
        push("updated_at <", Bind::Int(micros(u)));
    }
    if let Some(a) = &q.after {
        push("id >", Bind::Text(a.clone()));
    }
    (conditions.join(" AND "), binds)
}

pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        query = match b {
            Bind::Text(t) => query.bind(t.as_str()),
            Bind::Int(v) => query.bind(*v),
        };
    }
    query
}

pub(crate) async fn dead_letters(
    c: &mut AnyConnection,
    q: &DeadLetterQuery,
) -> StoreResult<Vec<DeadLetter>> {
    let (filter, binds) = letter_filter(q, 1);
    let table = if q.inbound {
        INBOUND_AS_LETTERS
    } else {
        "deliveries"
    };
    let sql = format!(
        "SELECT {LETTER_COLUMNS} FROM {table} WHERE {filter} ORDER BY id LIMIT ${}",
        binds.len() + 1
    );
    let rows = bind_all(sqlx::query(&sql), &binds)
        .bind(i64::from(q.limit))
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(letter).collect()
}

/// Inbound dead letters, shaped like outbound ones.
const INBOUND_AS_LETTERS: &str = "(SELECT id, event_id, kind, source AS aggregate, \
     'inbound:' || stream AS destination, state, deliveries AS attempts, last_error, discard_reason, created_at, \
     updated_at, payload FROM inbound_dead_letters) AS inbound";

pub(crate) async fn dead_letter(
    c: &mut AnyConnection,
    id: &str,
) -> StoreResult<Option<DeadLetterDetail>> {
    let row = sqlx::query(&format!(
        "SELECT {LETTER_COLUMNS} FROM deliveries WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *c)
    .await?;
    if let Some(r) = row {
        let letter = letter(&r)?;
        let attempt_log = sqlx::query_as::<_, (i64, i64, String)>(
            "SELECT attempt, at, error FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt",
        )
        .bind(id)
        .fetch_all(&mut *c)
        .await?
        .into_iter()
        .map(|(attempt, at, error)| Attempt { attempt: u32::try_from(attempt).unwrap_or(0), at: instant(at), error })
        .collect();
        let event = envelope(c, &letter.event_id)
            .await?
            .map(|e| serde_json::to_value(e).unwrap_or_default());
        return Ok(Some(DeadLetterDetail {
            letter,
            attempt_log,
            event: event.unwrap_or_default(),
        }));
    }
    let row = sqlx::query(&format!(
        "SELECT {LETTER_COLUMNS}, payload FROM {INBOUND_AS_LETTERS} WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *c)
    .await;
    let Some(r) = row? else { return Ok(None) };
    let letter = letter(&r)?;
    let attempt_log = vec![Attempt {
        attempt: letter.attempts,
        at: letter.updated_at,
        error: letter.last_error.clone().unwrap_or_default(),
    }];
    let event = serde_json::from_str(&r.try_get::<String, _>("payload")?).unwrap_or_default();
    Ok(Some(DeadLetterDetail {
        letter,
        attempt_log,
        event,
    }))
}

pub(crate) async fn replay(
    c: &mut AnyConnection,
    q: &DeadLetterQuery,
    ids: Option<&[String]>,
) -> StoreResult<u64> {
    let now = micros(OffsetDateTime::now_utc());
    let mut q = q.clone();
    // Replay takes dead letters by default and discarded ones only when asked.
    if !matches!(q.state, Some(DeliveryState::Discarded)) {
        q.state = Some(DeliveryState::Dead);
    }
    let (filter, mut binds) = letter_filter(&q, 2);
    let mut sql = format!(
        "UPDATE deliveries SET state = 'pending', next_attempt_at = $1, lease_until = 0, lease_owner = NULL, \
         updated_at = $1 WHERE {filter}"
    );
    if let Some(ids) = ids {
        sql.push_str(&format!(
            " AND id IN ({})",
            placeholders(2 + binds.len(), ids.len().max(1))
        ));
        binds.extend(ids.iter().map(|i| Bind::Text(i.clone())));
        if ids.is_empty() {
            binds.push(Bind::Text(String::new()));
        }
    }
    let done = bind_all(sqlx::query(&sql).bind(now), &binds)
        .execute(&mut *c)
        .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn discard(c: &mut AnyConnection, id: &str, reason: &str) -> StoreResult<bool> {
    let now = micros(OffsetDateTime::now_utc());
    let done = sqlx::query(
        "UPDATE deliveries SET state = 'discarded', discard_reason = $2, updated_at = $3 \
         WHERE id = $1 AND state = 'dead'",
    )
    .bind(id)
    .bind(reason)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn stats(c: &mut AnyConnection) -> StoreResult<OutboxStats> {
    let (unrouted,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE fanned_out = 0")
        .fetch_one(&mut *c)
        .await?;
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT destination, state, COUNT(*), CAST(MIN(created_at) AS BIGINT) FROM deliveries \
         WHERE state IN ('pending', 'dead') GROUP BY destination, state ORDER BY destination",
    )
    .fetch_all(&mut *c)
    .await?;
    let now = micros(OffsetDateTime::now_utc());
    let mut out = OutboxStats {
        unrouted: unrouted.max(0) as u64,
        destinations: Vec::new(),
    };
    for (destination, state, count, oldest) in rows {
        if out
            .destinations
            .last()
            .is_none_or(|d: &DestinationStats| d.destination != destination)
        {
            out.destinations.push(DestinationStats {
                destination: destination.clone(),
                ..DestinationStats::default()
            });
        }
        let d = out
            .destinations
            .last_mut()
            .ok_or_else(|| corrupt("stats"))?;
        if state == "pending" {
            d.pending = count.max(0) as u64;
            d.oldest_pending_ms = Some(((now - oldest).max(0) / 1000) as u64);
        } else {
            d.dead = count.max(0) as u64;
        }
    }
    Ok(out)
}

pub(crate) async fn record_inbound(
    c: &mut AnyConnection,
    l: &InboundDeadLetter,
) -> StoreResult<()> {
    let now = micros(OffsetDateTime::now_utc());
    sqlx::query(
        "INSERT INTO inbound_dead_letters (id, stream, stream_seq, payload, deliveries, last_error, state, \
         created_at, updated_at, kind, source, event_id) \
         VALUES ($1, $2, $3, $4, $5, $6, 'dead', $7, $7, $8, $9, $10)",
    )
    .bind(new_id("dlv"))
    .bind(&l.stream)
    .bind(i64::try_from(l.stream_seq).unwrap_or(i64::MAX))
    .bind(&l.payload)
    .bind(i64::from(l.deliveries))
    .bind(&l.error)
    .bind(now)
    .bind(&l.kind)
    .bind(&l.source)
    .bind(&l.event_id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub(crate) async fn inbound_payload(
    c: &mut AnyConnection,
    id: &str,
) -> StoreResult<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT payload FROM inbound_dead_letters WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *c)
            .await?;
    Ok(row.map(|(p,)| p))
}

pub(crate) async fn set_inbound_state(
    c: &mut AnyConnection,
    id: &str,
    state: &DeliveryState,
    reason: Option<&str>,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE inbound_dead_letters SET state = $2, discard_reason = COALESCE($3, discard_reason), updated_at = $4 \
         WHERE id = $1 AND state IN ('dead', 'discarded')",
    )
    .bind(id)
    .bind(state.as_str())
    .bind(reason)
    .bind(micros(OffsetDateTime::now_utc()))
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn purge(c: &mut AnyConnection, before: OffsetDateTime) -> StoreResult<u64> {
    let before = micros(before);
    let deliveries = sqlx::query("DELETE FROM deliveries WHERE state = 'sent' AND updated_at < $1")
        .bind(before)
        .execute(&mut *c)
        .await?;
    sqlx::query(
        "DELETE FROM outbox WHERE fanned_out = 1 AND created_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = outbox.id)",
    )
    .bind(before)
    .execute(&mut *c)
    .await?;
    Ok(deliveries.rows_affected())
}

fn letter(r: &sqlx::any::AnyRow) -> StoreResult<DeadLetter> {
    let state: String = r.try_get("state")?;
    Ok(DeadLetter {
        id: r.try_get("id")?,
        event_id: r.try_get("event_id")?,
        kind: r.try_get("kind")?,
        aggregate: r.try_get("aggregate")?,
        destination: r.try_get("destination")?,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| corrupt(format!("delivery state {state}")))?,
        attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(0),
        last_error: r.try_get("last_error")?,
        discard_reason: r.try_get("discard_reason")?,
        created_at: instant(r.try_get("created_at")?),
        updated_at: instant(r.try_get("updated_at")?),
    })
}
