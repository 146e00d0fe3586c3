//! Real gateway processes on random ports, and the command line.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use super::Backend;
use super::{DEMO_KEY, Isolated, policies_dir};

/// A real `stockade` process on a random port with its own data directory.
pub struct Server {
    pub base: String,
    child: Child,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stockade"));
    cmd.env("STOCKADE_POLICIES", policies_dir())
        .env("RUST_LOG", "warn")
        .env_remove("STOCKADE_CONFIG");
    cmd
}

/// A deployment for real processes: a data directory and an isolated backend, shared
/// by every server and command started from it.
pub struct Site {
    pub dir: TempDir,
    pub data: PathBuf,
    pub policies: PathBuf,
    pub isolated: Isolated,
    /// Overrides the backend's Redis URL (to route it through a fault proxy).
    pub redis_url: Option<String>,
    /// NATS, with the site's own subject and stream prefix.
    pub nats_url: Option<String>,
}

impl Site {
    /// The demo policies.
    pub fn new(backend: &Backend) -> Self {
        Self::with_policies(backend, &policies_dir())
    }

    pub fn with_policies(backend: &Backend, policies: &std::path::Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        Self {
            dir,
            data,
            policies: policies.to_owned(),
            isolated: backend.isolate(),
            redis_url: None,
            nats_url: None,
        }
    }

    /// `stockade` with this site's data directory, policies and backend.
    pub fn command(&self) -> Command {
        let mut cmd = binary();
        cmd.env("STOCKADE_DATA_DIR", &self.data)
            .env("STOCKADE_POLICIES", &self.policies);
        for (k, v) in self.isolated.env() {
            cmd.env(k, v);
        }
        if let Some(url) = &self.redis_url {
            cmd.env("STOCKADE_REDIS_URL", url);
        }
        if let Some(url) = &self.nats_url {
            cmd.env("STOCKADE_NATS_URL", url)
                .env("STOCKADE_NATS_PREFIX", &self.isolated.prefix);
        }
        cmd
    }

    /// One text column of a query run straight against the site's database.
    pub async fn query_column(&self, sql: &str) -> Vec<String> {
        use sqlx::Connection;
        match &self.isolated.database_url {
            Some(url) => {
                let mut db = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query_scalar(sql).fetch_all(&mut db).await.unwrap()
            }
            None => {
                let url = format!("sqlite://{}", self.data.join("stockade.db").display());
                let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query_scalar(sql).fetch_all(&mut db).await.unwrap()
            }
        }
    }

    /// Runs `stockade import stock` on CSV text.
    pub fn import_stock(&self, csv: &str) -> std::process::Output {
        let file = self
            .dir
            .path()
            .join(format!("import-{}.csv", ulid::Ulid::new()));
        std::fs::write(&file, csv).unwrap();
        self.command()
            .args(["import", "stock"])
            .arg(&file)
            .output()
            .unwrap()
    }

    /// `stockade ledger verify` succeeds: positions equal the fold of the movements.
    pub fn assert_ledger_verifies(&self) {
        let out = self.command().args(["ledger", "verify"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub async fn start(&self) -> Server {
        Server::start(self.command()).await
    }
}

impl Server {
    pub async fn start(mut cmd: Command) -> Self {
        let port = free_port();
        let child = cmd
            .env("STOCKADE_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let server = Self {
            base: format!("http://127.0.0.1:{port}"),
            child,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the gateway did not become ready at {}", self.base);
    }

    /// SIGTERM, as an orchestrator stops a gateway, and the exit status once it has shut
    /// down (in-flight answers finished, queued spans flushed).
    pub async fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let signalled = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(signalled.success(), "kill -TERM {pid} failed");
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the gateway at {} did not stop within 15 s of SIGTERM",
            self.base
        );
    }

    /// SIGKILL: no shutdown hook, no flush, like a power cut for the process.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that speaks as the demo storefront.
pub fn http() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {DEMO_KEY}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(256)
        .build()
        .unwrap()
}

/// A client speaking with an API key.
pub fn http_as(key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {key}").parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(256)
        .build()
        .unwrap()
}

/// GET a URL and parse its JSON.
pub async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}
