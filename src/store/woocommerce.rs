//! What Stockade keeps about each WooCommerce store: webhook deliveries, the orders seen and
//! the versions taken in, the SKU map, the stock last written, the poll cursor, exceptions
//! and refunds. Behind its own trait so the core ledger's stays about the ledger.

use async_trait::async_trait;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::StoreResult;

/// A webhook delivery as received, before it is processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WooDelivery {
    pub store: String,
    /// `X-WC-Webhook-Delivery-ID`, or a digest of the body when the store sends none.
    pub delivery_id: String,
    pub topic: String,
    pub payload: String,
}

/// What claiming a version of an order found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WooClaim {
    /// This version, or a newer one, was taken in already: nothing to do.
    Stale,
    /// This version is the newest seen; act on it, then settle it.
    Claimed(WooOrderState),
}

/// What Stockade had made of an order before this version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WooOrderState {
    /// The Stockade order it became, if it became one.
    pub order_id: Option<String>,
    /// A digest of its lines when it was accepted.
    pub lines_hash: Option<String>,
}

/// Ties an order being accepted to the store order and version it comes from; the link is
/// written in the acceptance's transaction, which fails as superseded if a newer version
/// was claimed meanwhile.
#[derive(Debug, Clone, Copy)]
pub struct WooLink<'a> {
    pub store: &'a str,
    pub woo_order_id: i64,
    /// The version being acted on, in microseconds.
    pub modified: i64,
    pub lines_hash: &'a str,
}

/// An order Stockade could not take as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWooException {
    pub store: String,
    pub woo_order_id: i64,
    pub number: String,
    /// Stable: `unmapped-lines`, `insufficient-stock`, `invalid-order`, …
    pub code: &'static str,
    pub detail: String,
    /// The Stockade order, when the rest of the order was accepted.
    pub order_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"id": "wex_01JEZE1B3D5F7H9K1M3P5R7T9V", "store": "demo", "woo_order_id": 963,
    "number": "963", "code": "unmapped-lines", "detail": "line 890 (product 52) has no SKU Stockade knows",
    "order_id": null, "noted": true, "created_at": "2026-12-03T12:00:00Z", "updated_at": "2026-12-03T12:00:00Z"}))]
pub struct WooException {
    pub id: String,
    pub store: String,
    pub woo_order_id: i64,
    /// The order number the store shows.
    pub number: String,
    pub code: String,
    pub detail: String,
    /// The Stockade order, when the rest of the order was accepted.
    pub order_id: Option<String>,
    /// Whether a note about it was added to the order in the store.
    pub noted: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Default)]
pub struct WooExceptionQuery {
    pub store: Option<String>,
    pub code: Option<String>,
    /// Only those not yet noted on their order.
    pub unnoted: bool,
    /// Page after this id.
    pub after: Option<String>,
    pub limit: u32,
}

/// A product (`variation_id` 0) or variation and the Stockade SKU it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WooSku {
    pub product_id: i64,
    pub variation_id: i64,
    pub sku: String,
    /// Whether the SKU's available-to-sell is written to this product or variation.
    pub writes_stock: bool,
}

/// Stock written to a product or variation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WooPushed {
    pub product_id: i64,
    pub variation_id: i64,
    pub stock: i64,
}

#[async_trait]
pub trait WooStore: Send + Sync {
    /// Records a delivery; false when its id was recorded before.
    async fn woo_record_delivery(&self, d: &WooDelivery, now: OffsetDateTime) -> StoreResult<bool>;
    /// Marks a delivery processed and forgets its payload.
    async fn woo_delivery_processed(
        &self,
        store: &str,
        delivery_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Deliveries received before `before` and never processed, oldest first.
    async fn woo_unprocessed(
        &self,
        store: &str,
        before: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<WooDelivery>>;
    /// Forgets processed deliveries received before `before`.
    async fn woo_purge_deliveries(&self, before: OffsetDateTime) -> StoreResult<u64>;

    /// Claims version `modified` of an order: it is new if it is newer than every version
    /// seen, or the same as a claimed one whose effect was never settled.
    async fn woo_claim_order(
        &self,
        store: &str,
        woo_order_id: i64,
        number: &str,
        modified: i64,
    ) -> StoreResult<WooClaim>;
    /// Marks a claimed version's effect done (and the order it became, if any).
    async fn woo_settle_order(
        &self,
        store: &str,
        woo_order_id: i64,
        modified: i64,
        order_id: Option<&str>,
    ) -> StoreResult<()>;
    /// The store order a Stockade order came from.
    async fn woo_order_of(&self, store: &str, order_id: &str) -> StoreResult<Option<i64>>;
    /// The Stockade order a store order became, if it became one.
    async fn woo_linked_order(&self, store: &str, woo_order_id: i64)
    -> StoreResult<Option<String>>;

    /// Records an exception, or refreshes the one already recorded for the order and code.
    async fn woo_record_exception(&self, e: &NewWooException) -> StoreResult<()>;
    /// Forgets the exceptions that held an order back, once a later version of it was
    /// accepted: the list shows what still needs a person.
    async fn woo_resolve_exceptions(&self, store: &str, woo_order_id: i64) -> StoreResult<u64>;
    async fn woo_exceptions(&self, q: &WooExceptionQuery) -> StoreResult<Vec<WooException>>;
    async fn woo_exception_noted(&self, id: &str) -> StoreResult<()>;

    /// Replaces the SKU map of the given products (all of the store's, when `None`).
    async fn woo_replace_skus(
        &self,
        store: &str,
        products: Option<&[i64]>,
        rows: &[WooSku],
    ) -> StoreResult<()>;
    /// The map's rows for these products.
    async fn woo_skus_of_products(&self, store: &str, products: &[i64])
    -> StoreResult<Vec<WooSku>>;
    /// The products and variations these SKUs' stock is written to (every one, when `None`).
    async fn woo_stock_targets(
        &self,
        store: &str,
        skus: Option<&[String]>,
    ) -> StoreResult<Vec<WooSku>>;
    async fn woo_pushed(&self, store: &str, targets: &[(i64, i64)]) -> StoreResult<Vec<WooPushed>>;
    async fn woo_set_pushed(
        &self,
        store: &str,
        rows: &[WooPushed],
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Forgets what was written to these targets, so the next sync writes them again.
    async fn woo_forget_pushed(&self, store: &str, targets: &[(i64, i64)]) -> StoreResult<()>;

    async fn woo_cursor(&self, store: &str) -> StoreResult<Option<i64>>;
    async fn woo_set_cursor(&self, store: &str, modified_after: i64) -> StoreResult<()>;

    /// Units of each SKU of an RMA already refunded in the store.
    async fn woo_refunded(&self, store: &str, rma_id: &str) -> StoreResult<Vec<(String, i64)>>;
    async fn woo_add_refunded(
        &self,
        store: &str,
        rma_id: &str,
        units: &[(String, i64)],
    ) -> StoreResult<()>;
}
