//! `/v1/orders`: acceptance, allocation, idempotency, lookup, cancel, shipments.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::harness::Backend;
use crate::harness::{TestApp, order_body};

async fn accepted_orders_reserve_and_answer_201_with_allocations(b: Backend) {
    let app = TestApp::new(&b).await;
    let before = app.ats_at("TEE-BLK-M", "WH-MAIN").await;
    let r = app
        .post(
            "/v1/orders",
            &order_body("WC-1", &[("TEE-BLK-M", 2), ("CAP-RED", 1)]),
            Some("k-1"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let o = r.json();
    assert!(o["id"].as_str().unwrap().starts_with("ord_"));
    assert_eq!(
        r.header("location").unwrap(),
        format!("/v1/orders/{}", o["id"].as_str().unwrap())
    );
    assert_eq!(o["status"], "accepted");
    assert_eq!(o["external_id"], "WC-1");
    assert_eq!(
        o["lines"][0]["allocations"],
        json!([{"location": "WH-MAIN", "quantity": 2}])
    );
    assert_eq!(
        o["erp"],
        json!({"system": "embedded", "reference": null, "state": "pending"})
    );
    assert_eq!(app.ats_at("TEE-BLK-M", "WH-MAIN").await, before - 2);
    app.assert_ledger_consistent().await;
}

async fn a_location_that_fills_the_whole_order_wins_over_a_split(b: Backend) {
    let app = TestApp::new(&b).await;
    // TEE-WHT-L has nothing at WH-MAIN and 4 at 3PL-EAST; TEE-WHT-S has stock at both.
    let o = app
        .order("WC-2", &[("TEE-WHT-L", 2), ("TEE-WHT-S", 1)])
        .await;
    assert_eq!(
        o["lines"][0]["allocations"],
        json!([{"location": "3PL-EAST", "quantity": 2}])
    );
    assert_eq!(
        o["lines"][1]["allocations"],
        json!([{"location": "3PL-EAST", "quantity": 1}])
    );
}

async fn a_line_no_single_location_can_fill_is_split_by_priority(b: Backend) {
    let app = TestApp::new(&b).await;
    // TEE-BLK-M: 12 sellable at WH-MAIN (14 less 2 safety), 6 at 3PL-EAST.
    let o = app.order("WC-3", &[("TEE-BLK-M", 15)]).await;
    assert_eq!(
        o["lines"][0]["allocations"],
        json!([{"location": "WH-MAIN", "quantity": 12}, {"location": "3PL-EAST", "quantity": 3}])
    );
}

async fn shortages_are_409_and_reserve_nothing(b: Backend) {
    let app = TestApp::new(&b).await;
    let before = app.ats("TEE-BLK-M").await;
    let r = app
        .post(
            "/v1/orders",
            &order_body("WC-4", &[("CAP-RED", 1), ("TEE-BLK-M", 99)]),
            Some("k-4"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "insufficient-stock");
    assert_eq!(
        r.json()["shortages"],
        json!([{"sku": "TEE-BLK-M", "requested": 99, "available": before}])
    );
    assert_eq!(app.ats("TEE-BLK-M").await, before);
    let cap = app.get("/v1/availability/CAP-RED").await.json();
    assert_eq!(
        cap["locations"][0]["committed"], 0,
        "the coverable line was not reserved either"
    );
    // The key was not spent on a failure: the same key may try again.
    let r = app
        .post(
            "/v1/orders",
            &order_body("WC-4", &[("CAP-RED", 1)]),
            Some("k-4"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

async fn backorderable_skus_accept_more_than_is_in_stock(b: Backend) {
    let app = TestApp::new(&b).await;
    // MUG-STRIPE is backorderable with nothing online.
    let o = app.order("WC-5", &[("MUG-STRIPE", 4)]).await;
    assert_eq!(o["lines"][0]["allocations"], json!([]));
    assert_eq!(o["lines"][0]["backordered"], 4);
}

async fn the_same_key_and_body_replays_byte_for_byte(b: Backend) {
    let app = TestApp::new(&b).await;
    let body = order_body("WC-6", &[("CAP-BLU", 1)]);
    let first = app.post("/v1/orders", &body, Some("same")).await;
    let again = app.post("/v1/orders", &body, Some("same")).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(first.body, again.body);
    assert_eq!(first.header("idempotent-replayed"), None);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.header("location"), first.header("location"));
    let found = app.get("/v1/orders?external_id=WC-6").await.json();
    assert_eq!(
        found["items"].as_array().unwrap().len(),
        1,
        "one order per key"
    );
}

async fn the_same_key_with_another_body_is_422_and_changes_nothing(b: Backend) {
    let app = TestApp::new(&b).await;
    app.post(
        "/v1/orders",
        &order_body("WC-7", &[("CAP-BLU", 1)]),
        Some("k-7"),
    )
    .await;
    let before = app.ats("CAP-BLU").await;
    let r = app
        .post(
            "/v1/orders",
            &order_body("WC-7b", &[("CAP-BLU", 2)]),
            Some("k-7"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.code(), "idempotency-key-reused");
    assert_eq!(app.ats("CAP-BLU").await, before);
}

async fn keys_are_scoped_by_client_and_required(b: Backend) {
    let app = TestApp::new(&b).await;
    let r = app
        .post("/v1/orders", &order_body("WC-8", &[("CAP-BLU", 1)]), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "idempotency-key-missing");
    let r = app
        .post(
            "/v1/orders",
            &order_body("WC-8", &[("CAP-BLU", 1)]),
            Some("has a space"),
        )
        .await;
    assert_eq!(r.code(), "idempotency-key-invalid");
}

async fn a_second_order_with_the_same_external_id_is_a_duplicate(b: Backend) {
    let app = TestApp::new(&b).await;
    let first = app.order("WC-9", &[("CAP-BLU", 1)]).await;
    let r = app
        .post(
            "/v1/orders",
            &order_body("WC-9", &[("CAP-BLU", 1)]),
            Some("another-key"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "duplicate-order");
    assert_eq!(r.json()["order_id"], first["id"]);
}

async fn bad_bodies_get_clear_problems_and_change_nothing(b: Backend) {
    let app = TestApp::new(&b).await;
    let before = app.ats("TEE-BLK-M").await;
    let cases = [
        (
            order_body("B1", &[("TEE-BLK-M", 0)]),
            "validation-failed",
            "/lines/0/quantity",
        ),
        (
            order_body("B2", &[("TEE-BLK-M", -1)]),
            "validation-failed",
            "/lines/0/quantity",
        ),
        (json!({"channel": "web"}), "validation-failed", ""),
        (
            order_body("B4", &[("NOPE-1", 1), ("TEE-BLK-M", 1)]),
            "unknown-sku",
            "",
        ),
    ];
    for (i, (body, code, pointer)) in cases.into_iter().enumerate() {
        let r = app
            .post("/v1/orders", &body, Some(&format!("bad-{i}")))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "case {i}: {:?}",
            r.json()
        );
        assert_eq!(r.code(), code, "case {i}");
        if !pointer.is_empty() {
            assert_eq!(r.json()["errors"][0]["pointer"], pointer, "case {i}");
        }
    }
    // Fields only Stockade sets are named as such, wherever they appear.
    let mut b = order_body("B3", &[("TEE-BLK-M", 1)]);
    b["status"] = json!("shipped");
    let r = app.post("/v1/orders", &b, Some("bad-status")).await;
    assert_eq!(
        (r.code(), r.json()["pointer"].clone()),
        ("read-only-field".into(), json!("/status"))
    );
    let mut b = order_body("B3", &[("TEE-BLK-M", 1)]);
    b["lines"][0]["allocations"] = json!([{"location": "WH-MAIN", "quantity": 1}]);
    let r = app.post("/v1/orders", &b, Some("bad-allocations")).await;
    assert_eq!(
        (r.code(), r.json()["pointer"].clone()),
        ("read-only-field".into(), json!("/lines/0/allocations"))
    );
    let many: Vec<(&str, i64)> = (0..101).map(|_| ("TEE-BLK-M", 1)).collect();
    let r = app
        .post("/v1/orders", &order_body("B5", &many), Some("bad-many"))
        .await;
    assert_eq!(r.code(), "too-many-items");
    let r = app
        .send(
            Method::POST,
            "/v1/orders",
            &[
                ("content-type", "application/json"),
                ("idempotency-key", "bad-json"),
            ],
            Some(b"{\"channel\":".to_vec()),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "malformed-json");
    let r = app
        .send(
            Method::POST,
            "/v1/orders",
            &[
                ("content-type", "text/plain"),
                ("idempotency-key", "bad-type"),
            ],
            Some(b"hi".to_vec()),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = vec![b' '; app.state.body_limits.max_bytes + 1];
    let r = app
        .send(
            Method::POST,
            "/v1/orders",
            &[
                ("content-type", "application/json"),
                ("idempotency-key", "bad-size"),
            ],
            Some(huge),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "payload-too-large");
    assert_eq!(app.ats("TEE-BLK-M").await, before);
    assert_eq!(
        app.get("/v1/orders?external_id=B4").await.json()["items"],
        json!([])
    );
}

async fn an_order_for_a_channel_the_caller_does_not_hold_is_403(b: Backend) {
    let app = TestApp::new(&b).await;
    let mut body = order_body("WC-10", &[("CAP-BLU", 1)]);
    body["channel"] = json!("b2b");
    let r = app.post("/v1/orders", &body, Some("k-10")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "channel-not-allowed");
}

async fn get_and_lookup_by_external_id(b: Backend) {
    let app = TestApp::new(&b).await;
    let o = app.order("WC-11", &[("CAP-BLU", 1)]).await;
    let id = o["id"].as_str().unwrap();
    let got = app.get(&format!("/v1/orders/{id}")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json()["external_id"], "WC-11");
    let found = app.get("/v1/orders?external_id=WC-11").await.json();
    assert_eq!(found["items"][0]["id"], id);
    assert_eq!(
        app.get("/v1/orders?external_id=nope").await.json(),
        json!({"items": []})
    );
    assert_eq!(app.get("/v1/orders").await.code(), "missing-parameter");
    assert_eq!(
        app.get("/v1/orders/ord_01JEZ8Q4W3M2T6V8X9Y0Z1A2B3")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/v1/orders/garbage").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn the_erp_handover_submits_accepted_orders(b: Backend) {
    let app = TestApp::new(&b).await;
    app.state.dispatcher.clone().spawn();
    let o = app.order("WC-12", &[("CAP-BLU", 1)]).await;
    let id = o["id"].as_str().unwrap();
    let mut order = app.get(&format!("/v1/orders/{id}")).await.json();
    for _ in 0..100 {
        if order["erp"]["state"] == "acknowledged" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        order = app.get(&format!("/v1/orders/{id}")).await.json();
    }
    assert_eq!(order["erp"]["state"], "acknowledged");
    assert_eq!(order["erp"]["reference"], id);
    assert_eq!(order["status"], "submitted");
}

async fn cancel_releases_reservations_and_is_idempotent(b: Backend) {
    let app = TestApp::new(&b).await;
    let before = app.ats("TEE-NVY-M").await;
    let o = app.order("WC-13", &[("TEE-NVY-M", 3)]).await;
    let uri = format!("/v1/orders/{}/cancel", o["id"].as_str().unwrap());
    let first = app.post(&uri, &json!({}), None).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.json()["status"], "cancelled");
    assert_eq!(app.ats("TEE-NVY-M").await, before);
    let again = app.post(&uri, &json!({}), None).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json(), first.json());
    assert_eq!(app.ats("TEE-NVY-M").await, before, "released once");
    app.assert_ledger_consistent().await;
}

async fn cancelling_a_partly_shipped_order_releases_only_the_rest(b: Backend) {
    let app = TestApp::new(&b).await;
    let before = app.get("/v1/availability/SOCK-3PK-M").await.json();
    let o = app.order("WC-14", &[("SOCK-3PK-M", 5)]).await;
    let id = o["id"].as_str().unwrap();
    app.ship(id, "S-14", &[("SOCK-3PK-M", 2)]).await;
    assert_eq!(
        app.get(&format!("/v1/orders/{id}")).await.json()["status"],
        "partially_shipped"
    );
    let r = app
        .post(&format!("/v1/orders/{id}/cancel"), &json!({}), None)
        .await;
    assert_eq!(r.json()["status"], "cancelled");
    let after = app.get("/v1/availability/SOCK-3PK-M").await.json();
    let wh = |v: &serde_json::Value, f: &str| v["locations"][0][f].as_i64().unwrap();
    assert_eq!(wh(&after, "committed"), 0);
    assert_eq!(wh(&after, "on_hand"), wh(&before, "on_hand") - 2);
    app.assert_ledger_consistent().await;
}

async fn a_fully_shipped_order_cannot_be_cancelled(b: Backend) {
    let app = TestApp::new(&b).await;
    let o = app.order("WC-15", &[("PEN-SET", 2)]).await;
    let id = o["id"].as_str().unwrap();
    app.ship(id, "S-15", &[("PEN-SET", 2)]).await;
    let r = app
        .post(&format!("/v1/orders/{id}/cancel"), &json!({}), None)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "order-shipped");
}

async fn shipments_show_carrier_tracking_and_milestones(b: Backend) {
    let app = TestApp::new(&b).await;
    let o = app.order("WC-16", &[("BEANIE-GRN", 1)]).await;
    let id = o["id"].as_str().unwrap();
    app.events(json!([{"id": "p-16", "type": "shipment.updated", "source": "wms", "occurred_at": "2026-12-01T09:00:00Z",
        "data": {"order_id": id, "shipment_id": "S-16", "status": "packed"}}]))
        .await;
    app.ship(id, "S-16", &[("BEANIE-GRN", 1)]).await;
    let s = app.get(&format!("/v1/orders/{id}/shipments")).await;
    assert_eq!(s.status, StatusCode::OK);
    let s = &s.json()["items"][0];
    assert!(s["id"].as_str().unwrap().starts_with("shp_"));
    assert_eq!(s["reference"], "S-16");
    assert_eq!(s["status"], "shipped");
    assert_eq!(s["carrier"], "DHL");
    assert_eq!(s["tracking_number"], "JJD0001");
    let milestones: Vec<&str> = s["milestones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(milestones, ["packed", "shipped"]);
    assert_eq!(
        app.get("/v1/orders/ord_01JEZ8Q4W3M2T6V8X9Y0Z1A2B3/shipments")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

crate::tests! { per_backend: [accepted_orders_reserve_and_answer_201_with_allocations, a_location_that_fills_the_whole_order_wins_over_a_split, a_line_no_single_location_can_fill_is_split_by_priority, shortages_are_409_and_reserve_nothing, backorderable_skus_accept_more_than_is_in_stock, the_same_key_and_body_replays_byte_for_byte, the_same_key_with_another_body_is_422_and_changes_nothing, keys_are_scoped_by_client_and_required, a_second_order_with_the_same_external_id_is_a_duplicate, bad_bodies_get_clear_problems_and_change_nothing, an_order_for_a_channel_the_caller_does_not_hold_is_403, get_and_lookup_by_external_id, the_erp_handover_submits_accepted_orders, cancel_releases_reservations_and_is_idempotent, cancelling_a_partly_shipped_order_releases_only_the_rest, a_fully_shipped_order_cannot_be_cancelled, shipments_show_carrier_tracking_and_milestones] }
