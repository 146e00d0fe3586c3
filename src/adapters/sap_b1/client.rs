//! The Service Layer client (`/b1s/v1`, OData v3 style): a timeout on every call, bounded
//! answers, a transparent re-login when the session has expired, OData paging, short
//! throttling waited out, and the Service Layer's error shape sorted into what a retry can
//! fix and what it cannot.
//!
//! The Service Layer itself does not throttle; the load balancer or proxy in front of it
//! does, with a 429 or a 503 carrying `Retry-After`. A wait of up to [`MAX_THROTTLE_WAIT`](crate::adapters::http::MAX_THROTTLE_WAIT)
//! is taken here, a few times at most; a longer one goes back to the caller as
//! `Throttled`, so the dispatcher's backoff and breaker decide instead of a held request.

use std::time::Duration;

use reqwest::header::{COOKIE, HeaderMap};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::session::{Login, Sessions};
use crate::adapters::{AdapterError, http};

/// The largest answer read: a Service Layer answering more is broken, not busy.
pub const MAX_BODY: usize = 16 * 1024 * 1024;
/// How errors name this system.
const WHO: &str = "the Service Layer";
/// Pages followed for one list before giving up: a loop of `nextLink`s, not a big company.
const MAX_PAGES: usize = 10_000;
/// The Service Layer's error code for an expired or unknown session.
const INVALID_SESSION: i64 = 301;
/// The first wait when the answer names none; it doubles each time.
const BACKOFF_START: Duration = Duration::from_millis(100);

pub struct Client {
    http: reqwest::Client,
    /// `<scheme>://<host>:<port>`: `odata.nextLink` is relative to it.
    origin: Url,
    /// `<origin>/b1s/v1`.
    base: String,
    sessions: Sessions,
    timeout: Duration,
    page_size: u32,
}

/// One page of an OData list.
#[derive(Deserialize)]
struct Page<T> {
    value: Vec<T>,
    #[serde(rename = "odata.nextLink", alias = "@odata.nextLink")]
    next_link: Option<String>,
}

impl Client {
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        login: Login,
        timeout: Duration,
        page_size: u32,
    ) -> anyhow::Result<Self> {
        let origin = Url::parse(base_url)
            .map_err(|e| anyhow::anyhow!("sap_b1 url: `{base_url}` is not a URL: {e}"))?;
        let base = format!("{}/b1s/v1", base_url.trim_end_matches('/'));
        Ok(Self {
            sessions: Sessions::new(http.clone(), base.clone(), login, timeout),
            http,
            origin,
            base,
            timeout,
            page_size,
        })
    }

    /// Every row of an entity set that matches `query`, following `odata.nextLink`.
    pub async fn all<T: DeserializeOwned>(
        &self,
        entity: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, AdapterError> {
        let mut url = Url::parse(&format!("{}/{entity}", self.base))
            .map_err(|e| AdapterError::Permanent(format!("{entity}: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let body = self.call(Method::GET, url.clone(), None).await?;
            let page: Page<T> = parse(&body)?;
            out.extend(page.value);
            let Some(next) = page.next_link else {
                return Ok(out);
            };
            url = self.next_url(&next)?;
        }
        Err(AdapterError::Transient(format!(
            "{entity}: more than {MAX_PAGES} pages; the Service Layer's paging loops"
        )))
    }

    /// `POST` a new document; the created document parsed as `T`.
    pub async fn create<T: DeserializeOwned>(
        &self,
        entity: &str,
        body: &Value,
    ) -> Result<T, AdapterError> {
        let url = Url::parse(&format!("{}/{entity}", self.base))
            .map_err(|e| AdapterError::Permanent(format!("{entity}: {e}")))?;
        parse(&self.call(Method::POST, url, Some(body)).await?)
    }

    pub async fn log_out(&self) {
        self.sessions.log_out().await;
    }

    /// A `nextLink` is relative to the origin (`/b1s/v1/Items?$skip=20`), relative to the
    /// service root (`Items?$skip=20`) or absolute; only this Service Layer is followed.
    fn next_url(&self, link: &str) -> Result<Url, AdapterError> {
        let url = if link.starts_with('/') {
            self.origin.join(link)
        } else if link.starts_with("http://") || link.starts_with("https://") {
            Url::parse(link)
        } else {
            Url::parse(&format!("{}/{link}", self.base))
        }
        .map_err(|e| AdapterError::Transient(format!("nextLink `{link}`: {e}")))?;
        if url.origin() != self.origin.origin() {
            return Err(AdapterError::Permanent(format!(
                "nextLink `{link}` leaves the Service Layer"
            )));
        }
        Ok(url)
    }

    /// One call, with throttling waited out while the waits stay short. A throttled
    /// request was refused before any work, so repeating a create is safe.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, AdapterError> {
        http::throttled("sap_b1", BACKOFF_START, || {
            self.in_session(method.clone(), url.clone(), body)
        })
        .await
    }

    /// One call in the current session; when the Service Layer says the session has
    /// expired, one more in a new session.
    async fn in_session(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, AdapterError> {
        let session = self.sessions.get().await?;
        let (status, headers, answer) = self
            .send(method.clone(), url.clone(), body, &session.cookie)
            .await?;
        let (status, headers, answer) = if session_expired(status, &answer) {
            tracing::info!(erp.system = "sap_b1", "session expired; logging in again");
            let session = self.sessions.renew(&session).await?;
            self.send(method, url, body, &session.cookie).await?
        } else {
            (status, headers, answer)
        };
        if (200..300).contains(&status) {
            Ok(answer)
        } else {
            Err(classify(status, &headers, &answer))
        }
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        cookie: &str,
    ) -> Result<(u16, HeaderMap, Vec<u8>), AdapterError> {
        let mut req = self
            .http
            .request(method, url)
            .timeout(self.timeout)
            .header("accept", "application/json")
            .header(COOKIE, cookie)
            .header("prefer", format!("odata.maxpagesize={}", self.page_size));
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = http::send(req).await.map_err(|e| {
            if e.is_timeout() {
                AdapterError::Transient(format!("no answer within {:?}", self.timeout))
            } else {
                AdapterError::Transient(e.without_url().to_string())
            }
        })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        Ok((status, headers, read_bounded(resp).await?))
    }
}

/// 401, or error code 301 under any status: the session is gone.
fn session_expired(status: u16, body: &[u8]) -> bool {
    status == 401 || (status >= 400 && ServiceError::from_body(body).code == Some(INVALID_SESSION))
}

/// `{"error": {"code": -10, "message": {"lang": "en-us", "value": "…"}}}`; `code` is a
/// number (often negative), though some versions send it as a string.
#[derive(Debug, Default)]
pub struct ServiceError {
    pub code: Option<i64>,
    pub message: String,
}

impl ServiceError {
    pub fn from_body(body: &[u8]) -> Self {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return Self::default();
        };
        let error = &v["error"];
        let code = match &error["code"] {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        let message = match &error["message"] {
            Value::Object(m) => m.get("value").and_then(Value::as_str).unwrap_or_default(),
            Value::String(s) => s.as_str(),
            _ => "",
        };
        Self {
            code,
            message: message.chars().take(300).collect(),
        }
    }
}

/// 429 and a 503 with `Retry-After` ask us to slow down; 408 and 5xx are worth retrying;
/// any other 4xx (validation, missing record, missing authorization) never is. The
/// Service Layer's code and message travel with the failure.
pub fn classify(status: u16, headers: &HeaderMap, body: &[u8]) -> AdapterError {
    let error = ServiceError::from_body(body);
    let why = match error.code {
        Some(code) => format!("HTTP {status} ({code}): {}", error.message),
        None => format!("HTTP {status}"),
    };
    let retry_after = http::retry_after(headers);
    match status {
        429 => AdapterError::Throttled { retry_after },
        503 if retry_after.is_some() => AdapterError::Throttled { retry_after },
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
