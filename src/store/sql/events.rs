//! Inbound events, each in its own transaction, deduplicated by (source, id).

use std::collections::BTreeMap;

use sqlx::{AnyConnection, Row};

use super::ledger::{self, Origin};
use super::{Dialect, Tx, conn, instant, micros, orders, outbox, returns};
use crate::domain::events::{
    Bucket, Condition, Event, EventBody, ReturnReceived, ShipmentUpdated, StockAdjusted,
    StockCounted,
};
use crate::domain::ids;
use crate::domain::order::{OrderStatus, status_after_shipping};
use crate::domain::outbound::EventKind;
use crate::domain::quantity::{Delta, MovementKind};
use crate::domain::shipment::advances;
use crate::store::{Effects, EventContext, EventOutcome, EventRejection, StoreResult};

type Applied = Result<Effects, EventRejection>;

pub(crate) async fn apply(
    tx: &mut Tx,
    dialect: Dialect,
    event: &Event,
    ctx: &EventContext,
) -> StoreResult<EventOutcome> {
    let c = conn(tx);
    let first = sqlx::query(
        "INSERT INTO processed_events (source, event_id, kind, processed_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (source, event_id) DO NOTHING",
    )
    .bind(&event.source)
    .bind(&event.id)
    .bind(event.body.kind())
    .bind(micros(ctx.now))
    .execute(&mut *c)
    .await?;
    if first.rows_affected() == 0 {
        return Ok(EventOutcome::Duplicate);
    }
    let at = micros(event.occurred_at);
    let origin = Origin {
        source: &event.source,
        event_id: Some(&event.id),
        reference: None,
        at,
    };
    let applied = match &event.body {
        EventBody::StockCounted(e) => counted(c, dialect, e, &origin).await?,
        EventBody::StockAdjusted(e) => adjusted(c, dialect, e, &origin).await?,
        EventBody::ShipmentUpdated(e) => shipment(c, dialect, e, &origin).await?,
        EventBody::ReturnReceived(e) => received(c, dialect, e, &origin, ctx).await?,
    };
    let effects = match applied {
        Ok(effects) => effects,
        Err(rejection) => return Ok(EventOutcome::Rejected(rejection)),
    };
    tell(c, event, &effects, ctx).await?;
    Ok(EventOutcome::Applied(effects))
}

/// Writes the outbound events an applied inbound event causes, in its transaction.
async fn tell(
    c: &mut AnyConnection,
    event: &Event,
    effects: &Effects,
    ctx: &EventContext,
) -> StoreResult<()> {
    let (tp, now) = (ctx.traceparent.as_deref(), micros(ctx.now));
    match &event.body {
        EventBody::ShipmentUpdated(e) => {
            let shipments = orders::shipments(c, &e.order_id).await?;
            if let Some(s) = shipments.iter().find(|s| s.reference == e.shipment_id) {
                outbox::append(c, EventKind::ShipmentUpdated, &e.order_id, s, tp, now).await?;
            }
        }
        EventBody::ReturnReceived(e) => {
            if let Some(record) = returns::load(c, &e.rma_id).await? {
                outbox::append(
                    c,
                    EventKind::ReturnReceived,
                    &record.rma.order_id,
                    &record.rma,
                    tp,
                    now,
                )
                .await?;
            }
        }
        EventBody::StockCounted(_) | EventBody::StockAdjusted(_) => {}
    }
    outbox::stock_changed(c, &effects.skus, tp, now).await
}

async fn known(
    c: &mut AnyConnection,
    sku: &str,
    location: &str,
) -> StoreResult<Result<(), EventRejection>> {
    if ledger::skus(c, &[sku.to_owned()]).await?.is_empty() {
        return Ok(Err(EventRejection::new(
            "unknown-sku",
            format!("no SKU `{sku}`"),
        )));
    }
    known_location(c, location).await
}

async fn known_location(
    c: &mut AnyConnection,
    location: &str,
) -> StoreResult<Result<(), EventRejection>> {
    let found = sqlx::query("SELECT code FROM locations WHERE code = $1")
        .bind(location)
        .fetch_optional(&mut *c)
        .await?;
    Ok(found.map(|_| ()).ok_or_else(|| {
        EventRejection::new("unknown-location", format!("no location `{location}`"))
    }))
}

async fn counted(
    c: &mut AnyConnection,
    dialect: Dialect,
    e: &StockCounted,
    origin: &Origin<'_>,
) -> StoreResult<Applied> {
    if let Err(r) = known(c, &e.sku, &e.location).await? {
        return Ok(Err(r));
    }
    // One statement decides and records: a concurrent older count waits on the row, then
    // finds the newer sequence and changes nothing.
    let newer = sqlx::query(
        "INSERT INTO count_sequences (sku, location, source, sequence) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (sku, location, source) DO UPDATE SET sequence = excluded.sequence \
         WHERE count_sequences.sequence < excluded.sequence",
    )
    .bind(&e.sku)
    .bind(&e.location)
    .bind(origin.source)
    .bind(e.sequence)
    .execute(&mut *c)
    .await?;
    if newer.rows_affected() == 0 {
        let (last,): (i64,) = sqlx::query_as(
            "SELECT sequence FROM count_sequences WHERE sku = $1 AND location = $2 AND source = $3",
        )
        .bind(&e.sku)
        .bind(&e.location)
        .bind(origin.source)
        .fetch_one(&mut *c)
        .await?;
        return Ok(Err(EventRejection::new(
            "stale-count",
            format!(
                "a count with sequence {last} from `{}` is already applied; this one is not newer",
                origin.source
            ),
        )));
    }
    let current = ledger::position(c, &e.sku, &e.location, dialect.for_update()).await?;
    ledger::apply_movement(
        c,
        &e.sku,
        &e.location,
        MovementKind::Count,
        Delta::on_hand(e.on_hand - current.on_hand),
        origin,
    )
    .await?;
    sqlx::query(
        "UPDATE count_sequences SET on_hand = $1, counted_at = $2, after_movement = \
         (SELECT COALESCE(MAX(id), 0) FROM movements WHERE sku = $3 AND location = $4) \
         WHERE sku = $3 AND location = $4 AND source = $5",
    )
    .bind(e.on_hand)
    .bind(origin.at)
    .bind(&e.sku)
    .bind(&e.location)
    .bind(origin.source)
    .execute(&mut *c)
    .await?;
    Ok(Ok(Effects {
        skus: vec![e.sku.clone()],
        received_rma: None,
        shipped_order_submitted_at: None,
    }))
}

async fn adjusted(
    c: &mut AnyConnection,
    dialect: Dialect,
    e: &StockAdjusted,
    origin: &Origin<'_>,
) -> StoreResult<Applied> {
    if let Err(r) = known(c, &e.sku, &e.location).await? {
        return Ok(Err(r));
    }
    let p = ledger::position(c, &e.sku, &e.location, dialect.for_update()).await?;
    let (kind, delta) = match e.bucket {
        Bucket::OnHand if p.on_hand + e.delta < 0 => {
            return Ok(Err(EventRejection::new(
                "negative-stock",
                format!(
                    "on-hand is {}; a change of {} would make it negative",
                    p.on_hand, e.delta
                ),
            )));
        }
        Bucket::OnHand => (MovementKind::Adjustment, Delta::on_hand(e.delta)),
        Bucket::Unavailable if !(0..=p.on_hand).contains(&(p.unavailable + e.delta)) => {
            return Ok(Err(EventRejection::new(
                "invalid-unavailable",
                format!(
                    "unavailable is {} of {} on hand; a change of {} would leave it outside 0..=on-hand",
                    p.unavailable, p.on_hand, e.delta
                ),
            )));
        }
        Bucket::Unavailable if e.delta > 0 => (MovementKind::Damage, Delta::unavailable(e.delta)),
        Bucket::Unavailable => (MovementKind::Adjustment, Delta::unavailable(e.delta)),
    };
    ledger::apply_movement(c, &e.sku, &e.location, kind, delta, origin).await?;
    Ok(Ok(Effects {
        skus: vec![e.sku.clone()],
        received_rma: None,
        shipped_order_submitted_at: None,
    }))
}

async fn shipment(
    c: &mut AnyConnection,
    dialect: Dialect,
    e: &ShipmentUpdated,
    origin: &Origin<'_>,
) -> StoreResult<Applied> {
    let sql = format!(
        "SELECT status, erp_acknowledged_at FROM orders WHERE id = $1{}",
        dialect.for_update()
    );
    let Some((status, acknowledged)) = sqlx::query_as::<_, (String, Option<i64>)>(&sql)
        .bind(&e.order_id)
        .fetch_optional(&mut *c)
        .await?
    else {
        return Ok(Err(EventRejection::new(
            "unknown-order",
            format!("no order `{}`", e.order_id),
        )));
    };
    let order_status = OrderStatus::parse(&status).unwrap_or(OrderStatus::Accepted);
    if let Some(loc) = &e.location
        && let Err(r) = known_location(c, loc).await?
    {
        return Ok(Err(r));
    }

    let existing = sqlx::query(
        "SELECT id, status, shipped_at FROM shipments WHERE order_id = $1 AND reference = $2",
    )
    .bind(&e.order_id)
    .bind(&e.shipment_id)
    .fetch_optional(&mut *c)
    .await?;
    let (shipment_id, current, shipped_at) = match existing {
        Some(r) => (
            r.try_get::<String, _>("id")?,
            Some(orders::shipment_status(&r.try_get::<String, _>("status")?)?),
            r.try_get::<Option<i64>, _>("shipped_at")?,
        ),
        None => {
            let id = ids::new_id(ids::SHIPMENT);
            sqlx::query(
                "INSERT INTO shipments (id, order_id, reference, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(&id)
            .bind(&e.order_id)
            .bind(&e.shipment_id)
            .bind(e.status.as_str())
            .bind(origin.at)
            .execute(&mut *c)
            .await?;
            (id, None, None)
        }
    };
    sqlx::query(
        "UPDATE shipments SET carrier = COALESCE($2, carrier), tracking_number = COALESCE($3, tracking_number), \
         tracking_url = COALESCE($4, tracking_url), updated_at = $5 WHERE id = $1",
    )
    .bind(&shipment_id)
    .bind(&e.carrier)
    .bind(&e.tracking_number)
    .bind(&e.tracking_url)
    .bind(origin.at)
    .execute(&mut *c)
    .await?;
    sqlx::query(
        "INSERT INTO shipment_milestones (shipment_id, status, at, source) VALUES ($1, $2, $3, $4)",
    )
    .bind(&shipment_id)
    .bind(e.status.as_str())
    .bind(origin.at)
    .bind(origin.source)
    .execute(&mut *c)
    .await?;

    let mut skus = Vec::new();
    let mut shipped_order_submitted_at = None;
    if e.status.has_left() && shipped_at.is_none() {
        shipped_order_submitted_at = acknowledged.map(instant);
        if e.lines.is_empty() {
            return Ok(Err(EventRejection::new(
                "no-lines",
                "the first report that goods left must list the lines",
            )));
        }
        if order_status == OrderStatus::Cancelled {
            return Ok(Err(EventRejection::new(
                "order-cancelled",
                "the order was cancelled before it shipped",
            )));
        }
        let mut by_sku: BTreeMap<&str, i64> = BTreeMap::new();
        for l in &e.lines {
            *by_sku.entry(l.sku.as_str()).or_insert(0) += l.quantity;
        }
        for (sku, quantity) in by_sku {
            if let Err(r) =
                ship_units(c, &e.order_id, sku, quantity, e.location.as_deref(), origin).await?
            {
                return Ok(Err(r));
            }
            sqlx::query(
                "INSERT INTO shipment_lines (shipment_id, sku, quantity) VALUES ($1, $2, $3)",
            )
            .bind(&shipment_id)
            .bind(sku)
            .bind(quantity)
            .execute(&mut *c)
            .await?;
            skus.push(sku.to_owned());
        }
        sqlx::query("UPDATE shipments SET shipped_at = $2 WHERE id = $1")
            .bind(&shipment_id)
            .bind(origin.at)
            .execute(&mut *c)
            .await?;
    }
    if current.is_none_or(|cur| advances(cur, e.status)) {
        sqlx::query("UPDATE shipments SET status = $2 WHERE id = $1")
            .bind(&shipment_id)
            .bind(e.status.as_str())
            .execute(&mut *c)
            .await?;
    }
    follow_shipping(c, &e.order_id, order_status, origin.at).await?;
    Ok(Ok(Effects {
        skus,
        received_rma: None,
        shipped_order_submitted_at,
    }))
}

/// Moves `quantity` units of `sku` out of the building for an order: committed units come
/// off their reservations (and on-hand where they physically left), backordered units off
/// on-hand alone.
async fn ship_units(
    c: &mut AnyConnection,
    order_id: &str,
    sku: &str,
    quantity: i64,
    from: Option<&str>,
    origin: &Origin<'_>,
) -> StoreResult<Result<(), EventRejection>> {
    let origin = Origin {
        reference: Some(order_id),
        ..*origin
    };
    let lines = sqlx::query_as::<_, (i64, i64, i64, i64)>(
        "SELECT line_no, quantity, shipped, backordered FROM order_lines WHERE order_id = $1 AND sku = $2 \
         ORDER BY line_no",
    )
    .bind(order_id)
    .bind(sku)
    .fetch_all(&mut *c)
    .await?;
    let open: i64 = lines.iter().map(|(_, q, s, _)| q - s).sum();
    if lines.is_empty() || quantity > open {
        return Ok(Err(EventRejection::new(
            "exceeds-order",
            format!(
                "the order has {open} unshipped units of `{sku}`; the shipment lists {quantity}"
            ),
        )));
    }
    let mut remaining = quantity;
    for (line_no, line_qty, line_shipped, backordered) in lines {
        let mut take_line = remaining.min(line_qty - line_shipped);
        if take_line == 0 {
            continue;
        }
        remaining -= take_line;
        sqlx::query(
            "UPDATE order_lines SET shipped = shipped + $3 WHERE order_id = $1 AND line_no = $2",
        )
        .bind(order_id)
        .bind(line_no)
        .bind(take_line)
        .execute(&mut *c)
        .await?;
        let mut allocations = sqlx::query_as::<_, (i64, String, i64)>(
            "SELECT seq, location, quantity - shipped - released FROM allocations \
             WHERE order_id = $1 AND line_no = $2 AND quantity - shipped - released > 0 ORDER BY seq",
        )
        .bind(order_id)
        .bind(line_no)
        .fetch_all(&mut *c)
        .await?;
        // Units reserved where they physically left come off that reservation first.
        allocations.sort_by_key(|(seq, location, _)| (Some(location.as_str()) != from, *seq));
        for (seq, location, open) in allocations {
            let take = take_line.min(open);
            if take == 0 {
                break;
            }
            take_line -= take;
            sqlx::query("UPDATE allocations SET shipped = shipped + $4 WHERE order_id = $1 AND line_no = $2 AND seq = $3")
                .bind(order_id)
                .bind(line_no)
                .bind(seq)
                .bind(take)
                .execute(&mut *c)
                .await?;
            let left_from = from.unwrap_or(&location);
            if left_from == location {
                let d = Delta {
                    on_hand: -take,
                    committed: -take,
                    ..Delta::default()
                };
                ledger::apply_movement(c, sku, &location, MovementKind::Shipment, d, &origin)
                    .await?;
            } else {
                ledger::apply_movement(
                    c,
                    sku,
                    &location,
                    MovementKind::Release,
                    Delta::committed(-take),
                    &origin,
                )
                .await?;
                if let Err(r) = take_on_hand(c, sku, left_from, take, &origin).await? {
                    return Ok(Err(r));
                }
            }
        }
        if take_line > 0 {
            // Backordered units: they were never reserved, so only on-hand moves.
            let Some(location) = from else {
                return Ok(Err(EventRejection::new(
                    "location-required",
                    format!(
                        "{take_line} units of `{sku}` were backordered; say which location shipped them"
                    ),
                )));
            };
            if let Err(r) = take_on_hand(c, sku, location, take_line, &origin).await? {
                return Ok(Err(r));
            }
            sqlx::query(
                "UPDATE order_lines SET backordered = $3 WHERE order_id = $1 AND line_no = $2",
            )
            .bind(order_id)
            .bind(line_no)
            .bind((backordered - take_line).max(0))
            .execute(&mut *c)
            .await?;
        }
    }
    Ok(Ok(()))
}

async fn take_on_hand(
    c: &mut AnyConnection,
    sku: &str,
    location: &str,
    n: i64,
    origin: &Origin<'_>,
) -> StoreResult<Result<(), EventRejection>> {
    let p = ledger::position(c, sku, location, "").await?;
    if p.on_hand < n {
        return Ok(Err(EventRejection::new(
            "negative-stock",
            format!(
                "`{location}` has {} of `{sku}` on hand; the shipment takes {n}",
                p.on_hand
            ),
        )));
    }
    ledger::apply_movement(
        c,
        sku,
        location,
        MovementKind::Shipment,
        Delta::on_hand(-n),
        origin,
    )
    .await?;
    Ok(Ok(()))
}

/// Moves the order's status along with its shipments.
async fn follow_shipping(
    c: &mut AnyConnection,
    order_id: &str,
    current: OrderStatus,
    at: i64,
) -> StoreResult<()> {
    let (ordered, shipped): (i64, i64) = sqlx::query_as(
        "SELECT CAST(SUM(quantity) AS BIGINT), CAST(SUM(shipped) AS BIGINT) FROM order_lines WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_one(&mut *c)
    .await?;
    let (undelivered,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM shipments WHERE order_id = $1 AND shipped_at IS NOT NULL AND status <> 'delivered'",
    )
    .bind(order_id)
    .fetch_one(&mut *c)
    .await?;
    let next = status_after_shipping(current, ordered, shipped, undelivered == 0);
    if next != current {
        sqlx::query("UPDATE orders SET status = $2, updated_at = $3 WHERE id = $1")
            .bind(order_id)
            .bind(next.as_str())
            .bind(at)
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

async fn received(
    c: &mut AnyConnection,
    dialect: Dialect,
    e: &ReturnReceived,
    origin: &Origin<'_>,
    ctx: &EventContext,
) -> StoreResult<Applied> {
    let sql = format!(
        "SELECT status FROM rmas WHERE id = $1{}",
        dialect.for_update()
    );
    let Some((status,)) = sqlx::query_as::<_, (String,)>(&sql)
        .bind(&e.rma_id)
        .fetch_optional(&mut *c)
        .await?
    else {
        return Ok(Err(EventRejection::new(
            "unknown-rma",
            format!("no RMA `{}`", e.rma_id),
        )));
    };
    if !matches!(status.as_str(), "authorized" | "received") {
        return Ok(Err(EventRejection::new(
            "rma-closed",
            format!("the RMA is {status}; it takes no more goods"),
        )));
    }
    let location = e.location.as_deref().unwrap_or(&ctx.restock_location);
    if let Err(r) = known_location(c, location).await? {
        return Ok(Err(r));
    }
    let origin = Origin {
        reference: Some(&e.rma_id),
        ..*origin
    };
    let mut skus = Vec::new();
    for l in &e.lines {
        let lines = sqlx::query_as::<_, (i64, i64, i64, i64)>(
            "SELECT line_no, quantity, received_resellable, received_damaged FROM rma_lines \
             WHERE rma_id = $1 AND sku = $2 ORDER BY line_no",
        )
        .bind(&e.rma_id)
        .bind(&l.sku)
        .fetch_all(&mut *c)
        .await?;
        let open: i64 = lines.iter().map(|(_, q, r, d)| q - r - d).sum();
        if l.quantity > open {
            return Ok(Err(EventRejection::new(
                "exceeds-authorized",
                format!(
                    "the RMA still expects {open} units of `{}`; {} arrived",
                    l.sku, l.quantity
                ),
            )));
        }
        let mut remaining = l.quantity;
        for (line_no, q, r, d) in lines {
            let take = remaining.min(q - r - d);
            if take == 0 {
                continue;
            }
            remaining -= take;
            let column = match l.condition {
                Condition::Resellable => "received_resellable",
                Condition::Damaged => "received_damaged",
            };
            sqlx::query(&format!(
                "UPDATE rma_lines SET {column} = {column} + $3 WHERE rma_id = $1 AND line_no = $2"
            ))
            .bind(&e.rma_id)
            .bind(line_no)
            .bind(take)
            .execute(&mut *c)
            .await?;
        }
        let (kind, delta) = match l.condition {
            Condition::Resellable => (MovementKind::ReturnRestock, Delta::on_hand(l.quantity)),
            // Damaged goods are in the building but must never be sold.
            Condition::Damaged => (
                MovementKind::Damage,
                Delta {
                    on_hand: l.quantity,
                    unavailable: l.quantity,
                    ..Delta::default()
                },
            ),
        };
        ledger::apply_movement(c, &l.sku, location, kind, delta, &origin).await?;
        skus.push(l.sku.clone());
    }
    sqlx::query("UPDATE rmas SET status = 'received', updated_at = $2 WHERE id = $1")
        .bind(&e.rma_id)
        .bind(micros(ctx.now))
        .execute(&mut *c)
        .await?;
    Ok(Ok(Effects {
        skus,
        received_rma: Some(e.rma_id.clone()),
        shipped_order_submitted_at: None,
    }))
}
