//! The tamper-evident audit chain: every entry's hash covers its own fields and the hash
//! of the entry before it, so editing, removing or reordering any entry breaks every hash
//! after it.

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// The hash the first entry chains from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, as recorded. Never a body, never a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AuditEntry {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The authenticated client, if authentication got that far.
    pub client_id: Option<String>,
    /// The API key's client or the JWT's `sub`.
    pub subject: Option<String>,
    pub method: String,
    /// The route template, e.g. `/v1/orders/{id}`, or the raw path when no route matched.
    pub route: String,
    /// The resource acted on: the path's id, or the one a creation returned.
    pub resource_id: Option<String>,
    pub status: u16,
    pub request_id: String,
    pub idempotency_key: Option<String>,
    /// SHA-256 of the request body, hex.
    pub body_sha256: Option<String>,
}

/// A stored entry with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AuditRecord {
    pub seq: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

/// `sha256(prev_hash ‖ canonical JSON of the entry)`, hex. Field order is fixed by the
/// struct, and instants are microsecond-exact, so the same entry always hashes the same.
pub fn chain_hash(prev_hash: &str, entry: &AuditEntry) -> String {
    let canonical = serde_json::json!([
        crate::domain::time::to_micros(entry.at),
        entry.client_id,
        entry.subject,
        entry.method,
        entry.route,
        entry.resource_id,
        entry.status,
        entry.request_id,
        entry.idempotency_key,
        entry.body_sha256,
    ]);
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(canonical.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// Where a chain first breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// The entry's fields no longer produce its hash: it was edited.
    Edited { seq: i64 },
    /// The entry does not follow the one before it: something was removed or reordered.
    Unlinked { seq: i64 },
}

/// Checks a run of consecutive records that starts after `prev_hash`.
pub fn verify(prev_hash: &str, records: &[AuditRecord]) -> Result<(), ChainBreak> {
    let mut prev = prev_hash.to_owned();
    for r in records {
        if r.prev_hash != prev {
            return Err(ChainBreak::Unlinked { seq: r.seq });
        }
        if chain_hash(&r.prev_hash, &r.entry) != r.hash {
            return Err(ChainBreak::Edited { seq: r.seq });
        }
        prev.clone_from(&r.hash);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: u16) -> AuditEntry {
        AuditEntry {
            at: time::macros::datetime!(2026-12-03 12:00 UTC),
            client_id: Some("c".into()),
            subject: Some("c".into()),
            method: "POST".into(),
            route: "/v1/orders".into(),
            resource_id: None,
            status,
            request_id: "r".into(),
            idempotency_key: Some("k".into()),
            body_sha256: None,
        }
    }

    fn chain(n: usize) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_owned();
        (0..n)
            .map(|i| {
                let e = entry(200 + i as u16);
                let hash = chain_hash(&prev, &e);
                let r = AuditRecord {
                    seq: i as i64 + 1,
                    entry: e,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                r
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(GENESIS, &chain(5)), Ok(()));
    }

    #[test]
    fn an_edit_names_the_entry() {
        let mut c = chain(5);
        c[2].entry.status = 201;
        assert_eq!(verify(GENESIS, &c), Err(ChainBreak::Edited { seq: 3 }));
    }

    #[test]
    fn a_removal_names_the_entry_after_it() {
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify(GENESIS, &c), Err(ChainBreak::Unlinked { seq: 3 }));
    }
}
