//! Declarative governance: the files in `policies/`, loaded and validated at start.
//!
//! Each file is TOML and reviewed like code. See `docs/POLICIES.md` for the format.

use std::path::PathBuf;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

mod load;

pub use load::PolicyError;

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
    pub clients: Vec<Client>,
    pub returns: ReturnPolicy,
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
    /// Hex SHA-256 of each accepted API key; more than one during a rotation.
    #[serde(default)]
    pub api_key_sha256: Vec<String>,
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

impl Client {
    pub fn holds_channel(&self, channel: &str) -> bool {
        self.channels.iter().any(|c| c == channel)
    }

    pub fn default_channel(&self) -> &str {
        self.channels.first().map_or("", String::as_str)
    }
}

impl Policies {
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }

    pub fn location(&self, code: &str) -> Option<&Location> {
        self.locations.iter().find(|l| l.code == code)
    }

    /// The channel's eligible locations with their priorities, best first.
    pub fn eligible_locations(&self, channel: &str) -> Vec<(String, u32)> {
        let mut out: Vec<(String, u32)> = self
            .channel(channel)
            .map(|c| {
                c.locations
                    .iter()
                    .filter_map(|l| self.location(l))
                    .map(|l| (l.code.clone(), l.priority))
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|(code, priority)| (*priority, code.clone()));
        out
    }

    /// The client whose key this is. Every stored hash is compared, in constant time, so
    /// the time taken says nothing about which client or how much of a hash matched.
    pub fn client_by_api_key(&self, key: &str) -> Option<&Client> {
        let digest = hex::encode(Sha256::digest(key.as_bytes()));
        let mut found = None;
        for client in &self.clients {
            for stored in &client.api_key_sha256 {
                if bool::from(stored.as_bytes().ct_eq(digest.as_bytes())) && found.is_none() {
                    found = Some(client);
                }
            }
        }
        found
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
    fn demo_policies_load_and_resolve_the_demo_key() {
        let p = demo();
        assert!(p.demo);
        let client = p.client_by_api_key("stockade-demo-key").unwrap();
        assert_eq!(client.id, "demo-storefront");
        assert!(p.client_by_api_key("stockade-demo-key ").is_none());
    }

    #[test]
    fn eligible_locations_follow_channel_and_priority() {
        let p = demo();
        let web: Vec<_> = p
            .eligible_locations("web")
            .into_iter()
            .map(|(l, _)| l)
            .collect();
        assert_eq!(web, ["WH-MAIN", "3PL-EAST"]);
        assert_eq!(p.eligible_locations("b2b").len(), 1);
        assert!(p.eligible_locations("nowhere").is_empty());
    }
}
