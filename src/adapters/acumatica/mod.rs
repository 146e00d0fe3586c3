//! Acumatica through its contract-based REST API (`<instance>/entity/Default/<version>`).
//!
//! Stock comes from `StockItem` with its `WarehouseDetails` (on hand) and from the open
//! lines of open sales orders (committed); orders go to `SalesOrder` under Stockade's
//! order id as `CustomerOrder`, which is looked up before every create so that a retry
//! after a timeout finds the first order instead of making a second; shipments are the
//! order's `Shipment`s, and the ones Stockade records are made from the order's lines,
//! keyed by order and shipment id in their description, and confirmed
//! (`ConfirmShipment`); returns are sales orders of the return order type (`RC`) and
//! refunds credit memos, both keyed by the RMA id the same way.
//!
//! Every operation logs in and out again ([`client::Scope`]): sessions count against the
//! licence. Sessions live in [`session`], the protocol in [`client`], the shapes in
//! [`map`]. What the Acumatica user needs and what is not covered is in
//! `docs/ADAPTERS.md`.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;

use super::{AdapterError, ErpAdapter, ErpReference};
use crate::config::Secret;
use crate::domain::order::Order;
use crate::domain::rma::Rma;
use crate::domain::shipment::Shipment;
use crate::store::PositionRow;

pub mod auth;
pub mod client;
pub mod map;
pub mod session;

use auth::Grant;
use client::{AuthConfig, Client, Limits, Scope};
use map::{InvoiceKey, SalesOrder, ShipmentDoc, StockItem};
use session::Login;

/// SKUs named in one `$filter`: keeps the URL well under what proxies accept.
const SKUS_PER_QUERY: usize = 20;
/// The `Invoice` type of a credit memo.
const CREDIT_MEMO: &str = "Credit Memo";

/// Where the instance is, who logs in and where documents go; all from the environment,
/// since the password is a secret and the rest belongs with it.
#[derive(Debug, Clone)]
pub struct AcumaticaConfig {
    /// The instance, `https://<host>/<instance>` (the instance name is part of every path).
    pub url: String,
    /// `<name>/<version>` of the contract-based endpoint, `Default/22.200.001`.
    pub endpoint: String,
    pub user: String,
    pub password: Secret,
    /// The tenant; empty on a single-tenant instance.
    pub company: String,
    /// Empty: the user's default branch.
    pub branch: String,
    /// A connected application to get OAuth 2 tokens from, instead of cookie sessions.
    pub oauth: Option<OAuthClient>,
    /// The customer web orders, returns and credit memos are booked to.
    pub customer_id: String,
    /// The order type of sales orders (`SO`) and of return orders (`RC`).
    pub order_type: String,
    pub return_order_type: String,
    pub timeout: Duration,
    /// Records per page (`$top`).
    pub page_size: u32,
    pub limits: Limits,
}

/// A connected application's client id and secret.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: Secret,
}

impl AcumaticaConfig {
    /// `STOCKADE_ACUMATICA_URL`, `_USER`, `_PASSWORD`, `_CUSTOMER_ID` (required);
    /// `_AUTH` (`session`, or `oauth2` with `_CLIENT_ID` and `_CLIENT_SECRET`);
    /// `_COMPANY`, `_BRANCH` (empty), `_ENDPOINT_NAME` (Default), `_ENDPOINT_VERSION`
    /// (22.200.001), `_ORDER_TYPE` (SO), `_RETURN_ORDER_TYPE` (RC), `_TIMEOUT_MS`
    /// (10000), `_PAGE_SIZE` (100), `_MAX_SESSIONS` (2), `_REQUESTS_PER_MINUTE` (120).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |key: &str| env(&format!("STOCKADE_ACUMATICA_{key}")).filter(|v| !v.is_empty());
        let required = |key: &str| {
            var(key).with_context(|| {
                format!("erp acumatica: STOCKADE_ACUMATICA_{key} must be set in the environment")
            })
        };
        let or = |key: &str, default: &str| var(key).unwrap_or_else(|| default.to_owned());
        let number = |key: &str, default: u64, range: std::ops::RangeInclusive<u64>| {
            let n = match var(key) {
                Some(v) => v.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "erp acumatica: STOCKADE_ACUMATICA_{key} `{v}` is not a whole number"
                    )
                })?,
                None => default,
            };
            if !range.contains(&n) {
                anyhow::bail!(
                    "erp acumatica: STOCKADE_ACUMATICA_{key} must be between {} and {}",
                    range.start(),
                    range.end()
                );
            }
            Ok(n)
        };
        let oauth = match or("AUTH", "session").as_str() {
            "session" => None,
            "oauth2" => Some(OAuthClient {
                client_id: required("CLIENT_ID")?,
                client_secret: Secret::new(required("CLIENT_SECRET")?),
            }),
            other => anyhow::bail!(
                "erp acumatica: STOCKADE_ACUMATICA_AUTH `{other}` is neither `session` nor `oauth2`"
            ),
        };
        Ok(Self {
            url: required("URL")?,
            endpoint: format!(
                "{}/{}",
                or("ENDPOINT_NAME", "Default"),
                or("ENDPOINT_VERSION", "22.200.001")
            ),
            user: required("USER")?,
            password: Secret::new(required("PASSWORD")?),
            company: or("COMPANY", ""),
            branch: or("BRANCH", ""),
            oauth,
            customer_id: required("CUSTOMER_ID")?,
            order_type: or("ORDER_TYPE", "SO"),
            return_order_type: or("RETURN_ORDER_TYPE", "RC"),
            timeout: Duration::from_millis(number("TIMEOUT_MS", 10_000, 1..=300_000)?),
            page_size: u32::try_from(number("PAGE_SIZE", 100, 1..=1000)?)?,
            limits: Limits {
                sessions: usize::try_from(number("MAX_SESSIONS", 2, 1..=100)?)?,
                requests_per_minute: u32::try_from(number(
                    "REQUESTS_PER_MINUTE",
                    120,
                    1..=100_000,
                )?)?,
            },
        })
    }
}

pub struct Acumatica {
    client: Client,
    // TODO: map customers per channel or per buyer; every document goes to this one
    // customer, so Acumatica's customer reports see a single buyer.
    customer_id: String,
    order_type: String,
    return_order_type: String,
}

impl Acumatica {
    pub fn new(config: AcumaticaConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        let auth = match config.oauth {
            // The token endpoint knows the tenant by the user name's suffix.
            Some(app) => AuthConfig::OAuth(Grant {
                client_id: app.client_id,
                client_secret: app.client_secret,
                username: if config.company.is_empty() {
                    config.user
                } else {
                    format!("{}@{}", config.user, config.company)
                },
                password: config.password,
            }),
            None => AuthConfig::Session(Login {
                user: config.user,
                password: config.password,
                company: config.company,
                branch: config.branch,
            }),
        };
        Ok(Self {
            client: Client::new(
                http,
                &config.url,
                &config.endpoint,
                auth,
                config.timeout,
                config.page_size,
                config.limits,
            )?,
            customer_id: config.customer_id,
            order_type: config.order_type,
            return_order_type: config.return_order_type,
        })
    }

    /// The sales order of `order_type` whose `CustomerOrder` is `key`, with the details
    /// named in `expand`, if any.
    async fn find_order(
        &self,
        scope: &Scope<'_>,
        order_type: &str,
        key: &str,
        expand: Option<&str>,
    ) -> Result<Option<SalesOrder>, AdapterError> {
        let mut query = vec![(
            "$filter",
            format!(
                "OrderType eq {} and CustomerOrder eq {}",
                map::literal(order_type),
                map::literal(key)
            ),
        )];
        if let Some(expand) = expand {
            query.push(("$expand", expand.to_owned()));
        }
        let found: Vec<SalesOrder> = scope.list("SalesOrder", &query).await?;
        Ok(found.into_iter().next())
    }

    /// The order of `order_type` keyed by `key`, created from `body` unless it exists.
    async fn find_or_create_order(
        &self,
        scope: &Scope<'_>,
        order_type: &str,
        key: &str,
        body: impl FnOnce() -> Result<serde_json::Value, AdapterError>,
    ) -> Result<ErpReference, AdapterError> {
        if let Some(found) = self.find_order(scope, order_type, key, None).await? {
            return Ok(ErpReference(map::order_reference(&found)?));
        }
        let select = [("$select", "OrderType,OrderNbr".to_owned())];
        let created: SalesOrder = scope.put("SalesOrder", &select, &body()?).await?;
        let reference = map::order_reference(&created)?;
        tracing::info!(erp.system = "acumatica", erp.reference = %reference, "order created");
        Ok(ErpReference(reference))
    }

    async fn stock_in(
        &self,
        scope: &Scope<'_>,
        skus: &[String],
        locations: &[String],
    ) -> Result<Vec<PositionRow>, AdapterError> {
        let item_query = [
            ("$expand", "WarehouseDetails".to_owned()),
            (
                "$select",
                "InventoryID,WarehouseDetails/WarehouseID,WarehouseDetails/QtyOnHand".to_owned(),
            ),
        ];
        let mut items: Vec<StockItem> = Vec::new();
        if skus.is_empty() {
            items = scope.list("StockItem", &item_query).await?;
        } else {
            for chunk in skus.chunks(SKUS_PER_QUERY) {
                let mut query = item_query.to_vec();
                query.push(("$filter", map::any_of("InventoryID", chunk)));
                items.extend(scope.list::<StockItem>("StockItem", &query).await?);
            }
        }
        // TODO: every sweep reads all open orders to sum what they hold; a large order book
        // would rather read the Inventory Summary inquiry per item.
        let statuses: Vec<String> = map::OPEN_ORDER_STATUSES
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let open_orders: Vec<SalesOrder> = scope
            .list(
                "SalesOrder",
                &[
                    ("$filter", map::any_of("Status", &statuses)),
                    ("$expand", "Details".to_owned()),
                    (
                        "$select",
                        "OrderType,OrderNbr,Status,Details/InventoryID,Details/WarehouseID,\
                         Details/OpenQty"
                            .to_owned(),
                    ),
                ],
            )
            .await?;
        map::positions(
            items,
            &open_orders,
            &self.order_type,
            skus,
            locations,
            crate::domain::time::now(),
        )
    }

    async fn shipments_in(
        &self,
        scope: &Scope<'_>,
        order: &Order,
    ) -> Result<Vec<Shipment>, AdapterError> {
        let Some(found) = self
            .find_order(scope, &self.order_type, &order.id, Some("Shipments"))
            .await?
        else {
            return Ok(Vec::new());
        };
        let numbers: Vec<String> = found
            .shipments
            .iter()
            .filter_map(|s| s.number.value.clone())
            .collect();
        let mut shipments = Vec::new();
        for chunk in numbers.chunks(SKUS_PER_QUERY) {
            let docs: Vec<ShipmentDoc> = scope
                .list(
                    "Shipment",
                    &[
                        ("$filter", map::any_of("ShipmentNbr", chunk)),
                        ("$expand", "Details,Packages".to_owned()),
                    ],
                )
                .await?;
            for doc in docs {
                shipments.push(map::shipment(order, doc)?);
            }
        }
        Ok(shipments)
    }

    async fn record_shipment_in(
        &self,
        scope: &Scope<'_>,
        order: &Order,
        shipment: &Shipment,
    ) -> Result<ErpReference, AdapterError> {
        let key = map::shipment_key(&order.id, &shipment.id)?;
        let found: Vec<ShipmentDoc> = scope
            .list(
                "Shipment",
                &[("$filter", format!("Description eq {}", map::literal(&key)))],
            )
            .await?;
        let doc = match found.into_iter().next() {
            Some(doc) => doc,
            None => {
                let base = self
                    .find_order(scope, &self.order_type, &order.id, Some("Details"))
                    .await?
                    .ok_or_else(|| {
                        AdapterError::Permanent(format!("order {} is not in Acumatica", order.id))
                    })?;
                let body = map::shipment_body(&base, &key, shipment, &self.customer_id)?;
                scope.put("Shipment", &[], &body).await?
            }
        };
        let number = doc.number.value.clone().ok_or_else(|| {
            AdapterError::Transient("Acumatica answered a shipment without ShipmentNbr".into())
        })?;
        // A shipment made by an attempt whose answer was lost may still wait for this.
        if doc.is_open() {
            let entity = serde_json::json!({ "ShipmentNbr": map::wrap(number.as_str()) });
            scope.action("Shipment", "ConfirmShipment", entity).await?;
            tracing::info!(
                erp.system = "acumatica",
                shipment.id = %shipment.id,
                erp.reference = %number,
                "shipment confirmed"
            );
        }
        Ok(ErpReference(number))
    }

    async fn post_refund_in(
        &self,
        scope: &Scope<'_>,
        order: &Order,
        rma: &Rma,
    ) -> Result<ErpReference, AdapterError> {
        // A credit only for what Acumatica itself authorized: a return order must exist.
        // TODO: make the credit memo from the return order once its receipt is released
        // (Acumatica's own flow), so both close together; today they stand side by side
        // under the same reference and the return order stays open.
        if self
            .find_order(scope, &self.return_order_type, &rma.id, None)
            .await?
            .is_none()
        {
            return Err(AdapterError::Permanent(format!(
                "return {}: no return order in Acumatica, so no credit memo",
                rma.id
            )));
        }
        let filter = format!(
            "Type eq {} and CustomerOrder eq {}",
            map::literal(CREDIT_MEMO),
            map::literal(&rma.id)
        );
        let found: Vec<InvoiceKey> = scope.list("Invoice", &[("$filter", filter)]).await?;
        if let Some(found) = found.first() {
            return Ok(ErpReference(map::invoice_reference(found)?));
        }
        let body = map::credit_memo(order, rma, &self.customer_id)?;
        let select = [("$select", "Type,ReferenceNbr".to_owned())];
        let created: InvoiceKey = scope.put("Invoice", &select, &body).await?;
        Ok(ErpReference(map::invoice_reference(&created)?))
    }
}

#[async_trait]
impl ErpAdapter for Acumatica {
    fn system(&self) -> &'static str {
        "acumatica"
    }

    async fn stock_levels(
        &self,
        skus: &[String],
        locations: &[String],
    ) -> Result<Vec<PositionRow>, AdapterError> {
        let scope = self.client.open().await?;
        let result = self.stock_in(&scope, skus, locations).await;
        scope.close().await;
        result
    }

    async fn submit_order(&self, order: &Order) -> Result<ErpReference, AdapterError> {
        let scope = self.client.open().await?;
        let result = self
            .find_or_create_order(&scope, &self.order_type, &order.id, || {
                map::sales_order(order, &self.customer_id, &self.order_type)
            })
            .await;
        scope.close().await;
        result
    }

    async fn shipments(&self, order: &Order) -> Result<Vec<Shipment>, AdapterError> {
        let scope = self.client.open().await?;
        let result = self.shipments_in(&scope, order).await;
        scope.close().await;
        result
    }

    async fn record_shipment(
        &self,
        order: &Order,
        shipment: &Shipment,
    ) -> Result<ErpReference, AdapterError> {
        let scope = self.client.open().await?;
        let result = self.record_shipment_in(&scope, order, shipment).await;
        scope.close().await;
        result
    }

    async fn create_return(&self, order: &Order, rma: &Rma) -> Result<ErpReference, AdapterError> {
        // Refused before any login when it cannot be right.
        let body = map::return_order(order, rma, &self.customer_id, &self.return_order_type)?;
        let scope = self.client.open().await?;
        let result = self
            .find_or_create_order(&scope, &self.return_order_type, &rma.id, || Ok(body))
            .await;
        scope.close().await;
        result
    }

    async fn post_refund(&self, order: &Order, rma: &Rma) -> Result<ErpReference, AdapterError> {
        let scope = self.client.open().await?;
        let result = self.post_refund_in(&scope, order, rma).await;
        scope.close().await;
        result
    }

    async fn health(&self) -> Result<(), AdapterError> {
        // A login and one small read prove the credentials, the licence and the network.
        let scope = self.client.open().await?;
        let result = scope
            .get::<Vec<serde_json::Value>>(
                "SalesOrder",
                &[("$select", "OrderNbr".into()), ("$top", "1".into())],
            )
            .await
            .map(drop);
        scope.close().await;
        result
    }

    async fn shutdown(&self) {
        // Every operation logged out as it ended; no new one may start.
        self.client.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_environment_and_missing_ones_are_named() {
        let full = |k: &str| {
            let v = match k {
                "STOCKADE_ACUMATICA_URL" => "https://erp.example/AcumaticaERP",
                "STOCKADE_ACUMATICA_USER" => "stockade",
                "STOCKADE_ACUMATICA_PASSWORD" => "pw-9f3k",
                "STOCKADE_ACUMATICA_CUSTOMER_ID" => "WEBSHOP",
                _ => return None,
            };
            Some(v.to_owned())
        };
        let c = AcumaticaConfig::from_env(full).unwrap();
        assert_eq!(c.endpoint, "Default/22.200.001");
        assert_eq!(
            (c.order_type.as_str(), c.return_order_type.as_str()),
            ("SO", "RC")
        );
        assert_eq!(c.limits.sessions, 2);
        assert!(c.oauth.is_none());
        let e = AcumaticaConfig::from_env(|k| match k {
            "STOCKADE_ACUMATICA_AUTH" => Some("oauth2".into()),
            _ => full(k),
        })
        .unwrap_err();
        assert!(
            e.to_string().contains("STOCKADE_ACUMATICA_CLIENT_ID"),
            "{e}"
        );
        assert!(!format!("{c:?}").contains("pw-9f3k"));

        for missing in ["URL", "USER", "PASSWORD", "CUSTOMER_ID"] {
            let key = format!("STOCKADE_ACUMATICA_{missing}");
            let e =
                AcumaticaConfig::from_env(|k| (k != key).then(|| full(k)).flatten()).unwrap_err();
            assert!(e.to_string().contains(&key), "{e}");
        }
        let e = AcumaticaConfig::from_env(|k| match k {
            "STOCKADE_ACUMATICA_PAGE_SIZE" => Some("0".into()),
            _ => full(k),
        })
        .unwrap_err();
        assert!(e.to_string().contains("PAGE_SIZE"), "{e}");
    }
}
