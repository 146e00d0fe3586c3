//! OAuth 2 client credentials against Microsoft Entra ID: a form `POST` to the tenant's
//! token endpoint with the application's id and secret and the `.default` scope of
//! Business Central's API. Keeping, sharing and renewing the token is `adapters::oauth2`.

use std::time::Duration;

use serde::Deserialize;

use crate::adapters::AdapterError;
use crate::adapters::oauth2::TokenEndpoint;
use crate::config::Secret;

/// A token is renewed this long before it expires, at most: the request it is sent with
/// must still find it valid when Business Central checks it.
const REFRESH_MARGIN: Duration = Duration::from_secs(120);

/// The Entra application. Never printed.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: Secret,
}

/// `{"error": "invalid_client", "error_description": "AADSTS7000215: …"}`.
#[derive(Deserialize, Default)]
struct Refusal {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// Entra's token endpoint for these credentials and scope.
pub fn endpoint(url: String, scope: String, credentials: ClientCredentials) -> TokenEndpoint {
    TokenEndpoint {
        url,
        form: vec![
            ("grant_type", Secret::new("client_credentials")),
            ("client_id", Secret::new(credentials.client_id)),
            ("client_secret", credentials.client_secret),
            ("scope", Secret::new(scope)),
        ],
        issuer: "Entra ID",
        system: "business_central",
        renew_margin: REFRESH_MARGIN,
        refused,
    }
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
