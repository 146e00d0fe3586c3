//! The Frappe REST client (`/api/resource/<DocType>` and `/api/method/<path>`, v1): a
//! timeout on every call, bounded answers, `limit_start`/`limit_page_length` paging,
//! Frappe's rate limiter waited out while its waits are short, one more try when the
//! credential is refused, and Frappe's error shape sorted into what a retry can fix and
//! what it cannot.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::auth::{ApiToken, is_refusal};
use crate::adapters::{AdapterError, http};

/// The largest answer read: a page of bins or one document is far smaller.
pub const MAX_BODY: usize = 8 * 1024 * 1024;
/// How errors name this system.
const WHO: &str = "ERPNext";
/// Pages read for one list before giving up: a list that never ends is a broken server.
const MAX_PAGES: usize = 10_000;
/// The first wait when the answer names none; it doubles each time.
const BACKOFF_START: Duration = Duration::from_millis(100);
/// Error messages are cut to this many characters.
const MESSAGE_MAX: usize = 300;

pub struct Client {
    http: reqwest::Client,
    /// The site's origin, `https://erp.example.com`.
    base: Url,
    token: ApiToken,
    timeout: Duration,
    page_size: u32,
}

/// Frappe's envelope for a document or a list: `{"data": …}`.
#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

/// The envelope of a whitelisted method: `{"message": …}`.
#[derive(Deserialize)]
struct Message<T> {
    message: T,
}

/// One list request: which columns, which rows, in what order.
pub struct ListQuery<'a> {
    pub fields: &'a [&'a str],
    /// `[[field, op, value], …]` or `[[child doctype, field, op, value], …]`.
    pub filters: Value,
    /// `name asc`: a stable order, so rows changed while the pages are read are neither
    /// skipped nor read twice (Frappe's default, `modified desc`, moves them).
    pub order_by: &'a str,
}

impl Client {
    pub fn new(
        base_url: &str,
        token: ApiToken,
        timeout: Duration,
        page_size: u32,
    ) -> anyhow::Result<Self> {
        let base = Url::parse(base_url)
            .map_err(|e| anyhow::anyhow!("erpnext url: `{base_url}` is not a URL: {e}"))?;
        if base.cannot_be_a_base() {
            anyhow::bail!("erpnext url: `{base_url}` cannot hold a path");
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            http,
            base,
            token,
            timeout,
            page_size,
        })
    }

    /// Every row of `doctype` the query selects, page after page until a short one.
    pub async fn list<T: DeserializeOwned>(
        &self,
        doctype: &str,
        query: &ListQuery<'_>,
    ) -> Result<Vec<T>, AdapterError> {
        let fields = serde_json::to_string(query.fields).unwrap_or_default();
        let filters = query.filters.to_string();
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let mut url = self.url(&["api", "resource", doctype]);
            url.query_pairs_mut()
                .append_pair("fields", &fields)
                .append_pair("filters", &filters)
                .append_pair("order_by", query.order_by)
                .append_pair("limit_start", &out.len().to_string())
                .append_pair("limit_page_length", &self.page_size.to_string());
            let page: Data<Vec<T>> = parse(&self.call(Method::GET, url, None).await?)?;
            let got = page.data.len();
            out.extend(page.data);
            // Frappe says nothing of what is left: a page shorter than asked is the last.
            if got < self.page_size as usize {
                return Ok(out);
            }
        }
        Err(AdapterError::Transient(format!(
            "{doctype}: more than {MAX_PAGES} pages; the list does not end"
        )))
    }

    /// One document by its `name`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        doctype: &str,
        name: &str,
    ) -> Result<T, AdapterError> {
        let url = self.url(&["api", "resource", doctype, name]);
        let doc: Data<T> = parse(&self.call(Method::GET, url, None).await?)?;
        Ok(doc.data)
    }

    /// `POST` a new document (submitted at once when it carries `docstatus: 1`); the
    /// saved document as Frappe answers it.
    pub async fn insert<T: DeserializeOwned>(
        &self,
        doctype: &str,
        body: &Value,
    ) -> Result<T, AdapterError> {
        let url = self.url(&["api", "resource", doctype]);
        let doc: Data<T> = parse(&self.call(Method::POST, url, Some(body)).await?)?;
        Ok(doc.data)
    }

    /// `PUT` changes to a document (`{"docstatus": 1}` submits a draft).
    pub async fn update<T: DeserializeOwned>(
        &self,
        doctype: &str,
        name: &str,
        body: &Value,
    ) -> Result<T, AdapterError> {
        let url = self.url(&["api", "resource", doctype, name]);
        let doc: Data<T> = parse(&self.call(Method::PUT, url, Some(body)).await?)?;
        Ok(doc.data)
    }

    /// `GET /api/method/<path>`; its `message`.
    pub async fn method<T: DeserializeOwned>(&self, path: &str) -> Result<T, AdapterError> {
        let url = self.url(&["api", "method", path]);
        let answer: Message<T> = parse(&self.call(Method::GET, url, None).await?)?;
        Ok(answer.message)
    }

    /// The site's origin with these path segments, each percent-encoded (`Sales Order`
    /// becomes `Sales%20Order`, a `/` in a name `%2F`).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// One call, with throttling waited out while the waits stay short and a refused
    /// credential tried once more. Both refusals come before Frappe runs the request, so
    /// repeating a create is safe.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, AdapterError> {
        let mut throttled = 0;
        let mut refused = false;
        loop {
            match self.send(method.clone(), url.clone(), body).await {
                Ok(answer) => return Ok(answer),
                // Token authentication keeps no session that could expire, so a refusal of
                // a key that worked is the server's view of it lagging: its cache of API
                // keys being rebuilt, or a worker still on the old secret after a rotation.
                // One more try rides that out. A second refusal means the key or secret
                // really is wrong or revoked, and more tries would only fill Frappe's
                // error log until someone fixes the credential.
                Err(Failure::Refused(why)) if !refused => {
                    tracing::info!(
                        erp.system = "erpnext",
                        reason = %why,
                        "credential refused; trying once more"
                    );
                    refused = true;
                }
                Err(Failure::Refused(why)) => {
                    return Err(AdapterError::Permanent(format!(
                        "ERPNext refused the API key: {why}"
                    )));
                }
                Err(Failure::Other(AdapterError::Throttled { retry_after }))
                    if throttled < http::THROTTLE_RETRIES =>
                {
                    http::wait_out_throttle("erpnext", retry_after, throttled, BACKOFF_START)
                        .await?;
                    throttled += 1;
                }
                Err(Failure::Other(e)) => return Err(e),
            }
        }
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, Failure> {
        let mut req = self
            .http
            .request(method, url)
            .timeout(self.timeout)
            .header("accept", "application/json")
            .header(AUTHORIZATION, self.token.header());
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = http::send(req).await.map_err(|e| {
            AdapterError::Transient(if e.is_timeout() {
                format!("no answer within {:?}", self.timeout)
            } else {
                format!("ERPNext unreachable: {}", e.without_url())
            })
        })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let answer = http::read_bounded(resp, MAX_BODY, WHO).await?;
        if (200..300).contains(&status) {
            return Ok(answer);
        }
        Err(classify(status, &headers, &answer))
    }
}

/// Why a call failed.
pub enum Failure {
    /// The credential itself was refused; `call` tries once more.
    Refused(String),
    Other(AdapterError),
}

impl From<AdapterError> for Failure {
    fn from(e: AdapterError) -> Self {
        Self::Other(e)
    }
}

/// Frappe's error body: `exc_type` names the exception class; `_server_messages` is a
/// JSON string holding a JSON array of JSON strings, each an object with a `message`
/// (often HTML, in the user's language); `exception` is the last line of the traceback,
/// `frappe.exceptions.<Type>: <message>`. Any part may be missing, and the rate
/// limiter's 429 is plain text.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FrappeError {
    pub exc_type: String,
    pub message: String,
}

impl FrappeError {
    pub fn from_body(body: &[u8]) -> Self {
        let Ok(Value::Object(v)) = serde_json::from_slice::<Value>(body) else {
            let text = String::from_utf8_lossy(body);
            return Self {
                exc_type: String::new(),
                message: clean(text.trim()),
            };
        };
        let exc_type = v
            .get("exc_type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let from_messages = v
            .get("_server_messages")
            .and_then(Value::as_str)
            .map(server_messages)
            .filter(|m| !m.is_empty());
        let from_exception = || {
            let exception = v.get("exception").and_then(Value::as_str)?;
            // `frappe.exceptions.ValidationError: To Date cannot be in the future`
            Some(
                exception
                    .split_once(": ")
                    .map_or(exception, |(_, m)| m)
                    .to_owned(),
            )
        };
        let message = from_messages.or_else(from_exception).unwrap_or_default();
        Self {
            exc_type: exc_type.to_owned(),
            message: clean(&message),
        }
    }
}

/// The messages inside `_server_messages`, joined: three levels of JSON encoding.
fn server_messages(encoded: &str) -> String {
    let Ok(list) = serde_json::from_str::<Vec<String>>(encoded) else {
        return String::new();
    };
    list.iter()
        .filter_map(|m| {
            let v: Value = serde_json::from_str(m).ok()?;
            Some(v.get("message")?.as_str()?.to_owned())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A message without its HTML tags, on one line, cut to [`MESSAGE_MAX`] characters.
fn clean(message: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in message.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if in_tag => {}
            c if c.is_whitespace() => out.push(' '),
            c => out.push(c),
        }
    }
    let words: Vec<&str> = out.split_whitespace().collect();
    words.join(" ").chars().take(MESSAGE_MAX).collect()
}

/// 429 is Frappe's rate limiter; 401 (and a 403 for authentication) a refused credential;
/// 408 and 5xx (a site in maintenance answers 503 `SessionStopped`, a read-only one
/// `InReadOnlyMode`) and a document changed under us or a deadlock are worth retrying;
/// every other 4xx (417 `ValidationError` and its kin, 403 `PermissionError`, 404
/// `DoesNotExistError`, 409 `DuplicateEntryError`) never is. Frappe's exception type and
/// message travel with the failure.
pub fn classify(status: u16, headers: &HeaderMap, body: &[u8]) -> Failure {
    let error = FrappeError::from_body(body);
    let why = match (error.exc_type.as_str(), error.message.as_str()) {
        ("", "") => format!("HTTP {status}"),
        ("", m) | (m, "") => format!("HTTP {status} {m}"),
        (t, m) => format!("HTTP {status} {t}: {m}"),
    };
    if is_refusal(status, &error.exc_type) {
        return Failure::Refused(why);
    }
    let retry = matches!(
        error.exc_type.as_str(),
        "TimestampMismatchError" | "QueryDeadlockError" | "QueryTimeoutError"
    );
    Failure::Other(match status {
        429 => AdapterError::Throttled {
            retry_after: http::retry_after(headers),
        },
        408 | 500..=599 => AdapterError::Transient(why),
        _ if retry => AdapterError::Transient(why),
        _ => AdapterError::Permanent(why),
    })
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdapterError> {
    http::parse_json(body, WHO)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 417 in the shape Frappe answers a `frappe.throw()` with (traceback shortened).
    const VALIDATION_417: &str = r#"{
        "exception": "frappe.exceptions.ValidationError: To Date cannot be in the future",
        "exc_type": "ValidationError",
        "_exc_source": "reporting (app)",
        "exc": "[\"Traceback (most recent call last):\\n  File \\\"apps/frappe/frappe/app.py\\\", line 157, in application\\nfrappe.exceptions.ValidationError: To Date cannot be in the future\\n\"]",
        "_server_messages": "[\"{\\\"message\\\": \\\"To Date cannot be in the future\\\", \\\"title\\\": \\\"\\\\u0631\\\\u0633\\\\u0627\\\\u0644\\\\u0629\\\", \\\"indicator\\\": \\\"red\\\", \\\"raise_exception\\\": 1, \\\"__frappe_exc_id\\\": \\\"0631fbf0\\\"}\"]"
    }"#;

    /// A 403 `PermissionError` whose message is HTML.
    const PERMISSION_403: &str = r#"{
        "exc_type": "PermissionError",
        "exception": "frappe.exceptions.PermissionError: <details><summary>You are not permitted to access this resource.</summary>Function <strong>frappe.client.get</strong> is not whitelisted.</details>",
        "_server_messages": "[\"{\\\"message\\\": \\\"<details><summary>You are not permitted to access this resource.</summary>Function <strong>frappe.client.get</strong> is not whitelisted.</details>\\\", \\\"title\\\": \\\"Method Not Allowed\\\", \\\"indicator\\\": \\\"red\\\", \\\"raise_exception\\\": 1}\"]"
    }"#;

    fn kind(status: u16, body: &str) -> AdapterError {
        match classify(status, &HeaderMap::new(), body.as_bytes()) {
            Failure::Other(e) => e,
            Failure::Refused(why) => panic!("refused: {why}"),
        }
    }

    #[test]
    fn frappe_messages_are_read_through_three_encodings_and_lose_their_html() {
        let e = FrappeError::from_body(VALIDATION_417.as_bytes());
        assert_eq!(e.exc_type, "ValidationError");
        assert_eq!(e.message, "To Date cannot be in the future");
        let e = FrappeError::from_body(PERMISSION_403.as_bytes());
        assert_eq!(
            e.message,
            "You are not permitted to access this resource. Function frappe.client.get is not whitelisted."
        );
        // Without `_server_messages`, the `exception` line; the rate limiter's plain text.
        let e = FrappeError::from_body(
            br#"{"exc_type": "DoesNotExistError", "exception": "frappe.exceptions.DoesNotExistError: Sales Order X not found"}"#,
        );
        assert_eq!(e.message, "Sales Order X not found");
        assert_eq!(
            FrappeError::from_body(b"Too Many Requests").message,
            "Too Many Requests"
        );
        assert_eq!(FrappeError::from_body(b"{}"), FrappeError::default());
    }

    #[test]
    fn errors_are_sorted_by_what_a_retry_can_do() {
        assert!(
            matches!(kind(417, VALIDATION_417), AdapterError::Permanent(m)
            if m == "HTTP 417 ValidationError: To Date cannot be in the future")
        );
        assert!(matches!(
            kind(403, PERMISSION_403),
            AdapterError::Permanent(_)
        ));
        assert!(matches!(kind(404, "{}"), AdapterError::Permanent(m) if m == "HTTP 404"));
        assert!(matches!(
            kind(503, r#"{"exc_type": "SessionStopped"}"#),
            AdapterError::Transient(_)
        ));
        assert!(matches!(
            kind(417, r#"{"exc_type": "TimestampMismatchError"}"#),
            AdapterError::Transient(_)
        ));
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "3417".parse().unwrap());
        assert!(matches!(
            classify(429, &headers, b"Too Many Requests"),
            Failure::Other(AdapterError::Throttled { retry_after: Some(d) }) if d.as_secs() == 3417
        ));
        assert!(matches!(
            classify(
                401,
                &HeaderMap::new(),
                br#"{"exc_type": "AuthenticationError"}"#
            ),
            Failure::Refused(_)
        ));
    }
}
