//! NetSuite's own rules, beyond the conformance suite: the fake refuses what NetSuite
//! refuses (a wrong signature, a replayed nonce, a stale timestamp, a SuiteQL call without
//! `Prefer: transient`), the adapter stays within the account's concurrency limit, and a
//! fulfilment of an order NetSuite does not hold is refused in NetSuite's error shape.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use libtest_mimic::Trial;
use reqwest::Url;
use serde_json::{Value, json};
use stockade::adapters::netsuite::NetSuite;
use stockade::adapters::netsuite::auth::authorization;
use stockade::adapters::{AdapterError, ErpAdapter};
use stockade::config::Secret;
use stockade::domain::shipment::{Shipment, ShipmentLine, ShipmentStatus};

use super::conformance::block_on;
use super::netsuite_fake::{ACCOUNT, CONCURRENCY_LIMIT, FakeNetSuite};
use super::{ErpFake, Stock};

pub fn register(trials: &mut Vec<Trial>) {
    macro_rules! once {
        ($($test:ident),* $(,)?) => {$(
            let name = concat!(module_path!(), "::", stringify!($test));
            trials.push(crate::harness::once(name, || block_on($test())));
        )*};
    }
    once!(
        signatures_are_recomputed_and_nonces_spent_once,
        suiteql_wants_prefer_transient_and_pages_like_netsuite,
        the_adapter_stays_within_the_concurrency_limit,
        an_adapter_over_the_limit_backs_off_until_served,
        a_fulfilment_of_an_order_netsuite_lacks_is_refused,
    );
}

/// A signed SuiteQL request, answered as status and JSON.
async fn suiteql(
    fake: &FakeNetSuite,
    realm: &str,
    secret: &str,
    timestamp: i64,
    nonce: &str,
    prefer: bool,
) -> (u16, Value) {
    let url = Url::parse(&format!(
        "{}/services/rest/query/v1/suiteql?limit=5&offset=0",
        fake.url()
    ))
    .unwrap();
    let mut credentials = fake.config().credentials;
    credentials.token_secret = Secret::new(secret);
    let auth = authorization("POST", &url, realm, &credentials, timestamp, nonce);
    let mut request = reqwest::Client::new()
        .post(url)
        .header("authorization", auth);
    if prefer {
        request = request.header("prefer", "transient");
    }
    let q = "SELECT item.id AS id, item.itemid AS sku FROM item WHERE item.itemid IN (?, ?)";
    let body = json!({ "q": q, "params": ["A", "B"] });
    let resp = request.json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn secret(fake: &FakeNetSuite) -> String {
    fake.config().credentials.token_secret.expose().to_owned()
}

fn error_code(body: &Value) -> &str {
    body["o:errorDetails"][0]["o:errorCode"]
        .as_str()
        .unwrap_or_default()
}

async fn signatures_are_recomputed_and_nonces_spent_once() {
    let fake = FakeNetSuite::start().await;
    let good = secret(&fake);
    let (status, _) = suiteql(&fake, ACCOUNT, &good, now(), "nonce-1", true).await;
    assert_eq!(status, 200);

    let (status, body) = suiteql(&fake, ACCOUNT, &good, now(), "nonce-1", true).await;
    assert_eq!(
        (status, error_code(&body)),
        (401, "INVALID_LOGIN"),
        "a replayed nonce"
    );
    let (status, _) = suiteql(&fake, ACCOUNT, "not-the-secret", now(), "nonce-2", true).await;
    assert_eq!(status, 401, "a wrong token secret");
    let (status, _) = suiteql(&fake, "7654321", &good, now(), "nonce-3", true).await;
    assert_eq!(status, 401, "another account's realm");
    let (status, _) = suiteql(&fake, ACCOUNT, &good, now() - 3600, "nonce-4", true).await;
    assert_eq!(status, 401, "a stale timestamp");
    assert_eq!(fake.signatures_refused(), 4);
    let (status, _) = suiteql(&fake, ACCOUNT, &good, now(), "nonce-5", true).await;
    assert_eq!(status, 200);
}

async fn suiteql_wants_prefer_transient_and_pages_like_netsuite() {
    let fake = FakeNetSuite::start().await;
    let good = secret(&fake);
    let (status, body) = suiteql(&fake, ACCOUNT, &good, now(), "n1", false).await;
    assert_eq!((status, error_code(&body)), (400, "INVALID_PARAMETER"));

    let rows = ["A", "B"].map(|sku| Stock {
        sku: sku.into(),
        location: "WH-EAST".into(),
        on_hand: 4,
        committed: 0,
        unavailable: 0,
        incoming: 0,
    });
    fake.seed(&rows);
    let (status, body) = suiteql(&fake, ACCOUNT, &good, now(), "n2", true).await;
    assert_eq!(status, 200);
    assert_eq!(body["hasMore"], false);
    assert_eq!(body["count"], 2);
    // Every value a string, as NetSuite sends them.
    assert!(body["items"][0]["id"].is_string());
}

fn adapter_with(fake: &FakeNetSuite, concurrency: usize) -> Arc<NetSuite> {
    let mut config = fake.config();
    config.concurrency = concurrency;
    Arc::new(NetSuite::new(config))
}

async fn many_orders(fake: &FakeNetSuite, adapter: Arc<NetSuite>, prefix: &str) {
    let skus = ["SKU-0001", "SKU-0002"].map(|sku| Stock {
        sku: sku.into(),
        location: "WH-EAST".into(),
        on_hand: 100,
        committed: 0,
        unavailable: 0,
        incoming: 0,
    });
    fake.seed_stock(&skus);
    let orders = (0..16).map(|i| {
        let adapter = adapter.clone();
        let id = format!("ord_{prefix}{i:04}");
        tokio::spawn(async move {
            let order = super::conformance::order_for_tests(&id);
            adapter.submit_order(&order).await.map(|_| id)
        })
    });
    for done in join_all(orders).await {
        let id = done.unwrap().unwrap();
        assert_eq!(fake.documents_with_ref(super::Doc::SalesOrder, &id), 1);
    }
}

async fn the_adapter_stays_within_the_concurrency_limit() {
    let fake = FakeNetSuite::start().await;
    fake.set_service_time(Duration::from_millis(30));
    many_orders(&fake, adapter_with(&fake, CONCURRENCY_LIMIT), "WITHIN").await;
    assert_eq!(fake.refused_for_concurrency(), 0);
}

async fn an_adapter_over_the_limit_backs_off_until_served() {
    let fake = FakeNetSuite::start().await;
    fake.set_service_time(Duration::from_millis(30));
    many_orders(&fake, adapter_with(&fake, 12), "OVER").await;
    assert!(
        fake.refused_for_concurrency() > 0,
        "the account refused nothing; the test proves nothing"
    );
}

async fn a_fulfilment_of_an_order_netsuite_lacks_is_refused() {
    let fake = FakeNetSuite::start().await;
    let adapter = fake.adapter();
    fake.seed(&[Stock {
        sku: "SKU-0001".into(),
        location: "WH-EAST".into(),
        on_hand: 9,
        committed: 0,
        unavailable: 0,
        incoming: 0,
    }]);
    let mut order = super::conformance::order_for_tests("ord_NOT_IN_NETSUITE");
    let shipment = Shipment {
        id: "shp_NOT_IN_NETSUITE".into(),
        order_id: order.id.clone(),
        reference: "WMS-1".into(),
        status: ShipmentStatus::Shipped,
        carrier: None,
        tracking_number: None,
        tracking_url: None,
        lines: vec![ShipmentLine {
            sku: "SKU-0001".into(),
            quantity: 1,
        }],
        milestones: Vec::new(),
        shipped_at: None,
    };
    // Never submitted: not found by its external id, so nothing is transformed.
    let e = adapter
        .record_shipment(&order, &shipment)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, AdapterError::Permanent(m) if m.contains("not in NetSuite")),
        "{e}"
    );
    // A recorded reference NetSuite no longer holds: its 404 names the missing record.
    order.erp.reference = Some("999999".into());
    let e = adapter
        .record_shipment(&order, &shipment)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, AdapterError::Permanent(m) if m.contains("NONEXISTENT_ID")),
        "{e}"
    );
    assert_eq!(fake.count(super::Doc::Shipment, &shipment.id), 0);
}
