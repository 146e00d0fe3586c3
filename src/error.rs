//! The one error type that services return. Every variant maps to exactly one entry of the
//! problem registry (`problem.rs`); nothing else decides what a client sees.

use crate::domain::ValidationError;
use crate::domain::allocation::Shortage;
use crate::domain::rma::ReturnRule;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the request breaks {} rule(s)", .0.len())]
    Invalid(Vec<ValidationError>),
    #[error("the body must be application/json")]
    UnsupportedMediaType,
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("at most {max} {what} per call; got {got}")]
    TooMany {
        what: &'static str,
        max: usize,
        got: usize,
    },
    #[error("missing query parameter `{0}`")]
    MissingParameter(&'static str),
    #[error("query parameter `{name}`: {why}")]
    InvalidParameter { name: &'static str, why: String },
    #[error("the JSON nests deeper than {max} levels")]
    JsonTooDeep { max: usize },
    #[error("`{field}` is set by Stockade and may not be sent")]
    ReadOnlyField { field: String, pointer: String },
    #[error("the Idempotency-Key header is required")]
    IdempotencyKeyMissing,
    #[error("the Idempotency-Key header must be 1 to 255 visible ASCII characters")]
    IdempotencyKeyInvalid,
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still being processed")]
    IdempotencyKeyInFlight,
    #[error("unknown SKU(s): {}", .0.join(", "))]
    UnknownSkus(Vec<String>),
    #[error("the caller may not act for channel `{0}`")]
    ChannelNotAllowed(String),
    #[error("not enough stock for {} SKU(s)", .0.len())]
    InsufficientStock(Vec<Shortage>),
    #[error("the channel already has order {existing} with this external_id")]
    DuplicateOrder { existing: String },
    #[error("the order has shipped in full and cannot be cancelled")]
    OrderShipped,
    #[error("a reconciliation is already running on this instance")]
    ReconciliationRunning,
    #[error("{kind} `{id}` was not found")]
    NotFound { kind: &'static str, id: String },
    #[error("the webhook's signature is not valid: {0}")]
    WebhookSignature(&'static str),
    #[error("no order `{0}` for this caller")]
    UnknownOrder(String),
    #[error("return rule broken: {0:?}")]
    ReturnRule(ReturnRule),
    #[error("the replayed event is still rejected: {0}")]
    ReplayRejected(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
