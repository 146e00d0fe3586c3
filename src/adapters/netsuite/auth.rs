//! Token-based authentication as NetSuite takes it: OAuth 1.0a (RFC 5849) with a consumer
//! (the integration record) and a token (a user and role), signed with HMAC-SHA256, sent in
//! the `Authorization` header with the account id as `realm`.

use crate::adapters::oauth1::{self, pct};
use crate::config::Secret;

/// The integration's consumer and the user's token. Never printed.
#[derive(Clone, Debug)]
pub struct TokenCredentials {
    pub consumer_key: Secret,
    pub consumer_secret: Secret,
    pub token_id: Secret,
    pub token_secret: Secret,
}

/// The `Authorization` header for one request. `url` is the full URL with its query: RFC
/// 5849 §3.4.1 signs the query parameters together with the protocol parameters, and the
/// base URI without them (scheme and host in lower case, no default port).
pub fn authorization(
    method: &str,
    url: &reqwest::Url,
    realm: &str,
    credentials: &TokenCredentials,
    timestamp: i64,
    nonce: &str,
) -> String {
    let protocol = [
        (
            "oauth_consumer_key",
            credentials.consumer_key.expose().to_owned(),
        ),
        ("oauth_token", credentials.token_id.expose().to_owned()),
        ("oauth_signature_method", "HMAC-SHA256".to_owned()),
        ("oauth_timestamp", timestamp.to_string()),
        ("oauth_nonce", nonce.to_owned()),
        ("oauth_version", "1.0".to_owned()),
    ];
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let signature = oauth1::signature(
        method,
        &base_uri(url),
        query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(protocol.iter().map(|(k, v)| (*k, v.as_str()))),
        credentials.consumer_secret.expose(),
        credentials.token_secret.expose(),
    );
    let mut header = format!("OAuth realm=\"{}\"", pct(realm));
    for (k, v) in protocol.iter().chain([&("oauth_signature", signature)]) {
        header.push_str(&format!(", {k}=\"{}\"", pct(v)));
    }
    header
}

/// `scheme://host[:port]/path`, the port only when it is not the scheme's default.
fn base_uri(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port() {
        Some(port) => format!("{}://{host}:{port}{}", url.scheme(), url.path()),
        None => format!("{}://{host}{}", url.scheme(), url.path()),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::*;

    fn credentials() -> TokenCredentials {
        TokenCredentials {
            consumer_key: Secret::new("ck"),
            consumer_secret: Secret::new("cs"),
            token_id: Secret::new("tk"),
            token_secret: Secret::new("ts"),
        }
    }

    #[test]
    fn signs_query_and_protocol_parameters_with_both_secrets() {
        let url = "HTTPS://1234567-SB1.suitetalk.api.netsuite.com/services/rest/query/v1/suiteql";
        let url = reqwest::Url::parse(&format!("{url}?limit=2&offset=0")).unwrap();
        let header = authorization(
            "post",
            &url,
            "1234567_SB1",
            &credentials(),
            1_700_000_000,
            "n1",
        );
        let base = "POST&https%3A%2F%2F1234567-sb1.suitetalk.api.netsuite.com%2Fservices%2Frest%2F\
            query%2Fv1%2Fsuiteql&limit%3D2%26oauth_consumer_key%3Dck%26oauth_nonce%3Dn1%26\
            oauth_signature_method%3DHMAC-SHA256%26oauth_timestamp%3D1700000000%26oauth_token%3Dtk\
            %26oauth_version%3D1.0%26offset%3D0";
        let mut mac = Hmac::<Sha256>::new_from_slice(b"cs&ts").unwrap();
        mac.update(base.as_bytes());
        let expected = pct(&BASE64.encode(mac.finalize().into_bytes()));
        assert!(
            header.starts_with("OAuth realm=\"1234567_SB1\", "),
            "{header}"
        );
        assert!(
            header.ends_with(&format!("oauth_signature=\"{expected}\"")),
            "{header}"
        );
    }
}
