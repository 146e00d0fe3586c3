//! The API v2.0 client: a bearer token on every call, a timeout, bounded answers, a
//! client-side concurrency limit, `@odata.nextLink` paging, one retry with a new token
//! after a 401, and 429s waited out as long as `Retry-After` asks, within a bound.
//! Business Central's error shape `{"error": {"code", "message"}}` is kept in every
//! failure, so that a refused order says what Business Central objected to.

use std::time::Duration;

use rand::Rng;
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::BusinessCentralConfig;
use super::auth;
use super::map::{ErrorBody, Page};
use crate::adapters::oauth2::Tokens;
use crate::adapters::{AdapterError, http};

/// The largest answer read: a page of a thousand rows is far smaller.
pub const MAX_BODY: usize = 8 * 1024 * 1024;
const WHO: &str = "Business Central";
/// Pages followed for one list before giving up: a loop of `nextLink`s, not a big company.
const MAX_PAGES: usize = 10_000;
/// How often a 429 is waited out before the caller hears of it.
const THROTTLE_RETRIES: u32 = 5;
/// The longest single wait for a 429: a longer `Retry-After` goes back to the caller (the
/// outbox retries later) rather than holding a request open.
const MAX_WAIT: Duration = Duration::from_secs(30);
const BACKOFF_START: Duration = Duration::from_millis(200);

pub struct Client {
    http: reqwest::Client,
    /// `<base>/api/v2.0/companies(<id>)`
    standard: String,
    /// `<base>/api/<publisher>/<group>/<version>/companies(<id>)`
    custom: String,
    tokens: Tokens,
    timeout: Duration,
    page_size: u32,
    permits: Semaphore,
}

impl Client {
    pub fn new(config: BusinessCentralConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        let base = config.base_url.trim_end_matches('/');
        Url::parse(base).map_err(|e| anyhow::anyhow!("STOCKADE_BC_BASE_URL `{base}`: {e}"))?;
        let company = format!("companies({})", config.company_id);
        let custom_api = config.custom_api.trim_matches('/');
        Ok(Self {
            standard: format!("{base}/api/v2.0/{company}"),
            custom: format!("{base}/api/{custom_api}/{company}"),
            tokens: Tokens::new(
                http.clone(),
                auth::endpoint(config.token_url, config.scope, config.credentials),
                config.timeout,
            ),
            http,
            timeout: config.timeout,
            page_size: config.page_size,
            permits: Semaphore::new(config.concurrency.max(1)),
        })
    }

    /// A URL under the standard API's company; `path` empty is the company itself.
    pub fn standard(&self, path: &str, query: &[(&str, String)]) -> Result<Url, AdapterError> {
        url(&self.standard, path, query)
    }

    /// A URL under the custom API pages' company.
    pub fn custom(&self, path: &str, query: &[(&str, String)]) -> Result<Url, AdapterError> {
        url(&self.custom, path, query)
    }

    /// Every row of a list, following `@odata.nextLink` until there is none.
    pub async fn all<T: DeserializeOwned>(&self, mut url: Url) -> Result<Vec<T>, AdapterError> {
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let body = self.call(Method::GET, url.clone(), None, None).await?;
            let page: Page<T> = http::parse_json(&body, WHO)?;
            out.extend(page.value);
            let Some(next) = page.next_link else {
                return Ok(out);
            };
            url = self.next_url(&url, &next)?;
        }
        Err(AdapterError::Transient(format!(
            "more than {MAX_PAGES} pages of {}; the paging loops",
            url.path()
        )))
    }

    /// `POST` a new entity (a deep insert when the body carries lines); the created entity.
    pub async fn create<T: DeserializeOwned>(
        &self,
        url: Url,
        body: &Value,
    ) -> Result<T, AdapterError> {
        let answer = self.call(Method::POST, url, Some(body), None).await?;
        http::parse_json(&answer, WHO)
    }

    /// `PATCH` with the row's etag, as Business Central requires for every change.
    pub async fn patch(&self, url: Url, etag: &str, body: &Value) -> Result<(), AdapterError> {
        self.call(Method::PATCH, url, Some(body), Some(etag))
            .await
            .map(drop)
    }

    /// A bound action (`…/Microsoft.NAV.post`): a `POST` without a body, answered 204.
    pub async fn action(&self, url: Url) -> Result<(), AdapterError> {
        self.call(Method::POST, url, None, None).await.map(drop)
    }

    /// One request, repeated with a fresh token after a 401 (once) and after a 429 (as
    /// long as `Retry-After` stays within bounds).
    pub async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Vec<u8>, AdapterError> {
        let mut token = self.tokens.get().await?;
        let mut renewed = false;
        let mut throttled = 0;
        loop {
            let request = self.request(&method, &url, body, if_match, token.bearer());
            let (status, headers, answer) = self.send(request).await?;
            if (200..300).contains(&status) {
                return Ok(answer);
            }
            let failure = classify(status, &headers, &answer);
            match failure {
                _ if status == 401 && !renewed => {
                    tracing::info!(erp.system = "business_central", "token refused; renewing");
                    token = self.tokens.renew(token.bearer()).await?;
                    renewed = true;
                }
                AdapterError::Throttled { retry_after }
                    if throttled < THROTTLE_RETRIES
                        && retry_after.is_none_or(|wait| wait <= MAX_WAIT) =>
                {
                    let backoff = BACKOFF_START * 2u32.pow(throttled);
                    let jitter = Duration::from_millis(rand::rng().random_range(0..50));
                    tokio::time::sleep(retry_after.unwrap_or(backoff) + jitter).await;
                    throttled += 1;
                }
                other => return Err(other),
            }
        }
    }

    fn request(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&Value>,
        if_match: Option<&str>,
        bearer: &str,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .timeout(self.timeout)
            .bearer_auth(bearer)
            .header("accept", "application/json")
            .header("prefer", format!("odata.maxpagesize={}", self.page_size));
        if let Some(etag) = if_match {
            request = request.header("if-match", etag);
        }
        match body {
            Some(body) => request.json(body),
            // A bound action is a POST with an empty body; some proxies want the length.
            None if method == Method::POST => request.header("content-length", "0"),
            None => request,
        }
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), AdapterError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AdapterError::Transient("Business Central client closed".into()))?;
        let resp = http::send(request).await.map_err(|e| {
            if e.is_timeout() {
                AdapterError::Transient(format!("{WHO}: no answer within {:?}", self.timeout))
            } else {
                AdapterError::Transient(format!("{WHO} unreachable: {}", e.without_url()))
            }
        })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        Ok((
            status,
            headers,
            http::read_bounded(resp, MAX_BODY, WHO).await?,
        ))
    }

    /// Business Central's `nextLink` is absolute; only the same host is followed, since
    /// the bearer token goes with it.
    fn next_url(&self, current: &Url, link: &str) -> Result<Url, AdapterError> {
        let next = current
            .join(link)
            .map_err(|e| AdapterError::Transient(format!("nextLink `{link}`: {e}")))?;
        if next.origin() != current.origin() {
            return Err(AdapterError::Permanent(format!(
                "nextLink `{link}` leaves Business Central"
            )));
        }
        Ok(next)
    }
}

fn url(root: &str, path: &str, query: &[(&str, String)]) -> Result<Url, AdapterError> {
    let joined = match path {
        "" => root.to_owned(),
        path => format!("{root}/{path}"),
    };
    let mut url =
        Url::parse(&joined).map_err(|e| AdapterError::Permanent(format!("`{joined}`: {e}")))?;
    if !query.is_empty() {
        url.query_pairs_mut()
            .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
    }
    Ok(url)
}

/// 429 asks us to slow down (503 with `Retry-After` too); 408, 5xx and a gateway's 504
/// are worth retrying later; any other 4xx never is. Business Central's code and message
/// travel with the failure.
fn classify(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> AdapterError {
    let retry_after = http::retry_after(headers);
    let why = format!("HTTP {status} {}", ErrorBody::describe(body));
    match status {
        429 => AdapterError::Throttled { retry_after },
        503 if retry_after.is_some() => AdapterError::Throttled { retry_after },
        408 | 500..=599 => AdapterError::Transient(why),
        _ => AdapterError::Permanent(why),
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    use super::*;

    #[test]
    fn failures_are_sorted_by_what_a_retry_can_do() {
        let mut headers = HeaderMap::new();
        let body = br#"{"error":{"code":"Application_TooManyRequests","message":"Too many."}}"#;
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert!(matches!(
            classify(429, &headers, body),
            AdapterError::Throttled { retry_after: Some(d) } if d == Duration::from_secs(7)
        ));
        let none = HeaderMap::new();
        assert!(matches!(
            classify(502, &none, b""),
            AdapterError::Transient(_)
        ));
        let body = br#"{"error":{"code":"BadRequest_ResourceNotFound","message":"Resource not found for the segment 'contact'.  CorrelationId:  64c04b4f-edf8-4fda-836a-df76af0b519d."}}"#;
        let AdapterError::Permanent(why) = classify(404, &none, body) else {
            panic!("a missing resource is permanent");
        };
        assert_eq!(
            why,
            "HTTP 404 BadRequest_ResourceNotFound: Resource not found for the segment \
             'contact'. (correlation id 64c04b4f-edf8-4fda-836a-df76af0b519d)"
        );
    }
}
