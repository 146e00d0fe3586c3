//! Idempotency-Key handling shared by every mutation that takes one.
//!
//! Keys are scoped by client. The response of the first request is stored in the same
//! transaction as its effect and replayed byte for byte. A concurrent repeat on this
//! instance is answered 409 at once; across instances, the store makes the repeat wait for
//! the first transaction and then replays it.

use sha2::{Digest, Sha256};

use super::Services;
use crate::error::{Error, Result};
use crate::store::{KeyState, StoredResponse};

/// A validated Idempotency-Key header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Accepts the draft's structured-field string (`"…"`) and the bare form most clients
    /// send. 1 to 255 visible ASCII characters.
    pub fn parse(raw: Option<&str>) -> Result<Self> {
        let raw = raw.ok_or(Error::IdempotencyKeyMissing)?.trim();
        let key = raw
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .unwrap_or(raw);
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::IdempotencyKeyInvalid);
        }
        Ok(Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What identifies "the same request": the route and the exact body bytes.
pub fn fingerprint(route: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(route.as_bytes());
    h.update([0]);
    h.update(body);
    hex::encode(h.finalize())
}

/// A mutation's answer: the stored response, and whether it is a replay.
#[derive(Debug, Clone)]
pub struct Reply {
    pub response: StoredResponse,
    pub replayed: bool,
}

/// Marks a key as in flight on this instance until dropped.
pub(crate) struct InFlight<'a> {
    services: &'a Services,
    slot: (String, String),
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.services.in_flight.lock() {
            set.remove(&self.slot);
        }
    }
}

impl Services {
    /// Claims the key on this instance, then checks what the store already holds for it.
    /// `Ok(Err(reply))` is a replay to send as is.
    pub(crate) async fn begin_idempotent(
        &self,
        client_id: &str,
        key: &IdempotencyKey,
        fingerprint: &str,
    ) -> Result<std::result::Result<InFlight<'_>, Reply>> {
        let slot = (client_id.to_owned(), key.0.clone());
        {
            let mut set = self
                .in_flight
                .lock()
                .map_err(|_| anyhow::anyhow!("in-flight set poisoned"))?;
            if !set.insert(slot.clone()) {
                return Err(Error::IdempotencyKeyInFlight);
            }
        }
        let guard = InFlight {
            services: self,
            slot,
        };
        match self
            .store
            .idempotency_key(
                client_id,
                key.as_str(),
                fingerprint,
                crate::domain::time::now(),
            )
            .await?
        {
            None => Ok(Ok(guard)),
            Some(state) => settle(state).map(Err),
        }
    }

    pub(crate) fn idempotency_expiry(&self) -> time::OffsetDateTime {
        crate::domain::time::now() + self.idempotency_retention
    }
}

/// What a key already in the store means for the request.
pub(crate) fn settle(state: KeyState) -> Result<Reply> {
    match state {
        KeyState::Replay(response) => Ok(Reply {
            response,
            replayed: true,
        }),
        KeyState::Mismatch => Err(Error::IdempotencyKeyReused),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_accept_bare_and_quoted_forms() {
        assert_eq!(
            IdempotencyKey::parse(Some("abc-123")).unwrap().as_str(),
            "abc-123"
        );
        assert_eq!(
            IdempotencyKey::parse(Some("\"abc-123\"")).unwrap().as_str(),
            "abc-123"
        );
        assert!(matches!(
            IdempotencyKey::parse(None),
            Err(Error::IdempotencyKeyMissing)
        ));
        for bad in ["", "\"\"", "has space", &"x".repeat(256), "caf\u{e9}"] {
            assert!(
                matches!(
                    IdempotencyKey::parse(Some(bad)),
                    Err(Error::IdempotencyKeyInvalid)
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn fingerprints_separate_routes_and_bodies() {
        assert_eq!(
            fingerprint("/v1/orders", b"{}"),
            fingerprint("/v1/orders", b"{}")
        );
        assert_ne!(
            fingerprint("/v1/orders", b"{}"),
            fingerprint("/v1/returns", b"{}")
        );
        assert_ne!(
            fingerprint("/v1/orders", b"{}"),
            fingerprint("/v1/orders", b"{ }")
        );
    }
}
