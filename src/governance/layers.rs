//! The governance layers as middleware functions over shared state. Each one refuses a
//! call with a problem (rendered by the error boundary) and records the refusal in the
//! audit chain.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use super::{Governance, Principal};
use crate::api::problem::pending;
use crate::domain::audit::AuditEntry;
use crate::domain::time::now;
use crate::policy::{FailureMode, Policies, Priority, RoutePolicy};
use crate::problem::{self, Problem};

/// The route policy a request matched, for the layers inside.
#[derive(Clone)]
pub struct RouteMatch(pub Arc<RoutePolicy>);

/// Routes that answer without credentials: health, the API description and the problem
/// type pages. Everything else, `/metrics` and `/v1/admin/*` included, needs a client.
pub fn is_open(path: &str) -> bool {
    matches!(path, "/livez" | "/readyz" | "/openapi.json" | "/docs")
        || path.starts_with("/docs/")
        || path.starts_with("/problems/")
}

/// Resolves the route policy; adds `Deprecation`, `Sunset` and `Link`; answers 410 after
/// the sunset date.
pub async fn versioning(
    State(gov): State<Arc<Governance>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(route) = gov
        .policies
        .route(req.method().as_str(), req.uri().path())
        .cloned()
    else {
        return next.run(req).await;
    };
    let route = Arc::new(route);
    let mut resp = if Policies::is_sunset(&route, now()) {
        let p = Problem::new(
            problem::GONE,
            format!("{} {} was retired", route.method, route.path),
        );
        pending(p, None)
    } else {
        req.extensions_mut().insert(RouteMatch(route.clone()));
        next.run(req).await
    };
    deprecation_headers(resp.headers_mut(), &route);
    resp
}

fn deprecation_headers(headers: &mut HeaderMap, route: &RoutePolicy) {
    let set = |headers: &mut HeaderMap, name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    if let Some(d) = route.deprecated {
        // RFC 9745: a structured-field date, seconds since the epoch.
        set(headers, "deprecation", format!("@{}", d.unix_timestamp()));
    }
    if let Some(s) = route.sunset {
        // RFC 8594: an HTTP-date.
        set(headers, "sunset", http_date(s));
    }
    if let Some(link) = &route.link {
        set(
            headers,
            "link",
            format!("<{link}>; rel=\"deprecation\"; type=\"text/html\""),
        );
    }
}

fn http_date(t: OffsetDateTime) -> String {
    t.format(&Rfc2822)
        .map(|s| s.replace("+0000", "GMT"))
        .unwrap_or_default()
}

/// Sheds by the route's priority class when too much is in flight: 503 with
/// `Retry-After`, background work first and critical work last.
pub async fn shed(State(gov): State<Arc<Governance>>, req: Request, next: Next) -> Response {
    let priority = req
        .extensions()
        .get::<RouteMatch>()
        .map_or(Priority::Standard, |r| r.0.priority);
    let Some(_slot) = gov.shedder.admit(priority).await else {
        tracing::warn!(http.path = %req.uri().path(), priority = ?priority, in_flight = gov.shedder.in_flight(), "request shed");
        let p = Problem::new(problem::SHED, "the gateway is overloaded; retry shortly")
            .with("priority", priority);
        let mut resp = pending(p, None);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(1));
        return resp;
    };
    next.run(req).await
}

/// API keys and JWTs. A missing or bad credential is 401 with `WWW-Authenticate`.
pub async fn authenticate(
    State(gov): State<Arc<Governance>>,
    mut req: Request,
    next: Next,
) -> Response {
    if is_open(req.uri().path()) {
        return next.run(req).await;
    }
    match gov.auth.authenticate(req.headers()).await {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(e) => {
            let challenge = match e {
                super::auth::AuthError::Missing => "Bearer realm=\"stockade\"".to_owned(),
                _ => format!(
                    "Bearer realm=\"stockade\", error=\"invalid_token\", error_description=\"{e}\""
                ),
            };
            tracing::info!(request.id = request_id(req.headers()), http.path = %req.uri().path(), reason = %e, "authentication refused");
            let entry = entry_for(&req, None);
            let mut resp = deny(
                &gov,
                entry,
                Problem::new(problem::UNAUTHENTICATED, e.to_string()),
            )
            .await;
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            resp
        }
    }
}

/// The route's scope from policy; 403 when the client lacks it.
pub async fn authorize(State(gov): State<Arc<Governance>>, req: Request, next: Next) -> Response {
    let (Some(principal), Some(RouteMatch(route))) = (
        req.extensions().get::<Principal>(),
        req.extensions().get::<RouteMatch>(),
    ) else {
        return next.run(req).await;
    };
    if let Some(scope) = &route.scope
        && !principal.client.has_scope(scope)
    {
        let p = Problem::new(
            problem::INSUFFICIENT_SCOPE,
            format!("this route needs the `{scope}` scope"),
        )
        .with("scope", scope);
        let entry = entry_for(&req, Some(principal));
        return deny(&gov, entry, p).await;
    }
    next.run(req).await
}

/// Per-client GCRA from the client's tier: headers on every limited answer, 429 with
/// `Retry-After` when exceeded.
pub async fn rate_limit(State(gov): State<Arc<Governance>>, req: Request, next: Next) -> Response {
    let Some(principal) = req.extensions().get::<Principal>().cloned() else {
        return next.run(req).await;
    };
    let tier_name = &principal.client.rate_tier;
    let Some(tier) = gov.policies.tier(tier_name).copied() else {
        return next.run(req).await;
    };
    let decision = match gov
        .limiter
        .check(&principal.client.id, tier_name, tier)
        .await
    {
        Ok(d) => d,
        Err(e) => {
            let route = req.extensions().get::<RouteMatch>().map(|r| r.0.clone());
            if route.is_some_and(|r| r.on_limiter_failure == FailureMode::Closed) {
                tracing::warn!(error = %e, "rate limiter unavailable; refusing a fail-closed route");
                let entry = entry_for(&req, Some(&principal));
                let mut resp = deny(
                    &gov,
                    entry,
                    Problem::new(problem::LIMITER_UNAVAILABLE, "retry shortly"),
                )
                .await;
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(1));
                return resp;
            }
            tracing::warn!(error = %e, "rate limiter unavailable; letting a fail-open route through");
            return next.run(req).await;
        }
    };
    let mut resp = if decision.allowed {
        next.run(req).await
    } else {
        let wait = decision
            .retry_after
            .unwrap_or_default()
            .as_secs_f64()
            .ceil()
            .max(1.0) as u64;
        let p = Problem::new(
            problem::RATE_LIMITED,
            format!(
                "tier `{tier_name}` allows {} requests per {} s",
                tier.requests, tier.per_seconds
            ),
        )
        .with("retry_after_seconds", wait);
        let entry = entry_for(&req, Some(&principal));
        let mut resp = deny(&gov, entry, p).await;
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        resp
    };
    for (name, value) in decision.headers() {
        resp.headers_mut().insert(name, value);
    }
    resp
}

/// Appends mutations, admin calls and refusals to the audit chain, with a hash of the
/// body (never the body) and the idempotency key.
pub async fn audit(State(gov): State<Arc<Governance>>, req: Request, next: Next) -> Response {
    let mutation = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let route = req.extensions().get::<RouteMatch>().map(|r| r.0.clone());
    let admin = route
        .as_ref()
        .is_some_and(|r| r.scope.as_deref() == Some("admin"));
    let mut entry = entry_for(&req, req.extensions().get::<Principal>());
    let req = if mutation {
        let (parts, body) = req.into_parts();
        match axum::body::to_bytes(body, gov.policies.limits.body.max_bytes).await {
            Ok(bytes) => {
                entry.body_sha256 =
                    (!bytes.is_empty()).then(|| hex::encode(Sha256::digest(&bytes)));
                Request::from_parts(parts, Body::from(bytes))
            }
            Err(_) => {
                let limit = gov.policies.limits.body.max_bytes;
                let p = Problem::new(
                    problem::PAYLOAD_TOO_LARGE,
                    format!("the body is larger than {limit} bytes"),
                )
                .with("limit_bytes", limit);
                entry.status = p.status;
                gov.auditor.record(entry).await;
                return pending(p, None);
            }
        }
    } else {
        req
    };
    let resp = next.run(req).await;
    entry.status = resp.status().as_u16();
    let refused = matches!(
        resp.status(),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
    );
    if mutation || admin || refused {
        if let Some(created) = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
        {
            entry.resource_id = created.rsplit('/').next().map(str::to_owned);
        }
        gov.auditor.record(entry).await;
    }
    resp
}

/// Records a refusal and answers it. The entry is built before any await: a request body
/// is not `Sync`, so no reference to the request may be held across one.
async fn deny(gov: &Governance, mut entry: AuditEntry, p: Problem) -> Response {
    entry.status = p.status;
    gov.auditor.record(entry).await;
    pending(p, None)
}

fn entry_for(req: &Request, principal: Option<&Principal>) -> AuditEntry {
    let route = req.extensions().get::<RouteMatch>().map(|r| r.0.clone());
    let path = req.uri().path();
    AuditEntry {
        at: now(),
        client_id: principal.map(|p| p.client.id.clone()),
        subject: principal.map(|p| p.subject.clone()),
        method: req.method().to_string(),
        route: route
            .as_ref()
            .map_or_else(|| path.to_owned(), |r| r.path.clone()),
        resource_id: route.as_ref().and_then(|r| path_param(&r.path, path)),
        status: 0,
        request_id: request_id(req.headers()).to_owned(),
        idempotency_key: req
            .headers()
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body_sha256: None,
    }
}

/// The value of the template's first parameter: `/v1/orders/{id}` on `/v1/orders/ord_1`.
fn path_param(template: &str, path: &str) -> Option<String> {
    template
        .split('/')
        .zip(path.split('/'))
        .find(|(t, _)| t.starts_with('{'))
        .map(|(_, v)| v.to_owned())
}

fn request_id(headers: &HeaderMap) -> &str {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
}

/// Security headers on every answer. The API documents never need scripts or framing;
/// the documentation UI needs its own scripts and styles.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let docs = req.uri().path().starts_with("/docs");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    let csp = if docs {
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
    } else {
        "default-src 'none'; frame-ancestors 'none'"
    };
    h.insert("content-security-policy", HeaderValue::from_static(csp));
    if !docs {
        // Answers carry customers' orders; no shared cache may keep them.
        h.entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    resp
}

/// W3C trace context: a valid `traceparent` is kept and echoed; otherwise a new trace
/// starts here, so every answer names the trace it belongs to.
pub async fn trace_context(mut req: Request, next: Next) -> Response {
    let incoming = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_traceparent(v));
    let traceparent = incoming.map_or_else(new_traceparent, str::to_owned);
    if let Ok(v) = HeaderValue::from_str(&traceparent) {
        req.headers_mut().insert("traceparent", v.clone());
        let mut resp = next.run(req).await;
        resp.headers_mut().insert("traceparent", v);
        return resp;
    }
    next.run(req).await
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, ids not all zero.
pub fn valid_traceparent(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
        && parts[1].bytes().any(|b| b != b'0')
        && parts[2].bytes().any(|b| b != b'0')
}

fn new_traceparent() -> String {
    let trace: u128 = rand::random::<u128>().max(1);
    let span: u64 = rand::random::<u64>().max(1);
    format!("00-{trace:032x}-{span:016x}-01")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_are_checked() {
        assert!(valid_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        assert!(!valid_traceparent(
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        ));
        assert!(!valid_traceparent(
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"
        ));
        assert!(!valid_traceparent("garbage"));
        assert!(valid_traceparent(&new_traceparent()));
    }

    #[test]
    fn path_params_and_dates() {
        assert_eq!(
            path_param("/v1/orders/{id}/cancel", "/v1/orders/ord_1/cancel").as_deref(),
            Some("ord_1")
        );
        assert_eq!(path_param("/v1/orders", "/v1/orders"), None);
        assert_eq!(
            http_date(time::macros::datetime!(2027-06-30 00:00 UTC)),
            "Wed, 30 Jun 2027 00:00:00 GMT"
        );
        assert!(is_open("/docs/index.html") && !is_open("/v1/admin/audit") && !is_open("/metrics"));
    }
}
