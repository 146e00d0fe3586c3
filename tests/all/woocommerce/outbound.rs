//! What Stockade writes to a store: stock in batches, tracking and completion, refunds,
//! retried when the store is busy and dead-lettered when it refuses for good.

use std::time::Duration;

use serde_json::{Value, json};

use super::{OPS, SHOP, StoreSpec, eventually, rig, settle};
use crate::harness::{Backend, WooAuth, get_json, http_as, now};

async fn ship(rig: &super::Rig, order_id: &str, shipment: &str, sku: &str, quantity: i64) {
    rig.events(json!([{"id": format!("ship-{shipment}"), "type": "shipment.updated", "source": "wms",
        "occurred_at": now(), "data": {"order_id": order_id, "shipment_id": shipment, "status": "shipped",
        "carrier": "DHL", "tracking_number": format!("JJD{shipment}"),
        "tracking_url": format!("https://www.dhl.com/track?id=JJD{shipment}"),
        "lines": [{"sku": sku, "quantity": quantity}]}}]))
        .await;
}

async fn a_shipment_completes_the_store_order_with_a_tracking_note(b: Backend) {
    let rig = rig(
        &b,
        vec![StoreSpec::shop()],
        |s| {
            s[0].1.add_simple_product("W-LAMP", Some(10));
        },
        "W-LAMP,WH-MAIN,10,0\n",
    )
    .await;
    let woo = rig.shop();
    rig.store_shows(woo, "W-LAMP", 10).await;
    let id = woo.create_order(&[(Some("W-LAMP"), 2)]);
    let order = rig.order_of(SHOP, id).await;
    let order_id = order["id"].as_str().unwrap();
    let tracking = |n: &Value| {
        n["note"]
            .as_str()
            .unwrap_or_default()
            .contains("Tracking number")
    };

    // Half of it ships: the customer hears, the order stays open.
    ship(&rig, order_id, "0001", "W-LAMP", 1).await;
    let first = eventually("a note about the first parcel", || async {
        woo.notes(id).into_iter().find(|n| tracking(n))
    })
    .await;
    assert_eq!(
        first["note"],
        "Part of your order has shipped with DHL. Tracking number: JJD0001. \
         Track it at https://www.dhl.com/track?id=JJD0001"
    );
    assert_eq!(first["customer_note"], true);
    rig.outbox_drained("shop").await;
    assert_eq!(woo.order(id)["status"], "processing");

    // The rest ships: completed, with a second note.
    ship(&rig, order_id, "0002", "W-LAMP", 1).await;
    eventually("the store order completed", || async {
        (woo.order(id)["status"] == "completed").then_some(())
    })
    .await;
    let notes: Vec<Value> = woo.notes(id).into_iter().filter(|n| tracking(n)).collect();
    assert_eq!(notes.len(), 2, "{notes:#?}");
    assert_eq!(
        notes[0]["note"],
        "Your order has shipped with DHL. Tracking number: JJD0002. \
         Track it at https://www.dhl.com/track?id=JJD0002"
    );
    // A later milestone of a parcel repeats nothing.
    rig.events(json!([{"id": "delivered-0002", "type": "shipment.updated", "source": "wms",
        "occurred_at": now(), "data": {"order_id": order_id, "shipment_id": "0002", "status": "delivered"}}]))
        .await;
    rig.outbox_drained("shop").await;
    assert_eq!(woo.notes(id).into_iter().filter(|n| tracking(n)).count(), 2);
    assert_eq!(woo.order(id)["status"], "completed");
}

async fn a_return_ends_as_a_refund_without_a_restock(b: Backend) {
    let rig = rig(
        &b,
        vec![StoreSpec::shop()],
        |s| {
            s[0].1.add_simple_product("W-VASE", Some(10));
        },
        "W-VASE,WH-MAIN,10,0\n",
    )
    .await;
    let woo = rig.shop();
    rig.store_shows(woo, "W-VASE", 10).await;
    let id = woo.create_order(&[(Some("W-VASE"), 2)]);
    let order = rig.order_of(SHOP, id).await;
    let order_id = order["id"].as_str().unwrap();
    ship(&rig, order_id, "0100", "W-VASE", 2).await;
    eventually("the store order completed", || async {
        (woo.order(id)["status"] == "completed").then_some(())
    })
    .await;
    let r = http_as(SHOP)
        .post(rig.url("/v1/returns"))
        .header("idempotency-key", "rma-vase")
        .json(&json!({"order_id": order_id, "lines": [{"sku": "W-VASE", "quantity": 1, "reason": "chipped"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let rma_id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(rig.ats("W-VASE").await, 8);
    rig.events(json!([{"id": "rcv-1", "type": "return.received", "source": "wms", "occurred_at": now(),
        "data": {"rma_id": rma_id, "lines": [{"sku": "W-VASE", "quantity": 1, "condition": "resellable"}]}}]))
        .await;
    let refund = eventually("the refund in the store", || async {
        woo.refunds(id).into_iter().next()
    })
    .await;
    assert_eq!(
        refund["amount"], "12.50",
        "one unit at what was paid for it"
    );
    assert_eq!(refund["api_restock"], false, "Stockade owns the stock");
    assert_eq!(refund["api_refund"], true);
    assert!(refund["reason"].as_str().unwrap().contains(&rma_id));
    assert_eq!(refund["line_items"][0]["quantity"], -1);
    // Stockade restocked the unit, and the store learns the figure from Stockade.
    assert_eq!(rig.ats("W-VASE").await, 9);
    rig.store_shows(woo, "W-VASE", 9).await;
    rig.outbox_drained("shop").await;
    settle().await;
    assert_eq!(woo.refunds(id).len(), 1, "refunded once");
    assert_eq!(
        woo.order(id)["status"],
        "completed",
        "half refunded, not refunded"
    );
}

async fn three_hundred_skus_reach_the_store_in_batches_of_at_most_100(b: Backend) {
    let skus: Vec<String> = (0..300).map(|i| format!("BULK-{i:03}")).collect();
    let figures = |base: i64| -> String {
        (0..300)
            .map(|i| format!("BULK-{i:03},WH-MAIN,{},0\n", base + i % 7))
            .collect()
    };
    let rig = rig(
        &b,
        vec![StoreSpec::shop()],
        |s| {
            for sku in &skus {
                s[0].1.add_simple_product(sku, None);
            }
        },
        &figures(10),
    )
    .await;
    let woo = rig.shop();
    let all_show = |base: i64| {
        let skus = skus.clone();
        async move {
            (0..300)
                .all(|i| woo.stock_of(&skus[i as usize]) == Some(base + i % 7))
                .then_some(())
        }
    };
    eventually("300 figures written on connecting", || all_show(10)).await;
    rig.outbox_drained("shop").await;
    let first = woo.batch_sizes();
    assert!(first.iter().all(|n| *n <= 100), "{first:?}");

    // All 300 change at once.
    let out = rig.site.import_stock(&format!(
        "sku,location,on_hand,safety_stock\n{}",
        figures(50)
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually("300 new figures in the store", || all_show(50)).await;
    rig.outbox_drained("shop").await;
    let sizes = woo.batch_sizes()[first.len()..].to_vec();
    assert!(sizes.iter().all(|n| *n <= 100), "{sizes:?}");
    assert_eq!(
        sizes.iter().sum::<usize>(),
        300,
        "each changed figure written once: {sizes:?}"
    );
    assert!(
        (3..=10).contains(&sizes.len()),
        "changes arriving together are written together: {sizes:?}"
    );
    assert!(woo.requests().iter().all(|(_, _, s)| *s != 413));
}

async fn basic_and_oauth1_both_reach_the_store(b: Backend) {
    let basic = StoreSpec {
        name: "basic",
        fake_auth: WooAuth::Basic,
        auth: Some("basic"),
        ..StoreSpec::shop()
    };
    let oauth = StoreSpec {
        name: "oauth",
        fake_auth: WooAuth::OAuth1,
        poll_seconds: 1,
        ..StoreSpec::shop()
    };
    let rig = rig(
        &b,
        vec![basic, oauth],
        |s| {
            s[0].1.add_simple_product("A-BASIC", None);
            s[1].1.add_simple_product("A-OAUTH", None);
        },
        "A-BASIC,WH-MAIN,5,0\nA-OAUTH,WH-MAIN,6,0\n",
    )
    .await;
    let (basic, oauth) = (rig.woo("basic"), rig.woo("oauth"));
    rig.store_shows(basic, "A-BASIC", 5).await;
    rig.store_shows(oauth, "A-OAUTH", 6).await;
    // The poll's signed query (a date full of reserved characters) is accepted too.
    oauth.lose_next_deliveries(1);
    let id = oauth.create_order(&[(Some("A-OAUTH"), 1)]);
    rig.order_of(SHOP, id).await;
    for woo in [basic, oauth] {
        let refused: Vec<_> = woo
            .requests()
            .into_iter()
            .filter(|(_, _, s)| *s == 401)
            .collect();
        assert!(refused.is_empty(), "{refused:?}");
    }
    assert!(
        oauth
            .requests()
            .iter()
            .any(|(m, p, _)| m == "GET" && p.contains("oauth_signature=")),
        "the OAuth store is signed in the query string"
    );
}

async fn a_busy_store_is_retried_and_a_refused_write_dead_lettered(b: Backend) {
    let rig = rig(
        &b,
        vec![StoreSpec::shop()],
        |s| {
            s[0].1.add_simple_product("W-RUG", None);
        },
        "W-RUG,WH-MAIN,10,0\n",
    )
    .await;
    let woo = rig.shop();
    rig.store_shows(woo, "W-RUG", 10).await;
    rig.outbox_drained("shop").await;
    let statuses = || -> Vec<u16> { woo.requests().iter().map(|(_, _, s)| *s).collect() };

    woo.fail_next(2, 429);
    rig.adjust("W-RUG", 1).await;
    rig.store_shows(woo, "W-RUG", 11).await;
    assert_eq!(statuses().iter().filter(|s| **s == 429).count(), 2);

    woo.fail_next(2, 503);
    rig.adjust("W-RUG", 1).await;
    rig.store_shows(woo, "W-RUG", 12).await;
    assert_eq!(statuses().iter().filter(|s| **s == 503).count(), 2);

    // A 4xx can never succeed as sent: a dead letter at once, and nothing written.
    woo.fail_next(1, 400);
    rig.adjust("W-RUG", 1).await;
    let ops = http_as(OPS);
    let letter = eventually("the refused write as a dead letter", || async {
        let page = get_json(
            &ops,
            &rig.url("/v1/admin/dead-letters?destination=woocommerce:shop&kind=stock.changed"),
        )
        .await;
        page["items"].as_array()?.first().cloned()
    })
    .await;
    assert_eq!(letter["attempts"], 1);
    assert!(
        letter["last_error"].as_str().unwrap().contains("HTTP 400"),
        "{letter}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(woo.stock_of("W-RUG"), Some(12));
    // Replayed once the store accepts again.
    let r = ops
        .post(rig.url(&format!(
            "/v1/admin/dead-letters/{}/replay",
            letter["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    rig.store_shows(woo, "W-RUG", 13).await;
}

crate::tests! { per_backend: [
    a_shipment_completes_the_store_order_with_a_tracking_note,
    a_return_ends_as_a_refund_without_a_restock,
    three_hundred_skus_reach_the_store_in_batches_of_at_most_100,
    basic_and_oauth1_both_reach_the_store,
    a_busy_store_is_retried_and_a_refused_write_dead_lettered,
] }
