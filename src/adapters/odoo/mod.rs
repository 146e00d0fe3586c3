//! Odoo through its external API, JSON-RPC or JSON-2 as configured ([`client`]).
//!
//! Stock comes from `stock.quant` in the internal locations of each warehouse; orders are
//! `sale.order` records carrying Stockade's order id as the customer reference
//! (`client_order_ref`), looked up before every create and confirmed (`action_confirm`),
//! which reserves each line at its warehouse; shipments are the order's validated
//! outgoing `stock.picking`s, and the ones Stockade records are its open delivery
//! validated with the shipment's lines and tracking number, keyed by the source document;
//! returns are incoming pickings and refunds `out_refund` credit notes, both keyed by the
//! RMA id. The shapes are in [`map`]. What the Odoo user needs and what is not covered is
//! in `docs/ADAPTERS.md`.

use std::collections::HashMap;
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

pub mod client;
pub mod map;

use client::{Client, Transport, decode};
use map::{Found, Location, Move, Picking, Product, Quant, SaleOrder, Warehouse, WarehouseMap};

/// Ids or codes named in one domain: keeps each request small.
const IDS_PER_QUERY: usize = 200;

/// Where Odoo is, which API to speak and who calls it; all from the environment, since
/// the key is a secret and the rest belongs with it.
#[derive(Debug, Clone)]
pub struct OdooConfig {
    /// `https://<host>`, without `/jsonrpc` or `/json/2`.
    pub url: String,
    pub transport: Transport,
    pub api_key: Secret,
    /// The customer (`res.partner` id) web orders, returns and credit notes are booked to.
    pub partner_id: i64,
    pub warehouses: WarehouseMap,
    pub timeout: Duration,
    /// Records per `search_read` page (`limit`).
    pub page_size: u32,
}

impl OdooConfig {
    /// `STOCKADE_ODOO_URL`, `_API_KEY`, `_PARTNER_ID` (required); `_TRANSPORT`
    /// (`jsonrpc`, or `json2` from Odoo 19); `_DATABASE` and `_UID` (required for
    /// `jsonrpc`, the database optional for `json2`); `_WAREHOUSES`, `_TIMEOUT_MS`
    /// (10000) and `_PAGE_SIZE` (100).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |key: &str| env(&format!("STOCKADE_ODOO_{key}")).filter(|v| !v.is_empty());
        let required = |key: &str| {
            var(key).with_context(|| {
                format!("erp odoo: STOCKADE_ODOO_{key} must be set in the environment")
            })
        };
        let number = |key: &str, value: String| -> anyhow::Result<u64> {
            value.parse().map_err(|_| {
                anyhow::anyhow!("erp odoo: STOCKADE_ODOO_{key} `{value}` is not a whole number")
            })
        };
        let transport = match var("TRANSPORT").as_deref().unwrap_or("jsonrpc") {
            "jsonrpc" => Transport::JsonRpc {
                database: required("DATABASE")?,
                uid: i64::try_from(number("UID", required("UID")?)?)?,
            },
            "json2" => Transport::Json2 {
                database: var("DATABASE"),
            },
            other => anyhow::bail!(
                "erp odoo: STOCKADE_ODOO_TRANSPORT `{other}` is neither `jsonrpc` nor `json2`"
            ),
        };
        let page_size = var("PAGE_SIZE").map_or(Ok(100), |v| number("PAGE_SIZE", v))?;
        if !(1..=1000).contains(&page_size) {
            anyhow::bail!("erp odoo: STOCKADE_ODOO_PAGE_SIZE must be between 1 and 1000");
        }
        let warehouses = WarehouseMap::parse(&var("WAREHOUSES").unwrap_or_default())
            .map_err(|e| anyhow::anyhow!("erp odoo: STOCKADE_ODOO_WAREHOUSES: {e}"))?;
        Ok(Self {
            url: required("URL")?,
            transport,
            api_key: Secret::new(required("API_KEY")?),
            partner_id: i64::try_from(number("PARTNER_ID", required("PARTNER_ID")?)?)?,
            warehouses,
            timeout: Duration::from_millis(
                var("TIMEOUT_MS").map_or(Ok(10_000), |v| number("TIMEOUT_MS", v))?,
            ),
            page_size: u32::try_from(page_size)?,
        })
    }
}

pub struct Odoo {
    client: Client,
    // TODO: map customers per channel or per buyer; every document goes to this one
    // partner, so Odoo's customer reports see a single buyer.
    partner_id: i64,
    warehouses: WarehouseMap,
}

impl Odoo {
    pub fn new(config: OdooConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            client: Client::new(
                http,
                &config.url,
                config.transport,
                config.api_key,
                config.timeout,
                config.page_size,
            ),
            partner_id: config.partner_id,
            warehouses: config.warehouses,
        })
    }

    /// Every warehouse, by Stockade location code.
    async fn warehouses(&self) -> Result<HashMap<String, Warehouse>, AdapterError> {
        let all: Vec<Warehouse> = self
            .client
            .search_read("stock.warehouse", json!([]), map::WAREHOUSE_FIELDS)
            .await?;
        Ok(map::by_location(all, &self.warehouses))
    }

    /// Products by internal reference: `sku → id` and `id → sku`.
    async fn products_by_sku(&self, skus: &[String]) -> Result<HashMap<String, i64>, AdapterError> {
        let mut found = HashMap::new();
        for chunk in skus.chunks(IDS_PER_QUERY) {
            let domain = json!([["default_code", "in", chunk]]);
            for p in self.products(domain).await? {
                if let Some(code) = p.default_code {
                    found.insert(code, p.id);
                }
            }
        }
        Ok(found)
    }

    /// The SKUs of products moved in the past, archived ones included.
    async fn skus_by_id(&self, ids: &[i64]) -> Result<HashMap<i64, String>, AdapterError> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let products: Vec<Product> = self
                .client
                .search_read_in(
                    "product.product",
                    json!([["id", "in", chunk]]),
                    &["default_code"],
                    json!({"active_test": false}),
                )
                .await?;
            for p in products {
                if let Some(code) = p.default_code {
                    found.insert(p.id, code);
                }
            }
        }
        Ok(found)
    }

    async fn products(&self, domain: Value) -> Result<Vec<Product>, AdapterError> {
        self.client
            .search_read("product.product", domain, &["default_code"])
            .await
    }

    /// The order's `sale.order`: by the reference recorded at submission, else by
    /// Stockade's order id as customer reference.
    async fn sale_order(&self, order: &Order) -> Result<Option<SaleOrder>, AdapterError> {
        let domain = match order.erp.reference.as_deref().map(str::parse::<i64>) {
            Some(Ok(id)) => json!([["id", "=", id]]),
            _ => json!([["client_order_ref", "=", order.id]]),
        };
        let found: Vec<SaleOrder> = self
            .client
            .search_read("sale.order", domain, &["name", "state", "warehouse_id"])
            .await?;
        Ok(found.into_iter().next())
    }

    async fn find(&self, model: &str, domain: Value) -> Result<Option<Found>, AdapterError> {
        let found: Vec<Found> = self.client.search_read(model, domain, &["state"]).await?;
        Ok(found.into_iter().next())
    }

    /// Calls a workflow method (`action_confirm`, `action_post`) on one record.
    async fn act(&self, model: &str, method: &str, id: i64) -> Result<(), AdapterError> {
        self.client
            .call(model, method, Some(&[id]), json!({}))
            .await
            .map(drop)
    }

    /// The record `model` found by `domain`, created from `vals` unless it exists, and
    /// moved on by `method` while it is still a draft: a retry after a lost answer to the
    /// create or to the confirmation finishes what the first attempt began.
    async fn find_or_create(
        &self,
        model: &str,
        domain: Value,
        method: &str,
        vals: impl Future<Output = Result<Value, AdapterError>>,
    ) -> Result<ErpReference, AdapterError> {
        let id = match self.find(model, domain).await? {
            Some(found) if found.state == "cancel" => {
                return Err(AdapterError::Permanent(format!(
                    "{model} {} is cancelled in Odoo",
                    found.id
                )));
            }
            Some(found) if !matches!(found.state.as_str(), "draft" | "sent") => {
                return Ok(ErpReference(found.id.to_string()));
            }
            Some(draft) => draft.id,
            None => {
                let id = self.client.create(model, vals.await?).await?;
                tracing::info!(
                    erp.system = "odoo",
                    model,
                    record.id = id,
                    "odoo: record created"
                );
                id
            }
        };
        self.act(model, method, id).await?;
        Ok(ErpReference(id.to_string()))
    }

    /// The delivery `shipment` is to validate, and what it takes of each move.
    async fn plan(
        &self,
        so: &SaleOrder,
        shipment: &Shipment,
    ) -> Result<(i64, Vec<(i64, i64)>), AdapterError> {
        let open: Vec<Found> = self
            .client
            .search_read(
                "stock.picking",
                json!([
                    ["sale_id", "=", so.id],
                    ["picking_type_code", "=", "outgoing"],
                    ["state", "in", ["confirmed", "waiting", "assigned"]]
                ]),
                &["state"],
            )
            .await?;
        let ids: Vec<i64> = open.iter().map(|p| p.id).collect();
        let moves: Vec<Move> = self
            .client
            .search_read(
                "stock.move",
                json!([
                    ["picking_id", "in", ids],
                    ["state", "not in", ["done", "cancel"]]
                ]),
                map::MOVE_FIELDS,
            )
            .await?;
        let products: Vec<i64> = moves.iter().filter_map(|m| m.product_id).collect();
        let skus = self.skus_by_id(&products).await?;
        map::validation(&moves, &skus, shipment)
    }

    /// Where the goods of a return come back to: the order's warehouse's receipts, from
    /// the customers' location into its stock.
    async fn return_route(&self, order: &Order) -> Result<map::ReturnRoute, AdapterError> {
        let missing = |what: &str| {
            AdapterError::Permanent(format!("order {}: {what} not found in Odoo", order.id))
        };
        let so = self
            .sale_order(order)
            .await?
            .ok_or_else(|| missing("the sale order"))?;
        let warehouse = self
            .warehouses()
            .await?
            .into_values()
            .find(|w| Some(w.id) == so.warehouse_id)
            .ok_or_else(|| missing("the order's warehouse"))?;
        let customers: Vec<Location> = self
            .client
            .search_read(
                "stock.location",
                json!([["usage", "=", "customer"]]),
                &["warehouse_id"],
            )
            .await?;
        Ok(map::ReturnRoute {
            picking_type_id: warehouse
                .in_type_id
                .ok_or_else(|| missing("a receipt type"))?,
            from: customers
                .first()
                .ok_or_else(|| missing("a customer location"))?
                .id,
            to: warehouse
                .lot_stock_id
                .ok_or_else(|| missing("a stock location"))?,
        })
    }
}

#[async_trait]
impl ErpAdapter for Odoo {
    fn system(&self) -> &'static str {
        "odoo"
    }

    async fn stock_levels(
        &self,
        skus: &[String],
        locations: &[String],
    ) -> Result<Vec<PositionRow>, AdapterError> {
        let now = crate::domain::time::now();
        let warehouses: HashMap<i64, String> = self
            .warehouses()
            .await?
            .into_iter()
            .filter(|(code, _)| locations.is_empty() || locations.contains(code))
            .map(|(code, w)| (w.id, code))
            .collect();
        if warehouses.is_empty() {
            // None of the asked locations is a warehouse in Odoo: they hold nothing there.
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = warehouses.keys().copied().collect();
        let internal: Vec<Location> = self
            .client
            .search_read(
                "stock.location",
                json!([["usage", "=", "internal"], ["warehouse_id", "in", ids]]),
                &["warehouse_id"],
            )
            .await?;
        let homes: HashMap<i64, String> = internal
            .into_iter()
            .filter_map(|l| Some((l.id, warehouses.get(&l.warehouse_id?)?.clone())))
            .collect();
        let products: HashMap<i64, String> = if skus.is_empty() {
            let all = self
                .products(json!([["default_code", "!=", false]]))
                .await?;
            all.into_iter()
                .filter_map(|p| Some((p.id, p.default_code?)))
                .collect()
        } else {
            self.products_by_sku(skus)
                .await?
                .into_iter()
                .map(|(s, id)| (id, s))
                .collect()
        };
        let locations: Vec<i64> = homes.keys().copied().collect();
        let product_ids: Vec<i64> = products.keys().copied().collect();
        let mut quants: Vec<Quant> = Vec::new();
        for chunk in product_ids.chunks(IDS_PER_QUERY) {
            let domain = json!([
                ["product_id", "in", chunk],
                ["location_id", "in", locations]
            ]);
            let fields = &["product_id", "location_id", "quantity", "reserved_quantity"];
            quants.extend(
                self.client
                    .search_read::<Quant>("stock.quant", domain, fields)
                    .await?,
            );
        }
        map::positions(&quants, &products, &homes, now)
    }

    async fn submit_order(&self, order: &Order) -> Result<ErpReference, AdapterError> {
        let domain = json!([["client_order_ref", "=", order.id]]);
        self.find_or_create("sale.order", domain, "action_confirm", async {
            let skus: Vec<String> = order.lines.iter().map(|l| l.sku.clone()).collect();
            let products = self.products_by_sku(&skus).await?;
            let warehouses = self.warehouses().await?;
            map::sale_order(order, self.partner_id, &products, &warehouses)
        })
        .await
    }

    async fn shipments(&self, order: &Order) -> Result<Vec<Shipment>, AdapterError> {
        let Some(so) = self.sale_order(order).await? else {
            return Ok(Vec::new());
        };
        let pickings: Vec<Picking> = self
            .client
            .search_read(
                "stock.picking",
                json!([
                    ["sale_id", "=", so.id],
                    ["picking_type_code", "=", "outgoing"],
                    ["state", "=", "done"]
                ]),
                map::PICKING_FIELDS,
            )
            .await?;
        if pickings.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = pickings.iter().map(|p| p.id).collect();
        let moves: Vec<Move> = self
            .client
            .search_read(
                "stock.move",
                json!([["picking_id", "in", ids], ["state", "=", "done"]]),
                map::MOVE_FIELDS,
            )
            .await?;
        let products: Vec<i64> = moves.iter().filter_map(|m| m.product_id).collect();
        let skus = self.skus_by_id(&products).await?;
        map::shipments(order, &so.name, &pickings, &moves, &skus)
    }

    async fn record_shipment(
        &self,
        order: &Order,
        shipment: &Shipment,
    ) -> Result<ErpReference, AdapterError> {
        let Some(so) = self.sale_order(order).await? else {
            return Err(AdapterError::Permanent(format!(
                "order {} is not in Odoo",
                order.id
            )));
        };
        let key = map::shipment_key(&so.name, &shipment.id);
        let domain = json!([
            ["sale_id", "=", so.id],
            ["origin", "=", key],
            ["state", "=", "done"]
        ]);
        if let Some(done) = self.find("stock.picking", domain).await? {
            return Ok(ErpReference(done.id.to_string()));
        }
        let (picking, taken) = self.plan(&so, shipment).await?;
        let vals = map::picking_write(&taken, shipment, &key);
        self.client
            .call(
                "stock.picking",
                "write",
                Some(&[picking]),
                json!({ "vals": vals }),
            )
            .await?;
        // Without `skip_backorder` Odoo answers a partial delivery with a wizard; with it,
        // the rest goes on a backorder as the picking type says.
        let answer = self
            .client
            .call(
                "stock.picking",
                "button_validate",
                Some(&[picking]),
                json!({ "context": { "skip_backorder": true } }),
            )
            .await?;
        if answer != Value::Bool(true) {
            return Err(AdapterError::Permanent(format!(
                "delivery {picking}: Odoo asked for a confirmation instead of validating ({})",
                answer["res_model"].as_str().unwrap_or("an action")
            )));
        }
        tracing::info!(
            erp.system = "odoo",
            shipment.id = %shipment.id,
            picking.id = picking,
            "odoo: delivery validated"
        );
        Ok(ErpReference(picking.to_string()))
    }

    async fn create_return(&self, order: &Order, rma: &Rma) -> Result<ErpReference, AdapterError> {
        super::check_return(order, rma)?;
        let domain = json!([
            ["origin", "=", rma.id],
            ["picking_type_code", "=", "incoming"]
        ]);
        self.find_or_create("stock.picking", domain, "action_confirm", async {
            let route = self.return_route(order).await?;
            let skus: Vec<String> = rma.lines.iter().map(|l| l.sku.clone()).collect();
            let products = self.products_by_sku(&skus).await?;
            map::return_picking(rma, self.partner_id, &route, &products)
        })
        .await
    }

    async fn post_refund(&self, order: &Order, rma: &Rma) -> Result<ErpReference, AdapterError> {
        // A credit only for a return Odoo itself holds.
        // TODO: link the credit note to the order's invoice (`reversed_entry_id`) so
        // Odoo reconciles it; today it stands beside the invoice under the RMA id.
        let domain = json!([
            ["origin", "=", rma.id],
            ["picking_type_code", "=", "incoming"]
        ]);
        if self.find("stock.picking", domain).await?.is_none() {
            return Err(AdapterError::Permanent(format!(
                "return {}: no return picking in Odoo, so no credit note",
                rma.id
            )));
        }
        let domain = json!([["move_type", "=", "out_refund"], ["ref", "=", rma.id]]);
        self.find_or_create("account.move", domain, "action_post", async {
            let skus: Vec<String> = rma.lines.iter().map(|l| l.sku.clone()).collect();
            let products = self.products_by_sku(&skus).await?;
            map::credit_note(order, rma, self.partner_id, &products)
        })
        .await
    }

    async fn health(&self) -> Result<(), AdapterError> {
        // One small read proves the key, the database and the network.
        let params = json!({"domain": [], "fields": ["code"], "limit": 1});
        let answer = self
            .client
            .call("stock.warehouse", "search_read", None, params)
            .await?;
        decode::<Vec<Value>>(answer, "stock.warehouse").map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(k: &str) -> Option<String> {
        let v = match k {
            "STOCKADE_ODOO_URL" => "https://erp.example.com",
            "STOCKADE_ODOO_DATABASE" => "prod",
            "STOCKADE_ODOO_UID" => "2",
            "STOCKADE_ODOO_API_KEY" => "key-9f3k",
            "STOCKADE_ODOO_PARTNER_ID" => "14",
            "STOCKADE_ODOO_WAREHOUSES" => "WH-EAST=EAST",
            _ => return None,
        };
        Some(v.to_owned())
    }

    #[test]
    fn settings_come_from_the_environment_and_missing_ones_are_named() {
        let c = OdooConfig::from_env(full).unwrap();
        assert_eq!(
            c.transport,
            Transport::JsonRpc {
                database: "prod".into(),
                uid: 2
            }
        );
        assert_eq!((c.timeout, c.page_size), (Duration::from_secs(10), 100));
        assert_eq!(c.warehouses.warehouse_code("WH-EAST"), "EAST");
        assert!(!format!("{c:?}").contains("key-9f3k"));

        for key in ["URL", "API_KEY", "PARTNER_ID", "DATABASE", "UID"] {
            let name = format!("STOCKADE_ODOO_{key}");
            let e = OdooConfig::from_env(|k| (k != name).then(|| full(k)).flatten()).unwrap_err();
            assert!(e.to_string().contains(&name), "{e}");
        }
    }

    #[test]
    fn json2_needs_no_uid_and_bad_values_are_refused() {
        let json2 = |k: &str| match k {
            "STOCKADE_ODOO_TRANSPORT" => Some("json2".into()),
            "STOCKADE_ODOO_UID" | "STOCKADE_ODOO_DATABASE" => None,
            _ => full(k),
        };
        let c = OdooConfig::from_env(json2).unwrap();
        assert_eq!(c.transport, Transport::Json2 { database: None });

        for (key, bad) in [
            ("TRANSPORT", "xmlrpc"),
            ("PAGE_SIZE", "0"),
            ("UID", "two"),
            ("WAREHOUSES", "WH-EAST"),
        ] {
            let name = format!("STOCKADE_ODOO_{key}");
            let e = OdooConfig::from_env(|k| if k == name { Some(bad.into()) } else { full(k) })
                .unwrap_err();
            assert!(e.to_string().contains(key), "{key}: {e}");
        }
    }
}
