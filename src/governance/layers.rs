//! The governance layers, each a [`Gate`] over shared state: most decide without
//! waiting. Each one refuses a call with a problem (rendered by the error boundary) and
//! records the refusal in the audit chain before answering.

use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use tokio::sync::OwnedSemaphorePermit;

use super::auth::AuthError;
use super::gate::{Entry, Gate, Reply};
use super::ratelimit::{LimiterUnavailable, RateDecision};
use super::shedding::Admission;
use super::{Governance, Principal};
use crate::api::problem::pending;
use crate::domain::audit::AuditEntry;
use crate::domain::time::now;
use crate::metrics::{ClientLabel, PriorityLabel};
use crate::policy::{FailureMode, Policies, Priority, RouteAuth, RoutePolicy};
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

/// What the layers inside learn about a call, for [`Measure`] outside them: the route's
/// template (from versioning) and the client (from authentication).
#[derive(Default)]
pub struct CallNote {
    route: OnceLock<String>,
    client: OnceLock<String>,
}

impl CallNote {
    fn route(req: &Request, route: &RoutePolicy) {
        if let Some(note) = req.extensions().get::<Arc<CallNote>>() {
            let _ = note.route.set(route.path.clone());
        }
    }

    fn client(req: &Request, principal: &Principal) {
        if let Some(note) = req.extensions().get::<Arc<CallNote>>() {
            let _ = note.client.set(principal.client.id.clone());
        }
    }
}

/// Counts every answer by route, method, status and client, and times it. It sits
/// outside the layers that refuse calls, so sheds, 401s, 429s and timeouts count too.
#[derive(Clone)]
pub struct Measure(pub Arc<Governance>);

pub struct Measured {
    started: Instant,
    method: Method,
    /// For a path no route policy names: an open page's first segment, or `unmatched`.
    fallback: &'static str,
    note: Arc<CallNote>,
}

impl Gate for Measure {
    type Ticket = Measured;

    fn enter(&self, req: &mut Request) -> Entry<Measured> {
        let note = Arc::new(CallNote::default());
        req.extensions_mut().insert(note.clone());
        let path = req.uri().path();
        let fallback = match path {
            "/livez" => "/livez",
            "/readyz" => "/readyz",
            "/metrics" => "/metrics",
            "/openapi.json" => "/openapi.json",
            _ if path.starts_with("/docs") => "/docs",
            _ if path.starts_with("/problems/") => "/problems",
            _ => "unmatched",
        };
        Entry::Pass(Measured {
            started: Instant::now(),
            method: req.method().clone(),
            fallback,
            note,
        })
    }

    fn leave(&self, call: Measured, resp: Response) -> Reply {
        let route = call.note.route.get().map_or(call.fallback, String::as_str);
        let client = call.note.client.get().map_or("anonymous", String::as_str);
        self.0.metrics.request(
            route,
            call.method.as_str(),
            resp.status().as_u16(),
            client,
            call.started.elapsed().as_secs_f64(),
        );
        Reply::Now(resp)
    }
}

/// Resolves the route policy; adds `Deprecation`, `Sunset` and `Link`; answers 410 after
/// the sunset date.
#[derive(Clone)]
pub struct Versioning(pub Arc<Governance>);

impl Gate for Versioning {
    type Ticket = Option<Arc<RoutePolicy>>;

    fn enter(&self, req: &mut Request) -> Entry<Self::Ticket> {
        let Some(route) = self
            .0
            .policies
            .route(req.method().as_str(), req.uri().path())
            .cloned()
        else {
            return Entry::Pass(None);
        };
        CallNote::route(req, &route);
        if Policies::is_sunset(&route, now()) {
            let p = Problem::new(
                problem::GONE,
                format!("{} {} was retired", route.method, route.path),
            );
            let mut resp = pending(p, None);
            deprecation_headers(resp.headers_mut(), &route);
            return Entry::Answer(Reply::Now(resp));
        }
        req.extensions_mut().insert(RouteMatch(route.clone()));
        Entry::Pass(Some(route))
    }

    fn leave(&self, route: Self::Ticket, mut resp: Response) -> Reply {
        if let Some(route) = route {
            deprecation_headers(resp.headers_mut(), &route);
        }
        Reply::Now(resp)
    }
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
/// `Retry-After`, background work first and critical work last. The slot is held until
/// the answer leaves.
#[derive(Clone)]
pub struct Shed(pub Arc<Governance>);

impl Gate for Shed {
    type Ticket = OwnedSemaphorePermit;

    fn enter(&self, req: &mut Request) -> Entry<Self::Ticket> {
        let priority = req
            .extensions()
            .get::<RouteMatch>()
            .map_or(Priority::Standard, |r| r.0.priority);
        let shed = move |gov: &Governance, path: &str| {
            let class = PriorityLabel {
                priority: format!("{priority:?}").to_ascii_lowercase(),
            };
            gov.metrics.shed.get_or_create(&class).inc();
            tracing::warn!(http.path = %path, priority = ?priority, in_flight = gov.shedder.in_flight(), "request shed");
            let p = Problem::new(problem::SHED, "the gateway is overloaded; retry shortly")
                .with("priority", priority);
            let mut resp = pending(p, None);
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(1));
            resp
        };
        match self.0.shedder.try_admit(priority) {
            Admission::Now(slot) => Entry::Pass(slot),
            Admission::Shed => Entry::Answer(Reply::Now(shed(&self.0, req.uri().path()))),
            Admission::Queue(wait) => {
                let gov = self.0.clone();
                let queued = gov.shedder.queue_for(wait);
                let req = std::mem::take(req);
                Entry::Wait(Box::pin(async move {
                    match queued.await {
                        Some(slot) => Ok((req, slot)),
                        None => Err(shed(&gov, req.uri().path())),
                    }
                }))
            }
        }
    }
}

/// API keys and JWTs. A missing or bad credential is 401 with `WWW-Authenticate`. Routes
/// whose policy says they authenticate by signature pass without one.
#[derive(Clone)]
pub struct Authenticate(pub Arc<Governance>);

impl Gate for Authenticate {
    type Ticket = ();

    fn enter(&self, req: &mut Request) -> Entry<()> {
        // A webhook proves itself with a signature over its body, which its handler checks
        // against the sender's secret: there is no client credential to ask for.
        let signed = req
            .extensions()
            .get::<RouteMatch>()
            .is_some_and(|r| r.0.auth == RouteAuth::Signature);
        if signed || is_open(req.uri().path()) {
            return Entry::Pass(());
        }
        match self.0.auth.without_waiting(req.headers()) {
            Some(Ok(principal)) => {
                CallNote::client(req, &principal);
                req.extensions_mut().insert(principal);
                Entry::Pass(())
            }
            Some(Err(e)) => Entry::Answer(unauthenticated(self.0.clone(), req, &e)),
            None => {
                let gov = self.0.clone();
                let mut req = std::mem::take(req);
                Entry::Wait(Box::pin(async move {
                    match gov.auth.authenticate(req.headers()).await {
                        Ok(principal) => {
                            CallNote::client(&req, &principal);
                            req.extensions_mut().insert(principal);
                            Ok((req, ()))
                        }
                        Err(e) => Err(unauthenticated(gov, &req, &e).resolve().await),
                    }
                }))
            }
        }
    }
}

fn unauthenticated(gov: Arc<Governance>, req: &Request, e: &AuthError) -> Reply {
    let challenge = match e {
        AuthError::Missing => "Bearer realm=\"stockade\"".to_owned(),
        _ => {
            format!("Bearer realm=\"stockade\", error=\"invalid_token\", error_description=\"{e}\"")
        }
    };
    tracing::info!(request.id = request_id(req.headers()), http.path = %req.uri().path(), reason = %e, "authentication refused");
    let p = Problem::new(problem::UNAUTHENTICATED, e.to_string());
    let mut headers = Vec::new();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        headers.push((header::WWW_AUTHENTICATE, v));
    }
    deny(gov, entry_for(req, None), p, headers)
}

/// The route's scope from policy; 403 when the client lacks it.
#[derive(Clone)]
pub struct Authorize(pub Arc<Governance>);

impl Gate for Authorize {
    type Ticket = ();

    fn enter(&self, req: &mut Request) -> Entry<()> {
        let (Some(principal), Some(RouteMatch(route))) = (
            req.extensions().get::<Principal>(),
            req.extensions().get::<RouteMatch>(),
        ) else {
            return Entry::Pass(());
        };
        match &route.scope {
            Some(scope) if !principal.client.has_scope(scope) => {
                let p = Problem::new(
                    problem::INSUFFICIENT_SCOPE,
                    format!("this route needs the `{scope}` scope"),
                )
                .with("scope", scope);
                let entry = entry_for(req, Some(principal));
                Entry::Answer(deny(self.0.clone(), entry, p, Vec::new()))
            }
            _ => Entry::Pass(()),
        }
    }
}

/// Per-client GCRA from the client's tier: headers on every limited answer, 429 with
/// `Retry-After` when exceeded.
#[derive(Clone)]
pub struct RateLimit(pub Arc<Governance>);

impl Gate for RateLimit {
    /// The decision's headers, for the answer.
    type Ticket = Option<RateDecision>;

    fn enter(&self, req: &mut Request) -> Entry<Self::Ticket> {
        let Some(principal) = req.extensions().get::<Principal>() else {
            return Entry::Pass(None);
        };
        let client = &principal.client;
        let Some(tier) = self.0.policies.tier(&client.rate_tier).copied() else {
            return Entry::Pass(None);
        };
        if let Some(decided) = self
            .0
            .limiter
            .check_now(&client.id, &client.rate_tier, tier)
        {
            return admit(&self.0, req, decided);
        }
        let gov = self.0.clone();
        let req = std::mem::take(req);
        Entry::Wait(Box::pin(async move {
            let client = req
                .extensions()
                .get::<Principal>()
                .map(|p| p.client.clone())
                .expect("a principal was found above");
            let decided = gov.limiter.check(&client.id, &client.rate_tier, tier).await;
            match admit(&gov, &req, decided) {
                Entry::Pass(ticket) => Ok((req, ticket)),
                Entry::Answer(reply) => Err(reply.resolve().await),
                Entry::Wait(_) => unreachable!("a decision is never deferred twice"),
            }
        }))
    }

    fn leave(&self, decision: Self::Ticket, mut resp: Response) -> Reply {
        if let Some(decision) = decision {
            for (name, value) in decision.headers() {
                resp.headers_mut().insert(name, value);
            }
        }
        Reply::Now(resp)
    }
}

fn admit(
    gov: &Arc<Governance>,
    req: &Request,
    decided: Result<RateDecision, LimiterUnavailable>,
) -> Entry<Option<RateDecision>> {
    let principal = req.extensions().get::<Principal>();
    let decision = match decided {
        Ok(decision) if decision.allowed => return Entry::Pass(Some(decision)),
        Ok(decision) => decision,
        Err(e) => {
            let route = req.extensions().get::<RouteMatch>();
            if route.is_some_and(|r| r.0.on_limiter_failure == FailureMode::Closed) {
                tracing::warn!(error = %e, "rate limiter unavailable; refusing a fail-closed route");
                let p = Problem::new(problem::LIMITER_UNAVAILABLE, "retry shortly");
                let retry = vec![(header::RETRY_AFTER, HeaderValue::from(1))];
                return Entry::Answer(deny(gov.clone(), entry_for(req, principal), p, retry));
            }
            tracing::warn!(error = %e, "rate limiter unavailable; letting a fail-open route through");
            return Entry::Pass(None);
        }
    };
    let wait = decision
        .retry_after
        .unwrap_or_default()
        .as_secs_f64()
        .ceil()
        .max(1.0) as u64;
    let p = Problem::new(
        problem::RATE_LIMITED,
        format!(
            "tier `{}` allows {} requests per {} s",
            decision.policy, decision.quota, decision.window_seconds
        ),
    )
    .with("retry_after_seconds", wait);
    if let Some(principal) = principal {
        let client = ClientLabel {
            client: principal.client.id.clone(),
        };
        gov.metrics.rate_limited.get_or_create(&client).inc();
    }
    let mut headers: Vec<_> = decision.headers().into();
    headers.push((header::RETRY_AFTER, HeaderValue::from(wait)));
    Entry::Answer(deny(gov.clone(), entry_for(req, principal), p, headers))
}

/// Appends mutations, admin calls and refusals to the audit chain, with a hash of the
/// body (never the body) and the idempotency key. The entry is committed before the
/// answer leaves.
#[derive(Clone)]
pub struct Audit(pub Arc<Governance>);

pub enum AuditTicket {
    /// A read: recorded only if something inside refuses it (403 on a channel).
    Read(Seen),
    /// Recorded whatever the answer.
    Always(AuditEntry),
}

impl Gate for Audit {
    type Ticket = AuditTicket;

    fn enter(&self, req: &mut Request) -> Entry<AuditTicket> {
        let mutation = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        let admin = req
            .extensions()
            .get::<RouteMatch>()
            .is_some_and(|r| r.0.scope.as_deref() == Some("admin"));
        let principal = req.extensions().get::<Principal>();
        if !mutation {
            let seen = Seen::of(req, principal);
            return Entry::Pass(if admin {
                AuditTicket::Always(seen.entry())
            } else {
                AuditTicket::Read(seen)
            });
        }
        // The body is read whole to hash it, then handed on.
        let mut entry = entry_for(req, principal);
        let gov = self.0.clone();
        let (parts, body) = std::mem::take(req).into_parts();
        Entry::Wait(Box::pin(async move {
            let limit = gov.policies.limits.body.max_bytes;
            match axum::body::to_bytes(body, limit).await {
                Ok(bytes) => {
                    entry.body_sha256 =
                        (!bytes.is_empty()).then(|| hex::encode(Sha256::digest(&bytes)));
                    let req = Request::from_parts(parts, Body::from(bytes));
                    Ok((req, AuditTicket::Always(entry)))
                }
                Err(_) => {
                    let p = Problem::new(
                        problem::PAYLOAD_TOO_LARGE,
                        format!("the body is larger than {limit} bytes"),
                    )
                    .with("limit_bytes", limit);
                    Err(deny(gov, entry, p, Vec::new()).resolve().await)
                }
            }
        }))
    }

    fn leave(&self, ticket: AuditTicket, resp: Response) -> Reply {
        let mut entry = match ticket {
            AuditTicket::Read(_) if !refused(resp.status()) => return Reply::Now(resp),
            AuditTicket::Read(seen) => seen.entry(),
            AuditTicket::Always(entry) => entry,
        };
        entry.status = resp.status().as_u16();
        if let Some(created) = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
        {
            entry.resource_id = created.rsplit('/').next().map(str::to_owned);
        }
        let gov = self.0.clone();
        Reply::Later(Box::pin(async move {
            gov.auditor.record(entry).await;
            resp
        }))
    }
}

fn refused(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
    )
}

/// Records a refusal in the audit chain, then answers it with `headers`.
fn deny(
    gov: Arc<Governance>,
    mut entry: AuditEntry,
    p: Problem,
    headers: Vec<(HeaderName, HeaderValue)>,
) -> Reply {
    entry.status = p.status;
    Reply::Later(Box::pin(async move {
        gov.auditor.record(entry).await;
        let mut resp = pending(p, None);
        resp.headers_mut().extend(headers);
        resp
    }))
}

fn entry_for(req: &Request, principal: Option<&Principal>) -> AuditEntry {
    Seen::of(req, principal).entry()
}

/// What the audit needs to remember of a request: cheap to keep for every read, turned
/// into an entry only for the few that are recorded.
pub struct Seen {
    method: Method,
    uri: axum::http::Uri,
    route: Option<Arc<RoutePolicy>>,
    principal: Option<Principal>,
    request_id: Option<HeaderValue>,
    idempotency_key: Option<HeaderValue>,
}

impl Seen {
    fn of(req: &Request, principal: Option<&Principal>) -> Self {
        Self {
            method: req.method().clone(),
            uri: req.uri().clone(),
            route: req.extensions().get::<RouteMatch>().map(|r| r.0.clone()),
            principal: principal.cloned(),
            request_id: req.headers().get("x-request-id").cloned(),
            idempotency_key: req.headers().get("idempotency-key").cloned(),
        }
    }

    fn entry(&self) -> AuditEntry {
        let path = self.uri.path();
        let text =
            |v: &Option<HeaderValue>| v.as_ref().and_then(|v| v.to_str().ok()).map(str::to_owned);
        AuditEntry {
            at: now(),
            client_id: self.principal.as_ref().map(|p| p.client.id.clone()),
            subject: self.principal.as_ref().map(|p| p.subject.clone()),
            method: self.method.to_string(),
            route: self
                .route
                .as_ref()
                .map_or_else(|| path.to_owned(), |r| r.path.clone()),
            resource_id: self.route.as_ref().and_then(|r| path_param(&r.path, path)),
            status: 0,
            request_id: text(&self.request_id).unwrap_or_else(|| "-".to_owned()),
            idempotency_key: text(&self.idempotency_key),
            body_sha256: None,
        }
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
#[derive(Clone)]
pub struct SecurityHeaders;

impl<B: Send + 'static> Gate<B> for SecurityHeaders {
    /// Whether the documentation UI is asked for.
    type Ticket = bool;

    fn enter(&self, req: &mut Request) -> Entry<bool, B> {
        Entry::Pass(req.uri().path().starts_with("/docs"))
    }

    fn leave(&self, docs: bool, mut resp: Response<B>) -> Reply<B> {
        // Names parsed once, not on every answer.
        static FIXED: LazyLock<[(HeaderName, HeaderValue); 4]> = LazyLock::new(|| {
            let h = HeaderName::from_static;
            [
                (
                    h("x-content-type-options"),
                    HeaderValue::from_static("nosniff"),
                ),
                (h("x-frame-options"), HeaderValue::from_static("DENY")),
                (
                    h("referrer-policy"),
                    HeaderValue::from_static("no-referrer"),
                ),
                (
                    h("cross-origin-resource-policy"),
                    HeaderValue::from_static("same-origin"),
                ),
            ]
        });
        static CSP: LazyLock<HeaderName> =
            LazyLock::new(|| HeaderName::from_static("content-security-policy"));
        let h = resp.headers_mut();
        for (name, value) in FIXED.iter() {
            h.insert(name.clone(), value.clone());
        }
        let csp = if docs {
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
        } else {
            "default-src 'none'; frame-ancestors 'none'"
        };
        h.insert(CSP.clone(), HeaderValue::from_static(csp));
        if !docs {
            // Answers carry customers' orders; no shared cache may keep them.
            h.entry(header::CACHE_CONTROL)
                .or_insert(HeaderValue::from_static("no-store"));
        }
        Reply::Now(resp)
    }
}

/// W3C trace context: a valid `traceparent` is kept and echoed; otherwise a new trace
/// starts here, so every answer names the trace it belongs to.
#[derive(Clone)]
pub struct TraceContext;

/// Marks a request whose trace began here, when spans are exported: its request span is
/// the trace's root, not the child of a caller's span.
#[derive(Clone, Copy)]
pub struct NewTrace;

impl<B: Send + 'static> Gate<B> for TraceContext {
    type Ticket = Option<HeaderValue>;

    fn enter(&self, req: &mut Request) -> Entry<Self::Ticket, B> {
        let incoming = req
            .headers()
            .get("traceparent")
            .filter(|v| v.to_str().is_ok_and(valid_traceparent))
            .cloned();
        if incoming.is_none() && crate::telemetry::exporting() {
            req.extensions_mut().insert(NewTrace);
        }
        let traceparent = incoming.or_else(|| HeaderValue::from_str(&new_traceparent()).ok());
        if let Some(v) = &traceparent {
            req.headers_mut().insert("traceparent", v.clone());
        }
        Entry::Pass(traceparent)
    }

    fn leave(&self, traceparent: Self::Ticket, mut resp: Response<B>) -> Reply<B> {
        if let Some(v) = traceparent {
            resp.headers_mut().insert("traceparent", v);
        }
        Reply::Now(resp)
    }
}

/// Runs the rest of the stack inside the request's trace (set by [`TraceContext`]), so
/// that any call the handler makes to an outside system carries it. A plain service
/// rather than a gate: it wraps the inner future instead of deciding anything.
#[derive(Clone, Copy)]
pub struct TraceScopeLayer;

impl<S> tower::Layer<S> for TraceScopeLayer {
    type Service = TraceScope<S>;

    fn layer(&self, inner: S) -> TraceScope<S> {
        TraceScope(inner)
    }
}

#[derive(Clone)]
pub struct TraceScope<S>(S);

impl<S: tower::Service<Request>> tower::Service<Request> for TraceScope<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = tokio::task::futures::TaskLocalFuture<String, S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let traceparent = req
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        crate::adapters::http::scoped(traceparent.as_deref(), self.0.call(req))
    }
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

pub fn new_traceparent() -> String {
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
