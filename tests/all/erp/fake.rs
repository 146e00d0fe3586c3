//! What every fake ERP shares: the canonical figures and documents the suite seeds and
//! counts, the faults it injects, and the [`ErpFake`] trait the conformance suite drives.
//! Kept apart from the trials so a benchmark can run against a fake too.

use std::sync::Arc;
use std::time::Duration;

use stockade::adapters::ErpAdapter;

/// One (sku, location) as the ERP holds it, in Stockade's terms; each fake writes it in
/// its vendor's terms (NetSuite's `available` is `on_hand - committed - unavailable`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stock {
    pub sku: String,
    pub location: String,
    pub on_hand: i64,
    pub committed: i64,
    pub unavailable: i64,
    pub incoming: i64,
}

/// The documents the adapters create, counted by the external reference they carry.
#[derive(Debug, Clone, Copy)]
pub enum Doc {
    SalesOrder,
    /// A shipment document (item fulfilment, delivery note) made by `record_shipment`,
    /// counted by the Stockade shipment id it carries.
    Shipment,
    Return,
    Credit,
}

/// What a fake can be told to do to the next requests. Counts are requests.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// The next answer, whatever it is, is held this long after its work is done.
    Latency(Duration),
    /// The next write is done, then its answer held this long: a lost answer to a create.
    SlowWrite(Duration),
    /// The vendor's throttling answer (NetSuite: 429 `CONCURRENCY_LIMIT_EXCEEDED`).
    Throttle(usize),
    /// The vendor's 5xx answer.
    ServerError(usize),
    /// The next request finds its session or token refused once, as after expiry.
    ExpireSession,
    /// A 200 whose body is cut short.
    Malformed(usize),
    /// A 200 whose body is larger than any adapter should read (over 8 MiB).
    Huge(usize),
    /// From now on (`true`) every request gets the vendor's 503 answer, until the fake
    /// is told `Down(false)`: an outage of unknown length.
    Down(bool),
}

/// A canonical quantity an ERP may or may not keep per item and location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    OnHand,
    Committed,
    Unavailable,
    Incoming,
}

impl Figure {
    pub const ALL: [Self; 4] = [
        Self::OnHand,
        Self::Committed,
        Self::Unavailable,
        Self::Incoming,
    ];
}

/// A fake ERP the conformance suite can drive without knowing its vendor.
pub trait ErpFake: Send + Sync + Sized + 'static {
    /// Appears in the trial names: `erp::conformance::<case>::<NAME>`.
    const NAME: &'static str;
    /// The quantities the vendor keeps. The suite seeds and compares only these, and
    /// leaves the others at zero: an adapter cannot report what its ERP never holds.
    const FIGURES: &'static [Figure] = &Figure::ALL;
    /// Listens on 127.0.0.1 with an empty account.
    async fn start() -> Self;
    /// The adapter under test, pointed at this fake, with a timeout under one second and
    /// pages small enough that a few hundred rows span several.
    fn adapter(&self) -> Arc<dyn ErpAdapter>;
    /// Creates the items and sets their figures.
    fn seed_stock(&self, rows: &[Stock]);
    /// How many documents of this kind carry this external reference: Stockade's order id
    /// for a sales order, the RMA id for a return and for its credit.
    fn documents_with_ref(&self, doc: Doc, external_ref: &str) -> usize;
    /// A warehouse shipping these lines of the ERP's sales order `erp_order`.
    fn ship(&self, erp_order: &str, lines: &[(&str, i64)]);
    fn inject(&self, fault: Fault);
}
