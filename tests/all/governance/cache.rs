//! The availability cache: answers say where they came from, and a change made through
//! this instance shows in the very next read.

use std::time::Duration;

use serde_json::json;

use crate::harness::Backend;
use crate::harness::{TestApp, now, order_body, policies_with};

async fn the_next_read_after_a_change_is_fresh(b: Backend) {
    let app = TestApp::governed(&b).await;
    let shop = app.as_key("test-shop-key");
    let read = || async { shop.get("/v1/availability/TEE-BLK-M").await.json() };
    let first = read().await;
    assert_eq!(first["source"], "live");
    let second = read().await;
    assert_eq!(second["source"], "cache");
    assert_eq!(second["available_to_sell"], first["available_to_sell"]);

    shop.post(
        "/v1/orders",
        &order_body("C-1", &[("TEE-BLK-M", 3)]),
        Some("c1"),
    )
    .await;
    let after_order = read().await;
    assert_eq!(after_order["source"], "live");
    assert_eq!(
        after_order["available_to_sell"].as_i64().unwrap(),
        first["available_to_sell"].as_i64().unwrap() - 3
    );

    let adjust = json!({"events": [{"id": "a1", "type": "stock.adjusted", "source": "wms", "occurred_at": now(),
        "data": {"sku": "TEE-BLK-M", "location": "WH-MAIN", "delta": 5, "bucket": "on_hand", "reason": "found"}}]});
    app.as_key("test-wms-key")
        .post("/v1/events", &adjust, None)
        .await;
    let after_event = read().await;
    assert_eq!(
        after_event["available_to_sell"].as_i64().unwrap(),
        after_order["available_to_sell"].as_i64().unwrap() + 5
    );
    // Another SKU's cached answer is untouched by these changes.
    shop.get("/v1/availability/CAP-RED").await;
    assert_eq!(
        shop.get("/v1/availability/CAP-RED").await.json()["source"],
        "cache"
    );
}

async fn answers_are_never_older_than_the_ttl(b: Backend) {
    let routes = std::fs::read_to_string(format!(
        "{}/tests/fixtures/policies/routes.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("cache_ttl_ms = 2000", "cache_ttl_ms = 150");
    let dir = policies_with(&[("routes.toml", &routes)]);
    let app = TestApp::with_policies(&b, dir.path())
        .await
        .as_key("test-shop-key");
    app.get("/v1/availability/TEE-BLK-M").await;
    assert_eq!(
        app.get("/v1/availability/TEE-BLK-M").await.json()["source"],
        "cache"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        app.get("/v1/availability/TEE-BLK-M").await.json()["source"],
        "live"
    );
    // The many-SKU form uses the same cache.
    let many = app
        .get("/v1/availability?sku=TEE-BLK-M&sku=CAP-RED")
        .await
        .json();
    assert_eq!(many["items"][0]["source"], "cache");
    assert_eq!(many["items"][1]["source"], "live");
}

crate::tests! { per_backend: [the_next_read_after_a_change_is_fresh, answers_are_never_older_than_the_ttl] }
