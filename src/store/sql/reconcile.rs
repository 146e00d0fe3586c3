//! Reconciliation runs and the ledger-side figures they compare.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{SqlStore, conn, corrupt, instant, micros, outbox, placeholders, projection, write_tx};
use crate::domain::outbound::EventKind;
use crate::domain::reconcile::{DriftDetected, Variance};
use crate::store::{CarriedCount, ReconcileStore, Run, RunState, StoreResult};

/// The movements a warehouse's count is carried forward by: goods that physically came,
/// went or were set aside since. Projection take-overs and other counts are not among them:
/// they are what the comparison is looking for.
const PHYSICAL_FLOWS: &str = "('receipt', 'shipment', 'return_restock', 'damage', 'adjustment')";

/// Where a channel's figure is kept: it has no single location.
const CHANNEL_WIDE: &str = "*";

const RUN_COLUMNS: &str =
    "id, started_by, state, started_at, finished_at, skus, compared, drifted, corrected, error";

fn run_of(r: &AnyRow) -> StoreResult<Run> {
    let state: String = r.try_get("state")?;
    let count = |c: &str| -> StoreResult<u64> {
        u64::try_from(r.try_get::<i64, _>(c)?).map_err(|_| corrupt(format!("run {c}")))
    };
    let mut run = Run {
        id: r.try_get("id")?,
        started_by: r.try_get("started_by")?,
        state: RunState::parse(&state).ok_or_else(|| corrupt(format!("run state {state}")))?,
        started_at: instant(r.try_get("started_at")?),
        finished_at: r.try_get::<Option<i64>, _>("finished_at")?.map(instant),
        skus: count("skus")?,
        compared: count("compared")?,
        drifted: count("drifted")?,
        drift_ratio: 0.0,
        corrected: count("corrected")?,
        error: r.try_get("error")?,
    };
    run.settle_ratio();
    Ok(run)
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

async fn update_run(c: &mut AnyConnection, run: &Run) -> StoreResult<()> {
    sqlx::query(
        "UPDATE reconciliation_runs SET state = $1, finished_at = $2, skus = $3, compared = $4, \
         drifted = $5, corrected = $6, error = $7 WHERE id = $8",
    )
    .bind(run.state.as_str())
    .bind(run.finished_at.map(micros))
    .bind(signed(run.skus))
    .bind(signed(run.compared))
    .bind(signed(run.drifted))
    .bind(signed(run.corrected))
    .bind(&run.error)
    .bind(&run.id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

#[async_trait]
impl ReconcileStore for SqlStore {
    async fn catalog_size(&self) -> StoreResult<u64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM skus")
            .fetch_one(&self.read)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn unacknowledged_holds(
        &self,
        skus: &[String],
    ) -> StoreResult<HashMap<(String, String), i64>> {
        let mut c = self.read.acquire().await?;
        // Everything acknowledged before now is in the ERP's figures read just before.
        projection::held_locally(&mut c, skus, micros(OffsetDateTime::now_utc())).await
    }

    async fn carried_counts(&self, skus: &[String]) -> StoreResult<Vec<CarriedCount>> {
        if skus.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT c.sku AS sku, c.location AS location, c.source AS source, \
             c.counted_at AS at, c.on_hand + \
             (SELECT CAST(COALESCE(SUM(m.d_on_hand), 0) AS BIGINT) FROM movements m \
              WHERE m.sku = c.sku AND m.location = c.location AND m.id > c.after_movement \
              AND m.kind IN {PHYSICAL_FLOWS}) AS carried \
             FROM count_sequences c WHERE c.on_hand IS NOT NULL AND c.sku IN ({})",
            placeholders(1, skus.len()),
        );
        let mut q = sqlx::query(&sql);
        for s in skus {
            q = q.bind(s);
        }
        let rows = q.fetch_all(&self.read).await?;
        rows.iter()
            .map(|r| {
                Ok(CarriedCount {
                    sku: r.try_get("sku")?,
                    location: r.try_get("location")?,
                    source: r.try_get("source")?,
                    counted_at: instant(r.try_get("at")?),
                    on_hand: r.try_get("carried")?,
                })
            })
            .collect()
    }

    async fn begin_run(&self, run: &Run) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO reconciliation_runs (id, started_by, state, started_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&run.id)
        .bind(&run.started_by)
        .bind(run.state.as_str())
        .bind(micros(run.started_at))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn record_variances(&self, run: &Run, variances: &[Variance]) -> StoreResult<()> {
        write_tx!(
            self,
            |tx| {
                let c = conn(&mut tx);
                let mut result = Ok(());
                for v in variances {
                    let done = sqlx::query(
                        "INSERT INTO reconciliation_variances \
                         (run_id, source, sku, location, stockade, other, variance, over_threshold) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (run_id, source, sku, location) DO NOTHING",
                    )
                    .bind(&run.id)
                    .bind(&v.source)
                    .bind(&v.sku)
                    .bind(v.location.as_deref().unwrap_or(CHANNEL_WIDE))
                    .bind(v.stockade)
                    .bind(v.other)
                    .bind(v.variance)
                    .bind(i64::from(v.over_threshold))
                    .execute(&mut *c)
                    .await;
                    if let Err(e) = done {
                        result = Err(e.into());
                        break;
                    }
                }
                match result {
                    Ok(()) => update_run(c, run).await,
                    Err(e) => Err(e),
                }
            },
            |_: &_| true
        )
    }

    async fn finish_run(&self, run: &Run, drift: Option<&DriftDetected>) -> StoreResult<()> {
        let now = micros(OffsetDateTime::now_utc());
        write_tx!(
            self,
            |tx| {
                let c = conn(&mut tx);
                match update_run(c, run).await {
                    Ok(()) => match drift {
                        Some(d) => {
                            outbox::append(c, EventKind::DriftDetected, &run.id, d, None, now)
                                .await
                                .map(drop)
                        }
                        None => Ok(()),
                    },
                    Err(e) => Err(e),
                }
            },
            |_: &_| true
        )
    }

    async fn runs(&self, limit: u32) -> StoreResult<Vec<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM reconciliation_runs ORDER BY started_at DESC, id DESC LIMIT $1"
        );
        let rows = sqlx::query(&sql)
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(run_of).collect()
    }

    async fn run(&self, id: &str) -> StoreResult<Option<Run>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM reconciliation_runs WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(run_of).transpose()
    }

    async fn variances(&self, run_id: &str, limit: u32) -> StoreResult<Vec<Variance>> {
        let rows = sqlx::query(
            "SELECT source, sku, location, stockade, other, variance, over_threshold \
             FROM reconciliation_variances WHERE run_id = $1 \
             ORDER BY over_threshold DESC, ABS(variance) DESC, source, sku, location LIMIT $2",
        )
        .bind(run_id)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                let location: String = r.try_get("location")?;
                Ok(Variance {
                    sku: r.try_get("sku")?,
                    location: (location != CHANNEL_WIDE).then_some(location),
                    source: r.try_get("source")?,
                    stockade: r.try_get("stockade")?,
                    other: r.try_get("other")?,
                    variance: r.try_get("variance")?,
                    over_threshold: r.try_get::<i64, _>("over_threshold")? != 0,
                })
            })
            .collect()
    }
}
