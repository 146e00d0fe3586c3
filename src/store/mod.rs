//! Persistence behind one trait, so that the embedded SQLite ledger and a shared
//! PostgreSQL database are interchangeable.
//!
//! Every method that changes stock is one transaction: the movement rows, the positions
//! they update, the order or RMA they belong to, the processed-event marker and the
//! idempotency record commit together or not at all.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::allocation::Shortage;
use crate::domain::audit::{AuditEntry, AuditRecord};
use crate::domain::events::Event;
use crate::domain::order::{ErpState, Order, OrderRequest};
use crate::domain::quantity::Position;
use crate::domain::rma::{ReturnRequest, ReturnRule, Rma};
use crate::domain::shipment::Shipment;

mod sql;

pub use sql::{SqlStore, SqliteSettings};

/// An infrastructure failure. Business outcomes are never errors here; they come back as
/// the `Ok` variants of each method's outcome type.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A stock location as declared in policy.
#[derive(Debug, Clone)]
pub struct LocationDef {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct SkuDef {
    pub sku: String,
    pub name: String,
    pub backorderable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkuInfo {
    pub sku: String,
    pub backorderable: bool,
}

/// One (sku, location) position with the time of its last movement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionRow {
    pub sku: String,
    pub location: String,
    pub position: Position,
    pub updated_at: OffsetDateTime,
}

/// An absolute stock figure to import: on-hand replaces what is there (as a count movement),
/// and safety stock when given.
#[derive(Debug, Clone)]
pub struct StockRow {
    pub sku: String,
    pub location: String,
    pub on_hand: i64,
    pub safety_stock: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub rows: u64,
    pub skus_created: u64,
    pub movements: u64,
}

/// A stored response, replayed byte for byte for a repeated idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
}

/// The idempotency key a mutation runs under, and how to render its response for storage.
pub struct IdempotencyScope<'a, T> {
    pub client_id: &'a str,
    pub key: &'a str,
    /// Digest of the method, route and body bytes.
    pub fingerprint: &'a str,
    pub expires_at: OffsetDateTime,
    pub render: &'a (dyn Fn(&T) -> StoredResponse + Send + Sync),
}

/// What a key already stored says about a new request under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// The first request finished: replay its response.
    Replay(StoredResponse),
    /// The key was used for a different request.
    Mismatch,
}

pub struct AcceptOrder<'a> {
    pub id: String,
    pub client_id: &'a str,
    pub request: &'a OrderRequest,
    /// Eligible locations for the channel, with their priority (lower first).
    pub locations: Vec<(String, u32)>,
    pub erp_system: &'a str,
    pub now: OffsetDateTime,
    pub idempotency: IdempotencyScope<'a, Order>,
}

#[derive(Debug)]
pub enum AcceptOutcome {
    Accepted(Box<Order>),
    Insufficient(Vec<Shortage>),
    UnknownSkus(Vec<String>),
    /// The channel already has an order with this external id.
    DuplicateExternalId(String),
    Key(KeyState),
}

#[derive(Debug)]
pub enum CancelOutcome {
    Cancelled(Order),
    AlreadyCancelled(Order),
    Shipped,
    NotFound,
}

pub struct AuthorizeReturn<'a> {
    pub id: String,
    pub client_id: &'a str,
    pub request: &'a ReturnRequest,
    pub window_days: u32,
    pub now: OffsetDateTime,
    pub idempotency: IdempotencyScope<'a, Rma>,
}

#[derive(Debug)]
pub enum AuthorizeOutcome {
    Authorized(Rma),
    Broken(ReturnRule),
    OrderNotFound,
    Key(KeyState),
}

/// An RMA with the channel of its order, for channel isolation.
#[derive(Debug, Clone)]
pub struct RmaRecord {
    pub rma: Rma,
    pub channel: String,
}

/// What applying an event needs from policy.
#[derive(Debug, Clone)]
pub struct EventContext {
    pub restock_location: String,
    pub now: OffsetDateTime,
}

/// Why an event changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRejection {
    pub code: &'static str,
    pub detail: String,
}

impl EventRejection {
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    Applied(Effects),
    Duplicate,
    Rejected(EventRejection),
}

/// What an applied event changed, so that caches and follow-up work can react.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    pub skus: Vec<String>,
    /// An RMA whose goods arrived and which is now due a refund.
    pub received_rma: Option<String>,
}

/// A filter over the audit log, oldest first, after the `after` cursor.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub after: i64,
    pub limit: u32,
    pub client_id: Option<String>,
    pub route: Option<String>,
    pub resource_id: Option<String>,
    pub status: Option<u16>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Declares the policy's locations; existing ones keep their history.
    async fn sync_locations(&self, locations: &[LocationDef]) -> StoreResult<()>;
    async fn catalog_is_empty(&self) -> StoreResult<bool>;
    async fn upsert_skus(&self, skus: &[SkuDef]) -> StoreResult<()>;
    /// All rows in one transaction; `progress` is told how many rows are done.
    async fn import_stock(
        &self,
        rows: &[StockRow],
        source: &str,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> StoreResult<ImportSummary>;
    async fn skus(&self, skus: &[String]) -> StoreResult<Vec<SkuInfo>>;
    async fn positions(
        &self,
        skus: &[String],
        locations: &[String],
    ) -> StoreResult<Vec<PositionRow>>;

    /// A stored idempotency record, if the key is in use and not expired.
    async fn idempotency_key(
        &self,
        client_id: &str,
        key: &str,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<KeyState>>;
    async fn purge_idempotency_keys(&self, now: OffsetDateTime) -> StoreResult<u64>;

    /// Allocates and reserves every line as one atomic step, and records the response
    /// under the idempotency key in the same transaction.
    async fn accept_order(&self, cmd: AcceptOrder<'_>) -> StoreResult<AcceptOutcome>;
    async fn order(&self, id: &str) -> StoreResult<Option<Order>>;
    async fn orders_by_external_id(
        &self,
        external_id: &str,
        channels: &[String],
    ) -> StoreResult<Vec<Order>>;
    async fn cancel_order(&self, id: &str, now: OffsetDateTime) -> StoreResult<CancelOutcome>;
    async fn set_erp_state(
        &self,
        id: &str,
        state: ErpState,
        reference: Option<&str>,
    ) -> StoreResult<()>;
    /// Orders the ERP has not acknowledged yet, oldest first.
    async fn orders_awaiting_erp(&self, limit: u32) -> StoreResult<Vec<String>>;
    async fn shipments(&self, order_id: &str) -> StoreResult<Vec<Shipment>>;

    async fn authorize_return(&self, cmd: AuthorizeReturn<'_>) -> StoreResult<AuthorizeOutcome>;
    async fn rma(&self, id: &str) -> StoreResult<Option<RmaRecord>>;
    async fn set_rma_refunded(&self, id: &str, reference: &str) -> StoreResult<()>;
    /// RMAs whose goods arrived and whose refund is not posted yet.
    async fn rmas_awaiting_refund(&self, limit: u32) -> StoreResult<Vec<String>>;

    /// Applies one inbound event in its own transaction, deduplicated by (source, id).
    async fn apply_event(&self, event: &Event, ctx: &EventContext) -> StoreResult<EventOutcome>;

    /// Appends entries to the audit chain, in order, in one transaction.
    async fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()>;
    async fn audit_page(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;
    /// Up to `limit` records after `after`, in chain order.
    async fn audit_chain(&self, after: i64, limit: u32) -> StoreResult<Vec<AuditRecord>>;

    /// Positions recomputed from the movement ledger alone.
    async fn ledger_fold(&self) -> StoreResult<Vec<PositionRow>>;
    /// Positions as maintained alongside the ledger.
    async fn all_positions(&self) -> StoreResult<Vec<PositionRow>>;
    /// Whether the database answers.
    async fn ping(&self) -> StoreResult<()>;
}
