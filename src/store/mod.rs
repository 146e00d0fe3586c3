//! Persistence behind one trait, so that the embedded SQLite ledger and a shared
//! PostgreSQL database are interchangeable.
//!
//! Every method that changes stock is one transaction: the movement rows, the positions
//! they update, the order or RMA they belong to, the processed-event marker and the
//! idempotency record commit together or not at all.

use async_trait::async_trait;
use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::allocation::Shortage;
use crate::domain::audit::{AuditEntry, AuditRecord};
use crate::domain::events::Event;
use crate::domain::order::{ErpState, Order, OrderRequest};
use crate::domain::outbound::Envelope;
use crate::domain::quantity::Position;
use crate::domain::rma::{ReturnRequest, ReturnRule, Rma};
use crate::domain::shipment::Shipment;
use crate::domain::timeline::OrderHistory;

mod reconcile;
mod sql;
mod woocommerce;

pub use reconcile::*;
pub use sql::{SqlStore, SqliteSettings};
pub use woocommerce::*;

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
    /// When the owning system of record last confirmed the figures; `None` when the
    /// ledger itself owns them.
    pub as_of: Option<OffsetDateTime>,
}

/// The ERP's figures for some SKUs at the declared locations, as read from `taken_at` on.
#[derive(Debug, Clone)]
pub struct ProjectionSnapshot<'a> {
    /// The ERP, recorded as the movements' source (`erp:<system>`).
    pub system: &'a str,
    /// When the read began. The ERP's committed figure includes every order it had
    /// acknowledged before this instant, and perhaps some after.
    pub taken_at: OffsetDateTime,
    pub skus: &'a [String],
    pub locations: &'a [String],
    /// What the ERP reported; a (sku, location) it did not report holds nothing there.
    pub figures: &'a [PositionRow],
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectionOutcome {
    /// SKUs whose figures changed.
    pub changed: Vec<String>,
    /// Positions left alone because a newer snapshot was applied to them already.
    pub superseded: u64,
    /// Units still reserved for orders the ERP had not acknowledged when the snapshot
    /// was taken; they stay subtracted on top of the ERP's committed figure.
    pub held_locally: i64,
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
    /// The request's W3C trace context, carried by the events the change writes.
    pub traceparent: Option<&'a str>,
    /// Backorder whatever stock cannot cover, whether or not the SKU is backorderable: the
    /// customer has already paid in the channel, so the order must be kept.
    pub backorder_shortages: bool,
    /// The WooCommerce order this one comes from, linked in the same transaction.
    pub woo: Option<WooLink<'a>>,
}

#[derive(Debug)]
pub enum AcceptOutcome {
    Accepted(Box<Order>),
    Insufficient(Vec<Shortage>),
    UnknownSkus(Vec<String>),
    /// The channel already has an order with this external id.
    DuplicateExternalId(String),
    Key(KeyState),
    /// A newer version of the channel's order was taken in meanwhile; nothing was written.
    Superseded,
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
    pub traceparent: Option<&'a str>,
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
    pub traceparent: Option<String>,
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
    /// Goods of an order left the warehouse for the first time, and the ERP had
    /// acknowledged the order at this instant: the workflow's submitted-to-shipped stage.
    pub shipped_order_submitted_at: Option<OffsetDateTime>,
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

/// A delivery claimed by this instance: the event and where it goes.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: String,
    pub destination: String,
    pub attempts: u32,
    pub event: Envelope,
    pub aggregate: String,
}

/// What happened to one delivery attempt that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Try again at this time.
    Retry { at: OffsetDateTime },
    /// Out of attempts, or it can never succeed: it becomes a dead letter.
    Dead,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Sent,
    Dead,
    Discarded,
    /// An inbound dead letter applied again after a replay.
    Replayed,
}

impl DeliveryState {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Dead => "dead",
            Self::Discarded => "discarded",
            Self::Replayed => "replayed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Sent,
            Self::Dead,
            Self::Discarded,
            Self::Replayed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// A delivery that needs a person, or did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    #[schema(example = "dlv_01JEZD0Q2S4U6W8Y0A2C4E6G8J")]
    pub id: String,
    pub event_id: String,
    #[schema(example = "order.accepted")]
    pub kind: String,
    /// The order, RMA or SKU the event is about.
    pub aggregate: String,
    /// `erp`, a subscriber's name, `nats`, or `inbound:<stream>`.
    pub destination: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub discard_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    pub attempt: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub error: String,
}

/// A dead letter with every attempt's error and the event itself.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetterDetail {
    #[serde(flatten)]
    pub letter: DeadLetter,
    pub attempt_log: Vec<Attempt>,
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

/// Which dead letters: the filters of the admin API.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterQuery {
    pub inbound: bool,
    /// `dead` when absent.
    pub state: Option<DeliveryState>,
    pub destination: Option<String>,
    pub kind: Option<String>,
    pub aggregate: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Page after this id.
    pub after: Option<String>,
    pub limit: u32,
}

/// The outbox backlog, per destination.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct OutboxStats {
    /// Events written but not yet routed to their destinations.
    pub unrouted: u64,
    pub destinations: Vec<DestinationStats>,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct DestinationStats {
    pub destination: String,
    pub pending: u64,
    pub dead: u64,
    /// Age of the oldest pending delivery, in milliseconds.
    pub oldest_pending_ms: Option<u64>,
}

/// An inbound event from a stream that could not be applied.
#[derive(Debug, Clone)]
pub struct InboundDeadLetter {
    pub stream: String,
    pub stream_seq: u64,
    pub kind: String,
    pub source: String,
    pub event_id: String,
    pub payload: String,
    pub deliveries: u32,
    pub error: String,
}

/// What the ERP answered for one order.
#[derive(Debug, Clone)]
pub struct ErpUpdate {
    pub order_id: String,
    pub state: ErpState,
    pub reference: Option<String>,
}

#[async_trait]
pub trait Store: WooStore + ReconcileStore + Send + Sync + 'static {
    /// Declares the policy's locations; existing ones keep their history.
    async fn sync_locations(&self, locations: &[LocationDef]) -> StoreResult<()>;
    async fn catalog_is_empty(&self) -> StoreResult<bool>;
    /// Takes or renews the lease on a periodic job until `until`: true when `holder` now
    /// holds it (it was free, had lapsed at `now`, or was already `holder`'s).
    async fn try_lease(
        &self,
        job: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Records that a round of the job, begun at `began`, completed.
    async fn round_done(&self, job: &str, began: OffsetDateTime) -> StoreResult<()>;
    /// When the newest completed round of the job began, whichever instance ran it.
    async fn last_round(&self, job: &str) -> StoreResult<Option<OffsetDateTime>>;
    async fn upsert_skus(&self, skus: &[SkuDef]) -> StoreResult<()>;
    /// All rows in one transaction; `progress` is told how many rows are done.
    async fn import_stock(
        &self,
        rows: &[StockRow],
        source: &str,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> StoreResult<ImportSummary>;
    async fn skus(&self, skus: &[String]) -> StoreResult<Vec<SkuInfo>>;
    /// Up to `limit` SKUs of the catalog in order, after `after`: a sweep's next page.
    async fn catalog_page(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<String>>;
    /// Takes the ERP's figures over into the positions, keeping subtracted what only
    /// Stockade knows: the reservations of orders the snapshot does not count yet.
    async fn apply_projection(
        &self,
        snapshot: &ProjectionSnapshot<'_>,
    ) -> StoreResult<ProjectionOutcome>;
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
    async fn cancel_order(
        &self,
        id: &str,
        now: OffsetDateTime,
        traceparent: Option<&str>,
    ) -> StoreResult<CancelOutcome>;
    /// Records what the ERP answered for several orders, in one transaction.
    async fn set_erp_states(&self, updates: &[ErpUpdate]) -> StoreResult<()>;
    async fn shipments(&self, order_id: &str) -> StoreResult<Vec<Shipment>>;
    /// What an order's timeline is built from (see `domain::timeline`).
    async fn order_history(&self, order_id: &str) -> StoreResult<OrderHistory>;

    async fn authorize_return(&self, cmd: AuthorizeReturn<'_>) -> StoreResult<AuthorizeOutcome>;
    async fn rma(&self, id: &str) -> StoreResult<Option<RmaRecord>>;
    async fn set_rma_refunded(&self, id: &str, reference: &str) -> StoreResult<()>;

    /// Applies one inbound event in its own transaction, deduplicated by (source, id).
    async fn apply_event(&self, event: &Event, ctx: &EventContext) -> StoreResult<EventOutcome>;

    /// Appends entries to the audit chain, in order, in one transaction.
    async fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()>;
    async fn audit_page(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;
    /// Up to `limit` records after `after`, in chain order.
    async fn audit_chain(&self, after: i64, limit: u32) -> StoreResult<Vec<AuditRecord>>;

    /// Routes events that have no deliveries yet to the destinations `routes` names for
    /// their type.
    async fn fan_out(
        &self,
        routes: &std::collections::HashMap<String, Vec<String>>,
        limit: u32,
    ) -> StoreResult<u64>;
    /// Leases up to `limit` due deliveries to `owner`, skipping `paused` destinations and
    /// any event whose earlier event for the same aggregate and destination is unsettled.
    async fn claim_deliveries(
        &self,
        owner: &str,
        lease: std::time::Duration,
        limit: u32,
        paused: &[String],
    ) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Marks deliveries sent, all in one transaction.
    async fn deliveries_sent(&self, ids: &[String], owner: &str) -> StoreResult<()>;
    async fn delivery_failed(
        &self,
        id: &str,
        owner: &str,
        error: &str,
        failure: Failure,
    ) -> StoreResult<()>;
    async fn dead_letters(&self, query: &DeadLetterQuery) -> StoreResult<Vec<DeadLetter>>;
    async fn dead_letter(&self, id: &str) -> StoreResult<Option<DeadLetterDetail>>;
    /// Puts dead (or discarded) deliveries back in line; the rest are left as they are.
    async fn replay_dead_letters(
        &self,
        query: &DeadLetterQuery,
        ids: Option<&[String]>,
    ) -> StoreResult<u64>;
    async fn discard_dead_letter(&self, id: &str, reason: &str) -> StoreResult<bool>;
    async fn outbox_stats(&self) -> StoreResult<OutboxStats>;
    async fn record_inbound_dead_letter(&self, letter: &InboundDeadLetter) -> StoreResult<()>;
    /// An inbound dead letter's payload, to apply it again.
    async fn inbound_payload(&self, id: &str) -> StoreResult<Option<String>>;
    async fn set_inbound_state(
        &self,
        id: &str,
        state: DeliveryState,
        reason: Option<&str>,
    ) -> StoreResult<bool>;
    /// Deletes delivered events older than `before`, bounding the outbox.
    async fn purge_delivered(&self, before: OffsetDateTime) -> StoreResult<u64>;

    /// Positions recomputed from the movement ledger alone.
    async fn ledger_fold(&self) -> StoreResult<Vec<PositionRow>>;
    /// Positions as maintained alongside the ledger.
    async fn all_positions(&self) -> StoreResult<Vec<PositionRow>>;
    /// Whether the database answers.
    async fn ping(&self) -> StoreResult<()>;
}
