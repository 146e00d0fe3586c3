//! The ERP projection: the ERP's figures taken over into the positions, as movements, with
//! the reservations of orders the ERP does not count yet kept subtracted on top.
//!
//! The hand-over rule: a snapshot taken at `T` counts, in the ERP's committed figure,
//! every order the ERP acknowledged before `T`. Such an order's reservation is therefore
//! the ERP's from that snapshot on; every other open reservation is still Stockade's
//! alone and is added to the ERP's figure. Acknowledgement times are recorded after the
//! ERP answered, so an order created in the ERP just before a snapshot but acknowledged
//! just after is counted twice for one sweep (too cautious) and never not at all.

use std::collections::HashMap;

use sqlx::{AnyConnection, Row};

use super::ledger::{self, Origin};
use super::{Dialect, Tx, conn, micros, outbox, placeholders};
use crate::domain::quantity::{Delta, MovementKind, Position};
use crate::store::{ProjectionOutcome, ProjectionSnapshot, StoreResult};

pub(crate) async fn catalog_page(
    c: &mut AnyConnection,
    after: Option<&str>,
    limit: u32,
) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT sku FROM skus WHERE sku > $1 ORDER BY sku LIMIT $2")
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&mut *c)
            .await?;
    Ok(rows.into_iter().map(|(s,)| s).collect())
}

pub(crate) async fn apply(
    tx: &mut Tx,
    dialect: Dialect,
    snap: &ProjectionSnapshot<'_>,
    now: i64,
) -> StoreResult<ProjectionOutcome> {
    let c = conn(tx);
    let taken_at = micros(snap.taken_at);
    // Locked first, in SKU order like an order acceptance, so the two never deadlock.
    let current = ledger::positions(c, snap.skus, snap.locations, dialect.for_update()).await?;
    let held = held_locally(c, snap.skus, taken_at).await?;
    let reported: HashMap<(&str, &str), Position> = snap
        .figures
        .iter()
        .map(|r| ((r.sku.as_str(), r.location.as_str()), r.position))
        .collect();
    let source = format!("erp:{}", snap.system);
    let origin = Origin {
        source: &source,
        event_id: None,
        reference: None,
        at: now,
    };
    let mut outcome = ProjectionOutcome::default();
    let mut confirmed = Vec::new();
    for sku in snap.skus {
        for location in snap.locations {
            let key = (sku.as_str(), location.as_str());
            let row = current
                .iter()
                .find(|r| r.sku == *sku && r.location == *location);
            if row.and_then(|r| r.as_of).is_some_and(|t| t > snap.taken_at) {
                outcome.superseded += 1;
                continue;
            }
            let erp = reported.get(&key).copied().unwrap_or_default().floored();
            let local = held
                .get(&(sku.clone(), location.clone()))
                .copied()
                .unwrap_or(0);
            let was = row.map(|r| r.position).unwrap_or_default();
            let target = Position {
                on_hand: erp.on_hand,
                committed: erp.committed + local,
                safety_stock: was.safety_stock,
                unavailable: erp.unavailable,
                incoming: erp.incoming,
            };
            outcome.held_locally += local;
            if row.is_none() && target == Position::default() {
                continue;
            }
            let d = difference(target, was);
            ledger::apply_movement(c, sku, location, MovementKind::Projection, d, &origin).await?;
            if !d.is_zero() && outcome.changed.last() != Some(sku) {
                outcome.changed.push(sku.clone());
            }
            confirmed.push(key);
        }
    }
    mark_confirmed(c, &confirmed, taken_at).await?;
    if !outcome.changed.is_empty() {
        outbox::stock_changed(c, &outcome.changed, None, now).await?;
    }
    Ok(outcome)
}

/// The movement that takes a position from `was` to `target`.
fn difference(target: Position, was: Position) -> Delta {
    Delta {
        on_hand: target.on_hand - was.on_hand,
        committed: target.committed - was.committed,
        safety_stock: target.safety_stock - was.safety_stock,
        unavailable: target.unavailable - was.unavailable,
        incoming: target.incoming - was.incoming,
    }
}

/// Open reservations per (sku, location) of the orders a snapshot taken at `taken_at`
/// does not count: not acknowledged by the ERP, or acknowledged after it.
pub(crate) async fn held_locally(
    c: &mut AnyConnection,
    skus: &[String],
    taken_at: i64,
) -> StoreResult<HashMap<(String, String), i64>> {
    if skus.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT l.sku AS sku, a.location AS location, \
         CAST(SUM(a.quantity - a.shipped - a.released) AS BIGINT) AS open \
         FROM allocations a \
         JOIN order_lines l ON l.order_id = a.order_id AND l.line_no = a.line_no \
         JOIN orders o ON o.id = a.order_id \
         WHERE l.sku IN ({}) AND a.quantity - a.shipped - a.released > 0 \
         AND NOT (o.erp_state = 'acknowledged' AND COALESCE(o.erp_acknowledged_at, 0) <= ${}) \
         GROUP BY l.sku, a.location",
        placeholders(1, skus.len()),
        skus.len() + 1,
    );
    let mut q = sqlx::query(&sql);
    for s in skus {
        q = q.bind(s);
    }
    let rows = q.bind(taken_at).fetch_all(&mut *c).await?;
    rows.iter()
        .map(|r| {
            Ok((
                (r.try_get("sku")?, r.try_get("location")?),
                r.try_get::<i64, _>("open")?,
            ))
        })
        .collect()
}

/// Records that the ERP vouched for these positions as of `taken_at`.
async fn mark_confirmed(
    c: &mut AnyConnection,
    positions: &[(&str, &str)],
    taken_at: i64,
) -> StoreResult<()> {
    for chunk in positions.chunks(400) {
        let pairs = (0..chunk.len())
            .map(|i| format!("(sku = ${} AND location = ${})", 2 * i + 2, 2 * i + 3))
            .collect::<Vec<_>>()
            .join(" OR ");
        let sql = format!("UPDATE positions SET as_of = $1 WHERE {pairs}");
        let mut q = sqlx::query(&sql).bind(taken_at);
        for (sku, location) in chunk {
            q = q.bind(*sku).bind(*location);
        }
        q.execute(&mut *c).await?;
    }
    Ok(())
}
