//! `GET /v1/availability/{sku}` and `GET /v1/availability?sku=…`.

pub mod get_many;
pub mod get_one;

use std::time::Duration;

use axum::Extension;

use crate::governance::layers::RouteMatch;

/// The route policy's cache TTL.
fn ttl(route: Option<&Extension<RouteMatch>>) -> Option<Duration> {
    route
        .and_then(|r| r.0.0.cache_ttl_ms)
        .map(Duration::from_millis)
}
