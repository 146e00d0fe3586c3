//! One issuer's signing keys, from a JWKS file or URL.
//!
//! Keys are looked up by `kid`. An unknown `kid` triggers at most one refetch per cooldown,
//! and concurrent requests for unknown keys share that one fetch. When the JWKS cannot be
//! fetched, the last good keys stay in use.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};

use crate::policy::Issuer;

const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

enum Source {
    File(std::path::PathBuf),
    Url(String),
}

pub struct IssuerKeys {
    pub config: Issuer,
    source: Option<Source>,
    keys: RwLock<Arc<JwkSet>>,
    /// Held while fetching, so that concurrent misses share one fetch; holds the time of
    /// the last refetch an unknown `kid` caused, for the cooldown. Loads at start and
    /// periodic refreshes do not count: a key published just before its first use must
    /// still be found at once.
    last_refetch: tokio::sync::Mutex<Option<Instant>>,
    http: reqwest::Client,
    /// The HS256 secret, only when the policy enables HS256 for this issuer.
    pub hs256_secret: Option<Vec<u8>>,
}

impl IssuerKeys {
    /// Loads the keys once. A URL that cannot be reached is retried on demand later; a
    /// file that cannot be read is an error, since it is part of the deployment.
    pub async fn load(
        config: Issuer,
        policy_dir: &Path,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let source = match (&config.jwks_file, &config.jwks_url) {
            (Some(f), _) => Some(Source::File(policy_dir.join(f))),
            (None, Some(u)) => Some(Source::Url(u.clone())),
            // An issuer that signs only with a shared secret publishes no keys.
            (None, None) => None,
        };
        let hs256_secret = match (&config.hs256_secret_env, &config.hs256_secret_file) {
            (Some(var), _) => std::env::var(var).ok().map(String::into_bytes),
            (None, Some(file)) => Some(
                std::fs::read_to_string(policy_dir.join(file))?
                    .trim()
                    .as_bytes()
                    .to_vec(),
            ),
            (None, None) => None,
        };
        let this = Self {
            config,
            source,
            keys: RwLock::new(Arc::new(JwkSet { keys: Vec::new() })),
            last_refetch: tokio::sync::Mutex::new(None),
            http,
            hs256_secret,
        };
        match this.fetch().await {
            Ok(set) => this.replace(set),
            Err(e) if matches!(this.source, Some(Source::Url(_))) => {
                tracing::warn!(jwt.issuer = %this.config.issuer, error = %e, "jwks not reachable at start; will retry");
            }
            Err(e) => return Err(e),
        }
        Ok(this)
    }

    async fn fetch(&self) -> anyhow::Result<JwkSet> {
        let text = match &self.source {
            None => return Ok(JwkSet { keys: Vec::new() }),
            Some(Source::File(path)) => tokio::fs::read_to_string(path).await?,
            Some(Source::Url(url)) => {
                let resp = self
                    .http
                    .get(url)
                    .timeout(FETCH_TIMEOUT)
                    .send()
                    .await?
                    .error_for_status()?;
                resp.text().await?
            }
        };
        Ok(serde_json::from_str(&text)?)
    }

    fn replace(&self, set: JwkSet) {
        if let Ok(mut keys) = self.keys.write() {
            *keys = Arc::new(set);
        }
    }

    fn current(&self) -> Arc<JwkSet> {
        self.keys
            .read()
            .map(|k| k.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// The key for `kid`; without a `kid`, the only key (a set of several needs one).
    fn pick(set: &JwkSet, kid: Option<&str>) -> Option<Jwk> {
        match kid {
            Some(kid) => set.find(kid).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        }
    }

    pub async fn key(&self, kid: Option<&str>) -> Option<Jwk> {
        if let Some(k) = Self::pick(&self.current(), kid) {
            return Some(k);
        }
        // An unknown kid: a rotation may have published a new key.
        let mut last = self.last_refetch.lock().await;
        if let Some(k) = Self::pick(&self.current(), kid) {
            return Some(k);
        }
        let cooldown = Duration::from_secs(self.config.refetch_cooldown_seconds);
        if last.is_some_and(|t| t.elapsed() < cooldown) {
            return None;
        }
        *last = Some(Instant::now());
        self.refresh_locked().await;
        Self::pick(&self.current(), kid)
    }

    /// Refetches now; keeps the last good keys on failure.
    pub async fn refresh(&self) {
        let _single_flight = self.last_refetch.lock().await;
        self.refresh_locked().await;
    }

    async fn refresh_locked(&self) {
        match self.fetch().await {
            Ok(set) => self.replace(set),
            Err(e) => {
                tracing::warn!(jwt.issuer = %self.config.issuer, error = %e, "jwks refresh failed; keeping the last good keys");
            }
        }
    }
}

/// The algorithm a key verifies, from the key itself (its `alg`, or its type and curve),
/// never from the token being verified.
pub fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    if let Some(alg) = jwk.common.key_algorithm {
        return match alg {
            KeyAlgorithm::RS256 => Some(Algorithm::RS256),
            KeyAlgorithm::ES256 => Some(Algorithm::ES256),
            KeyAlgorithm::EdDSA => Some(Algorithm::EdDSA),
            _ => None,
        };
    }
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            Some(Algorithm::ES256)
        }
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Some(Algorithm::EdDSA)
        }
        _ => None,
    }
}
