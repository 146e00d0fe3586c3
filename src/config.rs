//! Configuration: an optional `stockade.toml`, then `STOCKADE_*` environment variables,
//! which win. Every key, its default and its meaning is listed in `docs/CONFIG.md`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::services::projection::ProjectionSettings;

/// The smallest idempotency retention the API promises.
pub const MIN_IDEMPOTENCY_RETENTION_HOURS: u32 = 24;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// A second address serving only `/metrics`, without credentials, for a scraper
    /// inside the network; on the main address `/metrics` needs the `admin` scope.
    pub metrics_listen: Option<SocketAddr>,
    pub data_dir: PathBuf,
    pub policies: PathBuf,
    /// Which ERP adapter serves the back office: `embedded` or one of the names in
    /// `adapters::ERPS`. An adapter's connection and credentials come from its own
    /// environment variables (`STOCKADE_NETSUITE_*`, `STOCKADE_BC_*` and so on), never from
    /// the file.
    pub erp: String,
    /// SQLite `synchronous`: `full` (survives power loss) or `normal` (survives a killed process).
    pub sqlite_synchronous: String,
    pub idempotency_retention_hours: u32,
    pub request_timeout: Duration,
    pub log_format: LogFormat,
    /// PostgreSQL (`postgres://…`) instead of the embedded SQLite ledger.
    pub database_url: Option<Secret>,
    pub database_pool_size: u32,
    /// Redis (`redis://…`) for cluster-wide rate limits and cache invalidation.
    pub redis_url: Option<Secret>,
    /// Prefixes every Redis key and channel, so several deployments can share one Redis.
    pub redis_prefix: String,
    /// NATS (`nats://…`) with JetStream, as the event transport.
    pub nats_url: Option<Secret>,
    /// Prefixes every NATS subject and stream.
    pub nats_prefix: String,
    /// How often the ERP's stock is swept into the projection (not with `embedded`).
    pub projection: ProjectionSettings,
    /// An OpenTelemetry collector's OTLP/HTTP base URL (`http://collector:4318`): spans
    /// are exported to `<endpoint>/v1/traces` when set, and not at all otherwise.
    pub otlp_endpoint: Option<String>,
    /// `service.name` on exported spans: `OTEL_SERVICE_NAME`, as every OpenTelemetry SDK
    /// reads it.
    pub service_name: String,
}

/// A value that may carry credentials (a URL with a password): never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: None,
            data_dir: PathBuf::from("./data"),
            policies: PathBuf::from("./policies"),
            erp: "embedded".into(),
            sqlite_synchronous: "full".into(),
            idempotency_retention_hours: MIN_IDEMPOTENCY_RETENTION_HOURS,
            request_timeout: Duration::from_secs(15),
            log_format: LogFormat::Text,
            database_url: None,
            database_pool_size: 16,
            redis_url: None,
            redis_prefix: "stockade".into(),
            nats_url: None,
            nats_prefix: "stockade".into(),
            projection: ProjectionSettings::default(),
            otlp_endpoint: None,
            service_name: "stockade".into(),
        }
    }
}

/// The file's keys; all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    metrics_listen: Option<String>,
    data_dir: Option<PathBuf>,
    policies: Option<PathBuf>,
    erp: Option<String>,
    sqlite_synchronous: Option<String>,
    idempotency_retention_hours: Option<u32>,
    request_timeout_ms: Option<u64>,
    log_format: Option<String>,
    database_pool_size: Option<u32>,
    redis_prefix: Option<String>,
    nats_prefix: Option<String>,
    projection_interval_seconds: Option<u64>,
    projection_skus_per_read: Option<u32>,
    otlp_endpoint: Option<String>,
}

impl Config {
    /// Reads `STOCKADE_CONFIG` (or `./stockade.toml` when present), then the environment.
    pub fn load() -> anyhow::Result<Self> {
        Self::from_sources(|k| std::env::var(k).ok())
    }

    pub fn from_sources(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let path = env("STOCKADE_CONFIG").map(PathBuf::from);
        let file = match &path {
            Some(p) => read_file(p)?,
            None if Path::new("stockade.toml").exists() => read_file(Path::new("stockade.toml"))?,
            None => FileConfig::default(),
        };
        let pick = |key: &str, from_file: Option<String>| {
            env(&format!("STOCKADE_{}", key.to_uppercase())).or(from_file)
        };
        let mut c = Self::default();
        if let Some(v) = pick("listen", file.listen) {
            c.listen = v.parse().with_context(|| {
                format!("listen: `{v}` is not an address such as 127.0.0.1:8080")
            })?;
        }
        if let Some(v) = pick("metrics_listen", file.metrics_listen) {
            c.metrics_listen = Some(v.parse().with_context(|| {
                format!("metrics_listen: `{v}` is not an address such as 127.0.0.1:9090")
            })?);
        }
        if let Some(v) = pick("data_dir", file.data_dir.map(|p| p.display().to_string())) {
            c.data_dir = v.into();
        }
        if let Some(v) = pick("policies", file.policies.map(|p| p.display().to_string())) {
            c.policies = v.into();
        }
        if let Some(v) = pick("erp", file.erp) {
            c.erp = v;
        }
        if let Some(v) = pick("sqlite_synchronous", file.sqlite_synchronous) {
            if !matches!(v.as_str(), "full" | "normal") {
                bail!("sqlite_synchronous: `{v}` must be `full` or `normal`");
            }
            c.sqlite_synchronous = v;
        }
        if let Some(v) = pick(
            "idempotency_retention_hours",
            file.idempotency_retention_hours.map(|n| n.to_string()),
        ) {
            c.idempotency_retention_hours = number(&v, "idempotency_retention_hours")?;
            if c.idempotency_retention_hours < MIN_IDEMPOTENCY_RETENTION_HOURS {
                bail!(
                    "idempotency_retention_hours: must be at least {MIN_IDEMPOTENCY_RETENTION_HOURS}"
                );
            }
        }
        if let Some(v) = pick(
            "request_timeout_ms",
            file.request_timeout_ms.map(|n| n.to_string()),
        ) {
            c.request_timeout = Duration::from_millis(number(&v, "request_timeout_ms")?);
        }
        // Connection URLs may carry passwords: the environment only, never the file.
        c.database_url = env("STOCKADE_DATABASE_URL")
            .filter(|v| !v.is_empty())
            .map(Secret::new);
        if let Some(url) = &c.database_url
            && !url.expose().starts_with("postgres://")
            && !url.expose().starts_with("postgresql://")
        {
            bail!(
                "database_url: only postgres:// URLs are supported; leave it unset for the embedded ledger"
            );
        }
        if let Some(v) = pick(
            "database_pool_size",
            file.database_pool_size.map(|n| n.to_string()),
        ) {
            c.database_pool_size = number(&v, "database_pool_size")?;
        }
        c.redis_url = env("STOCKADE_REDIS_URL")
            .filter(|v| !v.is_empty())
            .map(Secret::new);
        if let Some(v) = pick("redis_prefix", file.redis_prefix) {
            c.redis_prefix = v;
        }
        c.nats_url = env("STOCKADE_NATS_URL")
            .filter(|v| !v.is_empty())
            .map(Secret::new);
        if let Some(v) = pick("nats_prefix", file.nats_prefix) {
            c.nats_prefix = v;
        }
        if let Some(v) = pick(
            "projection_interval_seconds",
            file.projection_interval_seconds.map(|n| n.to_string()),
        ) {
            let seconds: u64 = number(&v, "projection_interval_seconds")?;
            if seconds == 0 {
                bail!("projection_interval_seconds: must be at least 1");
            }
            c.projection.interval = Duration::from_secs(seconds);
        }
        if let Some(v) = pick(
            "projection_skus_per_read",
            file.projection_skus_per_read.map(|n| n.to_string()),
        ) {
            c.projection.skus_per_read = number(&v, "projection_skus_per_read")?;
            if !(1..=1000).contains(&c.projection.skus_per_read) {
                bail!("projection_skus_per_read: must be between 1 and 1000");
            }
        }
        if let Some(v) = pick("otlp_endpoint", file.otlp_endpoint).filter(|v| !v.is_empty()) {
            if !v.starts_with("http://") && !v.starts_with("https://") {
                bail!("otlp_endpoint: `{v}` is not an http:// or https:// URL");
            }
            c.otlp_endpoint = Some(v.trim_end_matches('/').to_owned());
        }
        if let Some(v) = env("OTEL_SERVICE_NAME").filter(|v| !v.is_empty()) {
            c.service_name = v;
        }
        if let Some(v) = pick("log_format", file.log_format) {
            c.log_format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => bail!("log_format: `{v}` must be `text` or `json`"),
            };
        }
        Ok(c)
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text)
        .with_context(|| format!("{} is not a valid configuration", path.display()))
}

fn number<T: std::str::FromStr>(v: &str, key: &str) -> anyhow::Result<T> {
    v.parse()
        .map_err(|_| anyhow::anyhow!("{key}: `{v}` is not a whole number"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Config::from_sources(|k| vars.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_documentation() {
        let c = load(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.policies, PathBuf::from("./policies"));
        assert_eq!(c.idempotency_retention_hours, 24);
        assert_eq!(c.otlp_endpoint, None);
        assert_eq!(c.service_name, "stockade");
    }

    #[test]
    fn trace_export_is_configured_by_its_endpoint() {
        let c = load(&[
            ("STOCKADE_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_SERVICE_NAME", "stockade-eu"),
        ])
        .unwrap();
        assert_eq!(c.otlp_endpoint.as_deref(), Some("http://collector:4318"));
        assert_eq!(c.service_name, "stockade-eu");
        let e = load(&[("STOCKADE_OTLP_ENDPOINT", "collector:4318")]).unwrap_err();
        assert!(e.to_string().contains("otlp_endpoint"), "{e}");
    }

    #[test]
    fn environment_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stockade.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"/tmp/a\"\n",
        )
        .unwrap();
        let file = file.display().to_string();
        let c = load(&[
            ("STOCKADE_CONFIG", &file),
            ("STOCKADE_LISTEN", "127.0.0.1:9100"),
        ])
        .unwrap();
        assert_eq!(c.listen.port(), 9100);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/a"));
    }

    #[test]
    fn bad_values_are_named() {
        let e = load(&[("STOCKADE_IDEMPOTENCY_RETENTION_HOURS", "2")]).unwrap_err();
        assert!(e.to_string().contains("at least 24"));
        let e = load(&[("STOCKADE_LISTEN", "localhost")]).unwrap_err();
        assert!(e.to_string().contains("listen"));
    }
}
