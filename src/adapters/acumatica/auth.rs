//! OAuth 2 through a connected application, the alternative to cookie sessions:
//! `POST <instance>/identity/connect/token` with the resource-owner password grant (the
//! application's client id and secret, and the API user's name and password), scope
//! `api`. The bearer token is kept until shortly before it expires; one caller fetches
//! it however many need it at the same moment, and one refused mid-operation is replaced
//! once.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::adapters::{AdapterError, http};
use crate::config::Secret;

/// The largest token answer read.
const MAX_TOKEN_BODY: usize = 64 * 1024;
/// How long before its expiry a token is replaced, at most a quarter of its life.
const RENEW_MARGIN: Duration = Duration::from_secs(60);

/// The connected application and the user it acts as.
#[derive(Debug, Clone)]
pub struct Grant {
    pub client_id: String,
    pub client_secret: Secret,
    /// `user@company` on a multi-tenant instance.
    pub username: String,
    pub password: Secret,
}

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
    url: String,
    grant: Grant,
    timeout: Duration,
    /// Held across a fetch: that is what makes it single-flight.
    current: Mutex<(Option<Arc<Token>>, u64)>,
}

#[derive(Deserialize)]
struct Answer {
    access_token: String,
    #[serde(default)]
    token_type: String,
    expires_in: u64,
}

impl Tokens {
    pub fn new(http: reqwest::Client, url: String, grant: Grant, timeout: Duration) -> Self {
        Self {
            http,
            url,
            grant,
            timeout,
            current: Mutex::new((None, 0)),
        }
    }

    /// The cached token, or a new one when it is about to expire.
    pub async fn get(&self) -> Result<Arc<Token>, AdapterError> {
        let mut current = self.current.lock().await;
        if let Some(token) = &current.0
            && Instant::now() < token.renew_at
        {
            return Ok(token.clone());
        }
        self.fetch(&mut current).await
    }

    /// A new token in place of `stale`, which Acumatica refused; when another caller has
    /// already replaced it, that replacement.
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
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "password")
            .append_pair("client_id", &self.grant.client_id)
            .append_pair("client_secret", self.grant.client_secret.expose())
            .append_pair("username", &self.grant.username)
            .append_pair("password", self.grant.password.expose())
            .append_pair("scope", "api")
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
        let body = http::read_bounded(resp, MAX_TOKEN_BODY, "Acumatica's token endpoint").await?;
        if !(200..300).contains(&status) {
            return Err(refused(status, retry_after, &body));
        }
        let answer: Answer = http::parse_json(&body, "Acumatica's token endpoint")?;
        if !answer.token_type.eq_ignore_ascii_case("bearer") || answer.expires_in == 0 {
            return Err(AdapterError::Transient(format!(
                "token: a `{}` token for {} s is not a usable bearer token",
                answer.token_type, answer.expires_in
            )));
        }
        let lifetime = Duration::from_secs(answer.expires_in);
        current.1 += 1;
        let token = Arc::new(Token {
            bearer: Secret::new(answer.access_token),
            renew_at: asked + lifetime - RENEW_MARGIN.min(lifetime / 4),
            generation: current.1,
        });
        current.0 = Some(token.clone());
        tracing::debug!(
            erp.system = "acumatica",
            erp.token = token.generation,
            token.lifetime_s = lifetime.as_secs(),
            "token issued"
        );
        Ok(token)
    }
}

/// `{"error": "invalid_grant"}` and the like: wrong credentials or a disabled application
/// stay wrong until someone fixes them; a busy or failing endpoint may mend.
fn refused(status: u16, retry_after: Option<Duration>, body: &[u8]) -> AdapterError {
    let error = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_default();
    match status {
        429 => AdapterError::Throttled { retry_after },
        400 | 401 | 403 => AdapterError::Permanent(format!("token refused: HTTP {status} {error}")),
        _ => AdapterError::Transient(format!("token: HTTP {status} {error}")),
    }
}
