//! Cookie sessions: `POST /entity/auth/login` with the user, password, company and
//! branch answers 204 and sets the session cookies (`.ASPXAUTH`, `ASP.NET_SessionId`,
//! `UserBranch`, `Locale`, …); every later call sends them all back, and
//! `POST /entity/auth/logout` ends the session.
//!
//! A session holds one of the licence's API users until it ends or times out, and a
//! licence allows only so many at once (beyond them the login is refused with "API Login
//! Limit"), so sessions are short here: the client logs in for one adapter operation and
//! out at its end, whatever the operation's outcome.

use reqwest::header::{COOKIE, HeaderMap, SET_COOKIE};
use serde_json::json;

use super::client::{AcumaticaError, classify, read_bounded};
use crate::adapters::AdapterError;
use crate::config::Secret;

/// Who logs in, to which tenant (`company`) and branch.
#[derive(Debug, Clone)]
pub struct Login {
    pub user: String,
    pub password: Secret,
    pub company: String,
    /// Empty: the user's default branch.
    pub branch: String,
}

/// The message Acumatica answers a login with when the licence's concurrent API users
/// are all in use.
const LOGIN_LIMIT: &str = "API Login Limit";

/// Logs in; the `Cookie` header to send with the session's calls.
pub async fn log_in(
    http: &reqwest::Client,
    auth_base: &str,
    login: &Login,
    timeout: std::time::Duration,
) -> Result<String, AdapterError> {
    let mut body = json!({
        "name": login.user,
        "password": login.password.expose(),
        "company": login.company,
    });
    if !login.branch.is_empty() {
        body["branch"] = json!(login.branch);
    }
    let request = http
        .post(format!("{auth_base}/login"))
        .timeout(timeout)
        .json(&body);
    let resp = crate::adapters::http::send(request)
        .await
        .map_err(|e| AdapterError::Transient(format!("login: {}", e.without_url())))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let answer = read_bounded(resp).await?;
    if !(200..300).contains(&status) {
        return Err(refused(status, &headers, &answer));
    }
    let cookie = cookies(&headers);
    if cookie.is_empty() {
        return Err(AdapterError::Transient(
            "login: the answer sets no session cookie".into(),
        ));
    }
    tracing::debug!(erp.system = "acumatica", "logged in");
    Ok(cookie)
}

/// Why a login was refused: the licence's session limit is a wait, wrong credentials
/// (an error Acumatica raises, under any status) stay wrong until someone fixes them.
fn refused(status: u16, headers: &HeaderMap, body: &[u8]) -> AdapterError {
    let error = AcumaticaError::from_body(body);
    if error.message.contains(LOGIN_LIMIT) {
        return AdapterError::Throttled { retry_after: None };
    }
    match classify(status, headers, body) {
        AdapterError::Transient(why) | AdapterError::Permanent(why)
            if error.is_raised() || matches!(status, 401 | 403) =>
        {
            AdapterError::Permanent(format!("login refused: {why}"))
        }
        other => other,
    }
}

/// Ends the session, so that it stops holding one of the licence's API users.
pub async fn log_out(
    http: &reqwest::Client,
    auth_base: &str,
    cookie: &str,
    timeout: std::time::Duration,
) {
    let request = http
        .post(format!("{auth_base}/logout"))
        .timeout(timeout)
        .header(COOKIE, cookie);
    crate::adapters::http::log_out("acumatica", request).await;
}

/// Every cookie the answer sets, as one `Cookie` header; which of them make the session
/// differs between versions, so all of them go back.
fn cookies(headers: &HeaderMap) -> String {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::trim)
        .filter(|pair| pair.split_once('=').is_some_and(|(_, v)| !v.is_empty()))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_set_cookie_goes_back_and_cleared_ones_do_not() {
        let mut headers = HeaderMap::new();
        for v in [
            ".ASPXAUTH=ABC; path=/; HttpOnly",
            "ASP.NET_SessionId=s1; path=/; HttpOnly; SameSite=Lax",
            "UserBranch=16; path=/",
            "requeststat=; expires=Thu, 01 Jan 1970 00:00:00 GMT",
        ] {
            headers.append(SET_COOKIE, v.parse().unwrap());
        }
        assert_eq!(
            cookies(&headers),
            ".ASPXAUTH=ABC; ASP.NET_SessionId=s1; UserBranch=16"
        );
    }
}
