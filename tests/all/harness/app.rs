//! The gateway in process, driven through its router.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{Value, json};
use stockade::api::{self, AppState};
use stockade::config::Config;
use stockade::startup;
use tempfile::TempDir;
use tower::ServiceExt;

use super::{Backend, Isolated, binary};

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
    /// Where its data lives; dropped (schema and all) with the last clone.
    pub isolated: Arc<Isolated>,
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
    pub async fn new(backend: &Backend) -> Self {
        let mut app = Self::with_policies(backend, &policies_dir()).await;
        app.auth = Some(format!("Bearer {DEMO_KEY}"));
        app
    }

    /// Any policy directory, with the demo catalog, and no credentials until `as_key`.
    pub async fn with_policies(backend: &Backend, policies: &Path) -> Self {
        Self::build(backend, policies, None, |_| {}).await
    }

    /// The general builder: an ERP adapter of the test's own, and a last word on the
    /// configuration.
    pub async fn build(
        backend: &Backend,
        policies: &Path,
        erp: Option<Arc<dyn stockade::adapters::ErpAdapter>>,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let isolated = backend.isolate();
        let mut config = Config {
            data_dir: dir.path().to_owned(),
            policies: policies.to_owned(),
            ..Config::default()
        };
        isolated.configure(&mut config);
        tweak(&mut config);
        let state = startup::build_with_erp(&config, erp).await.unwrap();
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
            isolated: Arc::new(isolated),
        }
    }

    /// The governance test policies (`tests/fixtures/policies`).
    pub async fn governed(backend: &Backend) -> Self {
        Self::with_policies(backend, &fixture_policies()).await
    }

    /// Runs SQL directly against the app's database, behind the gateway's back (to play
    /// an attacker or a broken tool).
    pub async fn raw_sql(&self, sql: &str) -> Result<(), String> {
        use sqlx::{Connection, Executor};
        match &self.isolated.database_url {
            Some(url) => {
                let mut db = sqlx::PgConnection::connect(url)
                    .await
                    .map_err(|e| e.to_string())?;
                db.execute(sql).await.map(|_| ()).map_err(|e| e.to_string())
            }
            None => {
                let url = format!("sqlite://{}", self.dir.path().join("stockade.db").display());
                let mut db = sqlx::SqliteConnection::connect(&url)
                    .await
                    .map_err(|e| e.to_string())?;
                db.execute(sql).await.map(|_| ()).map_err(|e| e.to_string())
            }
        }
    }

    /// One text column of a query run straight against the app's database.
    pub async fn query_column(&self, sql: &str) -> Vec<String> {
        use sqlx::Connection;
        match &self.isolated.database_url {
            Some(url) => {
                let mut db = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query_scalar(sql).fetch_all(&mut db).await.unwrap()
            }
            None => {
                let url = format!("sqlite://{}", self.dir.path().join("stockade.db").display());
                let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query_scalar(sql).fetch_all(&mut db).await.unwrap()
            }
        }
    }

    /// Environment for a `stockade` command run against this app's data.
    pub fn command(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = binary();
        cmd.args(args)
            .env("STOCKADE_DATA_DIR", self.dir.path())
            .env(
                "STOCKADE_POLICIES",
                self.state.services.policies.dir.clone(),
            );
        for (k, v) in self.isolated.env() {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
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
        ats_in(&a, location)
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

/// One location's ATS in an availability answer.
pub fn ats_in(availability: &Value, location: &str) -> i64 {
    availability["locations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["location"] == location)
        .unwrap_or_else(|| panic!("no {location} in {availability}"))["available_to_sell"]
        .as_i64()
        .unwrap()
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
