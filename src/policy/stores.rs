//! `stores.toml`: the WooCommerce stores that feed a channel, how Stockade reaches each one
//! and what it does with an order it cannot take as it is.

use std::path::PathBuf;

use serde::Deserialize;

/// One WooCommerce store, connected through its REST API (wc/v3) and its webhooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorePolicy {
    /// Unique; the last segment of the webhook URL `/v1/webhooks/woocommerce/{name}`.
    pub name: String,
    /// The channel the store's orders are accepted for and whose available-to-sell it shows.
    pub channel: String,
    /// The store's address, e.g. `https://shop.example.com` (the API is below
    /// `/wp-json/wc/v3`).
    pub base_url: String,
    /// How Stockade signs its API calls; by default Basic over HTTPS and OAuth 1.0a over
    /// plain HTTP, the two WooCommerce accepts.
    #[serde(default)]
    pub auth: Option<StoreAuth>,
    /// The REST API consumer key (`ck_…`): the variable that holds it, or a file relative
    /// to the policy directory.
    #[serde(default)]
    pub consumer_key_env: Option<String>,
    #[serde(default)]
    pub consumer_key_file: Option<PathBuf>,
    /// The REST API consumer secret (`cs_…`).
    #[serde(default)]
    pub consumer_secret_env: Option<String>,
    #[serde(default)]
    pub consumer_secret_file: Option<PathBuf>,
    /// The secret the store's webhooks are signed with.
    #[serde(default)]
    pub webhook_secret_env: Option<String>,
    #[serde(default)]
    pub webhook_secret_file: Option<PathBuf>,
    /// How often orders modified since the last poll are listed: the backstop for
    /// webhooks lost on the way.
    #[serde(default = "default_poll_interval")]
    pub poll_interval_seconds: u64,
    /// A paid order with lines that map to no Stockade SKU.
    #[serde(default = "default_unmappable")]
    pub unmappable_lines: OnProblem,
    /// A paid order the eligible stock cannot cover.
    #[serde(default = "default_uncoverable")]
    pub uncoverable_orders: OnProblem,
    /// Whether a refund for returned goods also pays the money back through the store's
    /// payment gateway (`api_refund`), or only records it.
    #[serde(default = "default_true")]
    pub refund_payment: bool,
    /// How long one call to the store may take.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Attempts of one outbound event before it becomes a dead letter.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreAuth {
    /// HTTP Basic with the consumer key and secret; WooCommerce accepts it over HTTPS only.
    Basic,
    /// One-legged OAuth 1.0a, HMAC-SHA256, in the query string: for stores on plain HTTP.
    Oauth1,
}

/// What happens to an order that cannot be taken as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnProblem {
    /// Accepted anyway: units no stock covers are backordered; lines without a SKU are left
    /// out of the Stockade order and listed as an exception for someone to fulfil.
    Backorder,
    /// Nothing is reserved; the order is recorded as an exception for a person.
    Exception,
}

fn default_poll_interval() -> u64 {
    60
}
fn default_unmappable() -> OnProblem {
    OnProblem::Exception
}
fn default_uncoverable() -> OnProblem {
    OnProblem::Backorder
}
fn default_true() -> bool {
    true
}
fn default_timeout() -> u64 {
    10_000
}
fn default_attempts() -> u32 {
    12
}

impl StorePolicy {
    /// The configured scheme, or the one WooCommerce accepts on the store's scheme.
    pub fn auth(&self) -> StoreAuth {
        self.auth
            .unwrap_or(if self.base_url.starts_with("https://") {
                StoreAuth::Basic
            } else {
                StoreAuth::Oauth1
            })
    }

    /// The outbox destination's name: unique, and never a subscriber's (`:` is not
    /// allowed in those).
    pub fn destination(&self) -> String {
        format!("woocommerce:{}", self.name)
    }

    /// Whether the store is on this machine: plain HTTP with Basic is allowed only there.
    pub fn is_loopback(&self) -> bool {
        ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| {
                self.base_url
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
            })
    }
}
