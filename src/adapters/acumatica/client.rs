//! The contract-based REST client (`<instance>/entity/<endpoint>/<version>`): every
//! adapter operation runs in a [`Scope`], one login that is always logged out again; a
//! timeout on every call; bounded answers; one transparent re-login when the session is
//! refused mid-operation; `$top`/`$skip` paging; the licence's limits kept on this side
//! (at most `sessions` scopes at once, at most `requests_per_minute` calls); throttling
//! waited out; and the ASP.NET error shape sorted into what a retry can fix and what it
//! cannot.
//!
//! Acumatica queues requests beyond the licence's rate and answers 429 when its queue is
//! full. A wait of up to [`MAX_THROTTLE_WAIT`](crate::adapters::http::MAX_THROTTLE_WAIT) is taken here, a few times at most; a
//! longer one goes back to the caller as `Throttled`, so the dispatcher's backoff decides.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{COOKIE, HeaderMap, LOCATION};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::auth::{self, Grant};
use super::session::{self, Login};
use crate::adapters::oauth2::Tokens;
use crate::adapters::{AdapterError, http};

/// The largest answer read: an instance answering more is broken, not busy.
pub const MAX_BODY: usize = 8 * 1024 * 1024;
/// How errors name this system.
const WHO: &str = "Acumatica";
/// Pages followed for one list before giving up: a paging loop, not a big company.
const MAX_PAGES: usize = 10_000;
/// The first wait when the answer names none; it doubles each time.
const BACKOFF_START: Duration = Duration::from_millis(200);
/// How often, and how many times, a long-running action's status is asked for.
const ACTION_POLL: Duration = Duration::from_millis(100);
const ACTION_POLLS: u32 = 50;

/// What the licence allows, kept on this side so that Stockade never competes with
/// other integrations for more than its share.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Sessions (so adapter operations) at once.
    pub sessions: usize,
    pub requests_per_minute: u32,
}

/// How the client proves who it is: a cookie session per scope, or a cached OAuth 2
/// bearer token from a connected application.
#[derive(Debug, Clone)]
pub enum AuthConfig {
    Session(Login),
    OAuth(Grant),
}

enum Auth {
    Session(Login),
    OAuth(Tokens),
}

/// What a scope's calls carry.
#[derive(Clone)]
enum Credential {
    Cookie(String),
    Bearer(String),
}

pub struct Client {
    http: reqwest::Client,
    /// `<scheme>://<host>:<port>`: an action's status location is relative to it.
    origin: Url,
    /// `<instance>/entity/<endpoint>/<version>`.
    base: String,
    /// `<instance>/entity/auth`.
    auth_base: String,
    auth: Auth,
    timeout: Duration,
    page_size: u32,
    sessions: Semaphore,
    rate: DefaultDirectRateLimiter,
}

impl Client {
    pub fn new(
        http: reqwest::Client,
        instance_url: &str,
        endpoint: &str,
        auth: AuthConfig,
        timeout: Duration,
        page_size: u32,
        limits: Limits,
    ) -> anyhow::Result<Self> {
        let origin = Url::parse(instance_url)
            .map_err(|e| anyhow::anyhow!("acumatica url: `{instance_url}` is not a URL: {e}"))?;
        let instance = instance_url.trim_end_matches('/');
        let per_minute = NonZeroU32::new(limits.requests_per_minute)
            .ok_or_else(|| anyhow::anyhow!("acumatica: requests per minute must be above 0"))?;
        let auth = match auth {
            AuthConfig::Session(login) => Auth::Session(login),
            AuthConfig::OAuth(grant) => Auth::OAuth(Tokens::new(
                http.clone(),
                auth::endpoint(format!("{instance}/identity/connect/token"), grant),
                timeout,
            )),
        };
        Ok(Self {
            http,
            origin,
            base: format!("{instance}/entity/{endpoint}"),
            auth_base: format!("{instance}/entity/auth"),
            auth,
            timeout,
            page_size,
            sessions: Semaphore::new(limits.sessions.max(1)),
            rate: RateLimiter::direct(Quota::per_minute(per_minute)),
        })
    }

    /// A logged-in scope, once one of the licence's sessions is free. Close it with
    /// [`Scope::close`]; one dropped unclosed still logs out, in the background.
    pub async fn open(&self) -> Result<Scope<'_>, AdapterError> {
        let permit = self
            .sessions
            .acquire()
            .await
            .map_err(|_| AdapterError::Transient("the Acumatica client is shut down".into()))?;
        let credential = self.log_in(None).await?;
        Ok(Scope {
            client: self,
            credential: std::sync::Mutex::new(Some(credential)),
            _permit: permit,
        })
    }

    /// No new scopes from now on.
    pub fn close(&self) {
        self.sessions.close();
    }

    /// A login (or the cached token), waiting out a short throttle or a full licence;
    /// given the `stale` credential Acumatica refused, a new one in its place.
    async fn log_in(&self, stale: Option<&Credential>) -> Result<Credential, AdapterError> {
        http::throttled("acumatica", BACKOFF_START, || async {
            match &self.auth {
                Auth::Session(login) => {
                    self.rate.until_ready().await;
                    session::log_in(&self.http, &self.auth_base, login, self.timeout)
                        .await
                        .map(Credential::Cookie)
                }
                Auth::OAuth(tokens) => {
                    let token = match stale {
                        Some(Credential::Bearer(stale)) => tokens.renew(stale).await?,
                        _ => tokens.get().await?,
                    };
                    Ok(Credential::Bearer(token.bearer().to_owned()))
                }
            }
        })
        .await
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Result<Url, AdapterError> {
        let mut url = Url::parse(&format!("{}/{path}", self.base))
            .map_err(|e| AdapterError::Permanent(format!("{path}: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }
}

/// One login's worth of calls.
pub struct Scope<'a> {
    client: &'a Client,
    /// `None` once logged out.
    credential: std::sync::Mutex<Option<Credential>>,
    _permit: SemaphorePermit<'a>,
}

impl Scope<'_> {
    /// Every record of `entity` that matches `query`, a page of `$top` at a time; the body
    /// is a bare array, and a page shorter than asked for is the last.
    pub async fn list<T: DeserializeOwned>(
        &self,
        entity: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, AdapterError> {
        let top = self.client.page_size as usize;
        let mut out = Vec::new();
        for page in 0..MAX_PAGES {
            let mut paged = query.to_vec();
            paged.push(("$top", top.to_string()));
            paged.push(("$skip", (page * top).to_string()));
            let url = self.client.url(entity, &paged)?;
            let (_, _, body) = self.call(Method::GET, url, None).await?;
            let rows: Vec<T> = parse(&body)?;
            let last = rows.len() < top;
            out.extend(rows);
            if last {
                return Ok(out);
            }
        }
        Err(AdapterError::Transient(format!(
            "{entity}: more than {MAX_PAGES} pages; the paging loops"
        )))
    }

    /// One `GET`, unpaged, parsed as `T`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, AdapterError> {
        let url = self.client.url(path, query)?;
        parse(&self.call(Method::GET, url, None).await?.2)
    }

    /// `PUT` a record (Acumatica's upsert, answered 200 with the record) parsed as `T`.
    pub async fn put<T: DeserializeOwned>(
        &self,
        entity: &str,
        query: &[(&str, String)],
        body: &Value,
    ) -> Result<T, AdapterError> {
        let url = self.client.url(entity, query)?;
        parse(&self.call(Method::PUT, url, Some(body)).await?.2)
    }

    /// Runs `action` on the record `entity` names, waiting for a long-running one
    /// (202 with a status `Location`) to finish.
    pub async fn action(
        &self,
        entity_name: &str,
        action: &str,
        entity: Value,
    ) -> Result<(), AdapterError> {
        let url = self.client.url(&format!("{entity_name}/{action}"), &[])?;
        let body = json!({ "entity": entity });
        let (status, headers, _) = self.call(Method::POST, url, Some(&body)).await?;
        let location = headers.get(LOCATION).and_then(|v| v.to_str().ok());
        let (202, Some(location)) = (status, location) else {
            return Ok(());
        };
        let status_url =
            self.client.origin.join(location).map_err(|e| {
                AdapterError::Transient(format!("{action} status `{location}`: {e}"))
            })?;
        for _ in 0..ACTION_POLLS {
            let (status, _, _) = self.call(Method::GET, status_url.clone(), None).await?;
            if status != 202 {
                return Ok(());
            }
            tokio::time::sleep(ACTION_POLL).await;
        }
        Err(AdapterError::Transient(format!(
            "{action} was still running after {:?}",
            ACTION_POLL * ACTION_POLLS
        )))
    }

    /// Logs out: the session stops holding one of the licence's users. (A bearer token
    /// stays cached for the next scope.)
    pub async fn close(self) {
        let credential = self.credential.lock().ok().and_then(|mut c| c.take());
        if let Some(Credential::Cookie(cookie)) = credential {
            let c = self.client;
            session::log_out(&c.http, &c.auth_base, &cookie, c.timeout).await;
        }
    }

    fn credential(&self) -> Result<Credential, AdapterError> {
        self.credential
            .lock()
            .ok()
            .and_then(|c| c.clone())
            .ok_or_else(|| AdapterError::Transient("the Acumatica session is closed".into()))
    }

    /// One call, with throttling waited out.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<(u16, HeaderMap, Vec<u8>), AdapterError> {
        http::throttled("acumatica", BACKOFF_START, || {
            self.in_session(method.clone(), url.clone(), body)
        })
        .await
    }

    /// One call in this scope's session; when Acumatica refuses the session (it timed
    /// out, or the instance restarted), one more in a new one.
    async fn in_session(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<(u16, HeaderMap, Vec<u8>), AdapterError> {
        let (mut status, mut headers, mut answer) =
            self.send(method.clone(), url.clone(), body).await?;
        if status == 401 {
            tracing::info!(
                erp.system = "acumatica",
                "session refused; logging in again"
            );
            let stale = self.credential()?;
            let fresh = self.client.log_in(Some(&stale)).await?;
            if let Ok(mut current) = self.credential.lock() {
                *current = Some(fresh);
            }
            (status, headers, answer) = self.send(method, url, body).await?;
        }
        if (200..300).contains(&status) {
            Ok((status, headers, answer))
        } else {
            Err(classify(status, &headers, &answer))
        }
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<(u16, HeaderMap, Vec<u8>), AdapterError> {
        let c = self.client;
        c.rate.until_ready().await;
        let mut req = c
            .http
            .request(method, url)
            .timeout(c.timeout)
            .header("accept", "application/json");
        req = match self.credential()? {
            Credential::Cookie(cookie) => req.header(COOKIE, cookie),
            Credential::Bearer(token) => req.bearer_auth(token),
        };
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = http::send(req).await.map_err(|e| {
            if e.is_timeout() {
                AdapterError::Transient(format!("no answer within {:?}", c.timeout))
            } else {
                AdapterError::Transient(e.without_url().to_string())
            }
        })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        Ok((status, headers, read_bounded(resp).await?))
    }
}

impl Drop for Scope<'_> {
    /// A scope dropped before it was closed (its operation was cancelled) still logs out,
    /// so that the session does not hold a licence until it times out.
    fn drop(&mut self) {
        let Some(Credential::Cookie(cookie)) =
            self.credential.get_mut().ok().and_then(Option::take)
        else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let c = self.client;
        let (http, auth_base, timeout) = (c.http.clone(), c.auth_base.clone(), c.timeout);
        runtime.spawn(async move {
            session::log_out(&http, &auth_base, &cookie, timeout).await;
        });
    }
}

/// The ASP.NET Web API error body:
/// `{"message", "exceptionMessage", "exceptionType", "stackTrace"}`.
#[derive(Debug, Default)]
pub struct AcumaticaError {
    /// `exceptionMessage` when there is one (it names the field), else `message`.
    pub message: String,
    pub exception_type: String,
}

impl AcumaticaError {
    pub fn from_body(body: &[u8]) -> Self {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return Self::default();
        };
        let message = v["exceptionMessage"]
            .as_str()
            .or_else(|| v["message"].as_str())
            .unwrap_or_default();
        Self {
            message: message.chars().take(300).collect(),
            exception_type: v["exceptionType"].as_str().unwrap_or_default().to_owned(),
        }
    }

    /// Acumatica itself raised it (a business rule, a missing record, a filter it
    /// cannot run): the same request will fail the same way.
    pub fn is_raised(&self) -> bool {
        self.exception_type.starts_with("PX.") && !self.is_contention()
    }

    /// Another process held the record, or the database timed out: worth a retry.
    fn is_contention(&self) -> bool {
        ["LockViolation", "Timeout", "Deadlock"]
            .iter()
            .any(|t| self.exception_type.contains(t))
    }
}

/// 429 asks us to slow down, as does a 503 with `Retry-After`. A 500 Acumatica raised
/// for a business rule (`OutcomeEntityHasErrorsException` and other `PX.` exceptions)
/// never succeeds as sent; other 5xx and 408 are worth retrying; any other 4xx never is.
pub fn classify(status: u16, headers: &HeaderMap, body: &[u8]) -> AdapterError {
    let error = AcumaticaError::from_body(body);
    let why = if error.message.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {}", error.message)
    };
    let retry_after = http::retry_after(headers);
    match status {
        429 => AdapterError::Throttled { retry_after },
        503 if retry_after.is_some() => AdapterError::Throttled { retry_after },
        500 if error.is_raised() => AdapterError::Permanent(why),
        408 | 500..=599 => AdapterError::Transient(why),
        _ => AdapterError::Permanent(why),
    }
}

/// The body, bounded.
pub async fn read_bounded(resp: reqwest::Response) -> Result<Vec<u8>, AdapterError> {
    http::read_bounded(resp, MAX_BODY, WHO).await
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdapterError> {
    http::parse_json(body, WHO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raised_errors_are_permanent_and_others_are_not() {
        let entity_errors = br#"{"message": "An error has occurred.",
            "exceptionMessage": "Inserting 'Sales Order Adjust' record raised at least one error.\nAdjdOrderNbr: no items",
            "exceptionType": "PX.Api.ContractBased.OutcomeEntityHasErrorsException",
            "stackTrace": "   at System.Monads"}"#;
        let e = classify(500, &HeaderMap::new(), entity_errors);
        assert!(
            matches!(&e, AdapterError::Permanent(m) if m.contains("AdjdOrderNbr")),
            "{e:?}"
        );
        let locked = br#"{"message": "An error has occurred.", "exceptionMessage": "Another process has updated the record.",
            "exceptionType": "PX.Data.PXLockViolationException"}"#;
        assert!(matches!(
            classify(500, &HeaderMap::new(), locked),
            AdapterError::Transient(_)
        ));
        assert!(matches!(
            classify(500, &HeaderMap::new(), b"<html>Server Error</html>"),
            AdapterError::Transient(_)
        ));
        assert!(matches!(
            classify(429, &HeaderMap::new(), b""),
            AdapterError::Throttled { retry_after: None }
        ));
        assert!(matches!(
            classify(404, &HeaderMap::new(), b""),
            AdapterError::Permanent(_)
        ));
    }
}
