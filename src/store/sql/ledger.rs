//! Movements and positions: the only code that changes a quantity.

use sqlx::{AnyConnection, Row};

use super::{Dialect, corrupt, instant, micros, placeholders};
use crate::domain::quantity::{Delta, MovementKind, Position};
use crate::store::{ImportSummary, PositionRow, SkuDef, SkuInfo, StockRow, StoreResult};

/// Who caused a movement and on whose behalf.
pub(crate) struct Origin<'a> {
    pub source: &'a str,
    pub event_id: Option<&'a str>,
    /// The order, RMA or import the movement belongs to.
    pub reference: Option<&'a str>,
    pub at: i64,
}

/// Appends one movement and folds it into the position, in the caller's transaction.
pub(crate) async fn apply_movement(
    c: &mut AnyConnection,
    sku: &str,
    location: &str,
    kind: MovementKind,
    d: Delta,
    origin: &Origin<'_>,
) -> StoreResult<()> {
    if d.is_zero() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO movements (sku, location, kind, d_on_hand, d_committed, d_safety_stock, \
         d_unavailable, d_incoming, source, source_event_id, reference, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(sku)
    .bind(location)
    .bind(kind.as_str())
    .bind(d.on_hand)
    .bind(d.committed)
    .bind(d.safety_stock)
    .bind(d.unavailable)
    .bind(d.incoming)
    .bind(origin.source)
    .bind(origin.event_id)
    .bind(origin.reference)
    .bind(origin.at)
    .execute(&mut *c)
    .await?;
    sqlx::query(
        "INSERT INTO positions (sku, location, on_hand, committed, safety_stock, unavailable, \
         incoming, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (sku, location) DO UPDATE SET \
         on_hand = positions.on_hand + excluded.on_hand, \
         committed = positions.committed + excluded.committed, \
         safety_stock = positions.safety_stock + excluded.safety_stock, \
         unavailable = positions.unavailable + excluded.unavailable, \
         incoming = positions.incoming + excluded.incoming, \
         updated_at = excluded.updated_at",
    )
    .bind(sku)
    .bind(location)
    .bind(d.on_hand)
    .bind(d.committed)
    .bind(d.safety_stock)
    .bind(d.unavailable)
    .bind(d.incoming)
    .bind(origin.at)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub(crate) async fn upsert_sku(c: &mut AnyConnection, s: &SkuDef, now: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO skus (sku, name, backorderable, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (sku) DO UPDATE SET name = excluded.name, backorderable = excluded.backorderable",
    )
    .bind(&s.sku)
    .bind(&s.name)
    .bind(i64::from(s.backorderable))
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Rows per multi-row insert while loading an import.
const IMPORT_BATCH: usize = 500;

/// Replaces on-hand (and safety stock where given) with absolute figures, as movements, so
/// that an import is explained in the ledger like any count.
///
/// Set-based: the rows are loaded into a temporary table, then a handful of statements
/// derive the movements from the current positions and update the positions. Row by row,
/// 100,000 rows cost over half a million statements; this way they cost a few hundred.
pub(crate) async fn import(
    c: &mut AnyConnection,
    dialect: Dialect,
    rows: &[StockRow],
    source: &str,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> StoreResult<ImportSummary> {
    let now = micros(time::OffsetDateTime::now_utc());
    sqlx::query(
        "CREATE TEMPORARY TABLE import_rows (sku TEXT NOT NULL, location TEXT NOT NULL, \
         on_hand BIGINT NOT NULL, safety_stock BIGINT, PRIMARY KEY (sku, location))",
    )
    .execute(&mut *c)
    .await?;
    let mut loaded = 0;
    for batch in rows.chunks(IMPORT_BATCH) {
        let values: Vec<String> = (0..batch.len())
            .map(|i| format!("({})", placeholders(i * 4 + 1, 4)))
            .collect();
        let sql = format!(
            "INSERT INTO import_rows (sku, location, on_hand, safety_stock) VALUES {}",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for r in batch {
            q = q
                .bind(&r.sku)
                .bind(&r.location)
                .bind(r.on_hand)
                .bind(r.safety_stock);
        }
        q.execute(&mut *c).await?;
        loaded += batch.len() as u64;
        progress(loaded);
    }
    if let Some(lock) = dialect.import_lock() {
        sqlx::query(lock).execute(&mut *c).await?;
        // The positions about to be replaced must not move under the import (a shipment,
        // say) between reading them for the movements and writing the new figures.
        sqlx::query(&format!(
            "SELECT p.sku FROM positions p JOIN import_rows r ON p.sku = r.sku AND p.location = r.location \
             ORDER BY p.sku, p.location{}",
            dialect.for_update()
        ))
        .execute(&mut *c)
        .await?;
    }
    let skus_created = sqlx::query(
        "INSERT INTO skus (sku, name, backorderable, created_at) \
         SELECT DISTINCT sku, sku, 0, $1 FROM import_rows WHERE true ON CONFLICT (sku) DO NOTHING",
    )
    .bind(now)
    .execute(&mut *c)
    .await?
    .rows_affected();
    // Movements first, while the positions still hold the figures being replaced.
    let counts = sqlx::query(
        "INSERT INTO movements (sku, location, kind, d_on_hand, d_committed, d_safety_stock, \
         d_unavailable, d_incoming, source, source_event_id, reference, at) \
         SELECT r.sku, r.location, 'count', r.on_hand - COALESCE(p.on_hand, 0), 0, 0, 0, 0, $1, NULL, 'import', $2 \
         FROM import_rows r LEFT JOIN positions p ON p.sku = r.sku AND p.location = r.location \
         WHERE r.on_hand <> COALESCE(p.on_hand, 0)",
    )
    .bind(source)
    .bind(now)
    .execute(&mut *c)
    .await?
    .rows_affected();
    let safety = sqlx::query(
        "INSERT INTO movements (sku, location, kind, d_on_hand, d_committed, d_safety_stock, \
         d_unavailable, d_incoming, source, source_event_id, reference, at) \
         SELECT r.sku, r.location, 'safety_stock', 0, 0, r.safety_stock - COALESCE(p.safety_stock, 0), 0, 0, \
         $1, NULL, 'import', $2 \
         FROM import_rows r LEFT JOIN positions p ON p.sku = r.sku AND p.location = r.location \
         WHERE r.safety_stock IS NOT NULL AND r.safety_stock <> COALESCE(p.safety_stock, 0)",
    )
    .bind(source)
    .bind(now)
    .execute(&mut *c)
    .await?
    .rows_affected();
    // A position row exists once something has moved, and only then (the fold has no
    // rows for positions that never moved).
    sqlx::query(
        "INSERT INTO positions (sku, location, on_hand, committed, safety_stock, unavailable, incoming, updated_at) \
         SELECT sku, location, 0, 0, 0, 0, 0, $1 FROM import_rows \
         WHERE on_hand <> 0 OR COALESCE(safety_stock, 0) <> 0 \
         ON CONFLICT (sku, location) DO NOTHING",
    )
    .bind(now)
    .execute(&mut *c)
    .await?;
    sqlx::query(
        "UPDATE positions SET on_hand = r.on_hand, \
         safety_stock = COALESCE(r.safety_stock, positions.safety_stock), updated_at = $1 \
         FROM import_rows r WHERE positions.sku = r.sku AND positions.location = r.location \
         AND (positions.on_hand <> r.on_hand \
              OR (r.safety_stock IS NOT NULL AND positions.safety_stock <> r.safety_stock))",
    )
    .bind(now)
    .execute(&mut *c)
    .await?;
    // Every SKU the import moved tells the channels, like any other movement.
    let moved: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT r.sku FROM import_rows r JOIN movements m ON m.sku = r.sku AND m.location = r.location \
         AND m.at = $1 AND m.reference = 'import' ORDER BY r.sku",
    )
    .bind(now)
    .fetch_all(&mut *c)
    .await?;
    let moved: Vec<String> = moved.into_iter().map(|(s,)| s).collect();
    super::outbox::stock_changed(c, &moved, None, now).await?;
    sqlx::query("DROP TABLE import_rows")
        .execute(&mut *c)
        .await?;
    Ok(ImportSummary {
        rows: loaded,
        skus_created,
        movements: counts + safety,
    })
}

pub(crate) async fn skus(c: &mut AnyConnection, skus: &[String]) -> StoreResult<Vec<SkuInfo>> {
    if skus.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT sku, backorderable FROM skus WHERE sku IN ({})",
        placeholders(1, skus.len())
    );
    let mut q = sqlx::query(&sql);
    for s in skus {
        q = q.bind(s);
    }
    q.fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| {
            Ok(SkuInfo {
                sku: r.try_get("sku")?,
                backorderable: r.try_get::<i64, _>("backorderable")? != 0,
            })
        })
        .collect()
}

/// One position, zero when it has never moved.
pub(crate) async fn position(
    c: &mut AnyConnection,
    sku: &str,
    location: &str,
    lock: &str,
) -> StoreResult<Position> {
    let sql = format!(
        "SELECT sku, location, on_hand, committed, safety_stock, unavailable, incoming, updated_at, as_of \
         FROM positions WHERE sku = $1 AND location = $2{lock}"
    );
    let row = sqlx::query(&sql)
        .bind(sku)
        .bind(location)
        .fetch_optional(&mut *c)
        .await?;
    Ok(row
        .map(|r| position_row(&r))
        .transpose()?
        .map(|p| p.position)
        .unwrap_or_default())
}

/// Positions of the given SKUs at the given locations, ordered by SKU then location (the
/// fixed order in which PostgreSQL takes row locks, so two reservations never deadlock).
pub(crate) async fn positions(
    c: &mut AnyConnection,
    skus: &[String],
    locations: &[String],
    lock: &str,
) -> StoreResult<Vec<PositionRow>> {
    if skus.is_empty() || locations.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT sku, location, on_hand, committed, safety_stock, unavailable, incoming, updated_at, as_of \
         FROM positions WHERE sku IN ({}) AND location IN ({}) ORDER BY sku, location{lock}",
        placeholders(1, skus.len()),
        placeholders(skus.len() + 1, locations.len()),
    );
    let mut q = sqlx::query(&sql);
    for s in skus.iter().chain(locations) {
        q = q.bind(s);
    }
    q.fetch_all(&mut *c)
        .await?
        .iter()
        .map(position_row)
        .collect()
}

/// Every location's position of the given SKUs.
pub(crate) async fn positions_of(
    c: &mut AnyConnection,
    skus: &[String],
) -> StoreResult<Vec<PositionRow>> {
    if skus.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT sku, location, on_hand, committed, safety_stock, unavailable, incoming, updated_at, as_of \
         FROM positions WHERE sku IN ({}) ORDER BY sku, location",
        placeholders(1, skus.len())
    );
    let mut q = sqlx::query(&sql);
    for s in skus {
        q = q.bind(s);
    }
    q.fetch_all(&mut *c)
        .await?
        .iter()
        .map(position_row)
        .collect()
}

pub(crate) async fn all_positions(c: &mut AnyConnection) -> StoreResult<Vec<PositionRow>> {
    sqlx::query(
        "SELECT sku, location, on_hand, committed, safety_stock, unavailable, incoming, updated_at, as_of \
         FROM positions ORDER BY sku, location",
    )
    .fetch_all(&mut *c)
    .await?
    .iter()
    .map(position_row)
    .collect()
}

pub(crate) async fn fold(c: &mut AnyConnection) -> StoreResult<Vec<PositionRow>> {
    sqlx::query(
        "SELECT sku, location, CAST(SUM(d_on_hand) AS BIGINT) AS on_hand, CAST(SUM(d_committed) AS BIGINT) AS committed, \
         CAST(SUM(d_safety_stock) AS BIGINT) AS safety_stock, CAST(SUM(d_unavailable) AS BIGINT) AS unavailable, \
         CAST(SUM(d_incoming) AS BIGINT) AS incoming, CAST(MAX(at) AS BIGINT) AS updated_at \
         FROM movements GROUP BY sku, location ORDER BY sku, location",
    )
    .fetch_all(&mut *c)
    .await?
    .iter()
    .map(position_row)
    .collect()
}

fn position_row(r: &sqlx::any::AnyRow) -> StoreResult<PositionRow> {
    let n = |col: &str| r.try_get::<i64, _>(col);
    let row = PositionRow {
        sku: r.try_get("sku")?,
        location: r.try_get("location")?,
        position: Position {
            on_hand: n("on_hand")?,
            committed: n("committed")?,
            safety_stock: n("safety_stock")?,
            unavailable: n("unavailable")?,
            incoming: n("incoming")?,
        },
        updated_at: instant(n("updated_at")?),
        // The fold has no such column: a ledger position owns its own figures.
        as_of: r
            .try_get::<Option<i64>, _>("as_of")
            .ok()
            .flatten()
            .map(instant),
    };
    if !row.position.is_consistent() {
        return Err(corrupt(format!(
            "negative bucket at {} / {}",
            row.sku, row.location
        )));
    }
    Ok(row)
}
