//! The ERP as a destination: accepted orders are submitted, shipments that left the
//! building recorded, authorized returns created, received returns refunded, through the
//! configured adapter; what the ERP answers is recorded on the order or RMA.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::adapters::{AdapterError, Destination, ErpAdapter};
use crate::domain::order::{ErpState, Order};
use crate::domain::outbound::{Envelope, EventKind};
use crate::domain::shipment::Shipment;
use crate::metrics::Metrics;
use crate::policy::DestinationPolicy;
use crate::store::{ErpUpdate, Store};

use super::group::GroupCommit;

pub struct ErpDestination {
    erp: Arc<dyn ErpAdapter>,
    store: Arc<dyn Store>,
    policy: DestinationPolicy,
    /// What the ERP answered, recorded together with other orders' answers.
    answers: Arc<GroupCommit<ErpUpdate>>,
    metrics: Arc<Metrics>,
}

impl ErpDestination {
    pub fn new(
        erp: Arc<dyn ErpAdapter>,
        store: Arc<dyn Store>,
        policy: DestinationPolicy,
        metrics: Arc<Metrics>,
    ) -> Self {
        let writer = store.clone();
        let answers = GroupCommit::new(move |updates: Vec<ErpUpdate>| {
            let store = writer.clone();
            Box::pin(async move {
                store
                    .set_erp_states(&updates)
                    .await
                    .map_err(|e| e.to_string())
            })
        });
        Self {
            erp,
            store,
            policy,
            answers,
            metrics,
        }
    }

    async fn record(
        &self,
        order_id: &str,
        state: ErpState,
        reference: Option<String>,
    ) -> Result<(), AdapterError> {
        let update = ErpUpdate {
            order_id: order_id.to_owned(),
            state,
            reference,
        };
        self.answers
            .write(update)
            .await
            .map_err(AdapterError::Transient)
    }

    async fn order(&self, id: &str) -> Result<Order, AdapterError> {
        let order = self.store.order(id).await.map_err(transient)?;
        order.ok_or_else(|| AdapterError::Permanent(format!("order {id} is gone")))
    }

    /// Records a shipment in the ERP once its goods have left; the milestones before
    /// (picked, packed) and an exception move no stock there, so they are acknowledged
    /// without a call. A later milestone of a recorded shipment (delivered) finds the
    /// document the adapter made and makes no second one.
    async fn shipment(&self, event: &Envelope) -> Result<(), AdapterError> {
        let shipment: Shipment = serde_json::from_value(event.data.clone()).map_err(|e| {
            AdapterError::Permanent(format!("shipment.updated without a shipment: {e}"))
        })?;
        if !shipment.status.has_left() {
            return Ok(());
        }
        let order = self.order(&shipment.order_id).await?;
        match order.erp.state {
            // The order itself is still on its way to the ERP; the dispatcher comes back.
            ErpState::Pending => {
                return Err(AdapterError::Transient(format!(
                    "order {} is not in the ERP yet",
                    order.id
                )));
            }
            ErpState::Rejected => {
                return Err(AdapterError::Permanent(format!(
                    "order {} was refused by the ERP, so its shipment cannot be recorded",
                    order.id
                )));
            }
            ErpState::Acknowledged => {}
        }
        let reference = self.erp.record_shipment(&order, &shipment).await?;
        tracing::info!(
            order.id = %order.id,
            shipment.id = %shipment.id,
            erp.system = self.erp.system(),
            erp.reference = %reference.0,
            "shipment recorded in erp"
        );
        Ok(())
    }
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
            EventKind::OrderAccepted
                | EventKind::ShipmentUpdated
                | EventKind::ReturnAuthorized
                | EventKind::ReturnReceived
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
                let order = self.order(id).await?;
                match self.erp.submit_order(&order).await {
                    Ok(reference) => {
                        self.record(id, ErpState::Acknowledged, Some(reference.0.clone()))
                            .await?;
                        let now = time::OffsetDateTime::now_utc();
                        self.metrics
                            .order_stage("accepted_to_submitted", order.created_at, now);
                        tracing::info!(order.id = id, erp.system = self.erp.system(), erp.reference = %reference.0, "order submitted to erp");
                        Ok(())
                    }
                    Err(AdapterError::Permanent(why)) => {
                        self.record(id, ErpState::Rejected, None).await?;
                        Err(AdapterError::Permanent(why))
                    }
                    Err(e) => Err(e),
                }
            }
            EventKind::ShipmentUpdated => self.shipment(event).await,
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
