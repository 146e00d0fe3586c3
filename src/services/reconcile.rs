//! Reconciliation runs: the whole catalog, a page of SKUs at a time, compared with the
//! ERP (through its adapter) and the warehouses' last counts at every location, then each
//! WooCommerce store's published stock. What is compared and how it is normalised is in
//! `domain::reconcile`.
//!
//! What a run corrects: figures of an ERP that is the system of record are taken over at
//! once for the SKUs that drifted (what the next projection sweep would do, with the same
//! hand-over rule); a channel whose policy says `correct_drift` has Stockade's figure
//! written over what its store shows. A warehouse's count that disagrees is only
//! reported: whether the count or the ERP is right is for a person to find out.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::adapters::AdapterError;
use crate::adapters::http::in_span;
use crate::domain::ids::new_id;
use crate::domain::reconcile::{
    DRIFT_EVENT_ENTRIES, DriftDetected, Threshold, Variance, erp_available, projected_available,
};
use crate::domain::time::now;
use crate::error::{Error, Result};
use crate::store::{PositionRow, ProjectionSnapshot, Run, RunState, StoreError};

use super::Services;

/// SKUs per page: one ERP read, one positions read, one batch of variances written.
const PAGE: u32 = 500;
/// Pages between two progress lines in the log.
const PROGRESS_EVERY: u64 = 20;

/// Told after every page: SKUs gone through, and the catalog's size.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Send + Sync);

#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("the ERP's stock could not be read: {0}")]
    Erp(AdapterError),
    #[error("store `{store}` could not be read or written: {error}")]
    Channel { store: String, error: AdapterError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a run found over the threshold, kept for its `drift.detected` event.
#[derive(Default)]
struct Findings {
    over: Vec<Variance>,
    left_out: u64,
}

impl Findings {
    fn note(&mut self, run: &mut Run, found: &[Variance]) {
        for v in found.iter().filter(|v| v.over_threshold) {
            run.drifted += 1;
            if self.over.len() < DRIFT_EVENT_ENTRIES {
                self.over.push(v.clone());
            } else {
                self.left_out += 1;
            }
        }
    }
}

impl Services {
    /// Starts a run in the background and answers with it at once (the admin API).
    pub async fn start_reconciliation(self: &Arc<Self>, started_by: &str) -> Result<Run> {
        let guard = self
            .reconciling
            .clone()
            .try_lock_owned()
            .map_err(|_| Error::ReconciliationRunning)?;
        let run = self.open_run(started_by).await?;
        let (me, started) = (self.clone(), run.clone());
        let span = tracing::debug_span!("reconciliation", reconciliation.id = %run.id);
        tokio::spawn(in_span(None, span, async move {
            let _one_at_a_time = guard;
            me.carry_out(started, &|_, _| {}).await;
        }));
        Ok(run)
    }

    /// Runs one to its end (the command line, the schedule).
    pub async fn reconcile(&self, started_by: &str, progress: Progress<'_>) -> Result<Run> {
        let _one_at_a_time = self
            .reconciling
            .try_lock()
            .map_err(|_| Error::ReconciliationRunning)?;
        let run = self.open_run(started_by).await?;
        // A run is a trace of its own, which every call to the ERP and the stores carries.
        let span = tracing::debug_span!("reconciliation", reconciliation.id = %run.id);
        Ok(in_span(None, span, self.carry_out(run, progress)).await)
    }

    pub async fn reconciliations(&self, limit: u32) -> Result<Vec<Run>> {
        Ok(self.store.runs(limit).await?)
    }

    /// A run and its variances, those over the threshold first.
    pub async fn reconciliation(&self, id: &str, limit: u32) -> Result<(Run, Vec<Variance>)> {
        let run = self.store.run(id).await?.ok_or_else(|| Error::NotFound {
            kind: "reconciliation",
            id: id.to_owned(),
        })?;
        let variances = self.store.variances(id, limit).await?;
        Ok((run, variances))
    }

    // TODO: a run whose process dies stays `running` in the list for good; recording the
    // instance with the run would let another mark it failed, so the list does not
    // show work that nobody is doing.
    async fn open_run(&self, started_by: &str) -> Result<Run> {
        let run = Run::new(new_id("rec"), started_by, now());
        self.store.begin_run(&run).await?;
        tracing::info!(reconciliation.id = %run.id, started_by, "reconciliation started");
        Ok(run)
    }

    async fn carry_out(&self, mut run: Run, progress: Progress<'_>) -> Run {
        let mut findings = Findings::default();
        let outcome = self.compare_all(&mut run, &mut findings, progress).await;
        run.finished_at = Some(now());
        run.settle_ratio();
        match outcome {
            Ok(()) => run.state = RunState::Finished,
            Err(e) => {
                run.state = RunState::Failed;
                run.error = Some(e.to_string());
            }
        }
        let drift = (run.drifted > 0).then(|| DriftDetected {
            run_id: run.id.clone(),
            compared: run.compared,
            drifted: run.drifted,
            drift_ratio: run.drift_ratio,
            entries: std::mem::take(&mut findings.over),
            more: findings.left_out,
        });
        if let Err(e) = self.store.finish_run(&run, drift.as_ref()).await {
            run.state = RunState::Failed;
            run.error = Some(format!("the run could not be recorded: {e}"));
        }
        if drift.is_some() {
            self.outbox_wake.notify_one();
        }
        if run.state == RunState::Finished {
            self.metrics.drift_ratio.set(run.drift_ratio);
            tracing::info!(
                reconciliation.id = %run.id,
                skus = run.skus,
                compared = run.compared,
                drifted = run.drifted,
                corrected = run.corrected,
                "reconciliation finished"
            );
        } else {
            tracing::warn!(reconciliation.id = %run.id, skus = run.skus, error = run.error.as_deref().unwrap_or_default(), "reconciliation failed");
        }
        run
    }

    async fn compare_all(
        &self,
        run: &mut Run,
        findings: &mut Findings,
        progress: Progress<'_>,
    ) -> Result<(), RunError> {
        let total = self.store.catalog_size().await?;
        let threshold = self.policies.reconcile.threshold;
        let locations = self.policies.location_codes();
        let mut after: Option<String> = None;
        let mut pages = 0_u64;
        loop {
            let skus = self.store.catalog_page(after.as_deref(), PAGE).await?;
            let Some(last) = skus.last().cloned() else {
                break;
            };
            let found = self
                .compare_page(&skus, &locations, &threshold, run)
                .await?;
            findings.note(run, &found);
            run.skus += skus.len() as u64;
            self.store.record_variances(run, &found).await?;
            progress(run.skus, total);
            pages += 1;
            if pages % PROGRESS_EVERY == 0 {
                tracing::info!(reconciliation.id = %run.id, skus = run.skus, of = total, drifted = run.drifted, "reconciliation in progress");
            }
            after = Some(last);
        }
        let mut stores: Vec<_> = self.woocommerce.values().filter(|c| c.has_api()).collect();
        stores.sort_by(|a, b| a.name().cmp(b.name()));
        for connector in stores {
            let found = self
                .compare_channel(connector, &threshold, run)
                .await
                .map_err(|error| RunError::Channel {
                    store: connector.name().to_owned(),
                    error,
                })?;
            findings.note(run, &found);
            self.store.record_variances(run, &found).await?;
        }
        Ok(())
    }

    /// One page of SKUs against the ERP and the warehouses, at every location.
    async fn compare_page(
        &self,
        skus: &[String],
        locations: &[String],
        threshold: &Threshold,
        run: &mut Run,
    ) -> Result<Vec<Variance>, RunError> {
        let rows = self.store.positions(skus, locations).await?;
        let ours: HashMap<(&str, &str), &PositionRow> = rows
            .iter()
            .map(|r| ((r.sku.as_str(), r.location.as_str()), r))
            .collect();
        let mut found = Vec::new();
        let mut taken_over = false;
        // The embedded ledger is the ERP: there is nothing to compare it with.
        if self.erp.system() != "embedded" {
            let taken_at = now();
            let theirs = self
                .erp
                .stock_levels(skus, locations)
                .await
                .map_err(RunError::Erp)?;
            let holds = self.store.unacknowledged_holds(skus).await?;
            let theirs_at: HashMap<(&str, &str), &PositionRow> = theirs
                .iter()
                .map(|r| ((r.sku.as_str(), r.location.as_str()), r))
                .collect();
            let mut drifted = Vec::new();
            for sku in skus {
                for location in locations {
                    let key = (sku.as_str(), location.as_str());
                    let (mine, other) = (ours.get(&key), theirs_at.get(&key));
                    if mine.is_none() && other.is_none() {
                        continue;
                    }
                    run.compared += 1;
                    let held = holds
                        .get(&(sku.clone(), location.clone()))
                        .copied()
                        .unwrap_or(0);
                    let stockade = mine.map_or(0, |r| projected_available(r.position));
                    // A position the ERP does not report holds nothing there.
                    let erp = erp_available(other.map(|r| r.position).unwrap_or_default(), held);
                    let v =
                        Variance::between((sku, Some(location), "erp"), stockade, erp, threshold);
                    if let Some(v) = v {
                        if v.over_threshold && drifted.last() != Some(sku) {
                            drifted.push(sku.clone());
                        }
                        found.push(v);
                    }
                }
            }
            if !drifted.is_empty() {
                self.take_over_drifted(taken_at, &drifted, locations, &theirs)
                    .await?;
                taken_over = true;
            }
        }
        // The warehouses are compared with Stockade's figures as the run leaves them.
        let rows = if taken_over {
            self.store.positions(skus, locations).await?
        } else {
            rows
        };
        let on_hand: HashMap<(&str, &str), i64> = rows
            .iter()
            .map(|r| ((r.sku.as_str(), r.location.as_str()), r.position.on_hand))
            .collect();
        for count in self.store.carried_counts(skus).await? {
            run.compared += 1;
            let key = (count.sku.as_str(), count.location.as_str());
            let stockade = on_hand.get(&key).copied().unwrap_or(0);
            let source = format!("warehouse:{}", count.source);
            let key = (
                count.sku.as_str(),
                Some(count.location.as_str()),
                source.as_str(),
            );
            found.extend(Variance::between(key, stockade, count.on_hand, threshold));
        }
        Ok(found)
    }

    /// Takes the ERP's figures over for SKUs that drifted, as a sweep would.
    async fn take_over_drifted(
        &self,
        taken_at: time::OffsetDateTime,
        skus: &[String],
        locations: &[String],
        figures: &[PositionRow],
    ) -> Result<(), RunError> {
        let wanted: HashSet<&String> = skus.iter().collect();
        let figures: Vec<PositionRow> = figures
            .iter()
            .filter(|r| wanted.contains(&r.sku))
            .cloned()
            .collect();
        self.take_over(&ProjectionSnapshot {
            system: self.erp.system(),
            taken_at,
            skus,
            locations,
            figures: &figures,
        })
        .await?;
        Ok(())
    }

    /// A store's published stock against what Stockade publishes to it; rewritten where
    /// it drifted and the channel's policy allows.
    async fn compare_channel(
        &self,
        connector: &crate::adapters::woocommerce::Connector,
        threshold: &Threshold,
        run: &mut Run,
    ) -> Result<Vec<Variance>, AdapterError> {
        let shown = connector.published_stock().await?;
        let skus: Vec<String> = shown.iter().map(|(t, _)| t.sku.clone()).collect();
        let ours = connector.available_to_sell(&skus).await?;
        let source = format!("woocommerce:{}", connector.name());
        let mut found = Vec::new();
        let mut rewrite = Vec::new();
        for (target, theirs) in shown {
            // A SKU Stockade does not know is not Stockade's to judge.
            let Some(&stockade) = ours.get(&target.sku) else {
                continue;
            };
            run.compared += 1;
            let key = (target.sku.as_str(), None, source.as_str());
            if let Some(v) = Variance::between(key, stockade, theirs, threshold) {
                if v.over_threshold {
                    rewrite.push(target);
                }
                found.push(v);
            }
        }
        let allowed = self
            .policies
            .channel(&connector.policy.channel)
            .is_some_and(|c| c.correct_drift);
        if allowed && !rewrite.is_empty() {
            connector.rewrite_stock(&rewrite).await?;
            run.corrected += rewrite.len() as u64;
        }
        Ok(found)
    }
}

/// Runs on the policy's schedule for as long as the gateway runs: one instance of those
/// sharing the store runs each round, the one holding the `reconcile` lease.
pub fn spawn_schedule(services: Arc<Services>) {
    let seconds = services.policies.reconcile.schedule_seconds;
    if seconds == 0 {
        return;
    }
    tokio::spawn(async move {
        let every = std::time::Duration::from_secs(seconds);
        loop {
            tokio::time::sleep(every).await;
            if !services.lead("reconcile", every).await {
                continue;
            }
            match services.reconcile("schedule", &|_, _| {}).await {
                Ok(_) => {}
                Err(Error::ReconciliationRunning) => {
                    tracing::info!("scheduled reconciliation skipped; one is already running");
                }
                Err(e) => tracing::warn!(error = %e, "scheduled reconciliation not started"),
            }
        }
    });
}
