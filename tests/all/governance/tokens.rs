//! Signing test tokens with the fixture keys in `tests/fixtures/jwt`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://idp.test";

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/jwt/{name}.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

pub fn public_pem(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/jwt/{name}.pub.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Claims of a valid token for the `portal` client.
pub fn claims() -> Value {
    json!({"iss": ISSUER, "aud": "stockade", "sub": "b2b-portal", "exp": now() + 300, "iat": now()})
}

/// Signs `claims` with the fixture key `key` (`rsa-1`, `rsa-2`, `ec-1`, `ed-1`).
pub fn sign(key: &str, kid: Option<&str>, claims: &Value) -> String {
    let (alg, encoding) = match key {
        k if k.starts_with("rsa") => (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(&pem(k)).unwrap(),
        ),
        k if k.starts_with("ec") => (Algorithm::ES256, EncodingKey::from_ec_pem(&pem(k)).unwrap()),
        k => (Algorithm::EdDSA, EncodingKey::from_ed_pem(&pem(k)).unwrap()),
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, &encoding).unwrap()
}

/// A valid token for `portal`, signed with `rsa-1`.
pub fn valid() -> String {
    sign("rsa-1", Some("rsa-1"), &claims())
}

/// Signs with HS256 under an arbitrary secret.
pub fn hs256(secret: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

/// A token with a hand-written header and no real signature.
pub fn unsigned(header: &Value, claims: &Value, signature: &str) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    format!("{}.{}.{signature}", part(header), part(claims))
}

/// The token with one bit of its signature flipped.
pub fn flip_signature_bit(token: &str) -> String {
    let (head, sig) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    bytes[7] ^= 0x01;
    format!("{head}.{}", URL_SAFE_NO_PAD.encode(bytes))
}
