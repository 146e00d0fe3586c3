//! The JWT suite: valid tokens of each algorithm pass; every forgery is 401; keys rotate
//! without a failed request; unknown key ids cost one shared refetch per cooldown; the
//! last good keys survive a failing JWKS endpoint.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::tokens::{self, ISSUER, claims, flip_signature_bit, hs256, sign, unsigned};
use crate::harness::Backend;
use crate::harness::{TestApp, order_body, policies_with};

async fn status_with(app: &TestApp, token: &str) -> StatusCode {
    app.with_auth(Some(format!("Bearer {token}")))
        .get("/v1/availability/TEE-BLK-M?channel=b2b")
        .await
        .status
}

async fn valid_tokens_of_every_allowed_algorithm_pass(b: Backend) {
    let app = TestApp::governed(&b).await;
    for (key, kid) in [("rsa-1", "rsa-1"), ("ec-1", "ec-1"), ("ed-1", "ed-1")] {
        assert_eq!(
            status_with(&app, &sign(key, Some(kid), &claims())).await,
            StatusCode::OK,
            "{key}"
        );
    }
    let secret = std::fs::read_to_string(format!(
        "{}/tests/fixtures/policies/hs256.secret",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let partner = json!({"iss": "https://hs.test", "aud": "stockade", "sub": "partner", "exp": tokens::now() + 60});
    let r = app
        .with_auth(Some(format!(
            "Bearer {}",
            hs256(secret.trim().as_bytes(), None, &partner)
        )))
        .get("/v1/availability/TEE-BLK-M")
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "HS256 where the policy enables it"
    );
}

async fn every_forgery_is_refused(b: Backend) {
    let app = TestApp::governed(&b).await;
    let with = |patch: Value| {
        let mut c = claims();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let valid_ec = sign("ec-1", Some("ec-1"), &claims());
    let (_, ec_rest) = valid_ec.split_once('.').unwrap();
    let rs_header = base64_json(&json!({"alg": "RS256", "typ": "JWT", "kid": "ec-1"}));
    let rsa_public = tokens::public_pem("rsa-1");
    let forgeries: Vec<(&str, String)> = vec![
        (
            "alg none",
            unsigned(&json!({"alg": "none", "typ": "JWT"}), &claims(), ""),
        ),
        (
            "alg nOnE",
            unsigned(
                &json!({"alg": "nOnE", "typ": "JWT", "kid": "rsa-1"}),
                &claims(),
                "",
            ),
        ),
        (
            "HS256 keyed with the RSA public key",
            hs256(&rsa_public, Some("rsa-1"), &claims()),
        ),
        (
            "HS256 for an issuer that does not allow it",
            hs256(b"guessable", None, &claims()),
        ),
        (
            "expired",
            sign(
                "rsa-1",
                Some("rsa-1"),
                &with(json!({"exp": tokens::now() - 600})),
            ),
        ),
        (
            "not yet valid",
            sign(
                "rsa-1",
                Some("rsa-1"),
                &with(json!({"nbf": tokens::now() + 600})),
            ),
        ),
        (
            "wrong audience",
            sign(
                "rsa-1",
                Some("rsa-1"),
                &with(json!({"aud": "someone-else"})),
            ),
        ),
        (
            "wrong issuer",
            sign(
                "rsa-1",
                Some("rsa-1"),
                &with(json!({"iss": "https://evil.test"})),
            ),
        ),
        (
            "no expiry",
            sign("rsa-1", Some("rsa-1"), &with(json!({"exp": null}))),
        ),
        ("unknown kid", sign("rsa-1", Some("rsa-9"), &claims())),
        (
            "signed by a key the issuer never published",
            sign("rsa-2", Some("rsa-1"), &claims()),
        ),
        (
            "flipped signature bit",
            flip_signature_bit(&tokens::valid()),
        ),
        (
            "missing kid with several keys",
            sign("rsa-1", None, &claims()),
        ),
        (
            "header claims RS256 for an ES256 key",
            format!("{rs_header}.{ec_rest}"),
        ),
        (
            "unknown subject",
            sign("rsa-1", Some("rsa-1"), &with(json!({"sub": "intruder"}))),
        ),
        (
            "two segments",
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0".to_owned(),
        ),
        (
            "garbage payload",
            "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIn0.!!!.c2ln".to_owned(),
        ),
        ("four segments", format!("{}.extra", tokens::valid())),
    ];
    assert!(forgeries.len() >= 12);
    for (name, token) in &forgeries {
        let r = app
            .with_auth(Some(format!("Bearer {token}")))
            .get("/v1/availability/TEE-BLK-M?channel=b2b")
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "forgery accepted: {name}"
        );
        let challenge = r.header("www-authenticate").unwrap();
        assert!(challenge.contains("invalid_token"), "{name}: {challenge}");
    }
}

async fn a_valid_token_never_reaches_another_clients_channel(b: Backend) {
    let app = TestApp::governed(&b).await;
    let shop = app.as_key("test-shop-key");
    let order = shop
        .post(
            "/v1/orders",
            &order_body("WEB-1", &[("CAP-RED", 1)]),
            Some("k"),
        )
        .await
        .json();
    let portal = app.with_auth(Some(format!("Bearer {}", tokens::valid())));
    let r = portal.get("/v1/availability/TEE-BLK-M?channel=web").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "channel-not-allowed");
    let r = portal
        .get(&format!("/v1/orders/{}", order["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

fn base64_json(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// A JWKS endpoint on loopback whose keys, availability and fetch count the test controls.
struct Jwks {
    url: String,
    keys: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl Jwks {
    async fn start(kids: &[&str]) -> Self {
        let keys = Arc::new(Mutex::new(Value::Null));
        let fetches = Arc::new(AtomicUsize::new(0));
        let failing = Arc::new(AtomicBool::new(false));
        let (k, f, fail) = (keys.clone(), fetches.clone(), failing.clone());
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let (k, f, fail) = (k.clone(), f.clone(), fail.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    if fail.load(Ordering::SeqCst) {
                        return Err(StatusCode::INTERNAL_SERVER_ERROR);
                    }
                    Ok(axum::Json(k.lock().unwrap().clone()))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let jwks = Self {
            url,
            keys,
            fetches,
            failing,
        };
        jwks.publish(kids);
        jwks
    }

    fn publish(&self, kids: &[&str]) {
        let all: Value = serde_json::from_str(
            &std::fs::read_to_string(format!(
                "{}/tests/fixtures/jwt/jwks-rotated.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
        .unwrap();
        let keys: Vec<Value> = all["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| kids.contains(&k["kid"].as_str().unwrap()))
            .cloned()
            .collect();
        *self.keys.lock().unwrap() = json!({"keys": keys});
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    async fn app(&self, b: &Backend, cooldown: u64, refresh: u64) -> (TestApp, tempfile::TempDir) {
        let auth = format!(
            "[[issuer]]\nissuer = \"{ISSUER}\"\naudience = [\"stockade\"]\njwks_url = \"{}\"\n\
             algorithms = [\"RS256\", \"ES256\", \"EdDSA\"]\nrefetch_cooldown_seconds = {cooldown}\nrefresh_seconds = {refresh}\n\
             [[issuer]]\nissuer = \"https://hs.test\"\naudience = [\"stockade\"]\nalgorithms = [\"HS256\"]\nhs256_secret_file = \"hs256.secret\"\n",
            self.url
        );
        let dir = policies_with(&[("auth.toml", &auth)]);
        let app = TestApp::with_policies(b, dir.path()).await;
        (app, dir)
    }
}

async fn keys_rotate_without_a_failed_request(b: Backend) {
    let jwks = Jwks::start(&["rsa-1"]).await;
    let (app, _dir) = jwks.app(&b, 60, 3600).await;
    // Signed up front: RSA signing in a debug build is slower than the gateway's check.
    let tokens: std::collections::HashMap<&str, String> = ["rsa-1", "rsa-2"]
        .into_iter()
        .map(|k| (k, sign(k, Some(k), &claims())))
        .collect();
    let tokens = Arc::new(tokens);
    let signer = Arc::new(Mutex::new("rsa-1"));
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (app, signer, stop, tokens) =
                (app.clone(), signer.clone(), stop.clone(), tokens.clone());
            tokio::spawn(async move {
                let mut served = 0;
                while !stop.load(Ordering::SeqCst) {
                    let kid = *signer.lock().unwrap();
                    let status = status_with(&app, &tokens[kid]).await;
                    assert_eq!(
                        status,
                        StatusCode::OK,
                        "a request signed with {kid} failed during rotation"
                    );
                    served += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                served
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The identity provider publishes the new key, then starts signing with it...
    jwks.publish(&["rsa-1", "rsa-2"]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    *signer.lock().unwrap() = "rsa-2";
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ...and retires the old one.
    jwks.publish(&["rsa-2"]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let mut served = 0;
    for c in callers {
        served += c.await.unwrap();
    }
    assert!(served > 40, "only {served} requests ran");
    assert_eq!(
        jwks.fetches(),
        2,
        "one load at start, one refetch for the new key"
    );
}

async fn unknown_kids_share_one_refetch_per_cooldown(b: Backend) {
    let jwks = Jwks::start(&["rsa-1"]).await;
    let (app, _dir) = jwks.app(&b, 60, 3600).await;
    assert_eq!(jwks.fetches(), 1);
    let ghost = sign("rsa-1", Some("ghost"), &claims());
    let storm: Vec<_> = (0..30)
        .map(|_| {
            let (app, token) = (app.clone(), ghost.clone());
            tokio::spawn(async move { status_with(&app, &token).await })
        })
        .collect();
    for s in storm {
        assert_eq!(s.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(jwks.fetches(), 2, "thirty unknown kids, one refetch");
    for kid in ["ghost-2", "ghost-3"] {
        assert_eq!(
            status_with(&app, &sign("rsa-1", Some(kid), &claims())).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(jwks.fetches(), 2, "no refetch inside the cooldown");
    assert_eq!(status_with(&app, &tokens::valid()).await, StatusCode::OK);
}

async fn the_last_good_keys_survive_a_failing_jwks_endpoint(b: Backend) {
    let jwks = Jwks::start(&["rsa-1"]).await;
    let (app, _dir) = jwks.app(&b, 60, 1).await;
    app.state.governance.spawn_upkeep();
    jwks.failing.store(true, Ordering::SeqCst);
    let before = jwks.fetches();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        jwks.fetches() > before,
        "the periodic refresh ran and failed"
    );
    assert_eq!(status_with(&app, &tokens::valid()).await, StatusCode::OK);
}

crate::tests! { per_backend: [valid_tokens_of_every_allowed_algorithm_pass, every_forgery_is_refused, a_valid_token_never_reaches_another_clients_channel, keys_rotate_without_a_failed_request, unknown_kids_share_one_refetch_per_cooldown, the_last_good_keys_survive_a_failing_jwks_endpoint] }
