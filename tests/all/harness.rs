//! Test builders: an in-process app on a fresh data directory, and a real gateway process
//! on a random port.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{Value, json};
use stockade::api::{self, AppState};
use stockade::config::Config;
use stockade::startup;
use tempfile::TempDir;
use tower::ServiceExt;

pub const DEMO_KEY: &str = "stockade-demo-key";

pub fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
}

pub fn fixture_policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policies")
}

/// A copy of the governance test policies with some files replaced.
pub fn policies_with(replaced: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(fixture_policies()).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dir.path().join(f.file_name())).unwrap();
    }
    for (name, text) in replaced {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// The gateway in process, seeded with the demo catalog, on its own data directory.
/// Requests carry `auth` as their `Authorization` header.
#[derive(Clone)]
pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub dir: Arc<TempDir>,
    pub auth: Option<String>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The problem `code` of an error answer.
    pub fn code(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{:?}",
            self.body
        );
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}

impl TestApp {
    /// The demo policies, calling with the demo key.
    pub async fn new() -> Self {
        let mut app = Self::with_policies(&policies_dir()).await;
        app.auth = Some(format!("Bearer {DEMO_KEY}"));
        app
    }

    /// Any policy directory, with the demo catalog, and no credentials until `as_key`.
    pub async fn with_policies(policies: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_owned(),
            policies: policies.to_owned(),
            ..Config::default()
        };
        let state = startup::build(&config).await.unwrap();
        if state.services.store.catalog_is_empty().await.unwrap() {
            stockade::seed::demo_catalog(state.services.store.as_ref())
                .await
                .unwrap();
        }
        Self {
            router: api::app(state.clone()),
            state,
            dir: Arc::new(dir),
            auth: None,
        }
    }

    /// The governance test policies (`tests/fixtures/policies`).
    pub async fn governed() -> Self {
        Self::with_policies(&fixture_policies()).await
    }

    /// The same app, calling with an API key.
    pub fn as_key(&self, key: &str) -> Self {
        self.with_auth(Some(format!("Bearer {key}")))
    }

    pub fn with_auth(&self, auth: Option<String>) -> Self {
        Self {
            auth,
            ..self.clone()
        }
    }

    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(auth) = &self.auth {
            req = req.header("authorization", auth);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(body.map_or_else(Body::empty, Body::from)).unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.send(Method::GET, uri, &[], None).await
    }

    pub async fn post(&self, uri: &str, body: &Value, key: Option<&str>) -> Reply {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(k) = key {
            headers.push(("idempotency-key", k));
        }
        self.send(
            Method::POST,
            uri,
            &headers,
            Some(serde_json::to_vec(body).unwrap()),
        )
        .await
    }

    /// Accepts an order and returns its JSON, failing the test otherwise.
    pub async fn order(&self, external_id: &str, lines: &[(&str, i64)]) -> Value {
        let r = self
            .post(
                "/v1/orders",
                &order_body(external_id, lines),
                Some(&format!("key-{external_id}")),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
        r.json()
    }

    pub async fn events(&self, events: Value) -> Vec<Value> {
        let r = self
            .post("/v1/events", &json!({"events": events}), None)
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
        r.json()["results"].as_array().unwrap().clone()
    }

    /// Ships units of an order through a `shipment.updated` event.
    pub async fn ship(&self, order_id: &str, shipment: &str, lines: &[(&str, i64)]) {
        let lines: Vec<Value> = lines
            .iter()
            .map(|(s, q)| json!({"sku": s, "quantity": q}))
            .collect();
        let r = self
            .events(json!([{"id": format!("ship-{shipment}"), "type": "shipment.updated", "source": "wms",
                "occurred_at": now(), "data": {"order_id": order_id, "shipment_id": shipment, "status": "shipped",
                "carrier": "DHL", "tracking_number": "JJD0001", "lines": lines}}]))
            .await;
        assert_eq!(r[0]["status"], "applied", "{r:?}");
    }

    /// ATS of a SKU for the web channel at one location.
    pub async fn ats_at(&self, sku: &str, location: &str) -> i64 {
        let a = self.get(&format!("/v1/availability/{sku}")).await.json();
        a["locations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["location"] == location)
            .unwrap()["available_to_sell"]
            .as_i64()
            .unwrap()
    }

    pub async fn ats(&self, sku: &str) -> i64 {
        self.get(&format!("/v1/availability/{sku}")).await.json()["available_to_sell"]
            .as_i64()
            .unwrap()
    }

    /// Positions and the fold of the movement ledger agree.
    pub async fn assert_ledger_consistent(&self) {
        assert_fold_equals_positions(self.state.services.store.as_ref()).await;
    }
}

pub async fn assert_fold_equals_positions(store: &dyn stockade::store::Store) {
    let key = |r: &stockade::store::PositionRow| (r.sku.clone(), r.location.clone(), r.position);
    let fold: Vec<_> = store.ledger_fold().await.unwrap().iter().map(key).collect();
    let positions: Vec<_> = store
        .all_positions()
        .await
        .unwrap()
        .iter()
        .map(key)
        .collect();
    assert!(!fold.is_empty());
    assert_eq!(
        fold, positions,
        "positions differ from the fold of the ledger"
    );
}

pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

pub fn order_body(external_id: &str, lines: &[(&str, i64)]) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(s, q)| json!({"sku": s, "quantity": q, "unit_price": "10.00"}))
        .collect();
    json!({"channel": "web", "external_id": external_id, "currency": "EUR",
        "customer": {"name": "Test Buyer", "email": "buyer@example.com"}, "lines": lines,
        "shipping_address": {"name": "Test Buyer", "line1": "1 Test Street", "city": "Testville",
            "postal_code": "12345", "country": "DE"}})
}

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

impl Server {
    pub async fn start(data_dir: &Path) -> Self {
        let port = free_port();
        let child = binary()
            .env("STOCKADE_LISTEN", format!("127.0.0.1:{port}"))
            .env("STOCKADE_DATA_DIR", data_dir)
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
    let mut headers = HeaderMap::new();
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

/// Runs `stockade import stock` on CSV text against a data directory.
pub fn import_stock(data: &Path, csv: &str) -> std::process::Output {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), csv).unwrap();
    binary()
        .args(["import", "stock"])
        .arg(file.path())
        .env("STOCKADE_DATA_DIR", data)
        .output()
        .unwrap()
}

/// `stockade ledger verify` succeeds: positions equal the fold of the movements.
pub fn assert_ledger_verifies(data: &Path) {
    let out = binary()
        .args(["ledger", "verify"])
        .env("STOCKADE_DATA_DIR", data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// GET a URL and parse its JSON.
pub async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}
