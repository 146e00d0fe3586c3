//! What reconciliation keeps and reads: its runs with their variances, and the figures it
//! compares that only the ledger knows (the warehouses' last counts, the reservations the
//! ERP does not count yet). Behind its own trait so the core ledger's stays about the ledger.

use std::collections::HashMap;

use async_trait::async_trait;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::StoreResult;
use crate::domain::reconcile::{DriftDetected, Variance, drift_ratio};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Running,
    Finished,
    /// Stopped by an error (an ERP or store that could not be read); what it compared
    /// before stopping is kept.
    Failed,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Finished => "finished",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Running, Self::Finished, Self::Failed]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One reconciliation run.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({"id": "rec_01JF0A2B3C4D5E6F7G8H9J0K1M", "started_by": "api",
    "state": "finished", "started_at": "2026-12-03T03:00:00Z", "finished_at": "2026-12-03T03:00:41Z",
    "skus": 100000, "compared": 300412, "drifted": 3, "drift_ratio": 0.00000999, "corrected": 1,
    "error": null}))]
pub struct Run {
    pub id: String,
    /// `schedule`, `cli` or `api`.
    pub started_by: String,
    pub state: RunState,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// SKUs of the catalog gone through.
    pub skus: u64,
    /// Figures compared: one per SKU, location and other system.
    pub compared: u64,
    /// Figures whose variance is over the policy's threshold.
    pub drifted: u64,
    /// `drifted / compared`.
    pub drift_ratio: f64,
    /// Channel figures rewritten with Stockade's.
    pub corrected: u64,
    pub error: Option<String>,
}

impl Run {
    pub fn new(id: String, started_by: &str, started_at: OffsetDateTime) -> Self {
        Self {
            id,
            started_by: started_by.to_owned(),
            state: RunState::Running,
            started_at,
            finished_at: None,
            skus: 0,
            compared: 0,
            drifted: 0,
            drift_ratio: 0.0,
            corrected: 0,
            error: None,
        }
    }

    /// Sets `drift_ratio` from the counts.
    pub fn settle_ratio(&mut self) {
        self.drift_ratio = drift_ratio(self.drifted, self.compared);
    }
}

/// A position's last count by a warehouse, carried forward by the physical flows
/// recorded after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarriedCount {
    pub sku: String,
    pub location: String,
    /// The event source that counted it.
    pub source: String,
    pub counted_at: OffsetDateTime,
    /// What the count said, plus shipments, receipts, restocked returns, damage and
    /// adjustments since.
    pub on_hand: i64,
}

#[async_trait]
pub trait ReconcileStore: Send + Sync {
    async fn catalog_size(&self) -> StoreResult<u64>;
    /// The open reservations per (sku, location) of orders the ERP has not acknowledged.
    async fn unacknowledged_holds(
        &self,
        skus: &[String],
    ) -> StoreResult<HashMap<(String, String), i64>>;
    /// Each source's last `stock.counted` of these SKUs' positions, carried forward.
    async fn carried_counts(&self, skus: &[String]) -> StoreResult<Vec<CarriedCount>>;

    async fn begin_run(&self, run: &Run) -> StoreResult<()>;
    /// Records some of a run's variances and its counts so far.
    async fn record_variances(&self, run: &Run, variances: &[Variance]) -> StoreResult<()>;
    /// Settles the run; a `drift.detected` event, when there is one, goes into the outbox
    /// in the same transaction.
    async fn finish_run(&self, run: &Run, drift: Option<&DriftDetected>) -> StoreResult<()>;
    /// The newest runs first.
    async fn runs(&self, limit: u32) -> StoreResult<Vec<Run>>;
    async fn run(&self, id: &str) -> StoreResult<Option<Run>>;
    /// A run's variances, those over the threshold first, then by size.
    async fn variances(&self, run_id: &str, limit: u32) -> StoreResult<Vec<Variance>>;
}
