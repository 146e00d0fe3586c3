//! Frappe's token authentication: every request carries
//! `Authorization: token <api_key>:<api_secret>`, the pair generated for one user under
//! *User › Settings › API Access*. There is no login and no session to keep or end; the
//! requests act as that user, with that user's roles.

use crate::config::Secret;

/// The API key and secret of the ERPNext user Stockade acts as.
#[derive(Debug, Clone)]
pub struct ApiToken {
    pub key: String,
    pub secret: Secret,
}

impl ApiToken {
    /// The `Authorization` header value. It holds the secret, so it is built per request
    /// and never kept in a form that prints.
    pub fn header(&self) -> String {
        format!("token {}:{}", self.key, self.secret.expose())
    }
}

/// Whether an error answer is Frappe refusing the credential itself, as opposed to the
/// user lacking a permission: every 401, and a 403 whose `exc_type` says so. A refused
/// credential is worth exactly one more try (see `Client::call`); a missing permission
/// never is.
pub fn is_refusal(status: u16, exc_type: &str) -> bool {
    status == 401 || (status == 403 && matches!(exc_type, "AuthenticationError" | "SessionExpired"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_frappes_token_form_and_debug_hides_the_secret() {
        let token = ApiToken {
            key: "a1b2c3".into(),
            secret: Secret::new("s3cr3t"),
        };
        assert_eq!(token.header(), "token a1b2c3:s3cr3t");
        assert!(!format!("{token:?}").contains("s3cr3t"));
        assert!(is_refusal(401, ""));
        assert!(is_refusal(403, "AuthenticationError"));
        assert!(!is_refusal(403, "PermissionError"));
    }
}
