//! The embedded backend: Stockade's own ledger is the system of record, so "the ERP" is
//! the same database. Submitting an order or a return therefore only confirms the record
//! that acceptance already wrote, and the reference is Stockade's own id.
//!
//! It books a refund as a credit note reference; moving the money is the sales channel's
//! job (its payment provider), as it would be with any ERP.

use std::sync::Arc;

use async_trait::async_trait;

use super::{AdapterError, ErpAdapter, ErpReference};
use crate::domain::order::Order;
use crate::domain::rma::Rma;
use crate::domain::shipment::Shipment;
use crate::store::{PositionRow, Store, StoreError};

pub struct Embedded {
    store: Arc<dyn Store>,
}

impl Embedded {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

fn transient(e: StoreError) -> AdapterError {
    AdapterError::Transient(e.to_string())
}

#[async_trait]
impl ErpAdapter for Embedded {
    fn system(&self) -> &'static str {
        "embedded"
    }

    async fn stock_levels(
        &self,
        skus: &[String],
        locations: &[String],
    ) -> Result<Vec<PositionRow>, AdapterError> {
        self.store
            .positions(skus, locations)
            .await
            .map_err(transient)
    }

    async fn submit_order(&self, order: &Order) -> Result<ErpReference, AdapterError> {
        match self.store.order(&order.id).await.map_err(transient)? {
            Some(stored) => Ok(ErpReference(stored.id)),
            None => Err(AdapterError::Permanent(format!(
                "order {} is not in the ledger",
                order.id
            ))),
        }
    }

    async fn shipments(&self, order: &Order) -> Result<Vec<Shipment>, AdapterError> {
        self.store.shipments(&order.id).await.map_err(transient)
    }

    /// The ledger recorded the shipment when the warehouse reported it.
    async fn record_shipment(
        &self,
        _order: &Order,
        shipment: &Shipment,
    ) -> Result<ErpReference, AdapterError> {
        Ok(ErpReference(shipment.id.clone()))
    }

    async fn create_return(&self, _order: &Order, rma: &Rma) -> Result<ErpReference, AdapterError> {
        Ok(ErpReference(rma.id.clone()))
    }

    async fn post_refund(&self, _order: &Order, rma: &Rma) -> Result<ErpReference, AdapterError> {
        Ok(ErpReference(format!("credit-{}", rma.id)))
    }

    async fn health(&self) -> Result<(), AdapterError> {
        self.store.ping().await.map_err(transient)
    }
}
