//! What every HTTP adapter does with a request and its answer: send it within the trace
//! it belongs to, read the answer within a bound, and read it as the JSON it should be.
//! `who` names the system in the error ("NetSuite", "the store").

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use serde::de::DeserializeOwned;
use tokio::task::futures::TaskLocalFuture;
use tracing::field::Empty;
use tracing::{Instrument, Span};

use super::AdapterError;
use crate::governance::layers::{new_traceparent, valid_traceparent};
use crate::telemetry;

tokio::task_local! {
    /// The W3C `traceparent` of the work in hand: the request or the event that caused
    /// it, or a background job's own.
    static TRACE: String;
}

/// Runs `work` as part of the trace `traceparent` names (a new one when there is none or
/// it is not valid), so that every outbound call inside it carries that trace. Work that
/// should show as a span of its own in exported traces uses [`in_span`].
pub async fn in_trace<F: Future>(traceparent: Option<&str>, work: F) -> F::Output {
    scoped(traceparent, work).await
}

/// [`in_trace`], with `work` running as `span`: when spans are exported, `span` continues
/// the trace (or is the root of the new one) and the calls made within it are its children.
pub async fn in_span<F: Future>(traceparent: Option<&str>, span: Span, work: F) -> F::Output {
    let (trace, fresh) = match traceparent.filter(|t| valid_traceparent(t)) {
        Some(t) => (t.to_owned(), false),
        None => (new_traceparent(), true),
    };
    telemetry::continue_trace(&span, &trace, fresh);
    TRACE.scope(trace, work.instrument(span)).await
}

/// [`in_trace`] as a future of a known type, for a tower service to return.
pub fn scoped<F: Future>(traceparent: Option<&str>, work: F) -> TaskLocalFuture<String, F> {
    let trace = traceparent
        .filter(|t| valid_traceparent(t))
        .map_or_else(new_traceparent, str::to_owned);
    TRACE.scope(trace, work)
}

/// The trace of the work in hand, if any.
pub fn current_trace() -> Option<String> {
    TRACE.try_with(Clone::clone).ok()
}

/// Sends `request` with a `traceparent` continuing the current trace: the same trace id
/// and flags, a new parent id for this call. Every adapter sends through here.
///
/// The call is an `outbound` span (until the answer's headers arrive) naming the method
/// and the host only: paths carry record ids and query strings may carry credentials.
/// When spans are exported, the parent id sent is that span's id.
pub async fn send(request: reqwest::RequestBuilder) -> reqwest::Result<reqwest::Response> {
    let (client, request) = request.build_split();
    let mut request = request?;
    let url = request.url();
    let span = tracing::debug_span!("outbound", otel.kind = "client",
        http.request.method = %request.method(), server.address = url.host_str().unwrap_or("-"),
        server.port = url.port_or_known_default(), http.response.status_code = Empty,
        otel.status_code = Empty);
    let traceparent = TRACE
        .try_with(|t| telemetry::outbound(&span, t).or_else(|| child_of(t)))
        .ok()
        .flatten();
    if let Some(v) = traceparent.and_then(|t| reqwest::header::HeaderValue::try_from(t).ok()) {
        request.headers_mut().insert("traceparent", v);
    }
    let sent = client.execute(request).instrument(span.clone()).await;
    match &sent {
        Ok(resp) => {
            span.record("http.response.status_code", resp.status().as_u16());
            if resp.status().is_server_error() {
                span.record("otel.status_code", "error");
            }
        }
        Err(_) => {
            span.record("otel.status_code", "error");
        }
    }
    sent
}

/// `00-<trace id>-<new parent id>-<flags>` under `traceparent`.
fn child_of(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.split('-');
    let (version, trace, _, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let span: u64 = rand::random::<u64>().max(1);
    Some(format!("{version}-{trace}-{span:016x}-{flags}"))
}

/// The body, or a transient failure when the connection breaks or the answer is larger
/// than `max` bytes: a system answering that much is broken, not busy.
pub async fn read_bounded(
    mut resp: reqwest::Response,
    max: usize,
    who: &str,
) -> Result<Vec<u8>, AdapterError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| {
        AdapterError::Transient(format!("{who}'s answer was cut: {}", e.without_url()))
    })? {
        if body.len() + chunk.len() > max {
            return Err(AdapterError::Transient(format!(
                "{who} answered more than {max} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A 2xx that is not the documented JSON (a proxy's HTML page, a PHP notice, a cut-off
/// answer) means something in between is broken for now; the next attempt may find it
/// mended, so it is transient.
pub fn parse_json<T: DeserializeOwned>(body: &[u8], who: &str) -> Result<T, AdapterError> {
    serde_json::from_slice(body).map_err(|e| {
        AdapterError::Transient(format!("{who}'s answer is not the expected JSON: {e}"))
    })
}

/// `Retry-After` in seconds, when the answer gives one. (The HTTP-date form is not read:
/// none of the systems Stockade talks to sends it.)
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .map(Duration::from_secs)
}

/// The longest throttle an adapter waits out itself; a longer one goes back to the outbox,
/// which retries later without holding a worker.
pub const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(5);
/// Throttled answers waited out for one call before giving up.
pub const THROTTLE_RETRIES: u32 = 5;

/// Runs `attempt` again while it is throttled and the waits stay short: `Retry-After` when
/// the vendor says, else doubling from `first_wait`. A throttled request was refused before
/// any work, so repeating a write is safe.
pub async fn throttled<T, F, Fut>(
    system: &'static str,
    first_wait: Duration,
    mut attempt: F,
) -> Result<T, AdapterError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AdapterError>>,
{
    let mut waited = 0;
    loop {
        match attempt().await {
            Err(AdapterError::Throttled { retry_after }) if waited < THROTTLE_RETRIES => {
                wait_out_throttle(system, retry_after, waited, first_wait).await?;
                waited += 1;
            }
            answer => return answer,
        }
    }
}

/// Waits out the `waited`-th throttle of a call (with a little jitter, so that callers
/// throttled together do not come back together), or gives the throttle back when the
/// wait would be longer than [`MAX_THROTTLE_WAIT`].
pub async fn wait_out_throttle(
    system: &'static str,
    retry_after: Option<Duration>,
    waited: u32,
    first_wait: Duration,
) -> Result<(), AdapterError> {
    let wait = retry_after.unwrap_or(first_wait * 2u32.pow(waited));
    if wait > MAX_THROTTLE_WAIT {
        return Err(AdapterError::Throttled { retry_after });
    }
    let jitter = Duration::from_millis(rand::rng().random_range(0..50));
    tracing::debug!(
        erp.system = system,
        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        "throttled; waiting"
    );
    tokio::time::sleep(wait + jitter).await;
    Ok(())
}

/// Sends a logout and logs how it went: a logout that fails leaves a session to time out
/// on the vendor's side, worth a warning but nothing more.
pub async fn log_out(system: &'static str, request: reqwest::RequestBuilder) {
    match send(request).await {
        Ok(resp) if resp.status().is_success() => {
            tracing::debug!(erp.system = system, "logged out");
        }
        Ok(resp) => {
            let status = resp.status().as_u16();
            tracing::warn!(erp.system = system, http.status = status, "logout refused");
        }
        Err(e) => {
            tracing::warn!(erp.system = system, error = %e.without_url(), "logout failed");
        }
    }
}
