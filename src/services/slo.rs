//! Samples what the objectives measure by time rather than by event: the age of the ERP
//! projection's figures and of the oldest waiting outbox delivery. The same pass brings
//! the figures other instances produce into this one's metrics: the last sweep's time
//! and the last finished reconciliation's drift ratio.

use std::sync::Arc;
use std::time::Duration;

use super::Services;
use crate::domain::time::now;
use crate::store::RunState;

/// Every `sample_seconds`, one sample of each; a failed read of the backlog is skipped
/// (the store being down shows in readiness and in the error rate).
pub fn spawn_sampler(services: Arc<Services>) {
    let every = Duration::from_secs(services.policies.slo.sample_seconds.max(1));
    let started = now();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            services.sample_slos(started).await;
        }
    });
}

impl Services {
    /// One sample. `since`: when this instance started, the age of figures it has not
    /// yet been able to read at all.
    pub async fn sample_slos(&self, since: time::OffsetDateTime) {
        let slos = &self.metrics.slos;
        if self.erp.system() != "embedded" {
            let source = format!("erp:{}", self.erp.system());
            // Another instance may hold the sweep: its rounds count here too.
            match self
                .store
                .last_round(super::projection::PROJECTION_JOB)
                .await
            {
                Ok(Some(swept)) => self.metrics.stock_updated(&source, swept),
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, "last sweep not read"),
            }
            let fresh = self.metrics.stock_source_time(&source).unwrap_or(since);
            slos.stock_lag((now() - fresh).try_into().unwrap_or_default());
        }
        // The last finished reconciliation, whichever instance or command ran it.
        match self.store.runs(5).await {
            Ok(runs) => {
                if let Some(run) = runs.iter().find(|r| r.state == RunState::Finished) {
                    self.metrics.drift_ratio.set(run.drift_ratio);
                }
            }
            Err(e) => tracing::debug!(error = %e, "last reconciliation not read"),
        }
        match self.store.outbox_stats().await {
            Ok(stats) => {
                let oldest = stats
                    .destinations
                    .iter()
                    .filter_map(|d| d.oldest_pending_ms)
                    .max()
                    .unwrap_or(0);
                slos.backlog_age(Duration::from_millis(oldest));
            }
            Err(e) => tracing::debug!(error = %e, "backlog not sampled"),
        }
    }
}
