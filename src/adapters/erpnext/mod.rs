//! ERPNext (and any Frappe site running it) through Frappe's REST API.
//!
//! Stock comes from `Bin`, one per item and warehouse; warehouses are Stockade's locations
//! by name (see [`map::Warehouses`]). Orders go to `Sales Order`, created submitted, with
//! Stockade's order id as the customer's purchase order number (`po_no`), which is looked
//! up before every create so that a retry after a lost answer finds the first order.
//! Shipments are the submitted `Delivery Note`s against the order; the ones Stockade
//! records carry `po_no` = `<order id>/<shipment id>` and are found by it before being
//! made. A return is a draft return delivery note and its refund a `Sales Invoice` credit
//! note, both keyed the same way by the RMA id. Authentication is in [`auth`], the
//! protocol in [`client`], the shapes in [`map`]. What the ERPNext user needs and what is
//! not covered: `docs/ADAPTERS.md`.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use serde_json::{Value, json};

use super::{AdapterError, ErpAdapter, ErpReference};
use crate::config::Secret;
use crate::domain::order::Order;
use crate::domain::rma::Rma;
use crate::domain::shipment::Shipment;
use crate::store::PositionRow;

pub mod auth;
pub mod client;
pub mod map;

use auth::ApiToken;
use client::{Client, ListQuery};
use map::{
    BIN, Bin, Booking, DELIVERY_NOTE, DELIVERY_NOTE_ITEM, DeliveryNoteDoc, DocKey, SALES_INVOICE,
    SALES_ORDER, SalesOrderDoc, Warehouses,
};

/// SKUs named in one `in` filter: keeps the query string well under what proxies accept.
const SKUS_PER_QUERY: usize = 50;
/// The order that keeps pages stable while documents change (see [`ListQuery`]).
const BY_NAME: &str = "name asc";

/// Where the site is, who Stockade acts as, and what documents are booked to; all from
/// the environment, since the secret belongs with the rest.
#[derive(Debug, Clone)]
pub struct ErpNextConfig {
    /// The site's origin, `https://erp.example.com`.
    pub url: String,
    pub token: ApiToken,
    /// The company documents are made in (its full name, as ERPNext links it).
    pub company: String,
    /// The customer web orders, deliveries, returns and credit notes are booked to.
    pub customer: String,
    pub warehouses: Warehouses,
    pub timeout: Duration,
    /// Rows asked for per page (`limit_page_length`).
    pub page_size: u32,
}

impl ErpNextConfig {
    /// `STOCKADE_ERPNEXT_URL`, `_API_KEY`, `_API_SECRET`, `_COMPANY`, `_CUSTOMER`
    /// (required), `_COMPANY_ABBR` and `_WAREHOUSES` (how locations name warehouses),
    /// `_TIMEOUT_MS` (10000) and `_PAGE_SIZE` (500).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |key: &str| env(&format!("STOCKADE_ERPNEXT_{key}")).filter(|v| !v.is_empty());
        let required = |key: &str| {
            var(key).with_context(|| {
                format!("erp erpnext: STOCKADE_ERPNEXT_{key} must be set in the environment")
            })
        };
        let number = |key: &str, default: u64| -> anyhow::Result<u64> {
            var(key).map_or(Ok(default), |v| {
                v.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "erp erpnext: STOCKADE_ERPNEXT_{key} `{v}` is not a whole number"
                    )
                })
            })
        };
        let page_size = number("PAGE_SIZE", 500)?;
        if !(1..=5000).contains(&page_size) {
            anyhow::bail!("erp erpnext: STOCKADE_ERPNEXT_PAGE_SIZE must be between 1 and 5000");
        }
        let warehouses =
            Warehouses::new(var("COMPANY_ABBR"), &var("WAREHOUSES").unwrap_or_default())
                .map_err(|e| anyhow::anyhow!("erp erpnext: STOCKADE_ERPNEXT_WAREHOUSES: {e}"))?;
        Ok(Self {
            url: required("URL")?,
            token: ApiToken {
                key: required("API_KEY")?,
                secret: Secret::new(required("API_SECRET")?),
            },
            company: required("COMPANY")?,
            customer: required("CUSTOMER")?,
            warehouses,
            timeout: Duration::from_millis(number("TIMEOUT_MS", 10_000)?),
            page_size: u32::try_from(page_size)?,
        })
    }
}

pub struct ErpNext {
    client: Client,
    // TODO: map customers per channel or per buyer; every document goes to this one
    // customer, so ERPNext's customer reports see a single buyer.
    booking: Booking,
    warehouses: Warehouses,
}

impl ErpNext {
    pub fn new(config: ErpNextConfig) -> anyhow::Result<Self> {
        Ok(Self {
            client: Client::new(&config.url, config.token, config.timeout, config.page_size)?,
            booking: Booking {
                company: config.company,
                customer: config.customer,
            },
            warehouses: config.warehouses,
        })
    }

    /// The first document of `doctype` matching `filters` that is not cancelled.
    async fn find(&self, doctype: &str, filters: &[Value]) -> Result<Option<DocKey>, AdapterError> {
        let mut filters = filters.to_vec();
        filters.push(json!(["docstatus", "<", 2]));
        let found: Vec<DocKey> = self
            .client
            .list(
                doctype,
                &ListQuery {
                    fields: &["name", "docstatus"],
                    filters: Value::Array(filters),
                    order_by: "creation asc",
                },
            )
            .await?;
        Ok(found.into_iter().next())
    }

    /// The name of the order's sales order: the recorded reference, or the one whose
    /// `po_no` is the order's id.
    async fn sales_order_name(&self, order: &Order) -> Result<Option<String>, AdapterError> {
        if let Some(name) = order.erp.reference.as_deref().filter(|r| !r.is_empty()) {
            return Ok(Some(name.to_owned()));
        }
        let found = self
            .find(SALES_ORDER, &[json!(["po_no", "=", order.id])])
            .await?;
        Ok(found.map(|d| d.name))
    }

    /// The order's sales order with its rows; an order ERPNext does not hold is refused.
    async fn sales_order(&self, order: &Order) -> Result<SalesOrderDoc, AdapterError> {
        let Some(name) = self.sales_order_name(order).await? else {
            return Err(AdapterError::Permanent(format!(
                "order {} is not in ERPNext",
                order.id
            )));
        };
        let so: SalesOrderDoc = self.client.get(SALES_ORDER, &name).await?;
        if so.docstatus != 1 {
            return Err(AdapterError::Permanent(format!(
                "sales order {name} of order {} is not submitted in ERPNext",
                order.id
            )));
        }
        Ok(so)
    }

    /// The submitted delivery notes (not returns) with a row against sales order `so`, in
    /// the order they were made, each read whole for its rows.
    async fn delivery_notes(&self, so: &str) -> Result<Vec<DeliveryNoteDoc>, AdapterError> {
        let keys: Vec<DocKey> = self
            .client
            .list(
                DELIVERY_NOTE,
                &ListQuery {
                    fields: &["name"],
                    filters: json!([
                        [DELIVERY_NOTE_ITEM, "against_sales_order", "=", so],
                        ["docstatus", "=", 1],
                        ["is_return", "=", 0],
                    ]),
                    order_by: "creation asc",
                },
            )
            .await?;
        let mut notes: Vec<DeliveryNoteDoc> = Vec::new();
        // A note with two rows against the order may be listed once per row.
        for key in keys {
            if notes.iter().all(|n| n.name != key.name) {
                notes.push(self.client.get(DELIVERY_NOTE, &key.name).await?);
            }
        }
        Ok(notes)
    }

    /// The document of `doctype` with this `po_no` key and return flag, created from
    /// `body` unless it exists.
    async fn find_or_insert(
        &self,
        doctype: &str,
        key: &str,
        is_return: bool,
        body: impl AsyncFnOnce() -> Result<Value, AdapterError>,
    ) -> Result<ErpReference, AdapterError> {
        let filters = [
            json!(["po_no", "=", key]),
            json!(["is_return", "=", i32::from(is_return)]),
        ];
        if let Some(found) = self.find(doctype, &filters).await? {
            return Ok(ErpReference(found.name));
        }
        let created: DocKey = self.client.insert(doctype, &body().await?).await?;
        tracing::info!(
            erp.system = "erpnext",
            erp.doctype = doctype,
            erp.reference = %created.name,
            "document created"
        );
        Ok(ErpReference(created.name))
    }
}

#[async_trait]
impl ErpAdapter for ErpNext {
    fn system(&self) -> &'static str {
        "erpnext"
    }

    async fn stock_levels(
        &self,
        skus: &[String],
        locations: &[String],
    ) -> Result<Vec<PositionRow>, AdapterError> {
        // The figures are as of when the read began: a change during it may or may not
        // be in them.
        let as_of = crate::domain::time::now();
        let warehouses: Vec<String> = locations
            .iter()
            .map(|l| self.warehouses.warehouse(l))
            .collect();
        let read = |skus: &[String]| ListQuery {
            fields: map::BIN_FIELDS,
            filters: map::bin_filters(skus, &warehouses),
            order_by: BY_NAME,
        };
        let mut bins: Vec<Bin> = Vec::new();
        if skus.is_empty() {
            bins = self.client.list(BIN, &read(&[])).await?;
        } else {
            for chunk in skus.chunks(SKUS_PER_QUERY) {
                bins.extend(self.client.list::<Bin>(BIN, &read(chunk)).await?);
            }
        }
        map::positions(bins, &self.warehouses, locations, as_of)
    }

    async fn submit_order(&self, order: &Order) -> Result<ErpReference, AdapterError> {
        let found = self
            .find(SALES_ORDER, &[json!(["po_no", "=", order.id])])
            .await?;
        match found {
            Some(so) if so.docstatus == 1 => Ok(ErpReference(so.name)),
            // Stockade always creates its orders submitted, so a draft under the order's
            // po_no was saved by a person or another tool; submitting it, rather than
            // making a second order, is what makes ERPNext reserve the units once.
            Some(draft) => {
                let submitted: DocKey = self
                    .client
                    .update(SALES_ORDER, &draft.name, &json!({"docstatus": 1}))
                    .await?;
                tracing::info!(
                    erp.system = "erpnext",
                    order.id = %order.id,
                    erp.reference = %submitted.name,
                    "draft sales order submitted"
                );
                Ok(ErpReference(submitted.name))
            }
            None => {
                let body = map::sales_order(order, &self.booking, &self.warehouses)?;
                let created: DocKey = self.client.insert(SALES_ORDER, &body).await?;
                tracing::info!(
                    erp.system = "erpnext",
                    order.id = %order.id,
                    erp.reference = %created.name,
                    "sales order created"
                );
                Ok(ErpReference(created.name))
            }
        }
    }

    async fn shipments(&self, order: &Order) -> Result<Vec<Shipment>, AdapterError> {
        let Some(so) = self.sales_order_name(order).await? else {
            return Ok(Vec::new());
        };
        let mut shipments = Vec::new();
        for note in self.delivery_notes(&so).await? {
            shipments.extend(map::shipment(order, &so, note)?);
        }
        Ok(shipments)
    }

    async fn record_shipment(
        &self,
        order: &Order,
        shipment: &Shipment,
    ) -> Result<ErpReference, AdapterError> {
        let key = map::key(&order.id, &shipment.id)?;
        self.find_or_insert(DELIVERY_NOTE, &key, false, async || {
            let so = self.sales_order(order).await?;
            map::delivery_note(&so, &key, shipment, &self.booking)
        })
        .await
    }

    async fn create_return(&self, order: &Order, rma: &Rma) -> Result<ErpReference, AdapterError> {
        let key = map::key(&order.id, &rma.id)?;
        self.find_or_insert(DELIVERY_NOTE, &key, true, async || {
            let so = self.sales_order(order).await?;
            let notes = self.delivery_notes(&so.name).await?;
            map::return_note(order, &so, &notes, rma, &key, &self.booking)
        })
        .await
    }

    async fn post_refund(&self, order: &Order, rma: &Rma) -> Result<ErpReference, AdapterError> {
        let key = map::key(&order.id, &rma.id)?;
        self.find_or_insert(SALES_INVOICE, &key, true, async || {
            // A credit only for a return ERPNext itself holds.
            let filters = [json!(["po_no", "=", key]), json!(["is_return", "=", 1])];
            if self.find(DELIVERY_NOTE, &filters).await?.is_none() {
                return Err(AdapterError::Permanent(format!(
                    "return {}: no return delivery note in ERPNext, so no credit note",
                    rma.id
                )));
            }
            map::credit_note(order, rma, &key, &self.booking)
        })
        .await
    }

    async fn health(&self) -> Result<(), AdapterError> {
        // Proves the site, the network and the API key in one small call.
        let _user: String = self.client.method("frappe.auth.get_logged_user").await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_environment_and_missing_ones_are_named() {
        let full = |k: &str| {
            let v = match k {
                "STOCKADE_ERPNEXT_URL" => "https://erp.example.com",
                "STOCKADE_ERPNEXT_API_KEY" => "a1b2c3d4e5",
                "STOCKADE_ERPNEXT_API_SECRET" => "f6e5d4c3b2",
                "STOCKADE_ERPNEXT_COMPANY" => "Acme Retail",
                "STOCKADE_ERPNEXT_CUSTOMER" => "Web Shop",
                "STOCKADE_ERPNEXT_COMPANY_ABBR" => "ACME",
                _ => return None,
            };
            Some(v.to_owned())
        };
        let c = ErpNextConfig::from_env(full).unwrap();
        assert_eq!(c.timeout, Duration::from_secs(10));
        assert_eq!(c.page_size, 500);
        assert_eq!(c.warehouses.warehouse("Stores"), "Stores - ACME");
        assert!(!format!("{c:?}").contains("f6e5d4c3b2"));

        for missing in ["URL", "API_KEY", "API_SECRET", "COMPANY", "CUSTOMER"] {
            let key = format!("STOCKADE_ERPNEXT_{missing}");
            let e = ErpNextConfig::from_env(|k| (k != key).then(|| full(k)).flatten()).unwrap_err();
            assert!(e.to_string().contains(&key), "{e}");
        }
        let e = ErpNextConfig::from_env(|k| match k {
            "STOCKADE_ERPNEXT_PAGE_SIZE" => Some("0".into()),
            _ => full(k),
        })
        .unwrap_err();
        assert!(e.to_string().contains("PAGE_SIZE"), "{e}");
        let e = ErpNextConfig::from_env(|k| match k {
            "STOCKADE_ERPNEXT_WAREHOUSES" => Some("A=X;B=X".into()),
            _ => full(k),
        })
        .unwrap_err();
        assert!(e.to_string().contains("WAREHOUSES"), "{e}");
    }
}
