//! `POST /v1/returns` and `GET /v1/returns/{id}`: the return rules, each named.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::harness::Backend;
use crate::harness::TestApp;

fn rma(order_id: &str, lines: &[(&str, i64)]) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(s, q)| json!({"sku": s, "quantity": q, "reason": "too small"}))
        .collect();
    json!({"order_id": order_id, "lines": lines})
}

/// An order of 3 × TEE-BLK-L and 1 × CAP-RED with the tees shipped.
async fn shipped_order(app: &TestApp, name: &str) -> String {
    let o = app.order(name, &[("TEE-BLK-L", 3), ("CAP-RED", 1)]).await;
    let id = o["id"].as_str().unwrap().to_owned();
    app.ship(&id, &format!("S-{name}"), &[("TEE-BLK-L", 3)])
        .await;
    id
}

async fn shipped_units_are_authorized(b: Backend) {
    let app = TestApp::new(&b).await;
    let id = shipped_order(&app, "R1").await;
    let r = app
        .post("/v1/returns", &rma(&id, &[("TEE-BLK-L", 2)]), Some("rma-1"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let v = r.json();
    assert!(v["id"].as_str().unwrap().starts_with("rma_"));
    assert_eq!(v["status"], "authorized");
    assert_eq!(v["order_id"], id);
    let got = app
        .get(&format!("/v1/returns/{}", v["id"].as_str().unwrap()))
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json()["lines"][0]["quantity"], 2);
}

async fn each_rule_failure_is_a_422_naming_its_rule(b: Backend) {
    let app = TestApp::new(&b).await;
    let id = shipped_order(&app, "R2").await;
    let cases = [
        (rma(&id, &[("MUG-LOGO", 1)]), "return-not-in-order"),
        (rma(&id, &[("CAP-RED", 1)]), "return-not-shipped"),
        (rma(&id, &[("TEE-BLK-L", 4)]), "return-exceeds-shipped"),
    ];
    for (i, (body, code)) in cases.into_iter().enumerate() {
        let r = app
            .post("/v1/returns", &body, Some(&format!("rule-{i}")))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.code(), code);
    }
    // Two units authorized leave one returnable.
    assert_eq!(
        app.post("/v1/returns", &rma(&id, &[("TEE-BLK-L", 2)]), Some("ok"))
            .await
            .status,
        StatusCode::CREATED
    );
    let r = app
        .post(
            "/v1/returns",
            &rma(&id, &[("TEE-BLK-L", 2)]),
            Some("too-many"),
        )
        .await;
    assert_eq!(r.code(), "return-exceeds-shipped");
    assert_eq!(r.json()["returnable"], 1);
}

async fn the_window_counts_from_the_shipment_date(b: Backend) {
    let app = TestApp::new(&b).await;
    let o = app.order("R3", &[("TEE-BLK-L", 1)]).await;
    let id = o["id"].as_str().unwrap();
    let long_ago = (time::OffsetDateTime::now_utc() - time::Duration::days(31))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    app.events(json!([{"id": "old-ship", "type": "shipment.updated", "source": "wms", "occurred_at": long_ago,
        "data": {"order_id": id, "shipment_id": "S-R3", "status": "shipped", "lines": [{"sku": "TEE-BLK-L", "quantity": 1}]}}]))
        .await;
    let r = app
        .post("/v1/returns", &rma(id, &[("TEE-BLK-L", 1)]), Some("late"))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.code(), "return-window-closed");
    assert!(r.json()["closed_at"].is_string());
}

async fn idempotency_and_unknown_orders(b: Backend) {
    let app = TestApp::new(&b).await;
    let id = shipped_order(&app, "R4").await;
    let body = rma(&id, &[("TEE-BLK-L", 1)]);
    let a = app.post("/v1/returns", &body, Some("same")).await;
    let b = app.post("/v1/returns", &body, Some("same")).await;
    assert_eq!(a.body, b.body);
    assert_eq!(b.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        app.post("/v1/returns", &body, None).await.code(),
        "idempotency-key-missing"
    );
    let r = app
        .post(
            "/v1/returns",
            &rma("ord_01JEZ8Q4W3M2T6V8X9Y0Z1A2B3", &[("TEE-BLK-L", 1)]),
            Some("ghost"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.code(), "unknown-order");
    assert_eq!(
        app.get("/v1/returns/rma_01JEZ9A7C5D3E1F0G9H8J7K6L5")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn received_goods_restock_or_book_damage_and_trigger_the_refund(b: Backend) {
    let app = TestApp::new(&b).await;
    app.state.dispatcher.clone().spawn();
    let id = shipped_order(&app, "R5").await;
    let v = app
        .post("/v1/returns", &rma(&id, &[("TEE-BLK-L", 3)]), Some("r5"))
        .await
        .json();
    let rma_id = v["id"].as_str().unwrap();
    let before = app.get("/v1/availability/TEE-BLK-L").await.json()["locations"][0].clone();
    let results = app
        .events(json!([{"id": "rcv-1", "type": "return.received", "source": "wms", "occurred_at": crate::harness::now(),
            "data": {"rma_id": rma_id, "lines": [{"sku": "TEE-BLK-L", "quantity": 2, "condition": "resellable"},
                                                   {"sku": "TEE-BLK-L", "quantity": 1, "condition": "damaged"}]}}]))
        .await;
    assert_eq!(results[0]["status"], "applied", "{results:?}");
    let after = app.get("/v1/availability/TEE-BLK-L").await.json()["locations"][0].clone();
    assert_eq!(
        after["on_hand"].as_i64().unwrap() - before["on_hand"].as_i64().unwrap(),
        3
    );
    assert_eq!(
        after["unavailable"].as_i64().unwrap() - before["unavailable"].as_i64().unwrap(),
        1
    );
    assert_eq!(
        after["available_to_sell"].as_i64().unwrap()
            - before["available_to_sell"].as_i64().unwrap(),
        2
    );
    let mut got = app.get(&format!("/v1/returns/{rma_id}")).await.json();
    for _ in 0..100 {
        if got["status"] == "refunded" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        got = app.get(&format!("/v1/returns/{rma_id}")).await.json();
    }
    assert_eq!(got["status"], "refunded");
    assert_eq!(got["lines"][0]["received_resellable"], 2);
    assert_eq!(got["lines"][0]["received_damaged"], 1);
    assert!(got["refund_reference"].is_string());
    app.assert_ledger_consistent().await;
}

crate::tests! { per_backend: [shipped_units_are_authorized, each_rule_failure_is_a_422_naming_its_rule, the_window_counts_from_the_shipment_date, idempotency_and_unknown_orders, received_goods_restock_or_book_damage_and_trigger_the_refund] }
