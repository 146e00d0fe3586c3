//! Reading and validating the policy directory. An invalid file stops the start with an
//! error that names the file, the entry and the field.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{
    Channel, Client, Issuer, Limits, Location, Policies, ReturnPolicy, RouteAuth, RoutePolicy,
    SCOPES,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub file: PathBuf,
    /// The entry, e.g. `channel "web"` or `location[2]`.
    pub entry: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(entry) = &self.entry {
            write!(f, ", {entry}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for PolicyError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationsFile {
    location: Vec<Location>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelsFile {
    channel: Vec<Channel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutesFile {
    route: Vec<RoutePolicy>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SubscribersFile {
    #[serde(default)]
    subscriber: Vec<super::Subscriber>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StoresFile {
    #[serde(default)]
    store: Vec<super::StorePolicy>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    #[serde(default)]
    issuer: Vec<Issuer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientsFile {
    #[serde(default)]
    demo: bool,
    #[serde(default)]
    client: Vec<Client>,
}

impl Policies {
    pub fn load(dir: &Path) -> Result<Self, PolicyError> {
        let locations: LocationsFile = read(dir, "locations.toml")?;
        let channels: ChannelsFile = read(dir, "channels.toml")?;
        let clients: ClientsFile = read(dir, "clients.toml")?;
        let returns: ReturnPolicy = read(dir, "returns.toml")?;
        let routes: RoutesFile = read(dir, "routes.toml")?;
        let limits: Limits = read(dir, "limits.toml")?;
        // Only deployments that accept JWTs need an issuer file.
        let auth: AuthFile = optional(dir, "auth.toml")?;
        let outbox: super::OutboxPolicy = optional(dir, "outbox.toml")?;
        let subscribers: SubscribersFile = optional(dir, "subscribers.toml")?;
        let stores: StoresFile = optional(dir, "stores.toml")?;
        let slo: super::SloFile = optional(dir, "slo.toml")?;
        let reconcile: super::ReconcilePolicy = optional(dir, "reconcile.toml")?;
        let mut p = Self {
            dir: dir.to_owned(),
            demo: clients.demo,
            locations: locations.location,
            channels: channels.channel,
            clients: clients.client.into_iter().map(Arc::new).collect(),
            returns,
            routes: routes.route.into_iter().map(Arc::new).collect(),
            limits,
            issuers: auth.issuer,
            outbox,
            subscribers: subscribers.subscriber,
            stores: stores.store,
            slo,
            reconcile,
            eligible: Default::default(),
            route_index: Default::default(),
            api_keys: Vec::new(),
        };
        p.validate()?;
        p.derive()?;
        Ok(p)
    }

    fn validate(&self) -> Result<(), PolicyError> {
        let err = |file: &str, entry: String, field: &str, message: String| PolicyError {
            file: self.dir.join(file),
            entry: Some(entry),
            field: Some(field.to_owned()),
            message,
        };
        let mut seen = BTreeSet::new();
        for l in &self.locations {
            let entry = format!("location \"{}\"", l.code);
            if !is_name(&l.code) {
                return Err(err(
                    "locations.toml",
                    entry,
                    "code",
                    "must be 1 to 64 letters, digits, `-` or `_`".into(),
                ));
            }
            if !seen.insert(&l.code) {
                return Err(err(
                    "locations.toml",
                    entry,
                    "code",
                    "is declared twice".into(),
                ));
            }
            if l.priority == 0 {
                return Err(err(
                    "locations.toml",
                    entry,
                    "priority",
                    "must be 1 or more (1 is tried first)".into(),
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for c in &self.channels {
            let entry = format!("channel \"{}\"", c.name);
            if !is_name(&c.name) || !seen.insert(&c.name) {
                return Err(err(
                    "channels.toml",
                    entry,
                    "name",
                    "must be a unique name of letters, digits, `-` or `_`".into(),
                ));
            }
            if let Some(l) = c.locations.iter().find(|l| self.location(l).is_none()) {
                return Err(err(
                    "channels.toml",
                    entry,
                    "locations",
                    format!("unknown location `{l}`"),
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for c in &self.clients {
            let entry = format!("client \"{}\"", c.id);
            if !is_name(&c.id) || !seen.insert(&c.id) {
                return Err(err(
                    "clients.toml",
                    entry,
                    "id",
                    "must be a unique name of letters, digits, `-` or `_`".into(),
                ));
            }
            if c.channels.is_empty() {
                return Err(err(
                    "clients.toml",
                    entry,
                    "channels",
                    "must name at least one channel".into(),
                ));
            }
            if let Some(ch) = c.channels.iter().find(|ch| self.channel(ch).is_none()) {
                return Err(err(
                    "clients.toml",
                    entry,
                    "channels",
                    format!("unknown channel `{ch}`"),
                ));
            }
            if let Some(s) = c.scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
                return Err(err(
                    "clients.toml",
                    entry,
                    "scopes",
                    format!("unknown scope `{s}`; known: {}", SCOPES.join(", ")),
                ));
            }
            if let Some(h) = c.api_key_sha256.iter().find(|h| {
                h.len() != 64
                    || !h
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            }) {
                return Err(err(
                    "clients.toml",
                    entry,
                    "api_key_sha256",
                    format!("`{h}` is not 64 lower-case hex digits"),
                ));
            }
        }
        self.validate_clients_auth()?;
        self.validate_routes()?;
        self.validate_limits()?;
        self.validate_issuers()?;
        self.validate_subscribers()?;
        self.validate_stores()?;
        let r = &self.returns;
        if !(1..=365).contains(&r.window_days) {
            return Err(err(
                "returns.toml",
                "returns".into(),
                "window_days",
                "must be from 1 to 365".into(),
            ));
        }
        if self.location(&r.restock_location).is_none() {
            return Err(err(
                "returns.toml",
                "returns".into(),
                "restock_location",
                format!("unknown location `{}`", r.restock_location),
            ));
        }
        let mut seen = BTreeSet::new();
        for s in &self.slo.slo {
            let entry = format!("slo \"{}\"", s.name);
            if !is_name(&s.name) || !seen.insert(&s.name) {
                let why = "must be a unique name of letters, digits, `-` or `_`";
                return Err(err("slo.toml", entry, "name", why.into()));
            }
            if let Some((field, why)) = s.check() {
                return Err(err("slo.toml", entry, field, why));
            }
            if let Some(route) = &s.route {
                let known = route.split_once(' ').is_some_and(|(method, path)| {
                    self.routes
                        .iter()
                        .any(|r| r.method == method && r.path == path)
                });
                if !known {
                    let why = format!("`{route}` is not a route in routes.toml");
                    return Err(err("slo.toml", entry, "route", why));
                }
            }
        }
        let t = &self.reconcile.threshold;
        if t.units < 0 {
            let why = "must be 0 or more".to_owned();
            return Err(err("reconcile.toml", "threshold".into(), "units", why));
        }
        if !(0.0..=1.0).contains(&t.ratio) {
            let why = "must be from 0 to 1".to_owned();
            return Err(err("reconcile.toml", "threshold".into(), "ratio", why));
        }
        if self.slo.sample_seconds == 0 {
            let why = "must be 1 or more".to_owned();
            return Err(err("slo.toml", "slo.toml".into(), "sample_seconds", why));
        }
        Ok(())
    }
}

impl Policies {
    pub(super) fn error(
        &self,
        file: &str,
        entry: String,
        field: &str,
        message: String,
    ) -> PolicyError {
        PolicyError {
            file: self.dir.join(file),
            entry: Some(entry),
            field: Some(field.to_owned()),
            message,
        }
    }

    fn validate_clients_auth(&self) -> Result<(), PolicyError> {
        for c in &self.clients {
            let entry = format!("client \"{}\"", c.id);
            if self.tier(&c.rate_tier).is_none() {
                let known: Vec<&str> = self.limits.tiers.keys().map(String::as_str).collect();
                let msg = format!(
                    "unknown tier `{}`; limits.toml declares {}",
                    c.rate_tier,
                    known.join(", ")
                );
                return Err(self.error("clients.toml", entry, "rate_tier", msg));
            }
            if c.api_key_sha256.is_empty() && c.jwt.is_none() {
                let msg = "needs api_key_sha256 or jwt, or it can never authenticate".to_owned();
                return Err(self.error("clients.toml", entry, "api_key_sha256", msg));
            }
            if let Some(jwt) = &c.jwt
                && !self.issuers.iter().any(|i| i.issuer == jwt.issuer)
            {
                let msg = format!("issuer `{}` is not declared in auth.toml", jwt.issuer);
                return Err(self.error("clients.toml", entry, "jwt", msg));
            }
        }
        Ok(())
    }

    fn validate_routes(&self) -> Result<(), PolicyError> {
        let mut seen = BTreeSet::new();
        for r in &self.routes {
            let entry = format!("route \"{} {}\"", r.method, r.path);
            let err = |field: &str, msg: String| {
                Err(self.error("routes.toml", entry.clone(), field, msg))
            };
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&r.method.as_str()) {
                return err(
                    "method",
                    "must be GET, POST, PUT, PATCH or DELETE in capitals".into(),
                );
            }
            if !r.path.starts_with('/') {
                return err("path", "must start with `/`".into());
            }
            if !seen.insert((&r.method, &r.path)) {
                return err("path", "is declared twice for this method".into());
            }
            match (&r.scope, r.auth) {
                (Some(s), RouteAuth::Credentials) if !SCOPES.contains(&s.as_str()) => {
                    return err(
                        "scope",
                        format!("unknown scope `{s}`; known: {}", SCOPES.join(", ")),
                    );
                }
                (None, RouteAuth::Credentials) => {
                    return err("scope", "every route names the scope it requires".into());
                }
                (Some(_), RouteAuth::Signature) => {
                    return err(
                        "scope",
                        "a route that authenticates by signature has no client, so no scope".into(),
                    );
                }
                _ => {}
            }
            if let (Some(d), Some(s)) = (r.deprecated, r.sunset)
                && s < d
            {
                return err("sunset", "comes before the deprecation date".into());
            }
        }
        Ok(())
    }

    fn validate_limits(&self) -> Result<(), PolicyError> {
        for (name, t) in &self.limits.tiers {
            if t.requests == 0 || t.per_seconds == 0 {
                let msg = "requests and per_seconds must both be 1 or more".to_owned();
                return Err(self.error("limits.toml", format!("tiers.{name}"), "requests", msg));
            }
        }
        let b = &self.limits.body;
        if b.max_bytes == 0 || b.max_json_depth == 0 || b.max_array_items == 0 {
            return Err(self.error(
                "limits.toml",
                "body".into(),
                "max_bytes",
                "body limits must be 1 or more".into(),
            ));
        }
        for o in &self.limits.cors.allowed_origins {
            let exact = (o.starts_with("https://") || o.starts_with("http://"))
                && !o.contains('*')
                && !o.trim_end_matches('/').contains(['?', '#'])
                && o.matches('/').count() == 2;
            if !exact {
                let msg = format!(
                    "`{o}` must be an exact origin such as https://shop.example.com; wildcards are refused"
                );
                return Err(self.error("limits.toml", "cors".into(), "allowed_origins", msg));
            }
        }
        Ok(())
    }

    fn validate_issuers(&self) -> Result<(), PolicyError> {
        for i in &self.issuers {
            let entry = format!("issuer \"{}\"", i.issuer);
            let err =
                |field: &str, msg: String| Err(self.error("auth.toml", entry.clone(), field, msg));
            if i.audience.is_empty() {
                return err("audience", "must name at least one audience".into());
            }
            let hs_only = i.algorithms.iter().all(|a| a == "HS256");
            match (&i.jwks_file, &i.jwks_url) {
                (None, None) if hs_only => {}
                (Some(_), Some(_)) | (None, None) => {
                    return err(
                        "jwks_file",
                        "give exactly one of jwks_file or jwks_url".into(),
                    );
                }
                (Some(f), None) if !self.dir.join(f).exists() => {
                    return err(
                        "jwks_file",
                        format!("{} does not exist", self.dir.join(f).display()),
                    );
                }
                _ => {}
            }
            if i.algorithms.is_empty() {
                return err("algorithms", "must allow at least one algorithm".into());
            }
            for a in &i.algorithms {
                match a.as_str() {
                    "RS256" | "ES256" | "EdDSA" => {}
                    "HS256" if i.hs256_secret_env.is_some() || i.hs256_secret_file.is_some() => {}
                    "HS256" => {
                        return err(
                            "algorithms",
                            "HS256 needs hs256_secret_env or hs256_secret_file".into(),
                        );
                    }
                    other => {
                        return err(
                            "algorithms",
                            format!("`{other}` is not one of RS256, ES256, EdDSA, HS256"),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    fn validate_subscribers(&self) -> Result<(), PolicyError> {
        let mut seen = BTreeSet::new();
        for s in &self.subscribers {
            let entry = format!("subscriber \"{}\"", s.name);
            let err = |field: &str, msg: String| {
                Err(self.error("subscribers.toml", entry.clone(), field, msg))
            };
            if !is_name(&s.name)
                || !seen.insert(&s.name)
                || ["erp", "nats"].contains(&s.name.as_str())
            {
                return err(
                    "name",
                    "must be a unique name of letters, digits, `-` or `_`, and not erp or nats"
                        .into(),
                );
            }
            let loopback =
                s.url.starts_with("http://127.0.0.1") || s.url.starts_with("http://localhost");
            if !s.url.starts_with("https://") && !loopback {
                return err(
                    "url",
                    format!(
                        "`{}` must be https:// (plain http only on loopback, for testing)",
                        s.url
                    ),
                );
            }
            if let Some(e) = s
                .events
                .iter()
                .find(|e| *e != "*" && crate::domain::outbound::EventKind::parse(e).is_none())
            {
                return err("events", format!("unknown event type `{e}`"));
            }
            if s.secret_env.is_none() && s.secret_file.is_none() {
                return err(
                    "secret_env",
                    "a subscriber needs a signing secret (secret_env or secret_file)".into(),
                );
            }
            if s.max_attempts == 0 {
                return err("max_attempts", "must be 1 or more".into());
            }
        }
        Ok(())
    }

    fn validate_stores(&self) -> Result<(), PolicyError> {
        let mut seen = BTreeSet::new();
        for s in &self.stores {
            let entry = format!("store \"{}\"", s.name);
            let err = |field: &str, msg: String| {
                Err(self.error("stores.toml", entry.clone(), field, msg))
            };
            if !is_name(&s.name) || !seen.insert(&s.name) {
                return err(
                    "name",
                    "must be a unique name of letters, digits, `-` or `_`".into(),
                );
            }
            if self.channel(&s.channel).is_none() {
                return err("channel", format!("unknown channel `{}`", s.channel));
            }
            let scheme_ok = s.base_url.starts_with("https://") || s.base_url.starts_with("http://");
            if !scheme_ok || s.base_url.contains(['?', '#']) || s.base_url.contains("/wp-json") {
                return err(
                    "base_url",
                    format!(
                        "`{}` must be the store's address, such as https://shop.example.com \
                         (without /wp-json, a query or a fragment)",
                        s.base_url
                    ),
                );
            }
            if s.auth() == super::StoreAuth::Basic
                && s.base_url.starts_with("http://")
                && !s.is_loopback()
            {
                return err(
                    "auth",
                    "basic sends the consumer secret in the clear over http://; use https:// or oauth1"
                        .into(),
                );
            }
            for (what, env, file) in [
                ("consumer_key", &s.consumer_key_env, &s.consumer_key_file),
                (
                    "consumer_secret",
                    &s.consumer_secret_env,
                    &s.consumer_secret_file,
                ),
                (
                    "webhook_secret",
                    &s.webhook_secret_env,
                    &s.webhook_secret_file,
                ),
            ] {
                match (env, file) {
                    (Some(_), Some(_)) | (None, None) => {
                        return err(
                            &format!("{what}_env"),
                            format!("give exactly one of {what}_env or {what}_file"),
                        );
                    }
                    (None, Some(f)) if !self.dir.join(f).exists() => {
                        return err(
                            &format!("{what}_file"),
                            format!("{} does not exist", self.dir.join(f).display()),
                        );
                    }
                    _ => {}
                }
            }
            if !(1..=86_400).contains(&s.poll_interval_seconds) {
                return err("poll_interval_seconds", "must be from 1 to 86400".into());
            }
            if s.timeout_ms == 0 || s.max_attempts == 0 {
                return err(
                    "timeout_ms",
                    "timeout_ms and max_attempts must both be 1 or more".into(),
                );
            }
        }
        Ok(())
    }

    /// Every `/v1` route the API serves has a policy, and every policy names a real route.
    pub fn check_routes(&self, served: &[(String, String)]) -> Result<(), PolicyError> {
        for (method, path) in served.iter().filter(|(_, p)| p.starts_with("/v1/")) {
            if !self
                .routes
                .iter()
                .any(|r| &r.method == method && &r.path == path)
            {
                let msg =
                    "the API serves this route but routes.toml has no policy for it".to_owned();
                return Err(self.error(
                    "routes.toml",
                    format!("route \"{method} {path}\""),
                    "path",
                    msg,
                ));
            }
        }
        for r in &self.routes {
            if !served.iter().any(|(m, p)| m == &r.method && p == &r.path) {
                let msg = "no such route in the API".to_owned();
                return Err(self.error(
                    "routes.toml",
                    format!("route \"{} {}\"", r.method, r.path),
                    "path",
                    msg,
                ));
            }
        }
        Ok(())
    }
}

fn is_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A file a deployment may leave out; its defaults apply.
fn optional<T: DeserializeOwned + Default>(dir: &Path, name: &str) -> Result<T, PolicyError> {
    if dir.join(name).exists() {
        read(dir, name)
    } else {
        Ok(T::default())
    }
}

/// Reads one file; a syntax or shape error names the entry (`channel[1]`) and field.
fn read<T: DeserializeOwned>(dir: &Path, name: &str) -> Result<T, PolicyError> {
    let file = dir.join(name);
    let text = std::fs::read_to_string(&file).map_err(|e| PolicyError {
        file: file.clone(),
        entry: None,
        field: None,
        message: format!("cannot read: {e}"),
    })?;
    serde_path_to_error::deserialize(toml::Deserializer::new(&text)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().message().to_owned();
        // "missing field `x`" points at the entry, not at the absent field.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
            .map(str::to_owned);
        let (entry, field) = match path.rsplit_once('.') {
            _ if path.ends_with(']') => (Some(path), missing),
            Some((entry, field)) => (Some(entry.to_owned()), Some(field.to_owned())),
            None if path == "." => (None, missing),
            None => (None, Some(path)),
        };
        PolicyError {
            file,
            entry,
            field,
            message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of the demo policies with one file replaced.
    fn with(file: &str, text: &str) -> Result<Policies, PolicyError> {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        for f in std::fs::read_dir(&src).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), dir.path().join(f.file_name())).unwrap();
        }
        std::fs::write(dir.path().join(file), text).unwrap();
        Policies::load(dir.path())
    }

    #[test]
    fn a_shape_error_names_file_entry_and_field() {
        let e = with(
            "locations.toml",
            "[[location]]\ncode = \"A\"\npriority = 1\n[[location]]\ncode = \"B\"\n",
        )
        .unwrap_err();
        assert!(e.file.ends_with("locations.toml"));
        assert_eq!(e.entry.as_deref(), Some("location[1]"));
        assert_eq!(e.field.as_deref(), Some("priority"), "{e}");
    }

    #[test]
    fn a_rule_error_names_the_entry_by_name() {
        let e = with(
            "channels.toml",
            "[[channel]]\nname = \"web\"\nlocations = [\"WH-NOPE\"]\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("channel \"web\""), "{e}");
        assert_eq!(e.field.as_deref(), Some("locations"));
        assert!(e.message.contains("WH-NOPE"));
    }

    #[test]
    fn tiers_wildcards_and_unserved_routes_are_refused() {
        let client = "[[client]]\nid = \"x\"\nkind = \"storefront\"\nchannels = [\"web\"]\nrate_tier = \"gold\"\napi_key_sha256 = []\n";
        let e = with("clients.toml", client).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("rate_tier"), "{e}");
        let limits = "[tiers.demo]\nrequests = 1\nper_seconds = 1\n[tiers.internal]\nrequests = 1\nper_seconds = 1\n[cors]\nallowed_origins = [\"*\"]\nallow_credentials = true\n";
        let e = with("limits.toml", limits).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("allowed_origins"), "{e}");
        let p = with(
            "returns.toml",
            "window_days = 30\nrestock_location = \"WH-MAIN\"\n",
        )
        .unwrap();
        let served = vec![("GET".to_owned(), "/v1/orders/{id}/invoices".to_owned())];
        let e = p.check_routes(&served).unwrap_err();
        assert!(e.to_string().contains("/v1/orders/{id}/invoices"), "{e}");
    }

    #[test]
    fn a_broken_objective_is_refused_by_its_field() {
        let slo =
            |body: &str| format!("[[slo]]\nname = \"acceptance\"\nwindow_minutes = 60\n{body}");
        let e = with(
            "slo.toml",
            &slo("indicator = \"error_rate\"\nobjective = 99.9\n"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("slo \"acceptance\""), "{e}");
        assert_eq!(e.field.as_deref(), Some("objective"));
        let latency = "indicator = \"latency\"\nobjective = 0.99\nthreshold_ms = 300\n";
        let e = with("slo.toml", &slo(latency)).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("route"), "{e}");
        let e = with(
            "slo.toml",
            &slo(&format!("{latency}route = \"POST /v1/nothing\"\n")),
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("route"), "{e}");
        with(
            "slo.toml",
            &slo(&format!("{latency}route = \"POST /v1/orders\"\n")),
        )
        .unwrap();
    }

    #[test]
    fn a_drift_threshold_outside_its_range_is_refused_by_its_field() {
        let e = with("reconcile.toml", "[threshold]\nratio = 5\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("ratio"), "{e}");
        let e = with("reconcile.toml", "[threshold]\nunits = -1\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("units"), "{e}");
        let p = with(
            "reconcile.toml",
            "schedule_seconds = 900\n[threshold]\nunits = 2\nratio = 0.05\n",
        )
        .unwrap();
        assert_eq!(p.reconcile.schedule_seconds, 900);
        assert_eq!(p.reconcile.threshold.units, 2);
    }

    #[test]
    fn stores_are_checked_field_by_field() {
        let store = |extra: &str| {
            format!(
                "[[store]]\nname = \"acme\"\nchannel = \"web\"\nbase_url = \"https://shop.acme.example\"\n\
                 consumer_key_env = \"K\"\nconsumer_secret_env = \"S\"\nwebhook_secret_env = \"W\"\n{extra}"
            )
        };
        let p = with("stores.toml", &store("")).unwrap();
        let acme = p.store("acme").unwrap();
        assert_eq!(acme.auth(), super::super::StoreAuth::Basic);
        assert_eq!(acme.uncoverable_orders, super::super::OnProblem::Backorder);
        assert_eq!(acme.destination(), "woocommerce:acme");
        let e = with("stores.toml", &store("").replace("\"web\"", "\"shop\"")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("channel"), "{e}");
        let e = with(
            "stores.toml",
            &store("auth = \"basic\"\n").replace("https://shop", "http://shop"),
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("auth"), "{e}");
        let e = with(
            "stores.toml",
            &store("").replace("webhook_secret_env = \"W\"\n", ""),
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("webhook_secret_env"), "{e}");
        let e = with(
            "stores.toml",
            &store("webhook_secret_file = \"missing.secret\"\n"),
        )
        .unwrap_err();
        assert_eq!(
            e.field.as_deref(),
            Some("webhook_secret_env"),
            "both given: {e}"
        );
        let e = with("stores.toml", &store("unmappable_lines = \"drop\"\n")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("unmappable_lines"), "{e}");
        let e = with("stores.toml", &store("poll_interval_seconds = 0\n")).unwrap_err();
        assert!(e.to_string().contains("store \"acme\""), "{e}");
    }

    #[test]
    fn a_signed_route_has_no_scope() {
        let routes = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/routes.toml"),
        )
        .unwrap()
        .replace(
            "auth = \"signature\"",
            "auth = \"signature\"\nscope = \"admin\"",
        );
        let e = with("routes.toml", &routes).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("scope"), "{e}");
    }

    #[test]
    fn unknown_fields_and_scopes_are_refused() {
        let e = with(
            "returns.toml",
            "window_days = 30\nrestock_location = \"WH-MAIN\"\nwindow = 3\n",
        )
        .unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
        let e = with(
            "clients.toml",
            "[[client]]\nid = \"x\"\nkind = \"storefront\"\nchannels = [\"web\"]\nrate_tier = \"demo\"\nscopes = [\"everything\"]\n",
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("scopes"));
    }
}
