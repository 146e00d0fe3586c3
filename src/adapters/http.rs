//! What every HTTP adapter does with an answer: read it within a bound, and read it as the
//! JSON it should be. `who` names the system in the error ("NetSuite", "the store").

use serde::de::DeserializeOwned;

use super::AdapterError;

/// The body, or a transient failure when the connection breaks or the answer is larger
/// than `max` bytes: a system answering that much is broken, not busy.
pub async fn read_bounded(
    mut resp: reqwest::Response,
    max: usize,
    who: &str,
) -> Result<Vec<u8>, AdapterError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| {
        AdapterError::Transient(format!("{who}'s answer was cut: {}", e.without_url()))
    })? {
        if body.len() + chunk.len() > max {
            return Err(AdapterError::Transient(format!(
                "{who} answered more than {max} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A 2xx that is not the documented JSON (a proxy's HTML page, a PHP notice, a cut-off
/// answer) means something in between is broken for now; the next attempt may find it
/// mended, so it is transient.
pub fn parse_json<T: DeserializeOwned>(body: &[u8], who: &str) -> Result<T, AdapterError> {
    serde_json::from_slice(body).map_err(|e| {
        AdapterError::Transient(format!("{who}'s answer is not the expected JSON: {e}"))
    })
}

/// `Retry-After` in seconds, when the answer gives one. (The HTTP-date form is not read:
/// none of the systems Stockade talks to sends it.)
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<std::time::Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .map(std::time::Duration::from_secs)
}
