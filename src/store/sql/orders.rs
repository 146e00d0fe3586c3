//! Orders: atomic acceptance, reads, cancellation, ERP state and shipments.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::ledger::{self, Origin};
use super::{
    Dialect, Tx, conn, corrupt, idempotency, instant, micros, outbox, placeholders, woocommerce,
};
use crate::domain::allocation::{Candidate, Demand, allocate};
use crate::domain::order::{
    Allocation, CancelDecision, ErpLink, ErpState, Order, OrderLine, OrderStatus, cancel_decision,
};
use crate::domain::outbound::EventKind;
use crate::domain::quantity::{Delta, MovementKind};
use crate::domain::shipment::{Milestone, Shipment, ShipmentLine, ShipmentStatus};
use crate::store::{AcceptOrder, AcceptOutcome, CancelOutcome, ErpUpdate, StoreResult};

pub(crate) async fn accept(
    tx: &mut Tx,
    dialect: Dialect,
    cmd: &AcceptOrder<'_>,
) -> StoreResult<AcceptOutcome> {
    let c = conn(tx);
    if let Some(state) = idempotency::claim(c, dialect, &cmd.idempotency, cmd.now).await? {
        return Ok(AcceptOutcome::Key(state));
    }
    let req = cmd.request;
    let existing: Option<(String,)> =
        sqlx::query_as("SELECT id FROM orders WHERE channel = $1 AND external_id = $2")
            .bind(&req.channel)
            .bind(&req.external_id)
            .fetch_optional(&mut *c)
            .await?;
    if let Some((id,)) = existing {
        return Ok(AcceptOutcome::DuplicateExternalId(id));
    }
    if let Some(link) = &cmd.woo
        && !woocommerce::link_order(c, link, &cmd.id).await?
    {
        return Ok(AcceptOutcome::Superseded);
    }

    let wanted: Vec<String> = req
        .lines
        .iter()
        .map(|l| l.sku.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let known: BTreeMap<String, bool> = ledger::skus(c, &wanted)
        .await?
        .into_iter()
        .map(|s| (s.sku, s.backorderable))
        .collect();
    let unknown: Vec<String> = wanted
        .iter()
        .filter(|s| !known.contains_key(*s))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Ok(AcceptOutcome::UnknownSkus(unknown));
    }

    let locations: Vec<String> = cmd.locations.iter().map(|(l, _)| l.clone()).collect();
    let rows = ledger::positions(c, &wanted, &locations, dialect.for_update()).await?;
    let candidates: Vec<Candidate> = cmd
        .locations
        .iter()
        .map(|(location, priority)| Candidate {
            location: location.clone(),
            priority: *priority,
            ats: rows
                .iter()
                .filter(|r| &r.location == location)
                .map(|r| (r.sku.clone(), r.position.available_to_sell()))
                .collect(),
        })
        .collect();
    let demand: Vec<Demand> = req
        .lines
        .iter()
        .map(|l| Demand {
            sku: l.sku.clone(),
            quantity: l.quantity,
            backorderable: known[&l.sku] || cmd.backorder_shortages,
        })
        .collect();
    let plans = match allocate(&demand, &candidates) {
        Ok(plans) => plans,
        Err(shortages) => return Ok(AcceptOutcome::Insufficient(shortages)),
    };

    let now = micros(cmd.now);
    sqlx::query(
        "INSERT INTO orders (id, client_id, channel, external_id, status, currency, customer, \
         shipping_address, erp_system, erp_reference, erp_state, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'accepted', $5, $6, $7, $8, NULL, 'pending', $9, $9)",
    )
    .bind(&cmd.id)
    .bind(cmd.client_id)
    .bind(&req.channel)
    .bind(&req.external_id)
    .bind(&req.currency)
    .bind(json(&req.customer)?)
    .bind(json(&req.shipping_address)?)
    .bind(cmd.erp_system)
    .bind(now)
    .execute(&mut *c)
    .await?;

    let origin = Origin {
        source: "order",
        event_id: None,
        reference: Some(&cmd.id),
        at: now,
    };
    let mut lines = Vec::with_capacity(req.lines.len());
    for (line_no, (line, plan)) in req.lines.iter().zip(&plans).enumerate() {
        let line_no = line_no as i64;
        sqlx::query(
            "INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price, backordered, shipped) \
             VALUES ($1, $2, $3, $4, $5, $6, 0)",
        )
        .bind(&cmd.id)
        .bind(line_no)
        .bind(&line.sku)
        .bind(line.quantity)
        .bind(&line.unit_price)
        .bind(plan.backordered)
        .execute(&mut *c)
        .await?;
        for (seq, (location, quantity)) in plan.allocations.iter().enumerate() {
            sqlx::query(
                "INSERT INTO allocations (order_id, line_no, seq, location, quantity, shipped, released) \
                 VALUES ($1, $2, $3, $4, $5, 0, 0)",
            )
            .bind(&cmd.id)
            .bind(line_no)
            .bind(seq as i64)
            .bind(location)
            .bind(*quantity)
            .execute(&mut *c)
            .await?;
            ledger::apply_movement(
                c,
                &line.sku,
                location,
                MovementKind::Reservation,
                Delta::committed(*quantity),
                &origin,
            )
            .await?;
        }
        lines.push(OrderLine {
            sku: line.sku.clone(),
            quantity: line.quantity,
            unit_price: line.unit_price.clone(),
            allocations: plan
                .allocations
                .iter()
                .map(|(location, quantity)| Allocation {
                    location: location.clone(),
                    quantity: *quantity,
                })
                .collect(),
            backordered: plan.backordered,
            shipped: 0,
        });
    }
    let order = Order {
        id: cmd.id.clone(),
        status: OrderStatus::Accepted,
        channel: req.channel.clone(),
        external_id: req.external_id.clone(),
        currency: req.currency.clone(),
        customer: req.customer.clone(),
        shipping_address: req.shipping_address.clone(),
        lines,
        erp: ErpLink {
            system: cmd.erp_system.to_owned(),
            reference: None,
            state: ErpState::Pending,
        },
        created_at: instant(now),
        updated_at: instant(now),
    };
    outbox::append(
        c,
        EventKind::OrderAccepted,
        &order.id,
        &order,
        cmd.traceparent,
        now,
    )
    .await?;
    let reserved: Vec<String> = order
        .lines
        .iter()
        .filter(|l| !l.allocations.is_empty())
        .map(|l| l.sku.clone())
        .collect();
    outbox::stock_changed(c, &reserved, cmd.traceparent, now).await?;
    idempotency::complete(c, &cmd.idempotency, &order).await?;
    Ok(AcceptOutcome::Accepted(Box::new(order)))
}

pub(crate) async fn load(c: &mut AnyConnection, id: &str) -> StoreResult<Option<Order>> {
    let Some(r) = sqlx::query(
        "SELECT id, channel, external_id, status, currency, customer, shipping_address, erp_system, \
         erp_reference, erp_state, created_at, updated_at FROM orders WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await?
    else {
        return Ok(None);
    };
    let mut allocations: BTreeMap<i64, Vec<Allocation>> = BTreeMap::new();
    for a in sqlx::query(
        "SELECT line_no, location, quantity - released AS quantity FROM allocations \
         WHERE order_id = $1 ORDER BY line_no, seq",
    )
    .bind(id)
    .fetch_all(&mut *c)
    .await?
    {
        let quantity: i64 = a.try_get("quantity")?;
        if quantity > 0 {
            allocations
                .entry(a.try_get("line_no")?)
                .or_default()
                .push(Allocation {
                    location: a.try_get("location")?,
                    quantity,
                });
        }
    }
    let lines = sqlx::query(
        "SELECT line_no, sku, quantity, unit_price, backordered, shipped FROM order_lines \
         WHERE order_id = $1 ORDER BY line_no",
    )
    .bind(id)
    .fetch_all(&mut *c)
    .await?
    .iter()
    .map(|l| {
        Ok(OrderLine {
            sku: l.try_get("sku")?,
            quantity: l.try_get("quantity")?,
            unit_price: l.try_get("unit_price")?,
            allocations: allocations
                .remove(&l.try_get::<i64, _>("line_no")?)
                .unwrap_or_default(),
            backordered: l.try_get("backordered")?,
            shipped: l.try_get("shipped")?,
        })
    })
    .collect::<StoreResult<Vec<_>>>()?;
    let status: String = r.try_get("status")?;
    let erp_state: String = r.try_get("erp_state")?;
    Ok(Some(Order {
        id: r.try_get("id")?,
        status: OrderStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("order status {status}")))?,
        channel: r.try_get("channel")?,
        external_id: r.try_get("external_id")?,
        currency: r.try_get("currency")?,
        customer: from_json(&r.try_get::<String, _>("customer")?)?,
        shipping_address: from_json(&r.try_get::<String, _>("shipping_address")?)?,
        lines,
        erp: ErpLink {
            system: r.try_get("erp_system")?,
            reference: r.try_get("erp_reference")?,
            state: ErpState::parse(&erp_state)
                .ok_or_else(|| corrupt(format!("erp state {erp_state}")))?,
        },
        created_at: instant(r.try_get("created_at")?),
        updated_at: instant(r.try_get("updated_at")?),
    }))
}

pub(crate) async fn by_external_id(
    c: &mut AnyConnection,
    external_id: &str,
    channels: &[String],
) -> StoreResult<Vec<Order>> {
    if channels.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id FROM orders WHERE external_id = $1 AND channel IN ({}) ORDER BY created_at",
        placeholders(2, channels.len())
    );
    let mut q = sqlx::query_as::<_, (String,)>(&sql).bind(external_id);
    for ch in channels {
        q = q.bind(ch);
    }
    let ids = q.fetch_all(&mut *c).await?;
    let mut orders = Vec::with_capacity(ids.len());
    for (id,) in ids {
        orders.extend(load(c, &id).await?);
    }
    Ok(orders)
}

pub(crate) async fn cancel(
    tx: &mut Tx,
    dialect: Dialect,
    id: &str,
    now: OffsetDateTime,
    traceparent: Option<&str>,
) -> StoreResult<CancelOutcome> {
    let c = conn(tx);
    let sql = format!(
        "SELECT status FROM orders WHERE id = $1{}",
        dialect.for_update()
    );
    let Some((status,)) = sqlx::query_as::<_, (String,)>(&sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
    else {
        return Ok(CancelOutcome::NotFound);
    };
    let status =
        OrderStatus::parse(&status).ok_or_else(|| corrupt(format!("order status {status}")))?;
    match cancel_decision(status) {
        CancelDecision::Refuse => return Ok(CancelOutcome::Shipped),
        CancelDecision::AlreadyCancelled => {
            let order = load(c, id)
                .await?
                .ok_or_else(|| corrupt("order vanished"))?;
            return Ok(CancelOutcome::AlreadyCancelled(order));
        }
        CancelDecision::Cancel => {}
    }
    let at = micros(now);
    let origin = Origin {
        source: "order",
        event_id: None,
        reference: Some(id),
        at,
    };
    let open = sqlx::query(
        "SELECT a.line_no, a.seq, a.location, l.sku, a.quantity - a.shipped - a.released AS open \
         FROM allocations a JOIN order_lines l ON l.order_id = a.order_id AND l.line_no = a.line_no \
         WHERE a.order_id = $1 ORDER BY a.line_no, a.seq",
    )
    .bind(id)
    .fetch_all(&mut *c)
    .await?;
    let mut released = Vec::new();
    for a in &open {
        let open: i64 = a.try_get("open")?;
        if open <= 0 {
            continue;
        }
        let (sku, location): (String, String) = (a.try_get("sku")?, a.try_get("location")?);
        released.push(sku.clone());
        ledger::apply_movement(
            c,
            &sku,
            &location,
            MovementKind::Release,
            Delta::committed(-open),
            &origin,
        )
        .await?;
        sqlx::query("UPDATE allocations SET released = released + $4 WHERE order_id = $1 AND line_no = $2 AND seq = $3")
            .bind(id)
            .bind(a.try_get::<i64, _>("line_no")?)
            .bind(a.try_get::<i64, _>("seq")?)
            .bind(open)
            .execute(&mut *c)
            .await?;
    }
    sqlx::query("UPDATE orders SET status = 'cancelled', updated_at = $2 WHERE id = $1")
        .bind(id)
        .bind(at)
        .execute(&mut *c)
        .await?;
    let order = load(c, id)
        .await?
        .ok_or_else(|| corrupt("order vanished"))?;
    outbox::append(c, EventKind::OrderCancelled, id, &order, traceparent, at).await?;
    outbox::stock_changed(c, &released, traceparent, at).await?;
    Ok(CancelOutcome::Cancelled(order))
}

pub(crate) async fn set_erp_states(tx: &mut Tx, updates: &[ErpUpdate], at: i64) -> StoreResult<()> {
    for u in updates {
        // An acknowledged order moves from accepted to submitted; later statuses stay.
        sqlx::query(
            "UPDATE orders SET erp_state = $2, erp_reference = COALESCE($3, erp_reference), \
             status = CASE WHEN status = 'accepted' AND $2 = 'acknowledged' THEN 'submitted' ELSE status END, \
             erp_acknowledged_at = CASE WHEN $2 = 'acknowledged' THEN COALESCE(erp_acknowledged_at, $4) \
             ELSE erp_acknowledged_at END, \
             updated_at = $4 WHERE id = $1",
        )
        .bind(&u.order_id)
        .bind(u.state.as_str())
        .bind(u.reference.as_deref())
        .bind(at)
        .execute(conn(tx))
        .await?;
    }
    Ok(())
}

pub(crate) async fn shipments(c: &mut AnyConnection, order_id: &str) -> StoreResult<Vec<Shipment>> {
    let rows = sqlx::query(
        "SELECT id, reference, status, carrier, tracking_number, tracking_url, shipped_at \
         FROM shipments WHERE order_id = $1 ORDER BY created_at, id",
    )
    .bind(order_id)
    .fetch_all(&mut *c)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: String = r.try_get("id")?;
        let lines = sqlx::query_as::<_, (String, i64)>(
            "SELECT sku, quantity FROM shipment_lines WHERE shipment_id = $1 ORDER BY sku",
        )
        .bind(&id)
        .fetch_all(&mut *c)
        .await?
        .into_iter()
        .map(|(sku, quantity)| ShipmentLine { sku, quantity })
        .collect();
        let milestones = sqlx::query_as::<_, (String, i64, String)>(
            "SELECT status, at, source FROM shipment_milestones WHERE shipment_id = $1 ORDER BY at, id",
        )
        .bind(&id)
        .fetch_all(&mut *c)
        .await?
        .into_iter()
        .map(|(status, at, source)| {
            Ok(Milestone { status: shipment_status(&status)?, at: instant(at), source })
        })
        .collect::<StoreResult<Vec<_>>>()?;
        out.push(Shipment {
            id,
            order_id: order_id.to_owned(),
            reference: r.try_get("reference")?,
            status: shipment_status(&r.try_get::<String, _>("status")?)?,
            carrier: r.try_get("carrier")?,
            tracking_number: r.try_get("tracking_number")?,
            tracking_url: r.try_get("tracking_url")?,
            lines,
            milestones,
            shipped_at: r.try_get::<Option<i64>, _>("shipped_at")?.map(instant),
        });
    }
    Ok(out)
}

pub(crate) fn shipment_status(s: &str) -> StoreResult<ShipmentStatus> {
    ShipmentStatus::parse(s).ok_or_else(|| corrupt(format!("shipment status {s}")))
}

fn json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(corrupt)
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(corrupt)
}
