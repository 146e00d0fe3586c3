//! The ERP as a destination: accepted orders are submitted, authorized returns created,
//! received returns refunded, through the configured adapter; what the ERP answers is
//! recorded on the order or RMA.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::adapters::{AdapterError, Destination, ErpAdapter};
use crate::domain::order::ErpState;
use crate::domain::outbound::{Envelope, EventKind};
use crate::policy::DestinationPolicy;
use crate::store::Store;

pub struct ErpDestination {
    pub erp: Arc<dyn ErpAdapter>,
    pub store: Arc<dyn Store>,
    pub policy: DestinationPolicy,
}

fn id_of<'a>(event: &'a Envelope, field: &str) -> Result<&'a str, AdapterError> {
    event
        .data
        .get(field)
        .and_then(|v| v.as_str())
        .ok_or_else(|| AdapterError::Permanent(format!("event without {field}")))
}

fn transient(e: impl std::fmt::Display) -> AdapterError {
    AdapterError::Transient(e.to_string())
}

#[async_trait]
impl Destination for ErpDestination {
    fn name(&self) -> &str {
        "erp"
    }

    fn wants(&self, kind: EventKind) -> bool {
        // TODO: order.cancelled is not an ErpAdapter operation yet; an order cancelled
        // after submission must still be cancelled in the ERP by hand.
        matches!(
            kind,
            EventKind::OrderAccepted | EventKind::ReturnAuthorized | EventKind::ReturnReceived
        )
    }

    fn max_attempts(&self) -> u32 {
        self.policy.max_attempts
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.policy.timeout_ms)
    }

    async fn deliver(&self, event: &Envelope) -> Result<(), AdapterError> {
        match event.kind {
            EventKind::OrderAccepted => {
                let id = id_of(event, "id")?;
                let order = self.store.order(id).await.map_err(transient)?;
                let order =
                    order.ok_or_else(|| AdapterError::Permanent(format!("order {id} is gone")))?;
                match self.erp.submit_order(&order).await {
                    Ok(reference) => {
                        self.store
                            .set_erp_state(id, ErpState::Acknowledged, Some(&reference.0))
                            .await
                            .map_err(transient)?;
                        tracing::info!(order.id = id, erp.system = self.erp.system(), erp.reference = %reference.0, "order submitted to erp");
                        Ok(())
                    }
                    Err(AdapterError::Permanent(why)) => {
                        self.store
                            .set_erp_state(id, ErpState::Rejected, None)
                            .await
                            .map_err(transient)?;
                        Err(AdapterError::Permanent(why))
                    }
                    Err(e) => Err(e),
                }
            }
            EventKind::ReturnAuthorized | EventKind::ReturnReceived => {
                let rma_id = id_of(event, "id")?;
                let record = self.store.rma(rma_id).await.map_err(transient)?;
                let record = record
                    .ok_or_else(|| AdapterError::Permanent(format!("RMA {rma_id} is gone")))?;
                let order = self
                    .store
                    .order(&record.rma.order_id)
                    .await
                    .map_err(transient)?;
                let order = order
                    .ok_or_else(|| AdapterError::Permanent("the RMA's order is gone".into()))?;
                if event.kind == EventKind::ReturnAuthorized {
                    self.erp
                        .create_return(&order, &record.rma)
                        .await
                        .map(|_| ())
                } else {
                    let reference = self.erp.post_refund(&order, &record.rma).await?;
                    self.store
                        .set_rma_refunded(rma_id, &reference.0)
                        .await
                        .map_err(transient)?;
                    tracing::info!(rma.id = rma_id, erp.reference = %reference.0, "refund posted");
                    Ok(())
                }
            }
            other => Err(AdapterError::Permanent(format!(
                "the ERP takes no {} events",
                other.as_str()
            ))),
        }
    }
}
