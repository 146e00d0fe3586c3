//! Route policies: which scope a route needs, its priority class, cache TTL and
//! deprecation, matched by path template (`/v1/orders/{id}`).

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutePolicy {
    /// `GET`, `POST`, …
    pub method: String,
    /// The route's template as the API documents it, e.g. `/v1/orders/{id}`.
    pub path: String,
    /// The scope a caller needs. Routes that authenticate by signature have none.
    pub scope: Option<String>,
    /// How callers prove who they are: a client credential (the default), or a signature
    /// over the body that the handler verifies (webhooks from outside systems).
    #[serde(default)]
    pub auth: RouteAuth,
    pub priority: Priority,
    /// How long an availability answer may be served from the cache.
    #[serde(default)]
    pub cache_ttl_ms: Option<u64>,
    /// From this date the route answers with `Deprecation`.
    #[serde(default, deserialize_with = "date")]
    pub deprecated: Option<OffsetDateTime>,
    /// From this date the route answers 410.
    #[serde(default, deserialize_with = "date")]
    pub sunset: Option<OffsetDateTime>,
    /// Where the deprecation is explained; sent as `Link: <…>; rel="deprecation"`.
    #[serde(default)]
    pub link: Option<String>,
    /// When the shared rate limiter cannot be asked: let calls through (`open`, the
    /// default, so order capture survives a Redis outage) or refuse them (`closed`).
    #[serde(default)]
    pub on_limiter_failure: FailureMode,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteAuth {
    /// An API key or a JWT of a client in `clients.toml`.
    #[default]
    Credentials,
    /// A signature the handler checks against the sender's shared secret; no client
    /// credential is asked for, and scopes and client rate tiers do not apply.
    Signature,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    #[default]
    Open,
    Closed,
}

/// Who is shed first under overload: `background`, then `standard`, `critical` last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Background,
    Standard,
    Critical,
}

/// `YYYY-MM-DD` (midnight UTC) or a full RFC 3339 instant.
fn date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
    let Some(s) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    if let Ok(date) = time::Date::parse(
        &s,
        time::macros::format_description!("[year]-[month]-[day]"),
    ) {
        return Ok(Some(date.midnight().assume_utc()));
    }
    OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
        .map(Some)
        .map_err(|_| {
            serde::de::Error::custom(format!(
                "`{s}` is not a date (YYYY-MM-DD) or an RFC 3339 instant"
            ))
        })
}

/// Route policies by method, matched the way the router matches requests: a literal
/// segment wins over a `{param}`, and a parameter never matches an empty segment.
#[derive(Debug, Clone, Default)]
pub(super) struct RouteIndex(HashMap<String, matchit::Router<Arc<RoutePolicy>>>);

impl RouteIndex {
    /// Fails on two templates the router could not tell apart, such as
    /// `/v1/orders/{id}` and `/v1/orders/{order}`: names the second.
    pub(super) fn build(routes: &[Arc<RoutePolicy>]) -> Result<Self, (&RoutePolicy, String)> {
        let mut index: HashMap<String, matchit::Router<Arc<RoutePolicy>>> = HashMap::new();
        for r in routes {
            index
                .entry(r.method.clone())
                .or_default()
                .insert(r.path.clone(), r.clone())
                .map_err(|e| (r.as_ref(), e.to_string()))?;
        }
        Ok(Self(index))
    }

    pub(super) fn find(&self, method: &str, path: &str) -> Option<&Arc<RoutePolicy>> {
        // HEAD is served by the GET route.
        let method = if method.eq_ignore_ascii_case("HEAD") {
            "GET"
        } else {
            method
        };
        let path = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        self.0.get(method)?.at(path).ok().map(|m| m.value)
    }
}
