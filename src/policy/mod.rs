//! Declarative governance: the files in `policies/`, loaded and validated at start.
//!
//! Each file is TOML and reviewed like code. `docs/POLICIES.md` documents the format.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

mod load;
mod outbox;
mod reconcile;
mod routes;
mod slo;
mod stores;

pub use load::PolicyError;
pub use outbox::{DestinationPolicy, DispatcherPolicy, OutboxPolicy, Subscriber};
pub use reconcile::ReconcilePolicy;
pub use routes::{FailureMode, Priority, RouteAuth, RoutePolicy};
pub use slo::{Indicator, Slo, SloFile};
pub use stores::{OnProblem, StoreAuth, StorePolicy};

/// Every scope a route may require.
pub const SCOPES: &[&str] = &[
    "availability:read",
    "orders:read",
    "orders:write",
    "returns:write",
    "events:write",
    "admin",
];

#[derive(Debug, Clone)]
pub struct Policies {
    pub dir: PathBuf,
    /// The demo policy: published credentials, and a demo catalog on first start.
    pub demo: bool,
    pub locations: Vec<Location>,
    pub channels: Vec<Channel>,
    pub clients: Vec<Arc<Client>>,
    pub returns: ReturnPolicy,
    pub routes: Vec<Arc<RoutePolicy>>,
    pub limits: Limits,
    pub issuers: Vec<Issuer>,
    pub outbox: OutboxPolicy,
    pub subscribers: Vec<Subscriber>,
    /// WooCommerce stores feeding channels.
    pub stores: Vec<StorePolicy>,
    pub slo: SloFile,
    pub reconcile: ReconcilePolicy,
    /// Channel → its eligible locations, best first.
    eligible: std::collections::HashMap<String, Vec<(String, u32)>>,
    route_index: routes::RouteIndex,
    /// Every client's key hashes, decoded once: (digest, index into `clients`).
    api_keys: Vec<([u8; 32], usize)>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub code: String,
    #[serde(default)]
    pub name: String,
    /// Allocation order: 1 is tried first.
    pub priority: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    pub name: String,
    /// Locations whose stock this channel may sell.
    pub locations: Vec<String>,
    /// Overrides the route's availability cache TTL for this channel.
    #[serde(default)]
    pub cache_ttl_ms: Option<u64>,
    #[serde(default)]
    pub fallback: Fallback,
    /// How old figures confirmed by an ERP may be before answers for this channel are
    /// treated as stale and shaped by `fallback`. Unset: no bound.
    #[serde(default)]
    pub freshness_seconds: Option<u64>,
    /// Whether reconciliation rewrites this channel's published stock where it drifted
    /// from Stockade's figure (someone changed it in the store, a write was lost).
    #[serde(default)]
    pub correct_drift: bool,
}

impl Fallback {
    pub fn rule(&self) -> crate::domain::availability::Degrade {
        use crate::domain::availability::Degrade;
        match self.mode {
            FallbackMode::Cap => Degrade::Cap(self.cap),
            FallbackMode::Fraction => Degrade::Fraction(self.fraction),
            FallbackMode::Zero => Degrade::Zero,
            FallbackMode::LastKnown => Degrade::LastKnown,
        }
    }
}

/// What a channel is told when fresh figures cannot be had.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    pub mode: FallbackMode,
    /// With `cap`: the most a channel is told it can sell, per SKU and location.
    #[serde(default)]
    pub cap: i64,
    /// With `fraction`: the share of the last-known figure it is told, from 0 to 1.
    #[serde(default)]
    pub fraction: f64,
    /// The oldest last-known figure that may still be served.
    #[serde(default = "default_fallback_age")]
    pub max_age_seconds: u64,
}

fn default_fallback_age() -> u64 {
    300
}

impl Default for Fallback {
    fn default() -> Self {
        Self {
            mode: FallbackMode::Cap,
            cap: 0,
            fraction: 0.0,
            max_age_seconds: default_fallback_age(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackMode {
    /// The last-known figure, capped at `cap`.
    Cap,
    /// A `fraction` of the last-known figure.
    Fraction,
    /// Nothing is sellable until fresh figures return.
    Zero,
    /// The last-known figure as it was.
    LastKnown,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    pub id: String,
    pub kind: ClientKind,
    /// The channels this client acts for; the first is its default.
    pub channels: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// A tier from `limits.toml`.
    pub rate_tier: String,
    /// Hex SHA-256 of each accepted API key; more than one during a rotation.
    #[serde(default)]
    pub api_key_sha256: Vec<String>,
    /// The identity a JWT must carry to act as this client.
    #[serde(default)]
    pub jwt: Option<JwtIdentity>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtIdentity {
    pub issuer: String,
    pub subject: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    Storefront,
    Marketplace,
    B2bPortal,
    Warehouse,
    Operations,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnPolicy {
    pub window_days: u32,
    pub restock_location: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub tiers: BTreeMap<String, Tier>,
    #[serde(default)]
    pub body: BodyLimits,
    #[serde(default)]
    pub cors: Cors,
    #[serde(default)]
    pub shedding: Shedding,
}

/// Overload protection by priority class: a limit on requests in flight, with headroom
/// kept for the classes above, and a queue only critical and standard work may wait in.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Shedding {
    pub max_in_flight: usize,
    /// Share of `max_in_flight` that standard work leaves free for critical work.
    pub standard_reserve_percent: u8,
    /// Share of `max_in_flight` that background work leaves free for the rest.
    pub background_reserve_percent: u8,
    /// How long critical work (order acceptance, returns) may wait for a slot.
    pub critical_queue_ms: u64,
    /// How long standard work may wait; background work never waits.
    pub standard_queue_ms: u64,
}

impl Default for Shedding {
    fn default() -> Self {
        Self {
            max_in_flight: 512,
            standard_reserve_percent: 10,
            background_reserve_percent: 50,
            critical_queue_ms: 2000,
            standard_queue_ms: 100,
        }
    }
}

/// `requests` per `per_seconds`, enforced as GCRA: the full quota may be spent at once,
/// and it refills evenly over the window.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub requests: u32,
    pub per_seconds: u32,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub max_json_depth: usize,
    pub max_array_items: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            max_bytes: 1024 * 1024,
            max_json_depth: 32,
            max_array_items: 1000,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    /// Exact origins (`https://shop.example.com`) allowed to call from a browser.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub allow_credentials: bool,
}

/// A JWT issuer the gateway trusts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issuer {
    pub issuer: String,
    pub audience: Vec<String>,
    /// A JWKS file, relative to the policy directory.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// The algorithms accepted from this issuer: RS256, ES256, EdDSA (and HS256 only with
    /// `hs256_secret_env`). A token never chooses its own algorithm.
    pub algorithms: Vec<String>,
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// At most one JWKS refetch for unknown key ids per this many seconds.
    #[serde(default = "default_cooldown")]
    pub refetch_cooldown_seconds: u64,
    /// How often the JWKS is refreshed regardless, so removed keys stop working.
    #[serde(default = "default_refresh")]
    pub refresh_seconds: u64,
    /// The environment variable holding an HS256 secret. HS256 is refused unless this or
    /// `hs256_secret_file` is set.
    #[serde(default)]
    pub hs256_secret_env: Option<String>,
    /// A file holding the HS256 secret, relative to the policy directory.
    #[serde(default)]
    pub hs256_secret_file: Option<PathBuf>,
}

fn default_leeway() -> u64 {
    30
}
fn default_cooldown() -> u64 {
    60
}
fn default_refresh() -> u64 {
    300
}

impl Client {
    pub fn holds_channel(&self, channel: &str) -> bool {
        self.channels.iter().any(|c| c == channel)
    }

    pub fn default_channel(&self) -> &str {
        self.channels.first().map_or("", String::as_str)
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

impl Policies {
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }

    pub fn location(&self, code: &str) -> Option<&Location> {
        self.locations.iter().find(|l| l.code == code)
    }

    /// Every declared location's code, in the order declared.
    pub fn location_codes(&self) -> Vec<String> {
        self.locations.iter().map(|l| l.code.clone()).collect()
    }

    /// The channel's eligible locations with their priorities, best first (worked out
    /// once, at load: every availability read and order needs it).
    pub fn eligible_locations(&self, channel: &str) -> &[(String, u32)] {
        self.eligible.get(channel).map_or(&[], Vec::as_slice)
    }

    fn rank_locations(&self, channel: &Channel) -> Vec<(String, u32)> {
        let mut out: Vec<(String, u32)> = channel
            .locations
            .iter()
            .filter_map(|l| self.location(l))
            .map(|l| (l.code.clone(), l.priority))
            .collect();
        out.sort_by(|(a, pa), (b, pb)| pa.cmp(pb).then_with(|| a.cmp(b)));
        out
    }

    /// Derives what is worked out once from the files.
    pub(crate) fn derive(&mut self) -> Result<(), PolicyError> {
        self.eligible = self
            .channels
            .iter()
            .map(|c| (c.name.clone(), self.rank_locations(c)))
            .collect();
        self.api_keys = self
            .clients
            .iter()
            .enumerate()
            .flat_map(|(i, c)| c.api_key_sha256.iter().map(move |h| (h, i)))
            .filter_map(|(h, i)| Some((<[u8; 32]>::try_from(hex::decode(h).ok()?).ok()?, i)))
            .collect();
        self.route_index = routes::RouteIndex::build(&self.routes).map_err(|(r, message)| {
            let entry = format!("route \"{} {}\"", r.method, r.path);
            self.error("routes.toml", entry, "path", message)
        })?;
        Ok(())
    }

    /// The client whose key this is. Every stored hash is compared, in constant time, so
    /// the time taken says nothing about which client or how much of a hash matched.
    pub fn client_by_api_key(&self, key: &str) -> Option<&Arc<Client>> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = None;
        for (stored, client) in &self.api_keys {
            if bool::from(stored.ct_eq(&digest)) && found.is_none() {
                found = Some(&self.clients[*client]);
            }
        }
        found
    }

    pub fn client_by_jwt(&self, issuer: &str, subject: &str) -> Option<&Arc<Client>> {
        self.clients.iter().find(|c| {
            c.jwt
                .as_ref()
                .is_some_and(|j| j.issuer == issuer && j.subject == subject)
        })
    }

    pub fn store(&self, name: &str) -> Option<&StorePolicy> {
        self.stores.iter().find(|s| s.name == name)
    }

    pub fn tier(&self, name: &str) -> Option<&Tier> {
        self.limits.tiers.get(name)
    }

    /// The policy of the route a request addresses, the most literal template first.
    pub fn route(&self, method: &str, path: &str) -> Option<&Arc<RoutePolicy>> {
        self.route_index.find(method, path)
    }

    /// Whether a route is deprecated or past its sunset at `now`.
    pub fn is_sunset(route: &RoutePolicy, now: OffsetDateTime) -> bool {
        route.sunset.is_some_and(|s| now >= s)
    }
}

/// The policy line for a fresh API key: the hex SHA-256 of the key.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Policies {
        Policies::load(&PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/policies"
        )))
        .unwrap()
    }

    #[test]
    fn demo_policies_load_and_resolve_the_demo_keys() {
        let p = demo();
        assert!(p.demo);
        assert_eq!(
            p.client_by_api_key("stockade-demo-key").unwrap().id,
            "demo-storefront"
        );
        assert!(
            p.client_by_api_key("stockade-demo-admin-key")
                .unwrap()
                .has_scope("admin")
        );
        assert!(p.client_by_api_key("stockade-demo-key ").is_none());
    }

    #[test]
    fn eligible_locations_follow_channel_and_priority() {
        let p = demo();
        let web: Vec<&str> = p
            .eligible_locations("web")
            .iter()
            .map(|(l, _)| l.as_str())
            .collect();
        assert_eq!(web, ["WH-MAIN", "3PL-EAST"]);
        assert_eq!(p.eligible_locations("b2b").len(), 1);
        assert!(p.eligible_locations("nowhere").is_empty());
    }

    #[test]
    fn routes_resolve_by_template() {
        let p = demo();
        assert_eq!(
            p.route("GET", "/v1/orders/ord_123").unwrap().path,
            "/v1/orders/{id}"
        );
        assert_eq!(
            p.route("POST", "/v1/orders").unwrap().scope.as_deref(),
            Some("orders:write")
        );
        assert_eq!(
            p.route("GET", "/v1/orders").unwrap().scope.as_deref(),
            Some("orders:read")
        );
        assert!(p.route("GET", "/v1/orders/a/b/c").is_none());
    }
}
