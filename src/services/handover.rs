//! Hands accepted orders and received returns to the ERP adapter, after the request that
//! caused them has been answered. Work is found from the store, not from memory, so a
//! restart picks up whatever was pending when the process stopped.
//!
//! TODO: retries with backoff and jitter, circuit breaking and dead letters belong to the
//! transactional outbox; until it exists a failing ERP is simply retried on every tick,
//! which is harmless for the embedded ledger but would hammer a struggling remote ERP.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::Services;
use crate::adapters::AdapterError;
use crate::domain::order::ErpState;

const TICK: Duration = Duration::from_secs(5);
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
const BATCH: u32 = 100;

pub fn spawn_handover(services: Arc<Services>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = services.hand_over_once().await {
                tracing::warn!(error = %e, "erp handover pass failed");
            }
            tokio::select! {
                () = services.handover.notified() => {}
                () = tokio::time::sleep(TICK) => {}
            }
        }
    })
}

impl Services {
    async fn hand_over_once(&self) -> crate::error::Result<()> {
        for id in self.store.orders_awaiting_erp(BATCH).await? {
            let Some(order) = self.store.order(&id).await? else {
                continue;
            };
            match tokio::time::timeout(CALL_TIMEOUT, self.erp.submit_order(&order)).await {
                Ok(Ok(reference)) => {
                    self.store
                        .set_erp_state(&id, ErpState::Acknowledged, Some(&reference.0))
                        .await?;
                    tracing::info!(order.id = %id, erp.system = self.erp.system(), erp.reference = %reference.0, "order submitted to erp");
                }
                Ok(Err(AdapterError::Permanent(why))) => {
                    self.store
                        .set_erp_state(&id, ErpState::Rejected, None)
                        .await?;
                    tracing::error!(order.id = %id, erp.system = self.erp.system(), error = %why, "erp refused order");
                }
                Ok(Err(e)) => {
                    tracing::warn!(order.id = %id, erp.system = self.erp.system(), error = %e, "erp submission failed; will retry");
                }
                Err(_) => {
                    tracing::warn!(order.id = %id, erp.system = self.erp.system(), "erp submission timed out; will retry");
                }
            }
        }
        for id in self.store.rmas_awaiting_refund(BATCH).await? {
            let Some(record) = self.store.rma(&id).await? else {
                continue;
            };
            let Some(order) = self.store.order(&record.rma.order_id).await? else {
                continue;
            };
            match tokio::time::timeout(CALL_TIMEOUT, self.erp.post_refund(&order, &record.rma))
                .await
            {
                Ok(Ok(reference)) => {
                    self.store.set_rma_refunded(&id, &reference.0).await?;
                    tracing::info!(rma.id = %id, erp.reference = %reference.0, "refund posted");
                }
                Ok(Err(e)) => tracing::warn!(rma.id = %id, error = %e, "refund failed; will retry"),
                Err(_) => tracing::warn!(rma.id = %id, "refund timed out; will retry"),
            }
        }
        Ok(())
    }
}
