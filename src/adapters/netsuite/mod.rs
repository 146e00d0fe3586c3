//! NetSuite through SuiteTalk REST: stock per item and location read with SuiteQL, sales
//! orders created with Stockade's order id as their external id (looked up before any
//! create, so a retry after a lost answer finds the first one), shipments recorded as item
//! fulfilments under Stockade's shipment id and read back, returns and credits made by
//! transforming the records they come from. See
//! `docs/ADAPTERS.md` for the settings, the role's permissions and the known gaps.
//!
//! A refund is booked as a credit memo transformed from the return authorization: it
//! credits the customer's account in NetSuite, as the embedded backend books a credit
//! note; the money itself moves through the sales channel's payment provider, so a
//! customer refund (which records a payment out) would count it twice.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use reqwest::Method;
use time::OffsetDateTime;

use super::{AdapterError, ErpAdapter, ErpReference};
use crate::config::Secret;
use crate::domain::order::{Allocation, Order};
use crate::domain::rma::Rma;
use crate::domain::shipment::Shipment;
use crate::store::PositionRow;

pub mod auth;
pub mod client;
pub mod map;

use auth::TokenCredentials;
use client::Client;

const RECORDS: &str = "/services/rest/record/v1";
/// SKUs per SuiteQL query; NetSuite's `IN` lists stay well under its 1,000 limit.
const SKUS_PER_QUERY: usize = 500;

/// Everything the adapter needs, read from `STOCKADE_NETSUITE_*` variables.
#[derive(Debug, Clone)]
pub struct NetSuiteConfig {
    /// The account id as NetSuite writes it (`1234567_SB1`); it is the OAuth realm.
    pub account_id: String,
    pub credentials: TokenCredentials,
    /// Defaults to `https://<account>.suitetalk.api.netsuite.com`; tests point it at a fake.
    pub base_url: String,
    /// The customer record web orders are booked to.
    pub customer_id: String,
    pub timeout: Duration,
    /// Requests in flight at once; at most the account's concurrency limit.
    pub concurrency: usize,
    /// SuiteQL rows per page (NetSuite allows up to 1,000).
    pub page_size: u32,
}

impl NetSuiteConfig {
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |key: &str| env(&format!("STOCKADE_NETSUITE_{key}"));
        let required = |key: &str| {
            var(key).with_context(|| format!("erp = netsuite needs STOCKADE_NETSUITE_{key}"))
        };
        let number = |key: &str, default: u64| -> anyhow::Result<u64> {
            var(key).map_or(Ok(default), |v| {
                v.parse()
                    .with_context(|| format!("STOCKADE_NETSUITE_{key}: `{v}` is not a number"))
            })
        };
        let account_id = required("ACCOUNT_ID")?;
        let host = account_id.to_ascii_lowercase().replace('_', "-");
        Ok(Self {
            credentials: TokenCredentials {
                consumer_key: Secret::new(required("CONSUMER_KEY")?),
                consumer_secret: Secret::new(required("CONSUMER_SECRET")?),
                token_id: Secret::new(required("TOKEN_ID")?),
                token_secret: Secret::new(required("TOKEN_SECRET")?),
            },
            base_url: var("BASE_URL")
                .unwrap_or_else(|| format!("https://{host}.suitetalk.api.netsuite.com")),
            customer_id: required("CUSTOMER_ID")?,
            timeout: Duration::from_millis(number("TIMEOUT_MS", 30_000)?),
            concurrency: usize::try_from(number("CONCURRENCY", 4)?)?,
            page_size: u32::try_from(number("PAGE_SIZE", 1000)?.clamp(5, 1000))?,
            account_id,
        })
    }
}

pub struct NetSuite {
    client: Client,
    customer_id: String,
}

impl NetSuite {
    pub fn new(config: NetSuiteConfig) -> Self {
        Self {
            client: Client::new(
                config.base_url,
                config.account_id,
                config.credentials,
                config.timeout,
                config.concurrency,
                config.page_size,
            ),
            customer_id: config.customer_id,
        }
    }

    /// The internal id of the record of `kind` whose external id is `external_id`.
    async fn find(&self, kind: &str, external_id: &str) -> Result<Option<String>, AdapterError> {
        let path = format!("{RECORDS}/{kind}/eid:{external_id}");
        match self.client.find(&path).await? {
            Some(answer) => map::record_id(&answer.body).map(Some),
            None => Ok(None),
        }
    }

    async fn item_ids(
        &self,
        skus: impl Iterator<Item = &String>,
    ) -> Result<std::collections::HashMap<String, String>, AdapterError> {
        let mut skus: Vec<String> = skus.cloned().collect();
        skus.sort();
        skus.dedup();
        let rows = self
            .client
            .suiteql(&map::item_ids_query(skus.len()), &skus)
            .await?;
        map::item_ids(&rows)
    }

    async fn location_ids(
        &self,
        allocations: impl Iterator<Item = &Allocation>,
    ) -> Result<std::collections::HashMap<String, String>, AdapterError> {
        let mut names: Vec<String> = allocations.map(|a| a.location.clone()).collect();
        names.sort();
        names.dedup();
        if names.is_empty() {
            return Ok(std::collections::HashMap::new());
        }
        let rows = self
            .client
            .suiteql(&map::location_ids_query(names.len()), &names)
            .await?;
        map::location_ids(&rows)
    }

    /// The sales order's internal id: the one recorded on the order, or found again.
    async fn sales_order_id(&self, order: &Order) -> Result<String, AdapterError> {
        if let Some(reference) = &order.erp.reference {
            return Ok(reference.clone());
        }
        self.find("salesOrder", &order.id).await?.ok_or_else(|| {
            AdapterError::Permanent(format!("order {} is not in NetSuite", order.id))
        })
    }

    async fn create(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<ErpReference, AdapterError> {
        let answer = self
            .client
            .call(Method::POST, path, &[], Some(body))
            .await?;
        map::id_from_location(answer.location.as_deref()).map(ErpReference)
    }
}

#[async_trait]
impl ErpAdapter for NetSuite {
    fn system(&self) -> &'static str {
        "netsuite"
    }

    async fn stock_levels(
        &self,
        skus: &[String],
        locations: &[String],
    ) -> Result<Vec<PositionRow>, AdapterError> {
        // Asked by SKU only: the projection sweeps Stockade's catalog a page of SKUs at a
        // time, and items NetSuite holds that Stockade does not sell are not its business.
        let mut out = Vec::new();
        for chunk in skus.chunks(SKUS_PER_QUERY) {
            let rows = self
                .client
                .suiteql(&map::stock_query(chunk.len()), chunk)
                .await?;
            out.extend(map::positions(&rows, OffsetDateTime::now_utc())?);
        }
        if !locations.is_empty() {
            out.retain(|row| locations.contains(&row.location));
        }
        Ok(out)
    }

    async fn submit_order(&self, order: &Order) -> Result<ErpReference, AdapterError> {
        if let Some(id) = self.find("salesOrder", &order.id).await? {
            return Ok(ErpReference(id));
        }
        let ids = self.item_ids(order.lines.iter().map(|l| &l.sku)).await?;
        let locations = self
            .location_ids(order.lines.iter().flat_map(|l| &l.allocations))
            .await?;
        let body = map::sales_order(order, &self.customer_id, &ids, &locations)?;
        self.create(&format!("{RECORDS}/salesOrder"), &body).await
    }

    async fn shipments(&self, order: &Order) -> Result<Vec<Shipment>, AdapterError> {
        let so = self.sales_order_id(order).await?;
        let rows = self.client.suiteql(map::fulfilments_query(), &[so]).await?;
        map::shipments(&order.id, &rows)
    }

    async fn record_shipment(
        &self,
        order: &Order,
        shipment: &Shipment,
    ) -> Result<ErpReference, AdapterError> {
        if let Some(id) = self.find("itemFulfillment", &shipment.id).await? {
            return Ok(ErpReference(id));
        }
        let so = self.sales_order_id(order).await?;
        let ids = self.item_ids(shipment.lines.iter().map(|l| &l.sku)).await?;
        let body = map::item_fulfillment(shipment, &ids)?;
        let path = format!("{RECORDS}/salesOrder/{so}/!transform/itemFulfillment");
        self.create(&path, &body).await
    }

    async fn create_return(&self, order: &Order, rma: &Rma) -> Result<ErpReference, AdapterError> {
        if let Some(id) = self.find("returnAuthorization", &rma.id).await? {
            return Ok(ErpReference(id));
        }
        let so = self.sales_order_id(order).await?;
        let ids = self.item_ids(rma.lines.iter().map(|l| &l.sku)).await?;
        let body = map::return_authorization(rma, &ids)?;
        let path = format!("{RECORDS}/salesOrder/{so}/!transform/returnAuthorization");
        self.create(&path, &body).await
    }

    async fn post_refund(&self, _order: &Order, rma: &Rma) -> Result<ErpReference, AdapterError> {
        let external_id = map::credit_external_id(rma);
        if let Some(id) = self.find("creditMemo", &external_id).await? {
            return Ok(ErpReference(id));
        }
        let ra = self
            .find("returnAuthorization", &rma.id)
            .await?
            .ok_or_else(|| {
                AdapterError::Permanent(format!("return {} is not in NetSuite", rma.id))
            })?;
        let body = serde_json::json!({ "externalId": external_id });
        let path = format!("{RECORDS}/returnAuthorization/{ra}/!transform/creditMemo");
        self.create(&path, &body).await
    }

    async fn health(&self) -> Result<(), AdapterError> {
        self.client
            .suiteql("SELECT 1 AS ok FROM DUAL", &[])
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_the_host_and_refuse_missing_secrets() {
        let env = |missing: &'static str| {
            move |key: &str| {
                let key = key.strip_prefix("STOCKADE_NETSUITE_").unwrap();
                match key {
                    _ if key == missing => None,
                    "ACCOUNT_ID" => Some("1234567_SB1".to_owned()),
                    "PAGE_SIZE" => Some("5000".to_owned()),
                    "TIMEOUT_MS" | "CONCURRENCY" | "BASE_URL" => None,
                    other => Some(format!("value-of-{other}")),
                }
            }
        };
        let config = NetSuiteConfig::from_env(env("")).unwrap();
        assert_eq!(
            config.base_url,
            "https://1234567-sb1.suitetalk.api.netsuite.com"
        );
        assert_eq!((config.page_size, config.concurrency), (1000, 4));
        assert!(!format!("{config:?}").contains("value-of-TOKEN_SECRET"));
        let missing = NetSuiteConfig::from_env(env("TOKEN_SECRET")).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("STOCKADE_NETSUITE_TOKEN_SECRET")
        );
    }
}
