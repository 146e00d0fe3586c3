//! Service Layer sessions: `POST Login` with the company database and a B1 user, whose
//! answer sets the `B1SESSION` cookie (and `ROUTEID` when a load balancer pins the session
//! to one node). Every later call sends both back. A session expires after
//! `SessionTimeout` minutes of idleness; the client then logs in again, once, and only one
//! caller does so however many found the session expired at the same moment.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{COOKIE, HeaderMap, SET_COOKIE};
use serde_json::json;
use tokio::sync::Mutex;

use super::client::{classify, read_bounded};
use crate::adapters::{AdapterError, http};
use crate::config::Secret;

/// Who logs in, to which company database.
#[derive(Debug, Clone)]
pub struct Login {
    pub company_db: String,
    pub user: String,
    pub password: Secret,
}

/// One logged-in session: the `Cookie` header to send, and a number that tells sessions
/// apart so that a caller renewing a stale one can see someone else already did.
#[derive(Debug)]
pub struct Session {
    pub cookie: String,
    pub generation: u64,
}

pub struct Sessions {
    http: reqwest::Client,
    base: String,
    login: Login,
    timeout: Duration,
    /// Held across a login: that is what makes the login single-flight.
    current: Mutex<(Option<Arc<Session>>, u64)>,
}

impl Sessions {
    pub fn new(http: reqwest::Client, base: String, login: Login, timeout: Duration) -> Self {
        Self {
            http,
            base,
            login,
            timeout,
            current: Mutex::new((None, 0)),
        }
    }

    /// The live session, logging in first when there is none.
    pub async fn get(&self) -> Result<Arc<Session>, AdapterError> {
        let mut current = self.current.lock().await;
        if let Some(session) = &current.0 {
            return Ok(session.clone());
        }
        self.log_in(&mut current).await
    }

    /// A new session in place of `stale`, which the Service Layer refused; when another
    /// caller has already replaced it, that replacement.
    pub async fn renew(&self, stale: &Session) -> Result<Arc<Session>, AdapterError> {
        let mut current = self.current.lock().await;
        if let Some(session) = &current.0
            && session.generation != stale.generation
        {
            return Ok(session.clone());
        }
        self.log_in(&mut current).await
    }

    async fn log_in(
        &self,
        current: &mut (Option<Arc<Session>>, u64),
    ) -> Result<Arc<Session>, AdapterError> {
        current.0 = None;
        let body = json!({
            "CompanyDB": self.login.company_db,
            "UserName": self.login.user,
            "Password": self.login.password.expose(),
        });
        let request = self
            .http
            .post(format!("{}/Login", self.base))
            .timeout(self.timeout)
            .json(&body);
        let resp = http::send(request)
            .await
            .map_err(|e| AdapterError::Transient(format!("login: {}", e.without_url())))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let answer = read_bounded(resp).await?;
        if !(200..300).contains(&status) {
            return Err(match classify(status, &headers, &answer) {
                // Wrong credentials or company stay wrong until someone fixes them.
                AdapterError::Permanent(why) | AdapterError::Transient(why) if status == 401 => {
                    AdapterError::Permanent(format!("login refused: {why}"))
                }
                other => other,
            });
        }
        let cookie = session_cookie(&headers, &answer)?;
        current.1 += 1;
        let session = Arc::new(Session {
            cookie,
            generation: current.1,
        });
        current.0 = Some(session.clone());
        tracing::debug!(
            erp.system = "sap_b1",
            erp.session = session.generation,
            "logged in"
        );
        Ok(session)
    }

    /// Ends the session, so that it does not hold one of the company's licences until it
    /// times out.
    pub async fn log_out(&self) {
        let mut current = self.current.lock().await;
        let Some(session) = current.0.take() else {
            return;
        };
        let request = self
            .http
            .post(format!("{}/Logout", self.base))
            .timeout(self.timeout)
            .header(COOKIE, &session.cookie);
        http::log_out("sap_b1", request).await;
    }
}

/// `B1SESSION` and `ROUTEID` from the login answer's `Set-Cookie` headers, as one `Cookie`
/// header. `B1SESSION` falls back to the body's `SessionId`.
fn session_cookie(headers: &HeaderMap, body: &[u8]) -> Result<String, AdapterError> {
    let mut b1session = None;
    let mut route = None;
    for value in headers.get_all(SET_COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        let pair = value.split(';').next().unwrap_or_default().trim();
        match pair.split_once('=') {
            Some(("B1SESSION", v)) if !v.is_empty() => b1session = Some(v.to_owned()),
            Some(("ROUTEID", v)) if !v.is_empty() => route = Some(v.to_owned()),
            _ => {}
        }
    }
    if b1session.is_none() {
        let answer: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
            AdapterError::Transient(format!("login: the answer is not the expected JSON: {e}"))
        })?;
        b1session = answer["SessionId"].as_str().map(str::to_owned);
    }
    let Some(b1session) = b1session else {
        return Err(AdapterError::Transient(
            "login: the answer carries no session".into(),
        ));
    };
    Ok(match route {
        Some(route) => format!("B1SESSION={b1session}; ROUTEID={route}"),
        None => format!("B1SESSION={b1session}"),
    })
}
