//! Odoo's external API, over either of its two transports, behind one `call`:
//!
//! - JSON-RPC (`POST /jsonrpc`, service `object`, method `execute_kw`), Odoo up to 18 and
//!   deprecated from 19: the database, the user id and the API key travel inside every
//!   call, and a failure comes back as HTTP 200 with an `error` member.
//! - JSON-2 (`POST /json/2/<model>/<method>`), Odoo 19 and later: the key in
//!   `Authorization: bearer`, the database in `X-Odoo-Database`, the method's named
//!   parameters as the body, its bare return value as the answer, real 4xx/5xx statuses.
//!
//! Both are stateless (the key is checked on every call), yet a deployment may answer
//! with `odoo.http.SessionExpiredException` (a front proxy, a server whose session store
//! was reset). That refusal comes before the method runs, so the call is repeated once;
//! a second refusal is a permanent failure. Throttling (429, or 503 with `Retry-After`,
//! from Odoo.sh or a proxy) is waited out in place while the waits stay short.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::adapters::{AdapterError, http};
use crate::config::Secret;

/// The largest answer read: an Odoo answering more is broken, not busy.
pub const MAX_BODY: usize = 16 * 1024 * 1024;
/// How errors name this system.
const WHO: &str = "Odoo";
/// Pages read for one list before giving up: a paging loop, not a big company.
const MAX_PAGES: usize = 10_000;
/// The first wait when the answer names none; it doubles each time.
const BACKOFF_START: Duration = Duration::from_millis(100);
/// The exception Odoo raises for a session it no longer knows.
const SESSION_EXPIRED: &str = "odoo.http.SessionExpiredException";
/// The JSON-RPC error code that comes with it.
const SESSION_EXPIRED_CODE: i64 = 100;

/// Which of Odoo's external APIs is spoken, and what it needs besides the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    JsonRpc {
        database: String,
        uid: i64,
    },
    /// The database header is needed only when the server hosts several.
    Json2 {
        database: Option<String>,
    },
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    transport: Transport,
    key: Secret,
    timeout: Duration,
    page_size: u32,
    /// JSON-RPC request ids, so an answer can be matched to its call.
    next_id: AtomicU64,
}

/// What one attempt came to, before the session rule is applied.
enum Attempt {
    Done(Value),
    SessionExpired,
    Failed(AdapterError),
}

impl Client {
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        transport: Transport,
        key: Secret,
        timeout: Duration,
        page_size: u32,
    ) -> Self {
        Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            transport,
            key,
            timeout,
            page_size,
            next_id: AtomicU64::new(1),
        }
    }

    /// `method` of `model`, on the records `ids` when it is a record method, with its
    /// named parameters (`context` among them). The method's return value.
    pub async fn call(
        &self,
        model: &str,
        method: &str,
        ids: Option<&[i64]>,
        params: Value,
    ) -> Result<Value, AdapterError> {
        let Value::Object(params) = params else {
            return Err(AdapterError::Permanent(format!(
                "{model}.{method}: parameters must be named"
            )));
        };
        http::throttled("odoo", BACKOFF_START, || {
            self.in_session(model, method, ids, &params)
        })
        .await
    }

    /// Every record of `model` matching `domain`, read `page_size` at a time with
    /// `limit`/`offset` in id order, so that pages neither overlap nor skip.
    pub async fn search_read<T: DeserializeOwned>(
        &self,
        model: &str,
        domain: Value,
        fields: &[&str],
    ) -> Result<Vec<T>, AdapterError> {
        self.search_read_in(model, domain, fields, json!({})).await
    }

    /// [`Self::search_read`] with a `context` (`{"active_test": false}` finds archived
    /// records too).
    pub async fn search_read_in<T: DeserializeOwned>(
        &self,
        model: &str,
        domain: Value,
        fields: &[&str],
        context: Value,
    ) -> Result<Vec<T>, AdapterError> {
        let mut out = Vec::new();
        for page in 0..MAX_PAGES {
            let params = json!({
                "domain": domain,
                "fields": fields,
                "limit": self.page_size,
                "offset": page * self.page_size as usize,
                "order": "id asc",
                "context": context,
            });
            let rows: Vec<T> = decode(self.call(model, "search_read", None, params).await?, model)?;
            let last = rows.len() < self.page_size as usize;
            out.extend(rows);
            if last {
                return Ok(out);
            }
        }
        Err(AdapterError::Transient(format!(
            "{model}: more than {MAX_PAGES} pages; Odoo's paging loops"
        )))
    }

    /// Creates one record; its id.
    pub async fn create(&self, model: &str, vals: Value) -> Result<i64, AdapterError> {
        let ids: Vec<i64> = decode(
            self.call(model, "create", None, json!({ "vals_list": [vals] }))
                .await?,
            model,
        )?;
        ids.first().copied().ok_or_else(|| {
            AdapterError::Transient(format!("{model}: Odoo created nothing and said no more"))
        })
    }

    /// One attempt, and one more when Odoo says the session has expired.
    async fn in_session(
        &self,
        model: &str,
        method: &str,
        ids: Option<&[i64]>,
        params: &Map<String, Value>,
    ) -> Result<Value, AdapterError> {
        for attempt in 0..2 {
            match self.attempt(model, method, ids, params).await? {
                Attempt::Done(value) => return Ok(value),
                Attempt::Failed(e) => return Err(e),
                Attempt::SessionExpired if attempt == 0 => {
                    tracing::info!(
                        erp.system = "odoo",
                        model,
                        method,
                        "session expired; repeating the call once"
                    );
                }
                Attempt::SessionExpired => {}
            }
        }
        Err(AdapterError::Permanent(format!(
            "{model}.{method}: Odoo refused the session twice in a row; check the API key"
        )))
    }

    async fn attempt(
        &self,
        model: &str,
        method: &str,
        ids: Option<&[i64]>,
        params: &Map<String, Value>,
    ) -> Result<Attempt, AdapterError> {
        let (request, id) = self.request(model, method, ids, params);
        let resp = http::send(request.timeout(self.timeout))
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    AdapterError::Transient(format!("no answer within {:?}", self.timeout))
                } else {
                    AdapterError::Transient(e.without_url().to_string())
                }
            })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = http::read_bounded(resp, MAX_BODY, WHO).await?;
        let what = format!("{model}.{method}");
        if !(200..300).contains(&status) {
            return Ok(failed_status(status, &headers, &body, &what));
        }
        let answer: Value = http::parse_json(&body, WHO)?;
        Ok(match &self.transport {
            Transport::JsonRpc { .. } => rpc_answer(answer, id, &what),
            Transport::Json2 { .. } => Attempt::Done(answer),
        })
    }

    /// The request for this transport, and the JSON-RPC id it carries.
    fn request(
        &self,
        model: &str,
        method: &str,
        ids: Option<&[i64]>,
        params: &Map<String, Value>,
    ) -> (reqwest::RequestBuilder, u64) {
        match &self.transport {
            Transport::JsonRpc { database, uid } => {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                let args: Vec<Value> = ids.map(|ids| json!(ids)).into_iter().collect();
                let body = json!({
                    "jsonrpc": "2.0",
                    "method": "call",
                    "params": {
                        "service": "object",
                        "method": "execute_kw",
                        "args": [database, uid, self.key.expose(), model, method, args, params],
                    },
                    "id": id,
                });
                let url = format!("{}/jsonrpc", self.base);
                (self.http.post(url).json(&body), id)
            }
            Transport::Json2 { database } => {
                let mut body = params.clone();
                if let Some(ids) = ids {
                    body.insert("ids".into(), json!(ids));
                }
                let url = format!("{}/json/2/{model}/{method}", self.base);
                let mut req = self
                    .http
                    .post(url)
                    .header(AUTHORIZATION, format!("bearer {}", self.key.expose()))
                    .json(&body);
                if let Some(db) = database {
                    req = req.header("x-odoo-database", db);
                }
                (req, 0)
            }
        }
    }
}

/// Reads a method's return value as `T`; a value of another shape means the server is not
/// the Odoo this adapter speaks to, or an answer was mangled on the way.
pub fn decode<T: DeserializeOwned>(value: Value, what: &str) -> Result<T, AdapterError> {
    serde_json::from_value(value).map_err(|e| {
        AdapterError::Transient(format!(
            "{what}: Odoo's answer is not the expected shape: {e}"
        ))
    })
}

/// `{name, message, …}`: the `data` of a JSON-RPC error, the whole body of a JSON-2 one.
fn exception(v: &Value) -> (String, String) {
    let text = |v: &Value| v.as_str().unwrap_or_default().chars().take(300).collect();
    (text(&v["name"]), text(&v["message"]))
}

/// `{"jsonrpc": "2.0", "id": …, "result": …}` or `{…, "error": {code, message, data}}`.
/// The presence of `error` decides, not its code, which differs between versions.
fn rpc_answer(mut answer: Value, id: u64, what: &str) -> Attempt {
    if let Some(error) = answer.get("error").filter(|e| !e.is_null()) {
        let (name, message) = exception(&error["data"]);
        if name == SESSION_EXPIRED || error["code"].as_i64() == Some(SESSION_EXPIRED_CODE) {
            return Attempt::SessionExpired;
        }
        let title = error["message"].as_str().unwrap_or("error");
        return Attempt::Failed(refused(
            what,
            &name,
            if message.is_empty() { title } else { &message },
        ));
    }
    // Odoo echoes the id; an error raised before the request was read carries `null`.
    if answer["id"].as_u64().is_some_and(|got| got != id) {
        return Attempt::Failed(AdapterError::Transient(format!(
            "{what}: Odoo answered another call (id {} for {id})",
            answer["id"]
        )));
    }
    match answer.get_mut("result") {
        Some(result) => Attempt::Done(result.take()),
        None => Attempt::Failed(AdapterError::Transient(format!(
            "{what}: Odoo's answer has neither a result nor an error"
        ))),
    }
}

/// An exception Odoo raised while running the method: the records or the call are wrong
/// (access, validation, a missing record, a user error), and stay wrong when repeated.
fn refused(what: &str, name: &str, message: &str) -> AdapterError {
    let name = if name.is_empty() { "error" } else { name };
    AdapterError::Permanent(format!("{what}: Odoo refused ({name}): {message}"))
}

/// A non-2xx answer: 429 and a 503 with `Retry-After` ask us to slow down; 408 and 5xx
/// are worth retrying; a 401 is the session rule or refused credentials; any other 4xx
/// is the call's fault. JSON-2 names the exception in the body; JSON-RPC failures seen
/// here come from a proxy in front, whose body means nothing to us.
fn failed_status(status: u16, headers: &HeaderMap, body: &[u8], what: &str) -> Attempt {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let (name, message) = exception(&parsed);
    if name == SESSION_EXPIRED {
        return Attempt::SessionExpired;
    }
    let retry_after = http::retry_after(headers);
    let why = if name.is_empty() {
        format!("{what}: HTTP {status}")
    } else {
        format!("{what}: HTTP {status} ({name}): {message}")
    };
    Attempt::Failed(match status {
        429 => AdapterError::Throttled { retry_after },
        503 if retry_after.is_some() => AdapterError::Throttled { retry_after },
        408 | 500..=599 => AdapterError::Transient(why),
        _ => AdapterError::Permanent(why),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_session_expiry_is_recognised() {
        let body = json!({"jsonrpc": "2.0", "id": null, "error": {
            "message": "Odoo Session Expired", "code": 100,
            "data": {"name": "odoo.http.SessionExpiredException", "message": "Session expired",
                     "arguments": ["Session expired"], "exception_type": "internal_error"}}});
        assert!(matches!(rpc_answer(body, 7, "x"), Attempt::SessionExpired));
    }

    #[test]
    fn rpc_errors_keep_their_exception_and_are_permanent() {
        let body = json!({"jsonrpc": "2.0", "id": 3, "error": {
            "code": 200, "message": "Odoo Server Error",
            "data": {"name": "odoo.exceptions.AccessDenied", "message": "Access Denied",
                     "arguments": ["Access Denied"], "context": {}, "debug": "Traceback…"}}});
        let Attempt::Failed(AdapterError::Permanent(why)) =
            rpc_answer(body, 3, "sale.order.create")
        else {
            panic!("not a permanent failure")
        };
        assert!(why.contains("odoo.exceptions.AccessDenied") && why.contains("Access Denied"));
    }

    #[test]
    fn an_answer_to_another_call_is_not_taken() {
        let body = json!({"jsonrpc": "2.0", "id": 4, "result": [1]});
        assert!(matches!(
            rpc_answer(body, 5, "x"),
            Attempt::Failed(AdapterError::Transient(_))
        ));
    }

    #[test]
    fn json2_statuses_are_sorted() {
        let apikey = br#"{"name": "werkzeug.exceptions.Unauthorized", "message": "Invalid apikey",
            "arguments": ["Invalid apikey", 401], "context": {}, "debug": ""}"#;
        let headers = HeaderMap::new();
        let Attempt::Failed(AdapterError::Permanent(why)) =
            failed_status(401, &headers, apikey, "x")
        else {
            panic!("a refused key is permanent")
        };
        assert!(why.contains("Invalid apikey"), "{why}");
        assert!(matches!(
            failed_status(502, &headers, b"<html>Bad Gateway</html>", "x"),
            Attempt::Failed(AdapterError::Transient(_))
        ));
        assert!(matches!(
            failed_status(429, &headers, b"", "x"),
            Attempt::Failed(AdapterError::Throttled { .. })
        ));
    }
}
