//! The gateway hands the ERP what the warehouse reports: a `shipment.updated` event posted
//! to `POST /v1/events` reaches the ERP (the fake NetSuite, through the real adapter and
//! the outbox dispatcher) as one item fulfilment, whether the event comes again or a later
//! milestone of the same shipment follows; milestones before the goods leave make no call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use stockade::adapters::ErpAdapter;

use super::netsuite_fake::FakeNetSuite;
use super::{Doc, Stock};
use crate::harness::{Backend, TestApp, now, policies_with};

/// Retries within milliseconds, so that the test waits on the ERP, not on backoff.
const FAST_OUTBOX: &str = "[dispatcher]\ntick_ms = 50\nbackoff_base_ms = 20\nbackoff_max_ms = 200\n\
                           breaker_failures = 3\nbreaker_cooldown_ms = 300\n";

/// Waits until every outbox event has been routed and delivered, and none is dead.
async fn drained(app: &TestApp) {
    let started = Instant::now();
    loop {
        let stats = app.state.services.store.outbox_stats().await.unwrap();
        let idle = stats.unrouted == 0 && stats.destinations.iter().all(|d| d.pending == 0);
        let dead: Vec<_> = stats.destinations.iter().filter(|d| d.dead > 0).collect();
        assert!(dead.is_empty(), "dead letters: {dead:?}");
        if idle {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the outbox never drained: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn milestone(id: &str, order_id: &str, status: &str) -> serde_json::Value {
    json!([{"id": id, "type": "shipment.updated", "source": "wms", "occurred_at": now(),
        "data": {"order_id": order_id, "shipment_id": "WMS-1", "status": status}}])
}

/// The in-process gateway with its outbox running, on a fake NetSuite holding 25 CAP-RED
/// at WH-MAIN; the policy directory goes with them.
async fn on_netsuite(b: &Backend) -> (FakeNetSuite, TestApp, tempfile::TempDir) {
    let netsuite = FakeNetSuite::start().await;
    netsuite.seed(&[Stock {
        sku: "CAP-RED".into(),
        location: "WH-MAIN".into(),
        on_hand: 25,
        committed: 0,
        unavailable: 0,
        incoming: 0,
    }]);
    let policies = policies_with(&[("outbox.toml", FAST_OUTBOX)]);
    let erp: Arc<dyn ErpAdapter> = Arc::new(netsuite.adapter());
    let app = TestApp::build(b, policies.path(), Some(erp), |_| {}).await;
    app.state.dispatcher.clone().spawn();
    (netsuite, app, policies)
}

async fn a_shipment_event_reaches_the_erp_once(b: Backend) {
    let (netsuite, app, _policies) = on_netsuite(&b).await;
    let shop = app.as_key("test-shop-key");
    let wms = app.as_key("test-wms-key");
    let order = shop.order("SHIP-ERP-1", &[("CAP-RED", 2)]).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    drained(&app).await;
    assert_eq!(netsuite.count(Doc::SalesOrder, &order_id), 1);

    // Packed is not the ERP's business: acknowledged without a document.
    let packed = wms.events(milestone("pack-1", &order_id, "packed")).await;
    assert_eq!(packed[0]["status"], "applied", "{packed:?}");
    drained(&app).await;
    assert!(netsuite.external_ids(Doc::Shipment).is_empty());

    wms.ship(&order_id, "WMS-1", &[("CAP-RED", 2)]).await;
    drained(&app).await;
    let fulfilments = netsuite.external_ids(Doc::Shipment);
    assert_eq!(fulfilments.len(), 1, "{fulfilments:?}");
    let shipment_id = fulfilments[0]
        .clone()
        .expect("made under Stockade's shipment id");
    assert!(shipment_id.starts_with("shp_"), "{shipment_id}");

    // The same event again is a duplicate; a later milestone finds the fulfilment.
    let again = wms
        .events(
            json!([{"id": "ship-WMS-1", "type": "shipment.updated", "source": "wms",
            "occurred_at": now(), "data": {"order_id": order_id, "shipment_id": "WMS-1",
            "status": "shipped", "carrier": "DHL", "tracking_number": "JJD0001",
            "lines": [{"sku": "CAP-RED", "quantity": 2}]}}]),
        )
        .await;
    assert_eq!(again[0]["status"], "duplicate", "{again:?}");
    let delivered = wms
        .events(milestone("deliver-1", &order_id, "delivered"))
        .await;
    assert_eq!(delivered[0]["status"], "applied", "{delivered:?}");
    drained(&app).await;
    assert_eq!(netsuite.count(Doc::Shipment, &shipment_id), 1);
    assert_eq!(netsuite.external_ids(Doc::Shipment).len(), 1);

    // What NetSuite holds reads back with the warehouse's carrier and tracking.
    let order = app.state.services.store.order(&order_id).await.unwrap();
    let read = netsuite.adapter().shipments(&order.unwrap()).await.unwrap();
    assert_eq!(read.len(), 1, "{read:?}");
    assert_eq!(read[0].id, shipment_id);
    assert_eq!(read[0].carrier.as_deref(), Some("DHL"));
    assert_eq!(read[0].tracking_number.as_deref(), Some("JJD0001"));
    assert_eq!(
        (read[0].lines[0].sku.as_str(), read[0].lines[0].quantity),
        ("CAP-RED", 2)
    );
}

/// The trace an order comes in with goes on through the outbox to every call the ERP
/// receives for it (each with a parent id of its own), and the order's timeline names it.
async fn an_orders_trace_reaches_the_erp_and_the_timeline(b: Backend) {
    const TRACE: &str = "5e1c0a7b3d9f4e2a8b6c4d2e0f1a3b5c";
    let (netsuite, app, _policies) = on_netsuite(&b).await;
    let shop = app.as_key("test-shop-key");
    let incoming = format!("00-{TRACE}-a1b2c3d4e5f60718-01");
    let body =
        serde_json::to_vec(&crate::harness::order_body("TRACE-1", &[("CAP-RED", 1)])).unwrap();
    let headers = [
        ("content-type", "application/json"),
        ("idempotency-key", "trace-1"),
        ("traceparent", incoming.as_str()),
    ];
    let r = shop
        .send(axum::http::Method::POST, "/v1/orders", &headers, Some(body))
        .await;
    assert_eq!(r.status, axum::http::StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.header("traceparent"), Some(incoming.as_str()));
    let order_id = r.json()["id"].as_str().unwrap().to_owned();
    drained(&app).await;

    let calls = netsuite.calls_in_trace(TRACE);
    assert!(
        calls
            .iter()
            .any(|(call, _)| call == "POST /services/rest/record/v1/salesOrder"),
        "the sales order was created outside the order's trace: {calls:?}"
    );
    for (call, parent) in &calls {
        assert_ne!(
            parent, "a1b2c3d4e5f60718",
            "{call} reuses the caller's parent id"
        );
    }
    let parents: std::collections::HashSet<_> = calls.iter().map(|(_, p)| p).collect();
    assert_eq!(
        parents.len(),
        calls.len(),
        "each call has a parent id of its own: {calls:?}"
    );

    let timeline = shop
        .get(&format!("/v1/orders/{order_id}/timeline"))
        .await
        .json();
    let submitted = timeline["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["stage"] == "submitted" && e["outcome"] == "done")
        .cloned()
        .unwrap_or_else(|| panic!("no submission in {timeline}"));
    assert_eq!(submitted["trace_id"], TRACE);
    assert_eq!(submitted["system"], "erp:netsuite");
}

crate::tests! {
    per_backend: [
        a_shipment_event_reaches_the_erp_once,
        an_orders_trace_reaches_the_erp_and_the_timeline,
    ]
}
