//! ERPs for trials about the gateway rather than an adapter: one that can be switched off
//! (it accepts everything while up and refuses everything, transiently, while down), and
//! one whose stock figures the test sets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use stockade::adapters::{AdapterError, ErpAdapter, ErpReference};
use stockade::domain::order::Order;
use stockade::domain::quantity::Position;
use stockade::domain::rma::Rma;
use stockade::domain::shipment::Shipment;
use stockade::store::PositionRow;
use time::OffsetDateTime;

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

/// An ERP whose stock figures the test sets, which commits stock for the orders it
/// takes as a real ERP does, and whose order intake can be switched off.
#[derive(Default)]
pub struct ScriptedErp {
    figures: Mutex<HashMap<(String, String), Position>>,
    pub taking_orders: AtomicBool,
    pub stock_unreadable: AtomicBool,
    /// Each stock read takes this long (a slow ERP).
    pub read_delay: Mutex<std::time::Duration>,
    /// Sizes of the SKU lists asked for, one per read.
    pub reads: Mutex<Vec<usize>>,
    orders: Mutex<Vec<String>>,
}

impl ScriptedErp {
    pub fn set(&self, sku: &str, location: &str, on_hand: i64, committed: i64) {
        self.figures.lock().unwrap().insert(
            (sku.to_owned(), location.to_owned()),
            Position {
                on_hand,
                committed,
                ..Position::default()
            },
        );
    }
}

fn down() -> AdapterError {
    AdapterError::Transient("connection refused".into())
}

#[async_trait]
impl ErpAdapter for ScriptedErp {
    fn system(&self) -> &'static str {
        "scripted"
    }

    async fn stock_levels(
        &self,
        skus: &[String],
        locations: &[String],
    ) -> Result<Vec<PositionRow>, AdapterError> {
        self.reads.lock().unwrap().push(skus.len());
        let delay = *self.read_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        if self.stock_unreadable.load(Ordering::SeqCst) {
            return Err(down());
        }
        let now = OffsetDateTime::now_utc();
        Ok(self
            .figures
            .lock()
            .unwrap()
            .iter()
            .filter(|((s, l), _)| skus.contains(s) && locations.contains(l))
            .map(|((sku, location), position)| PositionRow {
                sku: sku.clone(),
                location: location.clone(),
                position: *position,
                updated_at: now,
                as_of: Some(now),
            })
            .collect())
    }

    async fn submit_order(&self, order: &Order) -> Result<ErpReference, AdapterError> {
        if !self.taking_orders.load(Ordering::SeqCst) {
            return Err(down());
        }
        let mut orders = self.orders.lock().unwrap();
        if !orders.contains(&order.id) {
            orders.push(order.id.clone());
            let mut figures = self.figures.lock().unwrap();
            for line in &order.lines {
                for a in &line.allocations {
                    let key = (line.sku.clone(), a.location.clone());
                    figures.entry(key).or_default().committed += a.quantity;
                }
            }
        }
        Ok(ErpReference(format!("SO-{}", orders.len())))
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
        Ok(())
    }
}
