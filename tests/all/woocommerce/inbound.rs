//! Orders in: signed webhooks, the poll, and the one intake both feed.

use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{MARKET, OPS, SHOP, StoreSpec, eventually, rig};
use crate::harness::{
    Backend, DEMO_KEY, Site, free_port, get_json, http, http_as, order_body, policies_dir,
};

fn sign(secret: &str, body: &[u8]) -> String {
    let mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap()
        .chain_update(body);
    BASE64.encode(mac.finalize().into_bytes())
}

/// Accepted, and perhaps already handed to the ERP: not cancelled, not shipped.
fn open(order: &Value) -> bool {
    matches!(order["status"].as_str(), Some("accepted" | "submitted"))
}

/// The texts of an order's notes in the store.
fn notes(woo: &crate::harness::FakeWoo, order: u64) -> Vec<String> {
    woo.notes(order)
        .iter()
        .map(|n| n["note"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn an_order_in_the_store_is_reserved_and_its_stock_written_back(b: Backend) {
    let rig = rig(
        &b,
        vec![StoreSpec::shop()],
        |s| {
            s[0].1.add_simple_product("W-MUG", Some(40));
        },
        "W-MUG,WH-MAIN,10,0\n",
    )
    .await;
    let woo = rig.shop();
    // Connecting wrote Stockade's figure over the store's own, and turned stock on.
    rig.store_shows(woo, "W-MUG", 10).await;
    assert_eq!(woo.manage_stock_of("W-MUG"), json!(true));

    let id = woo.create_order(&[(Some("W-MUG"), 3)]);
    let order = rig.order_of(SHOP, id).await;
    assert!(open(&order), "{order}");
    assert_eq!(order["external_id"], id.to_string());
    assert_eq!(order["currency"], "CHF");
    assert_eq!(order["lines"][0]["sku"], "W-MUG");
    assert_eq!(order["lines"][0]["unit_price"], "12.5");
    assert_eq!(
        order["lines"][0]["allocations"],
        json!([{"location": "WH-MAIN", "quantity": 3}])
    );
    assert_eq!(order["shipping_address"]["country"], "CH");
    assert_eq!(rig.ats("W-MUG").await, 7);
    rig.store_shows(woo, "W-MUG", 7).await;
    // A change only Stockade knows of reaches the store as well: the figure is Stockade's.
    rig.adjust("W-MUG", 5).await;
    rig.store_shows(woo, "W-MUG", 12).await;
    assert_eq!(woo.delivery_statuses(), [200], "one delivery, answered 200");
    let written = woo
        .requests()
        .iter()
        .filter(|(m, p, s)| m == "POST" && p.contains("/products/batch") && *s == 200)
        .count();
    assert!(written >= 2, "connecting and the adjustment each wrote");
}

async fn a_webhook_lost_on_the_way_is_caught_by_the_next_poll(b: Backend) {
    let spec = StoreSpec {
        poll_seconds: 1,
        ..StoreSpec::shop()
    };
    let rig = rig(
        &b,
        vec![spec],
        |s| {
            s[0].1.add_simple_product("W-CAP", Some(10));
        },
        "W-CAP,WH-MAIN,10,0\n",
    )
    .await;
    let woo = rig.shop();
    rig.store_shows(woo, "W-CAP", 10).await;
    woo.lose_next_deliveries(1);
    let id = woo.create_order(&[(Some("W-CAP"), 2)]);
    let order = rig.order_of(SHOP, id).await;
    assert_eq!(order["lines"][0]["quantity"], 2);
    assert_eq!(woo.lost(), 1);
    assert!(
        woo.delivery_statuses().is_empty(),
        "no webhook reached Stockade: the poll brought the order"
    );
    let polled = woo.requests().iter().any(|(m, p, s)| {
        m == "GET" && p.contains("/orders?") && p.contains("modified_after=") && *s == 200
    });
    assert!(polled);
    assert_eq!(rig.ats("W-CAP").await, 8);
}

async fn repeated_late_and_out_of_order_deliveries_leave_one_order(b: Backend) {
    let rig = rig(
        &b,
        vec![StoreSpec::shop()],
        |s| {
            s[0].1.add_simple_product("W-BAG", Some(10));
        },
        "W-BAG,WH-MAIN,10,0\n",
    )
    .await;
    let woo = rig.shop();
    rig.store_shows(woo, "W-BAG", 10).await;
    woo.duplicate_deliveries(true);
    woo.hold_deliveries(true);
    // Created, then changed a second later; the change arrives first, each twice.
    let id = woo.create_order(&[(Some("W-BAG"), 2)]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    woo.update_order(id, |o| o["customer_note"] = json!("Please ring twice"));
    woo.release_held_reversed().await;
    woo.wait_deliveries_answered(4, Duration::from_secs(10))
        .await;
    assert_eq!(woo.delivery_statuses(), [200, 200, 200, 200]);
    let orders = rig.orders(SHOP, id).await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert!(open(&orders[0]));
    assert_eq!(rig.ats("W-BAG").await, 8);

    // Cancelled in the store; an older copy, still `processing`, arrives after the
    // cancellation and must neither revive the order nor create another.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    woo.update_order(id, |o| o["billing"]["phone"] = json!("+41 22 555 01 99"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    woo.update_order(id, |o| o["status"] = json!("cancelled"));
    woo.release_held_reversed().await;
    woo.wait_deliveries_answered(8, Duration::from_secs(10))
        .await;
    assert!(woo.delivery_statuses().iter().all(|s| *s == 200));
    let orders = rig.orders(SHOP, id).await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["status"], "cancelled");
    assert_eq!(rig.ats("W-BAG").await, 10);

    // Placed and cancelled before Stockade heard of it, the cancellation arriving first:
    // the creation is older than what was taken in, so no order is ever made.
    let other = woo.create_order(&[(Some("W-BAG"), 1)]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    woo.update_order(other, |o| o["status"] = json!("cancelled"));
    woo.release_held_reversed().await;
    woo.wait_deliveries_answered(12, Duration::from_secs(10))
        .await;
    assert!(woo.delivery_statuses().iter().all(|s| *s == 200));
    assert!(rig.orders(SHOP, other).await.is_empty());
    assert_eq!(rig.ats("W-BAG").await, 10);
    assert!(rig.exceptions("shop").await.is_empty());
}

async fn a_bad_signature_is_refused_401_and_audited_and_the_ping_answered_200(b: Backend) {
    let rig = rig(
        &b,
        vec![StoreSpec::shop()],
        |s| {
            s[0].1.add_simple_product("W-PEN", Some(5));
        },
        "W-PEN,WH-MAIN,5,0\n",
    )
    .await;
    let woo = rig.shop();
    assert_eq!(woo.send_ping().await, 200, "the save-time ping");
    let body = serde_json::to_vec(&json!({
        "id": 990_001, "number": "990001", "status": "processing", "currency": "CHF",
        "date_modified_gmt": "2026-12-03T12:00:00",
        "billing": {"first_name": "Ada", "last_name": "L", "address_1": "1 Row", "city": "Bern",
            "postcode": "3000", "country": "CH"},
        "line_items": [{"id": 1, "product_id": 1, "quantity": 1, "sku": "W-PEN", "price": 12.5, "total": "12.50"}]}))
    .unwrap();
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let genuine = woo.signature_of(&body);
    for (bytes, signature) in [
        (&body, Some(sign("not-the-store-secret", &body))),
        (&body, None),
        (&tampered, Some(genuine.clone())),
        (&body, Some("not base64!".to_owned())),
    ] {
        let status = woo
            .send_signed_raw("order.created", bytes, signature.as_deref())
            .await;
        assert_eq!(status, 401, "{signature:?}");
    }
    assert!(rig.orders(SHOP, 990_001).await.is_empty());
    let refused = reqwest::Client::new()
        .post(rig.url("/v1/webhooks/woocommerce/shop"))
        .header("content-type", "application/json")
        .header("x-wc-webhook-signature", sign("nope", &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "invalid-signature");
    let unknown = reqwest::Client::new()
        .post(rig.url("/v1/webhooks/woocommerce/nowhere"))
        .header("x-wc-webhook-signature", &genuine)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // The same bytes with the store's signature are taken in.
    assert_eq!(
        woo.send_signed_raw("order.created", &body, Some(&genuine))
            .await,
        200
    );
    rig.order_of(SHOP, 990_001).await;

    let audit = get_json(
        &http_as(OPS),
        &rig.url("/v1/admin/audit?status=401&limit=500"),
    )
    .await;
    let refusals: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["route"] == "/v1/webhooks/woocommerce/{store}")
        .collect();
    assert_eq!(refusals.len(), 5, "{audit:#}");
    for e in refusals {
        assert_eq!(e["resource_id"], "shop");
        assert_eq!(e["client_id"], Value::Null);
        assert!(e["body_sha256"].is_string());
    }
}

async fn lines_without_a_sku_and_orders_beyond_stock_follow_each_stores_policy(b: Backend) {
    let held = StoreSpec {
        unmappable: "exception",
        uncoverable: "exception",
        ..StoreSpec::shop()
    };
    let lenient = StoreSpec {
        name: "market",
        channel: "marketplace",
        unmappable: "backorder",
        uncoverable: "backorder",
        ..StoreSpec::shop()
    };
    let rig = rig(
        &b,
        vec![held, lenient],
        |s| {
            for (woo, sku) in [(&s[0].1, "S-TEE"), (&s[1].1, "M-TEE")] {
                woo.add_product_without_sku("Gift wrap");
                woo.add_simple_product(sku, Some(10));
            }
        },
        "S-TEE,WH-MAIN,10,0\nM-TEE,WH-MAIN,10,0\n",
    )
    .await;
    let (shop, market) = (rig.woo("shop"), rig.woo("market"));
    rig.store_shows(shop, "S-TEE", 10).await;
    rig.store_shows(market, "M-TEE", 10).await;

    // A line without a SKU: held whole in one store, the rest accepted in the other.
    let a = shop.create_order(&[(None, 1), (Some("S-TEE"), 1)]);
    let m = market.create_order(&[(None, 1), (Some("M-TEE"), 1)]);
    let accepted = rig.order_of(MARKET, m).await;
    let skus: Vec<&str> = accepted["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, ["M-TEE"]);
    let held = eventually("the held order's exception", || async {
        rig.exceptions("shop")
            .await
            .into_iter()
            .find(|e| e["woo_order_id"] == a)
    })
    .await;
    assert_eq!(held["code"], "unmapped-lines");
    assert_eq!(held["order_id"], Value::Null);
    assert!(
        held["detail"].as_str().unwrap().contains("has no SKU"),
        "{held}"
    );
    let partial = eventually("the partly accepted order's exception", || async {
        rig.exceptions("market")
            .await
            .into_iter()
            .find(|e| e["woo_order_id"] == m)
    })
    .await;
    assert_eq!(partial["code"], "unmapped-lines");
    assert_eq!(partial["order_id"], accepted["id"]);
    assert!(
        rig.orders(SHOP, a).await.is_empty(),
        "nothing reserved for it"
    );
    assert_eq!(rig.ats("S-TEE").await, 10);
    // Each is noted on its order in the store, once.
    eventually("the notes on both orders", || async {
        let held = notes(shop, a);
        let partial = notes(market, m);
        (held
            .iter()
            .any(|n| n.contains("could not take this order in (unmapped-lines)"))
            && partial
                .iter()
                .any(|n| n.contains("without some of its lines")))
        .then_some(())
    })
    .await;

    // More than the stock covers: an exception in one store, a backorder in the other.
    let c = shop.create_order(&[(Some("S-TEE"), 15)]);
    let d = market.create_order(&[(Some("M-TEE"), 15)]);
    let backordered = rig.order_of(MARKET, d).await;
    assert_eq!(backordered["lines"][0]["backordered"], 6);
    assert_eq!(
        backordered["lines"][0]["allocations"],
        json!([{"location": "WH-MAIN", "quantity": 9}])
    );
    let short = eventually("the uncovered order's exception", || async {
        rig.exceptions("shop")
            .await
            .into_iter()
            .find(|e| e["woo_order_id"] == c)
    })
    .await;
    assert_eq!(short["code"], "insufficient-stock");
    assert!(rig.orders(SHOP, c).await.is_empty());
    assert!(shop.delivery_statuses().iter().all(|s| *s == 200));
    assert!(market.delivery_statuses().iter().all(|s| *s == 200));
}

async fn an_order_with_only_unrelated_changes_changes_nothing(b: Backend) {
    let rig = rig(
        &b,
        vec![StoreSpec::shop()],
        |s| {
            s[0].1.add_simple_product("W-CUP", Some(10));
        },
        "W-CUP,WH-MAIN,10,0\n",
    )
    .await;
    let woo = rig.shop();
    rig.store_shows(woo, "W-CUP", 10).await;
    let id = woo.create_order(&[(Some("W-CUP"), 1)]);
    rig.order_of(SHOP, id).await;
    // Once the ERP has it, nothing more happens to the order by itself.
    let before = eventually("the ERP to acknowledge the order", || async {
        let order = rig.orders(SHOP, id).await.pop()?;
        (order["erp"]["state"] == "acknowledged").then_some(order)
    })
    .await;
    let events = rig.column("SELECT id FROM outbox").await.len();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    woo.update_order(id, |o| {
        o["customer_note"] = json!("Leave it at the door");
        o["billing"]["phone"] = json!("+41 22 555 01 01");
        o["meta_data"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": 9, "key": "_gift", "value": {"wrap": false, "tags": [1, "x"]}}));
    });
    woo.wait_deliveries_answered(2, Duration::from_secs(10))
        .await;
    assert_eq!(woo.delivery_statuses(), [200, 200]);
    let processed = rig
        .column(
            "SELECT topic FROM woo_deliveries WHERE processed_at IS NOT NULL ORDER BY received_at",
        )
        .await;
    assert_eq!(processed, ["order.created", "order.updated"]);
    assert_eq!(
        rig.orders(SHOP, id).await,
        [before],
        "the order is as it was"
    );
    assert_eq!(
        rig.column("SELECT id FROM outbox").await.len(),
        events,
        "nothing was told to anyone"
    );
    assert!(rig.exceptions("shop").await.is_empty());
    assert_eq!(rig.ats("W-CUP").await, 9);
}

async fn a_cancellation_in_the_store_cancels_the_order(b: Backend) {
    let rig = rig(
        &b,
        vec![StoreSpec::shop()],
        |s| {
            s[0].1.add_simple_product("W-HAT", Some(10));
        },
        "W-HAT,WH-MAIN,10,0\n",
    )
    .await;
    let woo = rig.shop();
    rig.store_shows(woo, "W-HAT", 10).await;
    let id = woo.create_order(&[(Some("W-HAT"), 3)]);
    rig.order_of(SHOP, id).await;
    assert_eq!(rig.ats("W-HAT").await, 7);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    woo.update_order(id, |o| o["status"] = json!("cancelled"));
    eventually("the order cancelled in Stockade", || async {
        let orders = rig.orders(SHOP, id).await;
        (orders[0]["status"] == "cancelled").then_some(())
    })
    .await;
    assert_eq!(rig.ats("W-HAT").await, 10);
    // The store does not restock a cancelled order by itself: this is Stockade's figure.
    rig.store_shows(woo, "W-HAT", 10).await;
    eventually("a note that the reservation was released", || async {
        notes(woo, id)
            .iter()
            .any(|n| n.contains("released the stock reserved"))
            .then_some(())
    })
    .await;
    let private = woo.notes(id);
    assert!(private.iter().all(|n| n["customer_note"] == false));
}

async fn variations_are_written_one_by_one_or_through_their_parent(b: Backend) {
    let rig = rig(
        &b,
        vec![StoreSpec::shop()],
        |s| {
            s[0].1.add_variable_product(
                "W-HOOD",
                Some(20),
                &[("W-HOOD-S", Some(5)), ("W-HOOD-M", None)],
            );
        },
        "W-HOOD,WH-MAIN,8,0\nW-HOOD-S,WH-MAIN,3,0\nW-NEW,WH-MAIN,4,0\n",
    )
    .await;
    let woo = rig.shop();
    rig.store_shows(woo, "W-HOOD-S", 3).await;
    rig.store_shows(woo, "W-HOOD", 8).await;
    assert_eq!(woo.manage_stock_of("W-HOOD-M"), json!("parent"));
    assert_eq!(woo.stock_of("W-HOOD-M"), Some(8), "it follows its parent");
    assert!(
        woo.requests()
            .iter()
            .any(|(m, p, _)| m == "POST" && p.contains("/variations/batch")),
        "the variation with its own stock is written as a variation"
    );
    // A line of the variation that follows its parent reserves the parent's SKU.
    let id = woo.create_order(&[(Some("W-HOOD-M"), 2), (Some("W-HOOD-S"), 1)]);
    let order = rig.order_of(SHOP, id).await;
    let lines: Vec<(&str, i64)> = order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["sku"].as_str().unwrap(), l["quantity"].as_i64().unwrap()))
        .collect();
    assert_eq!(lines, [("W-HOOD", 2), ("W-HOOD-S", 1)]);
    rig.store_shows(woo, "W-HOOD", 6).await;
    rig.store_shows(woo, "W-HOOD-S", 2).await;

    // A figure edited by hand is put right once product.updated says so.
    woo.set_stock_by_admin("W-HOOD-S", Some(50));
    rig.store_shows(woo, "W-HOOD-S", 2).await;
    // A product added later joins the map from its product.created webhook.
    woo.add_simple_product("W-NEW", None);
    rig.store_shows(woo, "W-NEW", 4).await;
}

async fn an_unreachable_demo_store_is_retried_quietly_and_never_stops_the_gateway(b: Backend) {
    // The demo policy, with its store where nothing listens.
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(policies_dir()).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dir.path().join(f.file_name())).unwrap();
    }
    let stores = std::fs::read_to_string(dir.path().join("stores.toml")).unwrap();
    let closed = format!("http://127.0.0.1:{}", free_port());
    std::fs::write(
        dir.path().join("stores.toml"),
        stores.replace("http://localhost:8888", &closed),
    )
    .unwrap();
    let site = Site::with_policies(&b, dir.path());
    let port = free_port();
    let mut child = site
        .command()
        .env("STOCKADE_LISTEN", format!("127.0.0.1:{port}"))
        .env("STOCKADE_WOO_DEMO_CONSUMER_KEY", "ck_demo")
        .env("STOCKADE_WOO_DEMO_CONSUMER_SECRET", "cs_demo")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let started = std::time::Instant::now();
    eventually("the gateway to be ready", || async {
        let r = reqwest::get(format!("{base}/readyz")).await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    // It serves, and the demo store takes webhooks signed with the published demo secret.
    let r = http()
        .post(format!("{base}/v1/orders"))
        .header("idempotency-key", "demo-1")
        .json(&order_body("DEMO-1", &[("TEE-BLK-M", 1)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body = serde_json::to_vec(&json!({
        "id": 5001, "number": "5001", "status": "processing", "currency": "EUR",
        "date_modified_gmt": "2026-12-03T12:00:00",
        "billing": {"first_name": "Ada", "last_name": "Lovelace", "address_1": "12 Analytical Row",
            "city": "London", "postcode": "N1 9GU", "country": "GB"},
        "line_items": [{"id": 1, "product_id": 10, "quantity": 1, "sku": "TEE-BLK-M", "price": 19.9, "total": "19.90"}]}))
    .unwrap();
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/webhooks/woocommerce/demo"))
        .header("content-type", "application/json")
        .header("x-wc-webhook-topic", "order.created")
        .header(
            "x-wc-webhook-signature",
            sign("stockade-demo-webhook-secret", &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let found = get_json(
        &http_as(DEMO_KEY),
        &format!("{base}/v1/orders?external_id=5001"),
    )
    .await;
    assert_eq!(found["items"][0]["lines"][0]["sku"], "TEE-BLK-M");
    // A few seconds of an unreachable store: one warning per try, the tries spreading out.
    tokio::time::sleep(Duration::from_millis(3500).saturating_sub(started.elapsed())).await;
    let lived = started.elapsed();
    child.kill().unwrap();
    // The log is written to standard output.
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stdout);
    let warnings = log
        .lines()
        .filter(|l| l.contains("woocommerce store unreachable"))
        .count();
    // Tries at about 0, 1, 3 (and 7) seconds: never more than one per second.
    let most = usize::try_from(lived.as_secs()).unwrap() + 1;
    assert!(
        (1..=most.min(4)).contains(&warnings),
        "{warnings} warnings in {lived:?}:\n{log}"
    );
}

crate::tests! { per_backend: [
    an_order_in_the_store_is_reserved_and_its_stock_written_back,
    a_webhook_lost_on_the_way_is_caught_by_the_next_poll,
    repeated_late_and_out_of_order_deliveries_leave_one_order,
    a_bad_signature_is_refused_401_and_audited_and_the_ping_answered_200,
    lines_without_a_sku_and_orders_beyond_stock_follow_each_stores_policy,
    an_order_with_only_unrelated_changes_changes_nothing,
    a_cancellation_in_the_store_cancels_the_order,
    variations_are_written_one_by_one_or_through_their_parent,
    an_unreachable_demo_store_is_retried_quietly_and_never_stops_the_gateway,
] }
