//! Dynamics 365 Business Central through its API v2.0 (OData v4 JSON), signed in as an
//! Entra application with OAuth 2 client credentials.
//!
//! Stock per item and location comes from a small custom API page (the standard `items`
//! entity only knows a total); orders go to `salesOrders` with their lines in one deep
//! insert, carrying Stockade's order id as `externalDocumentNumber`, which is looked up
//! before every create, and one line per allocation naming its location's id (read once
//! from `locations` by code), so that Business Central commits the units where Stockade
//! reserved them; shipments are the posted `salesShipments` with that number.
//! Recording a shipment posts the order with `Microsoft.NAV.shipAndInvoice`, the only
//! posting action API v2.0 offers on a sales order, so Business Central invoices what it
//! ships in the same step. A return is a draft `salesCreditMemos` document keyed by the RMA
//! id; the refund posts it. Tokens live in [`auth`], the protocol in [`client`], the shapes
//! in [`map`]. Settings, permissions, the custom page and the gaps: `docs/ADAPTERS.md`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use reqwest::Method;

use super::{AdapterError, ErpAdapter, ErpReference};
use crate::config::Secret;
use crate::domain::order::Order;
use crate::domain::rma::Rma;
use crate::domain::shipment::Shipment;
use crate::store::PositionRow;

pub mod auth;
pub mod client;
pub mod map;

use auth::ClientCredentials;
use client::Client;
use map::{CreditMemo, DocKey, Invoice, Location, OrderLine, PostedShipment, StockRow, Tracking};

/// SKUs (or location codes) named in one `$filter`: keeps the URL well under what
/// gateways accept.
const SKUS_PER_QUERY: usize = 20;
/// The scope that asks Entra for a token to Business Central's API.
const DEFAULT_SCOPE: &str = "https://api.businesscentral.dynamics.com/.default";

/// Everything the adapter needs, read from `STOCKADE_BC_*` variables.
#[derive(Debug, Clone)]
pub struct BusinessCentralConfig {
    /// The Entra tenant (directory) id or its domain.
    pub tenant_id: String,
    /// The environment's name (`production`, `sandbox`, ...).
    pub environment: String,
    /// The company's `id` (a GUID), as `GET /companies` lists it.
    pub company_id: String,
    pub credentials: ClientCredentials,
    /// `https://api.businesscentral.dynamics.com/v2.0/<tenant>/<environment>`; tests point
    /// it at a fake.
    pub base_url: String,
    /// Entra's token endpoint for the tenant.
    pub token_url: String,
    pub scope: String,
    /// The customer number web orders, returns and credit memos are booked to.
    pub customer_number: String,
    /// `<publisher>/<group>/<version>` of the custom API pages (stock per location, the
    /// shipment reference).
    pub custom_api: String,
    pub timeout: Duration,
    /// Rows per page asked for with `Prefer: odata.maxpagesize`.
    pub page_size: u32,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl BusinessCentralConfig {
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |key: &str| env(&format!("STOCKADE_BC_{key}")).filter(|v| !v.is_empty());
        let required = |key: &str| {
            var(key).with_context(|| format!("erp = business_central needs STOCKADE_BC_{key}"))
        };
        let number = |key: &str, default: u64| -> anyhow::Result<u64> {
            var(key).map_or(Ok(default), |v| {
                v.parse()
                    .with_context(|| format!("STOCKADE_BC_{key}: `{v}` is not a whole number"))
            })
        };
        let tenant_id = required("TENANT_ID")?;
        let environment = var("ENVIRONMENT").unwrap_or_else(|| "production".to_owned());
        let page_size = number("PAGE_SIZE", 1000)?;
        // Business Central serves at most 20,000 entities per page.
        if !(1..=20_000).contains(&page_size) {
            anyhow::bail!("STOCKADE_BC_PAGE_SIZE must be between 1 and 20000");
        }
        Ok(Self {
            base_url: var("BASE_URL").unwrap_or_else(|| {
                format!("https://api.businesscentral.dynamics.com/v2.0/{tenant_id}/{environment}")
            }),
            token_url: var("TOKEN_URL").unwrap_or_else(|| {
                format!("https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token")
            }),
            scope: var("SCOPE").unwrap_or_else(|| DEFAULT_SCOPE.to_owned()),
            company_id: required("COMPANY_ID")?,
            credentials: ClientCredentials {
                client_id: required("CLIENT_ID")?,
                client_secret: Secret::new(required("CLIENT_SECRET")?),
            },
            customer_number: required("CUSTOMER_NUMBER")?,
            custom_api: var("CUSTOM_API").unwrap_or_else(|| "stockade/inventory/v1.0".to_owned()),
            timeout: Duration::from_millis(number("TIMEOUT_MS", 30_000)?),
            page_size: u32::try_from(page_size)?,
            concurrency: usize::try_from(number("CONCURRENCY", 5)?.max(1))?,
            tenant_id,
            environment,
        })
    }
}

pub struct BusinessCentral {
    client: Client,
    // TODO: map customers per channel or per buyer; every document goes to this one
    // customer, so Business Central's customer statistics see a single buyer.
    customer_number: String,
    /// Location code → the id of its `locations` record. Locations are set up once and
    /// rarely change, so each code is read once per process.
    // TODO: forget an id Business Central refuses; a location deleted and made again
    // under the same code gets a new id, and orders naming it fail until a restart.
    location_ids: Mutex<HashMap<String, String>>,
}

impl BusinessCentral {
    pub fn new(config: BusinessCentralConfig) -> anyhow::Result<Self> {
        Ok(Self {
            customer_number: config.customer_number.clone(),
            client: Client::new(config)?,
            location_ids: Mutex::default(),
        })
    }

    fn cached_locations(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // The map is only ever extended, so one left by a panicking holder is still good.
        self.location_ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The `locations` id of each code, read from Business Central for codes not seen
    /// before. A code Business Central does not know is a permanent error: the order
    /// cannot be written until someone sets the location up.
    async fn location_ids(
        &self,
        codes: &[String],
    ) -> Result<HashMap<String, String>, AdapterError> {
        let missing: Vec<String> = {
            let known = self.cached_locations();
            codes
                .iter()
                .filter(|c| !known.contains_key(*c))
                .cloned()
                .collect()
        };
        for chunk in missing.chunks(SKUS_PER_QUERY) {
            let query = [("$filter", map::location_filter(chunk))];
            let url = self.client.standard("locations", &query)?;
            let found: Vec<Location> = self.client.all(url).await?;
            let mut known = self.cached_locations();
            known.extend(found.into_iter().map(|l| (l.code, l.id)));
        }
        let known = self.cached_locations();
        codes
            .iter()
            .map(|code| match known.get(code) {
                Some(id) => Ok((code.clone(), id.clone())),
                None => Err(AdapterError::Permanent(format!(
                    "location `{code}` is not in Business Central's locations"
                ))),
            })
            .collect()
    }

    /// The first document of `entity` whose `field` is `value`.
    async fn find<T: serde::de::DeserializeOwned>(
        &self,
        entity: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<T>, AdapterError> {
        let query = [("$filter", map::eq(field, value))];
        let url = self.client.standard(entity, &query)?;
        Ok(self.client.all::<T>(url).await?.into_iter().next())
    }

    /// The sales order made for `order.id`. A fully shipped and invoiced order is deleted
    /// by Business Central; its posted invoice keeps the order's id, so it is found there.
    async fn find_order(&self, order_id: &str) -> Result<Option<String>, AdapterError> {
        let open = self.find::<DocKey>("salesOrders", "externalDocumentNumber", order_id);
        if let Some(order) = open.await? {
            return Ok(Some(order.id));
        }
        let posted = self.find::<Invoice>("salesInvoices", "externalDocumentNumber", order_id);
        Ok(posted.await?.and_then(Invoice::order_id))
    }

    /// The sales order's id: the one recorded on the order, or found again.
    async fn sales_order_id(&self, order: &Order) -> Result<String, AdapterError> {
        if let Some(reference) = &order.erp.reference {
            return Ok(reference.clone());
        }
        self.find_order(&order.id).await?.ok_or_else(|| {
            AdapterError::Permanent(format!("order {} is not in Business Central", order.id))
        })
    }

    /// The credit memo, draft or posted, made for the RMA.
    async fn find_memo(&self, rma: &Rma) -> Result<Option<CreditMemo>, AdapterError> {
        self.find("salesCreditMemos", "externalDocumentNumber", &rma.id)
            .await
    }

    /// The posted shipment that carries Stockade's shipment id in "Your Reference".
    async fn find_shipment(&self, shipment_id: &str) -> Result<Option<DocKey>, AdapterError> {
        self.find(
            "salesShipments",
            "customerPurchaseOrderReference",
            shipment_id,
        )
        .await
    }

    /// Sets each line's quantity to ship (and invoice) to this shipment's share, and the
    /// order's "Your Reference" to the shipment id so the posted shipment carries it.
    async fn prepare_shipment(&self, so: &str, shipment: &Shipment) -> Result<(), AdapterError> {
        let lines_url = self
            .client
            .standard(&format!("salesOrders({so})/salesOrderLines"), &[])?;
        let lines: Vec<OrderLine> = self.client.all(lines_url).await?;
        for (line, quantity) in map::ship_plan(&lines, &shipment.lines)? {
            let url = self.client.standard(
                &format!("salesOrders({so})/salesOrderLines({})", line.id),
                &[],
            )?;
            let body = serde_json::json!({ "shipQuantity": quantity, "invoiceQuantity": quantity });
            self.client.patch(url, &line.etag, &body).await?;
        }
        let url = self
            .client
            .custom(&format!("salesOrderShipping({so})"), &[])?;
        let body = map::shipping_fields(shipment)?;
        // The page carries no etag worth reading first: the order's lines were just read
        // and changed, and nothing else writes this field.
        self.client.patch(url, "*", &body).await
    }
}

#[async_trait]
impl ErpAdapter for BusinessCentral {
    fn system(&self) -> &'static str {
        "business_central"
    }

    async fn stock_levels(
        &self,
        skus: &[String],
        locations: &[String],
    ) -> Result<Vec<PositionRow>, AdapterError> {
        let now = crate::domain::time::now();
        let mut rows: Vec<StockRow> = Vec::new();
        let read = |filter: Option<String>| {
            let query: Vec<(&str, String)> = filter.into_iter().map(|f| ("$filter", f)).collect();
            self.client.custom("stockLevels", &query)
        };
        if skus.is_empty() {
            let url = read(map::stock_filter(&[], locations))?;
            rows = self.client.all(url).await?;
        } else {
            for chunk in skus.chunks(SKUS_PER_QUERY) {
                let url = read(map::stock_filter(chunk, locations))?;
                rows.extend(self.client.all::<StockRow>(url).await?);
            }
        }
        let mut positions = map::positions(rows, now)?;
        if !locations.is_empty() {
            positions.retain(|row| locations.contains(&row.location));
        }
        Ok(positions)
    }

    async fn submit_order(&self, order: &Order) -> Result<ErpReference, AdapterError> {
        if let Some(id) = self.find_order(&order.id).await? {
            return Ok(ErpReference(id));
        }
        let location_ids = self.location_ids(&map::order_locations(order)).await?;
        let body = map::sales_order(order, &self.customer_number, &location_ids)?;
        let url = self.client.standard("salesOrders", &[])?;
        let created: DocKey = self.client.create(url, &body).await?;
        tracing::info!(
            erp.system = "business_central",
            order.id = %order.id,
            erp.document = %created.number,
            "sales order created"
        );
        Ok(ErpReference(created.id))
    }

    async fn shipments(&self, order: &Order) -> Result<Vec<Shipment>, AdapterError> {
        // Posted shipments keep the order's external document number, also once Business
        // Central has deleted the order itself.
        let query = [
            ("$filter", map::eq("externalDocumentNumber", &order.id)),
            ("$expand", "salesShipmentLines".to_owned()),
        ];
        let url = self.client.standard("salesShipments", &query)?;
        let posted: Vec<PostedShipment> = self.client.all(url).await?;
        if posted.is_empty() {
            return Ok(Vec::new());
        }
        // API v2.0 leaves the package tracking number out; the custom page has it.
        let query = [("$filter", map::eq("externalDocumentNumber", &order.id))];
        let url = self.client.custom("shipmentTracking", &query)?;
        let tracking: Vec<Tracking> = self.client.all(url).await?;
        map::shipments(order, posted, tracking)
    }

    async fn record_shipment(
        &self,
        order: &Order,
        shipment: &Shipment,
    ) -> Result<ErpReference, AdapterError> {
        if let Some(posted) = self.find_shipment(&shipment.id).await? {
            return Ok(ErpReference(posted.number));
        }
        let so = self.sales_order_id(order).await?;
        self.prepare_shipment(&so, shipment).await?;
        let url = self.client.standard(
            &format!("salesOrders({so})/Microsoft.NAV.shipAndInvoice"),
            &[],
        )?;
        self.client.action(url).await?;
        let posted = self.find_shipment(&shipment.id).await?.ok_or_else(|| {
            AdapterError::Transient(format!(
                "shipment {} was posted but Business Central does not list it yet",
                shipment.id
            ))
        })?;
        tracing::info!(
            erp.system = "business_central",
            shipment.id = %shipment.id,
            erp.document = %posted.number,
            "shipment posted"
        );
        Ok(ErpReference(posted.number))
    }

    async fn create_return(&self, order: &Order, rma: &Rma) -> Result<ErpReference, AdapterError> {
        if let Some(memo) = self.find_memo(rma).await? {
            return Ok(ErpReference(memo.id));
        }
        let body = map::credit_memo(order, rma, &self.customer_number)?;
        let url = self.client.standard("salesCreditMemos", &[])?;
        let created: DocKey = self.client.create(url, &body).await?;
        tracing::info!(
            erp.system = "business_central",
            rma.id = %rma.id,
            erp.document = %created.number,
            "credit memo drafted"
        );
        Ok(ErpReference(created.id))
    }

    async fn post_refund(&self, _order: &Order, rma: &Rma) -> Result<ErpReference, AdapterError> {
        // A credit only for what was authorized: the draft made by `create_return`.
        let memo = self.find_memo(rma).await?.ok_or_else(|| {
            AdapterError::Permanent(format!(
                "return {}: no credit memo in Business Central, so nothing to post",
                rma.id
            ))
        })?;
        if !memo.is_draft() {
            return Ok(ErpReference(memo.id));
        }
        let path = format!("salesCreditMemos({})/Microsoft.NAV.post", memo.id);
        self.client
            .action(self.client.standard(&path, &[])?)
            .await?;
        // Read again, so that a repeat answers the same reference whether or not posting
        // gave the memo a new id.
        let posted = self.find_memo(rma).await?.ok_or_else(|| {
            AdapterError::Transient(format!(
                "return {}: the credit memo was posted but is not listed yet",
                rma.id
            ))
        })?;
        tracing::info!(erp.system = "business_central", rma.id = %rma.id, "credit memo posted");
        Ok(ErpReference(posted.id))
    }

    async fn health(&self) -> Result<(), AdapterError> {
        // One small read proves the token, the environment, the company and the network.
        let url = self.client.standard("", &[("$select", "id".to_owned())])?;
        self.client
            .call(Method::GET, url, None, None)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(missing: &'static str) -> impl Fn(&str) -> Option<String> {
        move |key: &str| {
            let key = key.strip_prefix("STOCKADE_BC_").unwrap();
            let value = match key {
                _ if key == missing => return None,
                "TENANT_ID" => "contoso.onmicrosoft.com",
                "COMPANY_ID" => "5f6d2f5a-0000-4000-8000-00000000c0c1",
                "CLIENT_ID" => "0a1b2c3d-app",
                "CLIENT_SECRET" => "s3cr3t-value",
                "CUSTOMER_NUMBER" => "10000",
                _ => return None,
            };
            Some(value.to_owned())
        }
    }

    #[test]
    fn settings_default_to_microsofts_hosts_and_refuse_missing_secrets() {
        let config = BusinessCentralConfig::from_env(env("")).unwrap();
        assert_eq!(
            config.base_url,
            "https://api.businesscentral.dynamics.com/v2.0/contoso.onmicrosoft.com/production"
        );
        assert_eq!(
            config.token_url,
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(config.scope, DEFAULT_SCOPE);
        assert_eq!(config.custom_api, "stockade/inventory/v1.0");
        assert_eq!((config.page_size, config.concurrency), (1000, 5));
        assert!(!format!("{config:?}").contains("s3cr3t-value"));
        let missing = BusinessCentralConfig::from_env(env("CLIENT_SECRET")).unwrap_err();
        assert!(missing.to_string().contains("STOCKADE_BC_CLIENT_SECRET"));
        let bad = BusinessCentralConfig::from_env(|k| match k {
            "STOCKADE_BC_PAGE_SIZE" => Some("0".into()),
            k => env("")(k),
        });
        assert!(bad.unwrap_err().to_string().contains("PAGE_SIZE"));
    }
}
