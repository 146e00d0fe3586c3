//! Authentication: API keys (hashed, compared in constant time) and JWTs (RS256, ES256,
//! EdDSA through JWKS; HS256 only where a policy enables it).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::http::{HeaderMap, header};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

use super::jwks::{IssuerKeys, algorithm_of};
use crate::policy::{Client, Policies};

/// Who is calling, once authenticated.
#[derive(Debug, Clone)]
pub struct Principal {
    pub client: Arc<Client>,
    /// The API key's client id, or the JWT's `sub`.
    pub subject: String,
}

/// Why authentication failed; the detail is for the log and the problem, never a hint of
/// which part of a secret was right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials: send Authorization: Bearer <key or token>, or X-Api-Key")]
    Missing,
    #[error("unknown API key")]
    UnknownKey,
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
}

pub struct Authenticator {
    policies: Arc<Policies>,
    issuers: HashMap<String, Arc<IssuerKeys>>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

#[derive(Deserialize)]
struct Unverified {
    iss: Option<String>,
}

impl Authenticator {
    pub async fn new(policies: Arc<Policies>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().build()?;
        let mut issuers = HashMap::new();
        for config in &policies.issuers {
            let keys = IssuerKeys::load(config.clone(), &policies.dir, http.clone()).await?;
            issuers.insert(config.issuer.clone(), Arc::new(keys));
        }
        Ok(Self { policies, issuers })
    }

    /// The issuers, for the periodic JWKS refresh.
    pub fn issuers(&self) -> impl Iterator<Item = &Arc<IssuerKeys>> {
        self.issuers.values()
    }

    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        match self.without_waiting(headers) {
            Some(decided) => decided,
            None => {
                self.verify_jwt(credential(headers).unwrap_or_default())
                    .await
            }
        }
    }

    /// The decision when it needs no waiting: a missing credential or an API key. `None`
    /// for a JWT, whose issuer's keys may have to be fetched first.
    pub fn without_waiting(&self, headers: &HeaderMap) -> Option<Result<Principal, AuthError>> {
        let Some(credential) = credential(headers) else {
            return Some(Err(AuthError::Missing));
        };
        if looks_like_jwt(credential) {
            return None;
        }
        Some(
            self.policies
                .client_by_api_key(credential)
                .map(|client| Principal {
                    client: client.clone(),
                    subject: client.id.clone(),
                })
                .ok_or(AuthError::UnknownKey),
        )
    }

    async fn verify_jwt(&self, token: &str) -> Result<Principal, AuthError> {
        // A header that names `none` (in any case) or an unknown algorithm does not parse.
        let header =
            decode_header(token).map_err(|_| AuthError::InvalidToken("malformed header"))?;
        let iss = unverified_issuer(token).ok_or(AuthError::InvalidToken("no issuer"))?;
        let keys = self
            .issuers
            .get(&iss)
            .ok_or(AuthError::InvalidToken("untrusted issuer"))?;
        let allowed: HashSet<&str> = keys.config.algorithms.iter().map(String::as_str).collect();

        let (key, alg) = if header.alg == Algorithm::HS256 {
            // Shared secrets only where the policy enables them, never an asymmetric key
            // reused as an HMAC secret.
            let secret = keys
                .hs256_secret
                .as_ref()
                .filter(|_| allowed.contains("HS256"));
            let secret = secret.ok_or(AuthError::InvalidToken("algorithm not allowed"))?;
            (DecodingKey::from_secret(secret), Algorithm::HS256)
        } else {
            let jwk = keys
                .key(header.kid.as_deref())
                .await
                .ok_or(AuthError::InvalidToken("unknown key"))?;
            let alg = algorithm_of(&jwk).ok_or(AuthError::InvalidToken("unusable key"))?;
            if !allowed.contains(alg_name(alg)) {
                return Err(AuthError::InvalidToken("algorithm not allowed"));
            }
            // The key decides the algorithm; a token claiming another one is a forgery attempt.
            if header.alg != alg {
                return Err(AuthError::InvalidToken("algorithm does not match the key"));
            }
            (
                DecodingKey::from_jwk(&jwk).map_err(|_| AuthError::InvalidToken("unusable key"))?,
                alg,
            )
        };

        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&keys.config.issuer]);
        validation.set_audience(&keys.config.audience);
        validation.leeway = keys.config.leeway_seconds;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = decode::<Claims>(token, &key, &validation)
            .map_err(|e| AuthError::InvalidToken(reason(&e)))?;
        let client = self
            .policies
            .client_by_jwt(&keys.config.issuer, &data.claims.sub)
            .ok_or(AuthError::InvalidToken("unknown subject"))?;
        Ok(Principal {
            client: client.clone(),
            subject: data.claims.sub,
        })
    }
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        Algorithm::EdDSA => "EdDSA",
        Algorithm::HS256 => "HS256",
        _ => "",
    }
}

fn reason(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => "not yet valid",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidAlgorithm => "algorithm not allowed",
        ErrorKind::MissingRequiredClaim(_) => "missing claim",
        _ => "malformed",
    }
}

/// The bearer credential or `X-Api-Key`.
pub fn credential(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, c)| c)
        });
    bearer
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|c| !c.is_empty())
}

/// Three dot-separated segments, the first a base64url JSON object: a JWT, not a key.
fn looks_like_jwt(s: &str) -> bool {
    s.starts_with("eyJ") && s.split('.').count() >= 2
}

/// The `iss` claim, read before verification only to pick the issuer whose keys and rules
/// then verify the whole token (including `iss` itself).
fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<Unverified>(&bytes).ok()?.iss
}
