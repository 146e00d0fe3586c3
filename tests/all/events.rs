//! `POST /v1/events`: per-event results, deduplication, and each event type's effect.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::harness::Backend;
use crate::harness::{TestApp, now};

fn counted(id: &str, source: &str, on_hand: i64, sequence: i64) -> Value {
    json!({"id": id, "type": "stock.counted", "source": source, "occurred_at": now(),
        "data": {"sku": "CAP-RED", "location": "WH-MAIN", "on_hand": on_hand, "sequence": sequence}})
}

fn on_hand(v: &Value) -> i64 {
    v["locations"][0]["on_hand"].as_i64().unwrap()
}

async fn an_older_count_never_overwrites_a_newer_one(b: Backend) {
    let app = TestApp::new(&b).await;
    let r = app
        .events(json!([
            counted("c1", "wms", 40, 10),
            counted("c2", "wms", 35, 9)
        ]))
        .await;
    assert_eq!(r[0]["status"], "applied");
    assert_eq!(r[1]["status"], "rejected");
    assert_eq!(r[1]["problem"]["code"], "stale-count");
    assert_eq!(
        on_hand(&app.get("/v1/availability/CAP-RED").await.json()),
        40
    );
    let r = app.events(json!([counted("c3", "wms", 38, 11)])).await;
    assert_eq!(r[0]["status"], "applied");
    assert_eq!(
        on_hand(&app.get("/v1/availability/CAP-RED").await.json()),
        38
    );
}

async fn events_are_deduplicated_by_source_and_id(b: Backend) {
    let app = TestApp::new(&b).await;
    let r = app
        .events(json!([
            counted("same", "wms", 40, 1),
            counted("same", "wms", 41, 2),
            counted("same", "3pl", 42, 1)
        ]))
        .await;
    let statuses: Vec<&str> = r.iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["applied", "duplicate", "applied"]);
    assert_eq!(
        on_hand(&app.get("/v1/availability/CAP-RED").await.json()),
        42
    );
}

async fn one_bad_event_never_rejects_the_others(b: Backend) {
    let app = TestApp::new(&b).await;
    let r = app
        .events(json!([
            {"id": "x1", "type": "stock.teleported", "source": "wms", "occurred_at": now(), "data": {}},
            counted("x2", "wms", 50, 1),
            {"id": "x3", "type": "stock.counted", "source": "wms", "occurred_at": now(),
             "data": {"sku": "NOPE", "location": "WH-MAIN", "on_hand": 1, "sequence": 1}},
            {"id": "x4", "type": "stock.counted", "source": "wms", "occurred_at": now(),
             "data": {"sku": "CAP-RED", "location": "MOON", "on_hand": 1, "sequence": 1}},
            {"garbage": true},
        ]))
        .await;
    let codes: Vec<&str> = r
        .iter()
        .map(|e| e["problem"]["code"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        codes,
        [
            "validation-failed",
            "-",
            "unknown-sku",
            "unknown-location",
            "validation-failed"
        ]
    );
    assert_eq!(r[1]["status"], "applied");
    assert_eq!(
        on_hand(&app.get("/v1/availability/CAP-RED").await.json()),
        50
    );
    // A rejected event left no trace: sent again once fixed, it applies.
    let fixed = json!([{"id": "x4", "type": "stock.counted", "source": "wms", "occurred_at": now(),
        "data": {"sku": "CAP-RED", "location": "3PL-EAST", "on_hand": 1, "sequence": 1}}]);
    assert_eq!(app.events(fixed).await[0]["status"], "applied");
}

async fn adjustments_move_the_named_bucket_and_never_go_negative(b: Backend) {
    let app = TestApp::new(&b).await;
    let adj = |id: &str, delta: i64, bucket: &str| {
        json!({"id": id, "type": "stock.adjusted", "source": "wms", "occurred_at": now(),
            "data": {"sku": "CAP-BLU", "location": "WH-MAIN", "delta": delta, "bucket": bucket, "reason": "cycle"}})
    };
    let r = app
        .events(json!([
            adj("a1", -2, "on_hand"),
            adj("a2", 3, "unavailable"),
            adj("a3", -1000, "on_hand"),
            adj("a4", 1000, "unavailable")
        ]))
        .await;
    let statuses: Vec<&str> = r.iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["applied", "applied", "rejected", "rejected"]);
    assert_eq!(r[2]["problem"]["code"], "negative-stock");
    assert_eq!(r[3]["problem"]["code"], "invalid-unavailable");
    let wh = app.get("/v1/availability/CAP-BLU").await.json()["locations"][0].clone();
    assert_eq!(wh["on_hand"], 20);
    assert_eq!(wh["unavailable"], 3);
    assert_eq!(wh["available_to_sell"], 20 - 3 - 3);
    app.assert_ledger_consistent().await;
}

async fn shipments_move_committed_and_on_hand_and_the_order_status_follows(b: Backend) {
    let app = TestApp::new(&b).await;
    let before = app.get("/v1/availability/NOTEBOOK-A5").await.json()["locations"][0].clone();
    let o = app.order("E1", &[("NOTEBOOK-A5", 3)]).await;
    let id = o["id"].as_str().unwrap();
    app.ship(id, "S-A", &[("NOTEBOOK-A5", 1)]).await;
    assert_eq!(status(&app, id).await, "partially_shipped");
    let wh = app.get("/v1/availability/NOTEBOOK-A5").await.json()["locations"][0].clone();
    assert_eq!(wh["committed"], 2);
    assert_eq!(
        wh["on_hand"].as_i64().unwrap(),
        before["on_hand"].as_i64().unwrap() - 1
    );
    app.ship(id, "S-B", &[("NOTEBOOK-A5", 2)]).await;
    assert_eq!(status(&app, id).await, "shipped");
    // The same shipment reported shipped again moves nothing twice.
    let r = app
        .events(json!([{"id": "again", "type": "shipment.updated", "source": "wms", "occurred_at": now(),
            "data": {"order_id": id, "shipment_id": "S-B", "status": "shipped", "lines": [{"sku": "NOTEBOOK-A5", "quantity": 2}]}}]))
        .await;
    assert_eq!(r[0]["status"], "applied");
    let delivered = |s: &str, e: &str| {
        json!({"id": e, "type": "shipment.updated", "source": "carrier", "occurred_at": now(),
            "data": {"order_id": id, "shipment_id": s, "status": "delivered"}})
    };
    app.events(json!([delivered("S-A", "d1")])).await;
    assert_eq!(
        status(&app, id).await,
        "shipped",
        "one of two shipments delivered"
    );
    app.events(json!([delivered("S-B", "d2")])).await;
    assert_eq!(status(&app, id).await, "delivered");
    let wh = app.get("/v1/availability/NOTEBOOK-A5").await.json()["locations"][0].clone();
    assert_eq!(wh["committed"], 0);
    assert_eq!(
        wh["on_hand"].as_i64().unwrap(),
        before["on_hand"].as_i64().unwrap() - 3
    );
    // Shipping more than the order holds is refused.
    let r = app
        .events(json!([{"id": "over", "type": "shipment.updated", "source": "wms", "occurred_at": now(),
            "data": {"order_id": id, "shipment_id": "S-C", "status": "shipped", "lines": [{"sku": "NOTEBOOK-A5", "quantity": 1}]}}]))
        .await;
    assert_eq!(r[0]["problem"]["code"], "exceeds-order");
    app.assert_ledger_consistent().await;
}

async fn a_batch_over_500_events_is_refused_whole(b: Backend) {
    let app = TestApp::new(&b).await;
    let events: Vec<Value> = (0..501)
        .map(|i| counted(&format!("b{i}"), "wms", 1, i))
        .collect();
    let r = app
        .post("/v1/events", &json!({"events": events}), None)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.code(), "too-many-items");
}

async fn status(app: &TestApp, id: &str) -> String {
    app.get(&format!("/v1/orders/{id}")).await.json()["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

crate::tests! { per_backend: [an_older_count_never_overwrites_a_newer_one, events_are_deduplicated_by_source_and_id, one_bad_event_never_rejects_the_others, adjustments_move_the_named_bucket_and_never_go_negative, shipments_move_committed_and_on_hand_and_the_order_status_follows, a_batch_over_500_events_is_refused_whole] }
