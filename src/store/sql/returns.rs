//! Return authorizations.

use std::collections::BTreeMap;

use sqlx::{AnyConnection, Row};

use super::{Dialect, Tx, conn, corrupt, idempotency, instant, micros, outbox};
use crate::domain::outbound::EventKind;
use crate::domain::rma::{Returnable, Rma, RmaLine, RmaStatus, check_return};
use crate::store::{AuthorizeOutcome, AuthorizeReturn, RmaRecord, StoreResult};

pub(crate) async fn authorize(
    tx: &mut Tx,
    dialect: Dialect,
    cmd: &AuthorizeReturn<'_>,
) -> StoreResult<AuthorizeOutcome> {
    let c = conn(tx);
    if let Some(state) = idempotency::claim(c, dialect, &cmd.idempotency, cmd.now).await? {
        return Ok(AuthorizeOutcome::Key(state));
    }
    let order_id = &cmd.request.order_id;
    let sql = format!(
        "SELECT id FROM orders WHERE id = $1{}",
        dialect.for_update()
    );
    if sqlx::query(&sql)
        .bind(order_id)
        .fetch_optional(&mut *c)
        .await?
        .is_none()
    {
        return Ok(AuthorizeOutcome::OrderNotFound);
    }
    let returnable = returnable(c, order_id).await?;
    if let Err(rule) = check_return(cmd.request, &returnable, cmd.window_days, cmd.now) {
        return Ok(AuthorizeOutcome::Broken(rule));
    }

    let now = micros(cmd.now);
    sqlx::query(
        "INSERT INTO rmas (id, order_id, client_id, status, refund_reference, created_at, updated_at) \
         VALUES ($1, $2, $3, 'authorized', NULL, $4, $4)",
    )
    .bind(&cmd.id)
    .bind(order_id)
    .bind(cmd.client_id)
    .bind(now)
    .execute(&mut *c)
    .await?;
    let mut lines = Vec::with_capacity(cmd.request.lines.len());
    for (line_no, l) in cmd.request.lines.iter().enumerate() {
        sqlx::query(
            "INSERT INTO rma_lines (rma_id, line_no, sku, quantity, reason, received_resellable, \
             received_damaged) VALUES ($1, $2, $3, $4, $5, 0, 0)",
        )
        .bind(&cmd.id)
        .bind(line_no as i64)
        .bind(&l.sku)
        .bind(l.quantity)
        .bind(&l.reason)
        .execute(&mut *c)
        .await?;
        lines.push(RmaLine {
            sku: l.sku.clone(),
            quantity: l.quantity,
            reason: l.reason.clone(),
            received_resellable: 0,
            received_damaged: 0,
        });
    }
    let rma = Rma {
        id: cmd.id.clone(),
        order_id: order_id.clone(),
        status: RmaStatus::Authorized,
        lines,
        refund_reference: None,
        created_at: instant(now),
        updated_at: instant(now),
    };
    outbox::append(
        c,
        EventKind::ReturnAuthorized,
        order_id,
        &rma,
        cmd.traceparent,
        now,
    )
    .await?;
    idempotency::complete(c, &cmd.idempotency, &rma).await?;
    Ok(AuthorizeOutcome::Authorized(rma))
}

/// Shipped, already authorized and last shipment date, per SKU of the order.
async fn returnable(
    c: &mut AnyConnection,
    order_id: &str,
) -> StoreResult<BTreeMap<String, Returnable>> {
    let mut out: BTreeMap<String, Returnable> = BTreeMap::new();
    let shipped = sqlx::query_as::<_, (String, i64)>(
        "SELECT sku, CAST(SUM(shipped) AS BIGINT) FROM order_lines WHERE order_id = $1 GROUP BY sku",
    )
    .bind(order_id)
    .fetch_all(&mut *c)
    .await?;
    for (sku, n) in shipped {
        out.entry(sku).or_default().shipped = n;
    }
    let authorized = sqlx::query_as::<_, (String, i64)>(
        "SELECT l.sku, CAST(SUM(l.quantity) AS BIGINT) FROM rma_lines l JOIN rmas r ON r.id = l.rma_id \
         WHERE r.order_id = $1 AND r.status IN ('authorized', 'received', 'refunded') GROUP BY l.sku",
    )
    .bind(order_id)
    .fetch_all(&mut *c)
    .await?;
    for (sku, n) in authorized {
        out.entry(sku).or_default().authorized = n;
    }
    let last = sqlx::query_as::<_, (String, i64)>(
        "SELECT l.sku, CAST(MAX(s.shipped_at) AS BIGINT) FROM shipment_lines l \
         JOIN shipments s ON s.id = l.shipment_id \
         WHERE s.order_id = $1 AND s.shipped_at IS NOT NULL GROUP BY l.sku",
    )
    .bind(order_id)
    .fetch_all(&mut *c)
    .await?;
    for (sku, at) in last {
        out.entry(sku).or_default().last_shipped_at = Some(instant(at));
    }
    Ok(out)
}

pub(crate) async fn load(c: &mut AnyConnection, id: &str) -> StoreResult<Option<RmaRecord>> {
    let Some(r) = sqlx::query(
        "SELECT r.id, r.order_id, r.status, r.refund_reference, r.created_at, r.updated_at, o.channel \
         FROM rmas r JOIN orders o ON o.id = r.order_id WHERE r.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await?
    else {
        return Ok(None);
    };
    let lines = sqlx::query(
        "SELECT sku, quantity, reason, received_resellable, received_damaged FROM rma_lines \
         WHERE rma_id = $1 ORDER BY line_no",
    )
    .bind(id)
    .fetch_all(&mut *c)
    .await?
    .iter()
    .map(|l| {
        Ok(RmaLine {
            sku: l.try_get("sku")?,
            quantity: l.try_get("quantity")?,
            reason: l.try_get("reason")?,
            received_resellable: l.try_get("received_resellable")?,
            received_damaged: l.try_get("received_damaged")?,
        })
    })
    .collect::<StoreResult<Vec<_>>>()?;
    let status: String = r.try_get("status")?;
    Ok(Some(RmaRecord {
        channel: r.try_get("channel")?,
        rma: Rma {
            id: r.try_get("id")?,
            order_id: r.try_get("order_id")?,
            status: RmaStatus::parse(&status)
                .ok_or_else(|| corrupt(format!("rma status {status}")))?,
            lines,
            refund_reference: r.try_get("refund_reference")?,
            created_at: instant(r.try_get("created_at")?),
            updated_at: instant(r.try_get("updated_at")?),
        },
    }))
}
