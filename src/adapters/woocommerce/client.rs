//! The wc/v3 REST client: authentication (Basic over HTTPS, one-legged OAuth 1.0a over
//! plain HTTP), a timeout on every call, bounded answers, and WooCommerce's answers sorted
//! into what a retry can fix and what it cannot.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::wire::ApiError;
use crate::adapters::AdapterError;
use crate::adapters::http::{self, parse_json, read_bounded, retry_after};
use crate::adapters::oauth1::{self, pct};
use crate::policy::{StoreAuth, StorePolicy};

/// The largest answer read: a store answering more is broken, not busy.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// How errors name this system.
const WHO: &str = "the store";
/// The most items WooCommerce returns per page.
pub const PAGE_SIZE: u32 = 100;

/// A store's REST API key. Never printed.
#[derive(Clone)]
pub struct Credentials {
    pub key: String,
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(…)")
    }
}

pub struct Client {
    http: reqwest::Client,
    /// `<base_url>/wp-json/wc/v3`.
    api: String,
    auth: StoreAuth,
    credentials: Credentials,
    timeout: Duration,
}

/// One page of a list, and how many pages there are (`X-WP-TotalPages`).
pub struct Page<T> {
    pub items: Vec<T>,
    pub total_pages: u32,
}

impl Client {
    pub fn new(policy: &StorePolicy, credentials: Credentials, http: reqwest::Client) -> Self {
        Self {
            http,
            api: format!("{}/wp-json/wc/v3", policy.base_url.trim_end_matches('/')),
            auth: policy.auth(),
            credentials,
            timeout: Duration::from_millis(policy.timeout_ms),
        }
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, AdapterError> {
        let (body, _) = self.call(Method::GET, path, query, None).await?;
        parse(&body)
    }

    /// `POST` or `PUT` with a JSON body; the answer parsed as `T`.
    pub async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<T, AdapterError> {
        let (answer, _) = self.call(method, path, &[], Some(body)).await?;
        parse(&answer)
    }

    /// One page of a list endpoint, 100 items per page.
    pub async fn page<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        page: u32,
    ) -> Result<Page<T>, AdapterError> {
        let mut query = query.to_vec();
        query.push(("per_page", PAGE_SIZE.to_string()));
        query.push(("page", page.to_string()));
        let (body, headers) = self.call(Method::GET, path, &query, None).await?;
        let total_pages = headers
            .get("x-wp-totalpages")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(1);
        Ok(Page {
            items: parse(&body)?,
            total_pages,
        })
    }

    /// Every page of a list endpoint, in order.
    pub async fn all<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, AdapterError> {
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let p = self.page(path, query, page).await?;
            let empty = p.items.is_empty();
            out.extend(p.items);
            if empty || page >= p.total_pages {
                return Ok(out);
            }
            page += 1;
        }
    }

    /// A single object, or `None` when the store answers 404 (it was deleted).
    pub async fn get_if_exists<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Option<T>, AdapterError> {
        match self.raw(Method::GET, path, &[], None).await? {
            (404, _, _) => Ok(None),
            (200..=299, _, body) => parse(&body).map(Some),
            (status, headers, body) => Err(classify(status, &headers, &body)),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(Vec<u8>, HeaderMap), AdapterError> {
        match self.raw(method, path, query, body).await? {
            (200..=299, headers, body) => Ok((body, headers)),
            (status, headers, body) => Err(classify(status, &headers, &body)),
        }
    }

    /// One signed call; the status, headers and (bounded) body, whatever the status.
    async fn raw(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(u16, HeaderMap, Vec<u8>), AdapterError> {
        let url = format!("{}{path}", self.api);
        let mut params: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        if self.auth == StoreAuth::Oauth1 {
            let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
            let nonce = hex::encode(rand::random::<[u8; 16]>());
            params = oauth1_params(
                method.as_str(),
                &url,
                params,
                &self.credentials,
                timestamp,
                &nonce,
            );
        }
        let target = if params.is_empty() {
            url
        } else {
            format!("{url}?{}", encode_pairs(&params))
        };
        let mut req = self
            .http
            .request(method, &target)
            .timeout(self.timeout)
            .header("accept", "application/json");
        if self.auth == StoreAuth::Basic {
            req = req.basic_auth(&self.credentials.key, Some(&self.credentials.secret));
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = http::send(req)
            .await
            .map_err(|e| AdapterError::Transient(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = read_bounded(resp, MAX_BODY, WHO).await?;
        Ok((status, headers, body))
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdapterError> {
    parse_json(body, WHO)
}

/// 429 (with `Retry-After`), 408, 425 and 5xx are worth retrying; any other 4xx never is.
/// WooCommerce's own error code and message travel with the failure.
pub fn classify(status: u16, headers: &HeaderMap, body: &[u8]) -> AdapterError {
    let error: ApiError = serde_json::from_slice(body).unwrap_or_default();
    let why = if error.code.is_empty() {
        format!("HTTP {status}")
    } else {
        let message: String = error.message.chars().take(200).collect();
        format!("HTTP {status} {}: {message}", error.code)
    };
    match status {
        429 => AdapterError::Throttled {
            retry_after: retry_after(headers),
        },
        408 | 425 | 500..=599 => AdapterError::Transient(why),
        _ => AdapterError::Permanent(why),
    }
}

fn encode_pairs(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The query parameters of a one-legged OAuth 1.0a request signed with HMAC-SHA256, as
/// WooCommerce verifies them: the signature base string is the method, the URL without
/// its query and the sorted, encoded parameters, each encoded and joined by `&`; the key
/// is the consumer secret followed by `&` (there is no token secret).
pub fn oauth1_params(
    method: &str,
    url: &str,
    mut params: Vec<(String, String)>,
    credentials: &Credentials,
    timestamp: i64,
    nonce: &str,
) -> Vec<(String, String)> {
    params.extend([
        ("oauth_consumer_key".to_owned(), credentials.key.clone()),
        ("oauth_nonce".to_owned(), nonce.to_owned()),
        (
            "oauth_signature_method".to_owned(),
            "HMAC-SHA256".to_owned(),
        ),
        ("oauth_timestamp".to_owned(), timestamp.to_string()),
    ]);
    let signature = oauth1::signature(
        method,
        url,
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &credentials.secret,
        "",
    );
    params.push(("oauth_signature".to_owned(), signature));
    params
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::*;

    /// The signature recomputed independently, the way a server checks it: the base string
    /// built by hand for this one request.
    #[test]
    fn oauth1_signs_what_the_server_recomputes() {
        let creds = Credentials {
            key: "ck_test".into(),
            secret: "cs_test".into(),
        };
        let url = "http://127.0.0.1:8888/wp-json/wc/v3/orders";
        let params = oauth1_params(
            "get",
            url,
            vec![("modified_after".into(), "2026-12-03T12:00:00".into())],
            &creds,
            1_700_000_000,
            "abc",
        );
        let signature = &params
            .iter()
            .find(|(k, _)| k == "oauth_signature")
            .unwrap()
            .1;
        let base = "GET&http%3A%2F%2F127.0.0.1%3A8888%2Fwp-json%2Fwc%2Fv3%2Forders&\
            modified_after%3D2026-12-03T12%253A00%253A00%26oauth_consumer_key%3Dck_test%26\
            oauth_nonce%3Dabc%26oauth_signature_method%3DHMAC-SHA256%26oauth_timestamp%3D1700000000";
        let mut mac = Hmac::<Sha256>::new_from_slice(b"cs_test&").unwrap();
        mac.update(base.as_bytes());
        assert_eq!(signature, &BASE64.encode(mac.finalize().into_bytes()));
        assert!(
            params
                .iter()
                .any(|(k, v)| k == "oauth_signature_method" && v == "HMAC-SHA256")
        );
    }

    #[test]
    fn answers_are_sorted_by_what_a_retry_can_do() {
        let h = HeaderMap::new();
        let body = br#"{"code":"woocommerce_rest_shop_order_invalid_id","message":"Invalid ID.","data":{"status":404}}"#;
        match classify(404, &h, body) {
            AdapterError::Permanent(why) => {
                assert!(
                    why.contains("woocommerce_rest_shop_order_invalid_id"),
                    "{why}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(503, &h, b"<html>"),
            AdapterError::Transient(_)
        ));
        let mut h = HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert!(matches!(
            classify(429, &h, b""),
            AdapterError::Throttled { retry_after: Some(d) } if d == Duration::from_secs(7)
        ));
        assert!(matches!(classify(401, &h, b""), AdapterError::Permanent(_)));
    }
}
