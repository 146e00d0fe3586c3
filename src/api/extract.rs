//! Extractors whose rejections are problems: the caller, JSON bodies (kept as raw bytes
//! too, for idempotency fingerprints), the Idempotency-Key header and query strings.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::AppState;
use crate::domain::{ValidationError, pointer_of};
use crate::error::Error;
use crate::policy::Client;
use crate::services::idempotency::IdempotencyKey;

/// The client a call acts for.
pub struct Caller(pub Client);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let policies = &state.services.policies;
        if let Some(client) = api_key(&parts.headers).and_then(|k| policies.client_by_api_key(k)) {
            return Ok(Self(client.clone()));
        }
        // TODO: until the governance stack enforces credentials, a call without a known key
        // acts as the demo storefront while the demo policy is in use.
        match policies.clients.first() {
            Some(client) if policies.demo => Ok(Self(client.clone())),
            _ => Err(Error::Unauthenticated),
        }
    }
}

/// The key from `Authorization: Bearer …` or `X-Api-Key`.
pub fn api_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    bearer
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
}

/// A JSON body, parsed strictly, with its raw bytes.
pub struct JsonBody<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Error> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim();
                m.eq_ignore_ascii_case("application/json")
                    || m.to_ascii_lowercase().ends_with("+json")
            });
        if !is_json {
            return Err(Error::UnsupportedMediaType);
        }
        let raw = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge {
                    limit: state.max_body_bytes,
                }
            } else {
                Error::MalformedJson(e.body_text())
            }
        })?;
        let value = parse_json(&raw)?;
        Ok(Self { value, raw })
    }
}

/// Syntax errors are 400 `malformed-json`; a well-formed body of the wrong shape is 422
/// `validation-failed` with a pointer to the field.
pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(raw);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let pointer = pointer_of(e.path());
        let inner = e.into_inner();
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                Error::MalformedJson(inner.to_string())
            }
            Category::Data => Error::Invalid(vec![ValidationError::new(
                "invalid-body",
                pointer,
                inner.to_string(),
            )]),
        }
    })?;
    de.end().map_err(|e| Error::MalformedJson(e.to_string()))?;
    Ok(value)
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
