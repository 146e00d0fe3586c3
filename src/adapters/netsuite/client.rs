//! The SuiteTalk REST client: every call signed, bounded in time and size, and held to a
//! client-side concurrency limit, because NetSuite refuses requests over the account's
//! limit instead of queueing them. A refusal for concurrency (429, or the error code
//! `CONCURRENCY_LIMIT_EXCEEDED`) is waited out with backoff; an authentication refusal is
//! retried once with a fresh nonce and timestamp, which is what a clock step or a nonce
//! collision needs; every other failure goes back to the caller, sorted by what a retry
//! can fix.

use std::time::Duration;

use rand::Rng;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::auth::{TokenCredentials, authorization};
use super::map::{ErrorBody, SuiteQlPage};
use crate::adapters::http::read_bounded;
use crate::adapters::{AdapterError, http};

/// The largest answer read: a page of SuiteQL rows is far smaller.
pub const MAX_BODY: usize = 8 * 1024 * 1024;
/// How often a concurrency refusal is waited out before the caller hears of it.
const THROTTLE_RETRIES: u32 = 6;
const BACKOFF_START: Duration = Duration::from_millis(50);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

pub struct Client {
    http: reqwest::Client,
    /// `https://<account>.suitetalk.api.netsuite.com`, or a test server.
    base: String,
    realm: String,
    credentials: TokenCredentials,
    timeout: Duration,
    permits: Semaphore,
    pub page_size: u32,
}

/// A successful answer: its status, the `Location` of a created record, the body.
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

impl Client {
    pub fn new(
        base: String,
        realm: String,
        credentials: TokenCredentials,
        timeout: Duration,
        concurrency: usize,
        page_size: u32,
    ) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            realm,
            credentials,
            timeout,
            permits: Semaphore::new(concurrency.max(1)),
            page_size,
        }
    }

    /// One REST call, retried only where NetSuite asked us to come back.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Answer, AdapterError> {
        let answer = self.attempt(method, path, query, body, false).await?;
        // `attempt` answers `None` only when a missing record was asked about.
        answer.ok_or_else(|| AdapterError::Permanent(format!("NetSuite has no {path}")))
    }

    /// A `GET` of a record that may not exist: `None` for NetSuite's 404.
    pub async fn find(&self, path: &str) -> Result<Option<Answer>, AdapterError> {
        self.attempt(Method::GET, path, &[], None, true).await
    }

    async fn attempt(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        missing_ok: bool,
    ) -> Result<Option<Answer>, AdapterError> {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.base), query)
            .map_err(|e| AdapterError::Permanent(format!("bad NetSuite URL: {e}")))?;
        let mut throttled = 0;
        let mut reauthenticated = false;
        loop {
            match self.once(&method, &url, body).await {
                Ok(answer) => return Ok(Some(answer)),
                Err(Failure::NotFound(_)) if missing_ok => return Ok(None),
                Err(Failure::NotFound(why)) => return Err(AdapterError::Permanent(why)),
                Err(Failure::Unauthorized(why)) if !reauthenticated => {
                    tracing::debug!(erp.system = "netsuite", reason = %why, "re-signing after 401");
                    reauthenticated = true;
                }
                Err(Failure::Unauthorized(why)) => {
                    return Err(AdapterError::Permanent(format!(
                        "NetSuite refused the credentials: {why}"
                    )));
                }
                Err(Failure::Other(AdapterError::Throttled { retry_after }))
                    if throttled < THROTTLE_RETRIES =>
                {
                    let backoff = BACKOFF_START * 2u32.pow(throttled);
                    let jitter = Duration::from_millis(rand::rng().random_range(0..25));
                    tokio::time::sleep(retry_after.unwrap_or(backoff).min(BACKOFF_CAP) + jitter)
                        .await;
                    throttled += 1;
                }
                Err(Failure::Other(other)) => return Err(other),
            }
        }
    }

    async fn once(
        &self,
        method: &Method,
        url: &reqwest::Url,
        body: Option<&Value>,
    ) -> Result<Answer, Failure> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AdapterError::Transient("NetSuite client closed".into()))?;
        let nonce: String = {
            let mut rng = rand::rng();
            (0..24)
                .map(|_| rng.sample(rand::distr::Alphanumeric) as char)
                .collect()
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let auth = authorization(
            method.as_str(),
            url,
            &self.realm,
            &self.credentials,
            now,
            &nonce,
        );
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .header("authorization", auth)
            .timeout(self.timeout);
        // SuiteQL refuses a query without it; the record endpoints do not need it.
        if url.path().ends_with("/suiteql") {
            request = request.header("prefer", "transient");
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let resp = http::send(request).await.map_err(|e| {
            AdapterError::Transient(format!("NetSuite unreachable: {}", e.without_url()))
        })?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_bounded(resp, MAX_BODY, "NetSuite").await?;
        if (200..300).contains(&status) {
            return Ok(Answer {
                status,
                location,
                body,
            });
        }
        Err(classify(status, &body))
    }

    /// Every row a SuiteQL query selects, page by page until NetSuite says there is no more.
    pub async fn suiteql(
        &self,
        q: &str,
        params: &[String],
    ) -> Result<Vec<serde_json::Map<String, Value>>, AdapterError> {
        let mut rows = Vec::new();
        let body = json!({ "q": q, "params": params });
        loop {
            let query = [
                ("limit", self.page_size.to_string()),
                ("offset", rows.len().to_string()),
            ];
            let answer = self
                .call(
                    Method::POST,
                    "/services/rest/query/v1/suiteql",
                    &query,
                    Some(&body),
                )
                .await?;
            let page: SuiteQlPage = serde_json::from_slice(&answer.body).map_err(|e| {
                AdapterError::Transient(format!("SuiteQL answer is not a result page: {e}"))
            })?;
            let got = page.items.len();
            rows.extend(page.items);
            if !page.has_more {
                return Ok(rows);
            }
            if got == 0 {
                return Err(AdapterError::Transient(
                    "SuiteQL says there is more but sent an empty page".into(),
                ));
            }
        }
    }
}

enum Failure {
    /// A 401, kept apart so that `call` can re-sign once.
    Unauthorized(String),
    NotFound(String),
    Other(AdapterError),
}

impl From<AdapterError> for Failure {
    fn from(e: AdapterError) -> Self {
        Self::Other(e)
    }
}

/// Sorts an error answer by what a retry can do, NetSuite's own code and detail kept.
/// The concurrency refusal is recognised by its code as well as its status, because
/// NetSuite has also been seen to send it as a 400.
fn classify(status: u16, body: &[u8]) -> Failure {
    let error: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let (code, detail) = error.first();
    let why = format!(
        "HTTP {status} {code}: {}",
        detail.chars().take(200).collect::<String>()
    );
    if status == 429 || code == "CONCURRENCY_LIMIT_EXCEEDED" {
        return Failure::Other(AdapterError::Throttled { retry_after: None });
    }
    match status {
        401 => Failure::Unauthorized(why),
        404 => Failure::NotFound(why),
        408 | 425 | 500..=599 => Failure::Other(AdapterError::Transient(why)),
        _ => Failure::Other(AdapterError::Permanent(why)),
    }
}
