//! The projection of the ERP's stock. When an ERP is the system of record, a sweep reads
//! its figures for the whole catalog at every declared location, a page of SKUs at a
//! time, and takes them over into the positions with the time they were read (`as_of`),
//! which availability answers report and channels' freshness bounds judge. Orders the
//! ERP does not count yet stay subtracted locally until a snapshot shows them committed
//! (the hand-over rule is in the store's projection module).

use std::sync::Arc;
use std::time::Duration;

use crate::adapters::AdapterError;
use crate::adapters::http::in_span;
use crate::domain::time::now;
use crate::store::{ProjectionSnapshot, StoreError};

use super::Services;

/// How often and in what steps the catalog is swept.
#[derive(Debug, Clone, Copy)]
pub struct ProjectionSettings {
    pub interval: Duration,
    /// SKUs per ERP read; the adapter pages within its vendor's limits below that.
    pub skus_per_read: u32,
}

impl Default for ProjectionSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            skus_per_read: 200,
        }
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub skus: u64,
    /// SKUs whose figures changed.
    pub changed: u64,
    /// Positions a newer snapshot (another instance's) had already set.
    pub superseded: u64,
    /// Units reserved for orders the ERP did not count yet, over the whole catalog.
    pub held_locally: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("the ERP's stock could not be read: {0}")]
    Erp(#[from] AdapterError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The lease of the sweep, held by the instance that sweeps for the cluster.
pub const PROJECTION_JOB: &str = "projection";

/// Pages between two progress lines of a long sweep.
const PROGRESS_EVERY: u64 = 25;

impl Services {
    /// Reads the ERP's figures for every SKU of the catalog and takes them over. A failed
    /// read stops the sweep: what was taken over stays, with its own `as_of`.
    pub async fn sweep_projection(&self, skus_per_read: u32) -> Result<SweepReport, SweepError> {
        let locations = self.policies.location_codes();
        let mut report = SweepReport::default();
        let mut after: Option<String> = None;
        let mut pages = 0_u64;
        let started = now();
        loop {
            let skus = self
                .store
                .catalog_page(after.as_deref(), skus_per_read.max(1))
                .await?;
            let Some(last) = skus.last().cloned() else {
                break;
            };
            let taken_at = now();
            let figures = self.erp.stock_levels(&skus, &locations).await?;
            let outcome = self
                .take_over(&ProjectionSnapshot {
                    system: self.erp.system(),
                    taken_at,
                    skus: &skus,
                    locations: &locations,
                    figures: &figures,
                })
                .await?;
            report.skus += skus.len() as u64;
            report.changed += outcome.changed.len() as u64;
            report.superseded += outcome.superseded;
            report.held_locally += outcome.held_locally;
            pages += 1;
            if pages % PROGRESS_EVERY == 0 {
                tracing::info!(
                    skus = report.skus,
                    changed = report.changed,
                    "projection sweep in progress"
                );
            }
            after = Some(last);
        }
        // The sweep's oldest figure was read when it started: that is how fresh the
        // ERP's figures are, all of them.
        let source = format!("erp:{}", self.erp.system());
        self.metrics.stock_updated(&source, started);
        // For the other instances, which report the figures' age too.
        self.store.round_done(PROJECTION_JOB, started).await?;
        Ok(report)
    }
}

impl Services {
    /// Takes a snapshot of the ERP's figures over, and tells caches and the dispatcher
    /// about the SKUs that moved.
    pub(crate) async fn take_over(
        &self,
        snapshot: &ProjectionSnapshot<'_>,
    ) -> Result<crate::store::ProjectionOutcome, StoreError> {
        let outcome = self.store.apply_projection(snapshot).await?;
        if !outcome.changed.is_empty() {
            let changed: Vec<&str> = outcome.changed.iter().map(String::as_str).collect();
            self.stock_moved(&changed).await;
            self.outbox_wake.notify_one();
        }
        Ok(outcome)
    }
}

/// Sweeps on an interval for as long as the gateway runs. Of the instances sharing the
/// store, the one holding the `projection` lease sweeps each round, so the ERP is read once
/// per interval however many there are; should two sweep at once (a sweep outlasting its
/// lease), an older snapshot still never overwrites a newer one. A failed sweep is logged
/// and the next one tries again; meanwhile the figures age and channels' freshness bounds
/// decide what is still sold.
pub fn spawn(services: Arc<Services>, settings: ProjectionSettings) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(settings.interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if !services.lead(PROJECTION_JOB, settings.interval).await {
                continue;
            }
            let started = std::time::Instant::now();
            // Each sweep is a trace of its own, which every call to the ERP carries.
            let sweep = services.sweep_projection(settings.skus_per_read);
            let span = tracing::debug_span!("projection sweep", erp.system = services.erp.system());
            match in_span(None, span, sweep).await {
                Ok(r) => tracing::info!(
                    erp.system = services.erp.system(),
                    skus = r.skus,
                    changed = r.changed,
                    held_locally = r.held_locally,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "projection swept"
                ),
                Err(e) => {
                    tracing::warn!(erp.system = services.erp.system(), error = %e, "projection sweep failed");
                }
            }
        }
    });
}
