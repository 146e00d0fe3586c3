//! ERP adapters: one trait with the canonical back-office operations, one module per
//! system. The configured adapter is chosen once at start (`erp` in the configuration).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::order::Order;
use crate::domain::outbound::{Envelope, EventKind};
use crate::domain::rma::Rma;
use crate::domain::shipment::Shipment;
use crate::store::{PositionRow, Store};

pub mod acumatica;
pub mod business_central;
pub mod embedded;
pub mod erpnext;
pub mod http;
pub mod netsuite;
pub mod oauth1;
pub mod oauth2;
pub mod odoo;
pub mod sap_b1;
pub mod subscriber;
pub mod woocommerce;

/// How an outside system failed, which decides whether a retry can help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AdapterError {
    /// Worth retrying later: a timeout, a 5xx, a dropped connection.
    #[error("transient: {0}")]
    Transient(String),
    /// The system asked us to slow down.
    #[error("throttled; retry after {retry_after:?}")]
    Throttled { retry_after: Option<Duration> },
    /// Will never succeed as sent: a validation error, a missing record, a bad mapping.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Refuses a return of more units of a SKU than the order holds (or of none), before the
/// ERP sees it: every ERP would refuse it anyway, each in its own words.
pub fn check_return(order: &Order, rma: &Rma) -> Result<(), AdapterError> {
    for l in &rma.lines {
        let ordered: i64 = order
            .lines
            .iter()
            .filter(|o| o.sku == l.sku)
            .map(|o| o.quantity)
            .sum();
        if l.quantity <= 0 || l.quantity > ordered {
            return Err(AdapterError::Permanent(format!(
                "return {}: {} units of {} asked back, order {} holds {ordered}",
                rma.id, l.quantity, l.sku, order.id
            )));
        }
    }
    Ok(())
}

/// A document the ERP created or found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErpReference(pub String);

/// The canonical operations every back office offers, in Stockade's own terms.
#[async_trait]
pub trait ErpAdapter: Send + Sync + 'static {
    /// The name shown in an order's `erp.system`.
    fn system(&self) -> &'static str;
    /// On-hand and committed per (sku, location), as the ERP sees them.
    async fn stock_levels(
        &self,
        skus: &[String],
        locations: &[String],
    ) -> Result<Vec<PositionRow>, AdapterError>;
    /// Creates the sales order, or finds the one already created for `order.id`: a retry
    /// after a timeout must never create a second one.
    async fn submit_order(&self, order: &Order) -> Result<ErpReference, AdapterError>;
    async fn shipments(&self, order: &Order) -> Result<Vec<Shipment>, AdapterError>;
    /// Records a shipment the warehouse reported as gone (an item fulfilment, a delivery
    /// note based on the order), so the ERP relieves its stock and can invoice. Looked up
    /// by the shipment's id before creating, so a repeat never ships the goods twice.
    async fn record_shipment(
        &self,
        order: &Order,
        shipment: &Shipment,
    ) -> Result<ErpReference, AdapterError>;
    async fn create_return(&self, order: &Order, rma: &Rma) -> Result<ErpReference, AdapterError>;
    /// Books the refund or credit for goods received back.
    async fn post_refund(&self, order: &Order, rma: &Rma) -> Result<ErpReference, AdapterError>;
    async fn health(&self) -> Result<(), AdapterError>;
    /// Releases what the adapter holds in the ERP (a session, a licence) as the gateway
    /// stops.
    async fn shutdown(&self) {}
}

/// Somewhere outbound events go: the ERP, a subscriber, the event stream.
#[async_trait]
pub trait Destination: Send + Sync + 'static {
    /// Unique among destinations; stored with every delivery.
    fn name(&self) -> &str;
    /// Whether this destination takes events of this type at all.
    fn wants(&self, kind: EventKind) -> bool;
    fn max_attempts(&self) -> u32;
    fn timeout(&self) -> Duration;
    /// Deliveries in flight at once, when the destination wants other than the
    /// dispatcher's setting (one that gathers deliveries into batches wants more).
    fn concurrency(&self) -> Option<usize> {
        None
    }
    /// Delivers one event. Called again after a timeout or a transient failure, with the
    /// same event id, so a destination must treat a repeat as a no-op.
    async fn deliver(&self, event: &Envelope) -> Result<(), AdapterError>;
}

/// Builds one adapter from its own settings in the environment.
type Build = fn(Arc<dyn Store>) -> anyhow::Result<Arc<dyn ErpAdapter>>;

/// Every ERP adapter by its `STOCKADE_ERP` name. A new ERP is one module and one row here.
const ERPS: &[(&str, Build)] = &[
    ("embedded", |store| {
        Ok(Arc::new(embedded::Embedded::new(store)))
    }),
    ("netsuite", |_| {
        let config = netsuite::NetSuiteConfig::from_env(env)?;
        Ok(Arc::new(netsuite::NetSuite::new(config)))
    }),
    ("sap_b1", |_| {
        Ok(Arc::new(sap_b1::SapB1::new(
            sap_b1::SapB1Config::from_env(env)?,
        )?))
    }),
    ("business_central", |_| {
        let config = business_central::BusinessCentralConfig::from_env(env)?;
        Ok(Arc::new(business_central::BusinessCentral::new(config)?))
    }),
    ("acumatica", |_| {
        let config = acumatica::AcumaticaConfig::from_env(env)?;
        Ok(Arc::new(acumatica::Acumatica::new(config)?))
    }),
    ("odoo", |_| {
        Ok(Arc::new(odoo::Odoo::new(odoo::OdooConfig::from_env(env)?)?))
    }),
    ("erpnext", |_| {
        Ok(Arc::new(erpnext::ErpNext::new(
            erpnext::ErpNextConfig::from_env(env)?,
        )?))
    }),
];

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Builds the adapter the configuration names.
pub fn from_config(name: &str, store: Arc<dyn Store>) -> anyhow::Result<Arc<dyn ErpAdapter>> {
    builder(name)?(store)
}

fn builder(name: &str) -> anyhow::Result<Build> {
    match ERPS.iter().find(|(known, _)| *known == name) {
        Some((_, build)) => Ok(*build),
        None => {
            let known: Vec<&str> = ERPS.iter().map(|(known, _)| *known).collect();
            anyhow::bail!(
                "erp: unknown adapter `{name}`; available: {}",
                known.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_erp_is_refused_with_the_names_that_exist() {
        let message = builder("navision").expect_err("refused").to_string();
        assert!(message.contains("`navision`"), "{message}");
        for (name, _) in ERPS {
            assert!(message.contains(name), "{name} missing from: {message}");
            assert!(builder(name).is_ok(), "{name}");
        }
    }
}
