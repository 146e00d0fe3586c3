//! The governance stack, mirroring the OWASP API Security Top 10 where it applies:
//! broken authentication (api keys, the JWT forgery suite, key rotation), broken object
//! and function level authorization (channels, scopes, admin routes), unrestricted
//! resource consumption (rate limits, body caps), security misconfiguration (headers,
//! CORS), and the audit trail.

mod api_keys;
mod audit;
mod authorization;
mod cache;
mod hygiene;
mod jwt;
mod rate_limits;
mod tokens;

pub fn register(trials: &mut Vec<libtest_mimic::Trial>, backends: &[crate::harness::Backend]) {
    api_keys::register(trials, backends);
    audit::register(trials, backends);
    authorization::register(trials, backends);
    cache::register(trials, backends);
    hygiene::register(trials, backends);
    jwt::register(trials, backends);
    rate_limits::register(trials, backends);
}
