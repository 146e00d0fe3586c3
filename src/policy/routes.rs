//! Route policies: which scope a route needs, its priority class, cache TTL and
//! deprecation, matched by path template (`/v1/orders/{id}`).

use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutePolicy {
    /// `GET`, `POST`, …
    pub method: String,
    /// The route's template as the API documents it, e.g. `/v1/orders/{id}`.
    pub path: String,
    /// The scope a caller needs.
    pub scope: Option<String>,
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

/// The matching route with the fewest parameters, so a literal segment wins over `{id}`.
pub(super) fn find<'a>(
    routes: &'a [RoutePolicy],
    method: &str,
    path: &str,
) -> Option<&'a RoutePolicy> {
    // HEAD is served by the GET route.
    let method = if method.eq_ignore_ascii_case("HEAD") {
        "GET"
    } else {
        method
    };
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    routes
        .iter()
        .filter(|r| r.method.eq_ignore_ascii_case(method))
        .filter_map(|r| {
            let template: Vec<&str> = r.path.split('/').collect();
            if template.len() != segments.len() {
                return None;
            }
            let mut params = 0;
            for (t, s) in template.iter().zip(&segments) {
                if t.starts_with('{') && t.ends_with('}') {
                    if s.is_empty() {
                        return None;
                    }
                    params += 1;
                } else if t != s {
                    return None;
                }
            }
            Some((params, r))
        })
        .min_by_key(|(params, _)| *params)
        .map(|(_, r)| r)
}
