//! The audit writer: entries are appended to the hash chain by one task, in batches, so
//! that many concurrent requests share one transaction (group commit). A caller waits for
//! its batch to commit, so an answered mutation is an audited one.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::domain::audit::AuditEntry;
use crate::store::Store;

const MAX_BATCH: usize = 256;

struct Job {
    entry: AuditEntry,
    done: oneshot::Sender<bool>,
}

#[derive(Clone)]
pub struct Auditor {
    tx: mpsc::Sender<Job>,
}

impl Auditor {
    pub fn spawn(store: Arc<dyn Store>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(4 * MAX_BATCH);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while let Some(first) = rx.recv().await {
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let entries: Vec<AuditEntry> = batch.iter().map(|j| j.entry.clone()).collect();
                let ok = match store.append_audit(&entries).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::error!(entries = entries.len(), error = %e, "audit append failed");
                        false
                    }
                };
                for job in batch.drain(..) {
                    let _ = job.done.send(ok);
                }
            }
        });
        Self { tx }
    }

    /// Appends one entry and waits until it is committed. False if it could not be.
    pub async fn record(&self, entry: AuditEntry) -> bool {
        let (done, committed) = oneshot::channel();
        if self.tx.send(Job { entry, done }).await.is_err() {
            return false;
        }
        committed.await.unwrap_or(false)
    }
}
