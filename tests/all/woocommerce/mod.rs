//! The WooCommerce connector end to end: a real gateway process and fake stores on
//! loopback, talking over real sockets. Orders go in by signed webhook and by poll; stock,
//! tracking, refunds and notes come back out through the outbox.

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::harness::{
    Backend, FakeWoo, Server, Site, WooAuth, WooConfig, get_json, http_as, now, policies_with,
};

mod inbound;
mod outbound;

pub fn register(trials: &mut Vec<libtest_mimic::Trial>, backends: &[Backend]) {
    inbound::register(trials, backends);
    outbound::register(trials, backends);
}

pub const SHOP: &str = "test-shop-key";
pub const MARKET: &str = "test-market-key";
pub const WMS: &str = "test-wms-key";
pub const OPS: &str = "test-ops-key";

/// A store the gateway connects to: its fake, and what stores.toml says about it.
pub struct StoreSpec {
    pub name: &'static str,
    pub channel: &'static str,
    pub fake_auth: WooAuth,
    /// `auth = …` in stores.toml; `None` leaves the default (OAuth 1.0a over http://).
    pub auth: Option<&'static str>,
    pub poll_seconds: u64,
    pub unmappable: &'static str,
    pub uncoverable: &'static str,
}

impl StoreSpec {
    /// Store `shop` on channel `web`, webhooks only (the poll is an hour away).
    pub fn shop() -> Self {
        Self {
            name: "shop",
            channel: "web",
            fake_auth: WooAuth::Either,
            auth: None,
            poll_seconds: 3600,
            unmappable: "exception",
            uncoverable: "backorder",
        }
    }
}

pub struct Rig {
    pub stores: Vec<(&'static str, FakeWoo)>,
    pub site: Site,
    pub server: Server,
    _policies: TempDir,
}

/// Fake stores with their catalogs, Stockade's stock (`sku,location,on_hand,safety_stock`
/// rows after the header), and a gateway process connected to them, webhooks pointed at it.
pub async fn rig(
    b: &Backend,
    specs: Vec<StoreSpec>,
    catalog: impl FnOnce(&[(&'static str, FakeWoo)]),
    stock_csv: &str,
) -> Rig {
    let mut stores = Vec::new();
    let mut files: Vec<(String, String)> = Vec::new();
    let mut toml = String::new();
    for spec in &specs {
        let config = WooConfig {
            auth: spec.fake_auth,
            webhook_secret: format!("whsec-{}-{}", spec.name, ulid::Ulid::new()),
            ..WooConfig::default()
        };
        let woo = FakeWoo::start(config.clone()).await;
        let n = spec.name;
        toml.push_str(&format!(
            "[[store]]\nname = \"{n}\"\nchannel = \"{}\"\nbase_url = \"{}\"\n\
             consumer_key_file = \"{n}.key\"\nconsumer_secret_file = \"{n}.secret\"\n\
             webhook_secret_file = \"{n}.webhook\"\npoll_interval_seconds = {}\n\
             unmappable_lines = \"{}\"\nuncoverable_orders = \"{}\"\ntimeout_ms = 3000\nmax_attempts = 6\n{}\n",
            spec.channel,
            woo.base_url(),
            spec.poll_seconds,
            spec.unmappable,
            spec.uncoverable,
            spec.auth.map(|a| format!("auth = \"{a}\"\n")).unwrap_or_default(),
        ));
        files.push((format!("{n}.key"), config.consumer_key.clone()));
        files.push((format!("{n}.secret"), config.consumer_secret.clone()));
        files.push((format!("{n}.webhook"), config.webhook_secret.clone()));
        stores.push((n, woo));
    }
    catalog(&stores);
    let outbox = "[dispatcher]\ntick_ms = 50\nbackoff_base_ms = 50\nbackoff_max_ms = 400\n\
                  breaker_failures = 8\nbreaker_cooldown_ms = 200\nlease_seconds = 5\n";
    let mut replaced: Vec<(&str, &str)> = vec![("stores.toml", &toml), ("outbox.toml", outbox)];
    replaced.extend(files.iter().map(|(f, t)| (f.as_str(), t.as_str())));
    let policies = policies_with(&replaced);
    let site = Site::with_policies(b, policies.path());
    let out = site.import_stock(&format!("sku,location,on_hand,safety_stock\n{stock_csv}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = site.start().await;
    for (name, woo) in &stores {
        woo.deliver_to(&format!("{}/v1/webhooks/woocommerce/{name}", server.base));
    }
    Rig {
        stores,
        site,
        server,
        _policies: policies,
    }
}

impl Rig {
    pub fn woo(&self, name: &str) -> &FakeWoo {
        &self.stores.iter().find(|(n, _)| *n == name).unwrap().1
    }

    /// The only store.
    pub fn shop(&self) -> &FakeWoo {
        &self.stores[0].1
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base)
    }

    /// Stockade's orders with this external id, as a client of `key`'s channels sees them.
    pub async fn orders(&self, key: &str, external_id: u64) -> Vec<Value> {
        let page = get_json(
            &http_as(key),
            &self.url(&format!("/v1/orders?external_id={external_id}")),
        )
        .await;
        page["items"].as_array().cloned().unwrap_or_default()
    }

    /// The Stockade order a store order became, once it exists.
    pub async fn order_of(&self, key: &str, woo_order: u64) -> Value {
        eventually(&format!("store order {woo_order} in Stockade"), || async {
            self.orders(key, woo_order).await.into_iter().next()
        })
        .await
    }

    pub async fn ats(&self, sku: &str) -> i64 {
        let a = get_json(
            &http_as(SHOP),
            &self.url(&format!("/v1/availability/{sku}")),
        )
        .await;
        a["available_to_sell"].as_i64().unwrap()
    }

    /// Waits until the store shows `expected` for the SKU.
    pub async fn store_shows(&self, woo: &FakeWoo, sku: &str, expected: i64) {
        eventually(&format!("{sku} at {expected} in the store"), || async {
            (woo.stock_of(sku) == Some(expected)).then_some(())
        })
        .await;
    }

    /// Posts canonical events as the warehouse.
    pub async fn events(&self, events: Value) -> Vec<Value> {
        let r = http_as(WMS)
            .post(self.url("/v1/events"))
            .json(&json!({"events": events}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let results = r.json::<Value>().await.unwrap()["results"].clone();
        for result in results.as_array().unwrap() {
            assert_eq!(result["status"], "applied", "{result}");
        }
        results.as_array().unwrap().clone()
    }

    pub async fn adjust(&self, sku: &str, delta: i64) {
        let id = format!("adj-{}", ulid::Ulid::new());
        self.events(json!([{"id": id, "type": "stock.adjusted", "source": "wms", "occurred_at": now(),
            "data": {"sku": sku, "location": "WH-MAIN", "delta": delta, "bucket": "on_hand", "reason": "count"}}]))
            .await;
    }

    /// The store's exceptions, through the admin API.
    pub async fn exceptions(&self, store: &str) -> Vec<Value> {
        let page = get_json(
            &http_as(OPS),
            &self.url(&format!("/v1/admin/woocommerce/exceptions?store={store}")),
        )
        .await;
        page["items"].as_array().cloned().unwrap_or_default()
    }

    /// Rows of one text column, straight from the gateway's database.
    pub async fn column(&self, sql: &str) -> Vec<String> {
        self.site.query_column(sql).await
    }

    /// Waits until the store's destination has nothing pending in the outbox.
    pub async fn outbox_drained(&self, store: &str) {
        let destination = format!("woocommerce:{store}");
        eventually("the store's outbox to drain", || async {
            let report = get_json(&http_as(OPS), &self.url("/v1/admin/outbox")).await;
            let pending = report["destinations"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["destination"] == destination.as_str())
                .map_or(0, |d| d["pending"].as_u64().unwrap_or(0));
            (pending == 0 && report["unrouted"] == 0).then_some(())
        })
        .await;
    }
}

/// Polls `check` until it yields a value, for up to 20 seconds.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "waited 20 s for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Lets the store's webhooks and the gateway settle before checking that nothing happened.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(800)).await;
}
