//! An ERP that can be switched off, for trials about the gateway rather than an adapter:
//! it accepts everything while up and refuses everything, transiently, while down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use stockade::adapters::{AdapterError, ErpAdapter, ErpReference};
use stockade::domain::order::Order;
use stockade::domain::rma::Rma;
use stockade::domain::shipment::Shipment;
use stockade::store::PositionRow;

/// An ERP that can be switched off.
pub struct SwitchableErp {
    pub up: AtomicBool,
    /// Orders it was asked to create, refused ones included.
    pub calls: AtomicUsize,
}

impl SwitchableErp {
    pub fn new(up: bool) -> Arc<Self> {
        Arc::new(Self {
            up: AtomicBool::new(up),
            calls: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl ErpAdapter for SwitchableErp {
    fn system(&self) -> &'static str {
        "switchable"
    }

    async fn stock_levels(
        &self,
        _: &[String],
        _: &[String],
    ) -> Result<Vec<PositionRow>, AdapterError> {
        Ok(Vec::new())
    }

    async fn submit_order(&self, order: &Order) -> Result<ErpReference, AdapterError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.up.load(Ordering::SeqCst) {
            Ok(ErpReference(format!("SO-{}", &order.id[4..12])))
        } else {
            Err(AdapterError::Transient("connection refused".into()))
        }
    }

    async fn shipments(&self, _: &Order) -> Result<Vec<Shipment>, AdapterError> {
        Ok(Vec::new())
    }

    async fn record_shipment(
        &self,
        _: &Order,
        shipment: &Shipment,
    ) -> Result<ErpReference, AdapterError> {
        Ok(ErpReference(shipment.id.clone()))
    }

    async fn create_return(&self, _: &Order, rma: &Rma) -> Result<ErpReference, AdapterError> {
        Ok(ErpReference(rma.id.clone()))
    }

    async fn post_refund(&self, _: &Order, rma: &Rma) -> Result<ErpReference, AdapterError> {
        Ok(ErpReference(rma.id.clone()))
    }

    async fn health(&self) -> Result<(), AdapterError> {
        if self.up.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(AdapterError::Transient("connection refused".into()))
        }
    }
}
