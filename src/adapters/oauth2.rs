//! OAuth 2 bearer tokens from a token endpoint, for the adapters whose ERP issues them: a
//! form `POST`, the token kept until shortly before `expires_in` runs out, fetched by one
//! caller however many need one at the same moment, and replaced once when the API refuses
//! it mid-operation, by whichever caller notices first. What differs between vendors (the
//! grant's fields, how a refusal reads) comes in a [`TokenEndpoint`].

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{AdapterError, http};
use crate::config::Secret;

/// The largest token answer read; a real one is a few kilobytes.
const MAX_TOKEN_BODY: usize = 64 * 1024;

/// Where and how one vendor's tokens are asked for.
pub struct TokenEndpoint {
    pub url: String,
    /// The form sent (`grant_type`, the client's id and secret…), secrets among them.
    pub form: Vec<(&'static str, Secret)>,
    /// Who issues the tokens, as errors name it (`Entra ID`).
    pub issuer: &'static str,
    /// The ERP, as logs name it.
    pub system: &'static str,
    /// The longest a token is renewed before it expires (at most a quarter of its life):
    /// the request it goes with must still find it valid.
    pub renew_margin: Duration,
    /// The error a refusal (status, `Retry-After`, body) stands for.
    pub refused: fn(u16, Option<Duration>, &[u8]) -> AdapterError,
}

/// One access token, with a number that tells tokens apart in the logs.
pub struct Token {
    bearer: Secret,
    renew_at: Instant,
    generation: u64,
}

impl Token {
    pub fn bearer(&self) -> &str {
        self.bearer.expose()
    }
}

pub struct Tokens {
    http: reqwest::Client,
    endpoint: TokenEndpoint,
    timeout: Duration,
    /// Held across a token request: that is what makes it single-flight.
    current: Mutex<(Option<Arc<Token>>, u64)>,
}

/// `{"token_type": "Bearer", "expires_in": 3599, "access_token": "…"}`; some issuers send
/// `expires_in` as a string.
#[derive(Deserialize)]
struct Answer {
    access_token: String,
    #[serde(default)]
    token_type: String,
    expires_in: serde_json::Value,
}

impl Tokens {
    pub fn new(http: reqwest::Client, endpoint: TokenEndpoint, timeout: Duration) -> Self {
        Self {
            http,
            endpoint,
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

    /// A new token in place of the `stale` bearer the API refused; when another caller
    /// has already replaced it, that replacement.
    pub async fn renew(&self, stale: &str) -> Result<Arc<Token>, AdapterError> {
        let mut current = self.current.lock().await;
        if let Some(token) = &current.0
            && token.bearer() != stale
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
        let e = &self.endpoint;
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (key, value) in &e.form {
                form.append_pair(key, value.expose());
            }
            form.finish()
        };
        let asked = Instant::now();
        let request = self
            .http
            .post(&e.url)
            .timeout(self.timeout)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form);
        let resp = http::send(request)
            .await
            .map_err(|err| AdapterError::Transient(format!("token: {}", err.without_url())))?;
        let status = resp.status().as_u16();
        let retry_after = http::retry_after(resp.headers());
        let body = http::read_bounded(resp, MAX_TOKEN_BODY, e.issuer).await?;
        if !(200..300).contains(&status) {
            return Err((e.refused)(status, retry_after, &body));
        }
        let answer: Answer = http::parse_json(&body, e.issuer)?;
        if !answer.token_type.eq_ignore_ascii_case("bearer") {
            return Err(AdapterError::Permanent(format!(
                "token: {} issued a `{}` token, not a bearer token",
                e.issuer, answer.token_type
            )));
        }
        let lifetime = Duration::from_secs(lifetime_secs(&answer.expires_in)?);
        current.1 += 1;
        let token = Arc::new(Token {
            bearer: Secret::new(answer.access_token),
            renew_at: asked + lifetime - margin(lifetime, e.renew_margin),
            generation: current.1,
        });
        current.0 = Some(token.clone());
        tracing::debug!(
            erp.system = e.system,
            erp.token = token.generation,
            token.lifetime_s = lifetime.as_secs(),
            "token issued"
        );
        Ok(token)
    }
}

/// How long before expiry a token is renewed: `most`, or a quarter of a short lifetime.
fn margin(lifetime: Duration, most: Duration) -> Duration {
    most.min(lifetime / 4)
}

fn lifetime_secs(value: &serde_json::Value) -> Result<u64, AdapterError> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
        .filter(|secs| *secs > 0)
        .ok_or_else(|| AdapterError::Transient(format!("token: `expires_in` is {value}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lifetimes_renew_early_and_long_ones_at_the_margin() {
        let most = Duration::from_secs(120);
        assert_eq!(margin(Duration::from_secs(3599), most), most);
        assert_eq!(margin(Duration::from_secs(4), most), Duration::from_secs(1));
        assert_eq!(lifetime_secs(&serde_json::json!("3599")).unwrap(), 3599);
        assert!(lifetime_secs(&serde_json::json!(0)).is_err());
    }
}
