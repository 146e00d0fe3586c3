//! OAuth 2 client credentials against Microsoft Entra ID: a form `POST` to the tenant's
//! token endpoint with the application's id and secret and the `.default` scope of
//! Business Central's API. The token is kept until shortly before `expires_in` runs out,
//! and fetched by one caller at a time, however many need it at once; a token the API
//! refused is replaced once, by whichever caller notices first.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::adapters::{AdapterError, http};
use crate::config::Secret;

/// The largest token answer read; a real one is a few kilobytes.
const MAX_TOKEN_BODY: usize = 64 * 1024;
/// A token is renewed this long before it expires, at most: the request it is sent with
/// must still find it valid when Business Central checks it.
const REFRESH_MARGIN: Duration = Duration::from_secs(120);

/// The Entra application. Never printed.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: Secret,
}

/// One access token, and a number that tells tokens apart so that a caller renewing a
/// refused one can see someone else already did.
pub struct Token {
    bearer: Secret,
    renew_at: Instant,
    pub generation: u64,
}

impl Token {
    pub fn bearer(&self) -> &str {
        self.bearer.expose()
    }
}

pub struct Tokens {
    http: reqwest::Client,
    url: String,
    scope: String,
    credentials: ClientCredentials,
    timeout: Duration,
    /// Held across a token request: that is what makes it single-flight.
    current: Mutex<(Option<Arc<Token>>, u64)>,
}

/// `{"token_type": "Bearer", "expires_in": 3599, "access_token": "…"}`. Entra's v2.0
/// endpoint sends `expires_in` as a number; the v1.0 one sent a string.
#[derive(Deserialize)]
struct Answer {
    access_token: String,
    #[serde(default)]
    token_type: String,
    expires_in: serde_json::Value,
}

/// `{"error": "invalid_client", "error_description": "AADSTS7000215: …"}`.
#[derive(Deserialize, Default)]
struct Refusal {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl Tokens {
    pub fn new(
        http: reqwest::Client,
        url: String,
        scope: String,
        credentials: ClientCredentials,
        timeout: Duration,
    ) -> Self {
        Self {
            http,
            url,
            scope,
            credentials,
            timeout,
            current: Mutex::new((None, 0)),
        }
    }

    /// A token valid for a while yet, fetched first when there is none or it is about to
    /// expire.
    pub async fn get(&self) -> Result<Arc<Token>, AdapterError> {
        let mut current = self.current.lock().await;
        if let Some(token) = &current.0
            && Instant::now() < token.renew_at
        {
            return Ok(token.clone());
        }
        self.fetch(&mut current).await
    }

    /// A new token in place of `stale`, which the API refused; when another caller has
    /// already replaced it, that replacement.
    pub async fn renew(&self, stale: &Token) -> Result<Arc<Token>, AdapterError> {
        let mut current = self.current.lock().await;
        if let Some(token) = &current.0
            && token.generation != stale.generation
        {
            return Ok(token.clone());
        }
        self.fetch(&mut current).await
    }

    async fn fetch(
        &self,
        current: &mut (Option<Arc<Token>>, u64),
    ) -> Result<Arc<Token>, AdapterError> {
        current.0 = None;
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &self.credentials.client_id)
            .append_pair("client_secret", self.credentials.client_secret.expose())
            .append_pair("scope", &self.scope)
            .finish();
        let asked = Instant::now();
        let request = self
            .http
            .post(&self.url)
            .timeout(self.timeout)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form);
        let resp = http::send(request)
            .await
            .map_err(|e| AdapterError::Transient(format!("token: {}", e.without_url())))?;
        let status = resp.status().as_u16();
        let retry_after = http::retry_after(resp.headers());
        let body = http::read_bounded(resp, MAX_TOKEN_BODY, "Entra ID").await?;
        if !(200..300).contains(&status) {
            return Err(refused(status, retry_after, &body));
        }
        let answer: Answer = http::parse_json(&body, "Entra ID")?;
        if !answer.token_type.eq_ignore_ascii_case("bearer") {
            return Err(AdapterError::Permanent(format!(
                "token: Entra ID issued a `{}` token, not a bearer token",
                answer.token_type
            )));
        }
        let lifetime = Duration::from_secs(lifetime_secs(&answer.expires_in)?);
        current.1 += 1;
        let token = Arc::new(Token {
            bearer: Secret::new(answer.access_token),
            renew_at: asked + lifetime - margin(lifetime),
            generation: current.1,
        });
        current.0 = Some(token.clone());
        tracing::debug!(
            erp.system = "business_central",
            erp.token = token.generation,
            token.lifetime_s = lifetime.as_secs(),
            "token issued"
        );
        Ok(token)
    }
}

/// How long before expiry a token is renewed: two minutes, or a quarter of a short
/// lifetime.
fn margin(lifetime: Duration) -> Duration {
    REFRESH_MARGIN.min(lifetime / 4)
}

fn lifetime_secs(value: &serde_json::Value) -> Result<u64, AdapterError> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
        .filter(|secs| *secs > 0)
        .ok_or_else(|| AdapterError::Transient(format!("token: `expires_in` is {value}")))
}

/// Wrong credentials, a missing consent or a wrong scope stay wrong until someone fixes
/// them; Entra's own outage or throttling passes.
fn refused(status: u16, retry_after: Option<Duration>, body: &[u8]) -> AdapterError {
    let refusal: Refusal = serde_json::from_slice(body).unwrap_or_default();
    // The first line carries the AADSTS code and its meaning; the rest is trace ids.
    let description = refusal.error_description.lines().next().unwrap_or_default();
    let why = format!(
        "token refused: HTTP {status} {}: {description}",
        refusal.error
    );
    match status {
        429 => AdapterError::Throttled { retry_after },
        408 | 500..=599 => AdapterError::Transient(why),
        _ => AdapterError::Permanent(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lifetimes_renew_early_and_long_ones_two_minutes_before() {
        assert_eq!(margin(Duration::from_secs(3599)), Duration::from_secs(120));
        assert_eq!(margin(Duration::from_secs(4)), Duration::from_secs(1));
        assert_eq!(lifetime_secs(&serde_json::json!("3599")).unwrap(), 3599);
        assert!(lifetime_secs(&serde_json::json!(0)).is_err());
    }

    #[test]
    fn entra_refusals_keep_the_aadsts_line() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1\r\nCorrelation ID: 2","error_codes":[7000215]}"#;
        let AdapterError::Permanent(why) = refused(401, None, body) else {
            panic!("a wrong secret is permanent");
        };
        assert!(why.contains("invalid_client: AADSTS7000215"), "{why}");
        assert!(!why.contains("Trace ID"), "{why}");
        assert!(matches!(
            refused(503, None, b"<html>"),
            AdapterError::Transient(_)
        ));
    }
}
