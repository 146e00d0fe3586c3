//! OAuth 2 through a connected application, the alternative to cookie sessions:
//! `POST <instance>/identity/connect/token` with the resource-owner password grant (the
//! application's client id and secret, and the API user's name and password), scope
//! `api`. Keeping, sharing and renewing the token is `adapters::oauth2`.

use std::time::Duration;

use crate::adapters::AdapterError;
use crate::adapters::oauth2::TokenEndpoint;
use crate::config::Secret;

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

/// The instance's token endpoint for this grant.
pub fn endpoint(url: String, grant: Grant) -> TokenEndpoint {
    TokenEndpoint {
        url,
        form: vec![
            ("grant_type", Secret::new("password")),
            ("client_id", Secret::new(grant.client_id)),
            ("client_secret", grant.client_secret),
            ("username", Secret::new(grant.username)),
            ("password", grant.password),
            ("scope", Secret::new("api")),
        ],
        issuer: "Acumatica's token endpoint",
        system: "acumatica",
        renew_margin: RENEW_MARGIN,
        refused,
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
