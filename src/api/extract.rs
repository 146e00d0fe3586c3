//! Extractors whose rejections are problems: the caller, JSON bodies (kept as raw bytes
//! too, for idempotency fingerprints), the Idempotency-Key header and query strings.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::AppState;
use crate::domain::{ValidationError, pointer_of};
use crate::error::Error;
use crate::governance::Principal;
use crate::policy::{BodyLimits, Client};
use crate::services::idempotency::IdempotencyKey;

/// The client a call acts for, as the authentication layer established it.
pub struct Caller(pub Arc<Client>);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        let principal = parts.extensions.get::<Principal>();
        // Only reachable if a route were served outside the governed stack.
        let principal = principal.ok_or_else(|| anyhow::anyhow!("no authenticated principal"))?;
        Ok(Self(principal.client.clone()))
    }
}

/// A request body type, parsed strictly.
pub trait StrictBody: DeserializeOwned {
    /// Fields of the resource that Stockade sets; a client that sends one is told so,
    /// rather than told the field is unknown.
    const READ_ONLY: &'static [&'static str] = &[];
}

/// A JSON body, parsed strictly, with its raw bytes.
pub struct JsonBody<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<T: StrictBody> FromRequest<AppState> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Error> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || m.ends_with("+json")
            });
        if !is_json {
            return Err(Error::UnsupportedMediaType);
        }
        let limits = state.body_limits;
        let raw = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge {
                    limit: limits.max_bytes,
                }
            } else {
                Error::MalformedJson(e.body_text())
            }
        })?;
        check_shape(&raw, &limits)?;
        let value = parse_json::<T>(&raw)?;
        Ok(Self { value, raw })
    }
}

/// Syntax errors are 400 `malformed-json`; a well-formed body of the wrong shape is 422
/// `validation-failed` with a pointer to the field.
pub fn parse_json<T: StrictBody>(raw: &[u8]) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(raw);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let pointer = pointer_of(e.path());
        let inner = e.into_inner();
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                Error::MalformedJson(inner.to_string())
            }
            Category::Data => {
                let message = inner.to_string();
                if let Some(field) = unknown_field(&message).filter(|f| T::READ_ONLY.contains(f)) {
                    return Error::ReadOnlyField {
                        field: field.to_owned(),
                        pointer,
                    };
                }
                Error::Invalid(vec![ValidationError::new("invalid-body", pointer, message)])
            }
        }
    })?;
    de.end().map_err(|e| Error::MalformedJson(e.to_string()))?;
    Ok(value)
}

fn unknown_field(message: &str) -> Option<&str> {
    message.strip_prefix("unknown field `")?.split('`').next()
}

/// Refuses bodies nested deeper, or with longer arrays, than the policy allows, before
/// any parsing work is spent on them.
pub fn check_shape(raw: &[u8], limits: &BodyLimits) -> Result<(), Error> {
    // Items per open array (None for an object), and whether it has seen a value yet.
    let mut stack: Vec<Option<(usize, bool)>> = Vec::new();
    let (mut in_string, mut escaped) = (false, false);
    for &b in raw {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                note_value(&mut stack);
            }
            b'[' | b'{' => {
                note_value(&mut stack);
                stack.push((b == b'[').then_some((0, false)));
                if stack.len() > limits.max_json_depth {
                    return Err(Error::JsonTooDeep {
                        max: limits.max_json_depth,
                    });
                }
            }
            b']' | b'}' => {
                if let Some(Some((n, seen))) = stack.pop()
                    && n + usize::from(seen) > limits.max_array_items
                {
                    return Err(Error::TooMany {
                        what: "array items",
                        max: limits.max_array_items,
                        got: n + 1,
                    });
                }
            }
            b',' => {
                if let Some(Some((n, _))) = stack.last_mut() {
                    *n += 1;
                    if *n >= limits.max_array_items {
                        return Err(Error::TooMany {
                            what: "array items",
                            max: limits.max_array_items,
                            got: *n + 1,
                        });
                    }
                }
            }
            b if !b.is_ascii_whitespace() && b != b':' => note_value(&mut stack),
            _ => {}
        }
    }
    Ok(())
}

fn note_value(stack: &mut [Option<(usize, bool)>]) {
    if let Some(Some((_, seen))) = stack.last_mut() {
        *seen = true;
    }
}

/// The Idempotency-Key header, required.
pub struct IdempotencyHeader(pub IdempotencyKey);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyHeader {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        let raw = match parts.headers.get("idempotency-key") {
            None => None,
            Some(v) => Some(v.to_str().map_err(|_| Error::IdempotencyKeyInvalid)?),
        };
        IdempotencyKey::parse(raw).map(Self)
    }
}

/// Query pairs in order, repeated keys kept (`?sku=A&sku=B`).
pub struct QueryPairs(pub Vec<(String, String)>);

impl QueryPairs {
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn first(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A page size: `limit` from 1 to `max`, or `default` when absent.
    pub fn limit(&self, default: u32, max: u32) -> Result<u32, Error> {
        match self.first("limit") {
            None => Ok(default),
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| Error::InvalidParameter {
                    name: "limit",
                    why: format!("must be from 1 to {max}"),
                }),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        let q = parts.uri.query().unwrap_or("");
        Ok(Self(
            form_urlencoded::parse(q.as_bytes()).into_owned().collect(),
        ))
    }
}

/// The request's W3C `traceparent` (the trace-context layer makes sure there is one), as
/// the events it causes carry it on. When spans are exported it names the request's own
/// span, so that their deliveries hang from it.
pub struct TraceParent(pub Option<String>);

impl TraceParent {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TraceParent {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        let header = parts
            .headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok());
        let exported =
            header.and_then(|h| crate::telemetry::traceparent_of(&tracing::Span::current(), h));
        Ok(Self(exported.or_else(|| header.map(str::to_owned))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: BodyLimits = BodyLimits {
        max_bytes: 1 << 20,
        max_json_depth: 4,
        max_array_items: 3,
    };

    #[test]
    fn shapes_within_limits_pass() {
        for ok in [
            &b"{}"[..],
            b"[]",
            b"[1,2,3]",
            br#"{"a":[{"b":"[[[[["}]}"#,
            br#"{"a":"x,y,z,w"}"#,
        ] {
            check_shape(ok, &LIMITS).unwrap();
        }
    }

    #[test]
    fn deep_nesting_and_long_arrays_are_refused() {
        assert!(matches!(
            check_shape(b"[[[[[1]]]]]", &LIMITS),
            Err(Error::JsonTooDeep { .. })
        ));
        assert!(matches!(
            check_shape(b"[1,2,3,4]", &LIMITS),
            Err(Error::TooMany { .. })
        ));
        assert!(matches!(
            check_shape(br#"{"a":[{},{},{},{}]}"#, &LIMITS),
            Err(Error::TooMany { .. })
        ));
    }
}
