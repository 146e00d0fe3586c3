//! Reconciliation: `reconcile.toml`. How often a run starts on its own, and when a
//! difference between Stockade and another system counts as drift.

use serde::Deserialize;

use crate::domain::reconcile::Threshold;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcilePolicy {
    /// Seconds between scheduled runs; 0 (the default) runs only on demand.
    #[serde(default)]
    pub schedule_seconds: u64,
    #[serde(default)]
    pub threshold: Threshold,
}
