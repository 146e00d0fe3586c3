//! An order's timeline: every stage it went through, each attempt to reach the ERP with
//! its error, the ERP's acknowledgement, the shipment, the channel updates, and the trace
//! id the order came in with; a client sees its own channels' orders only.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::harness::{Backend, SwitchableErp, TestApp, order_body, policies_with};

const FAST_OUTBOX: &str = "[dispatcher]\ntick_ms = 50\nbackoff_base_ms = 20\nbackoff_max_ms = 100\nbreaker_failures = 100\nbreaker_cooldown_ms = 100\n";
const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

async fn timeline(app: &TestApp, id: &str) -> Vec<Value> {
    let r = app.get(&format!("/v1/orders/{id}/timeline")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.json()["order_id"], id);
    r.json()["entries"].as_array().unwrap().clone()
}

/// Polls the timeline until `done` holds of it.
async fn timeline_until(app: &TestApp, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let entries = timeline(app, id).await;
        if done(&entries) {
            return entries;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the timeline never got there: {entries:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn stages(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["stage"].as_str().unwrap(),
                e["outcome"].as_str().unwrap()
            )
        })
        .collect()
}

async fn an_order_timeline_shows_every_stage_attempt_and_trace(b: Backend) {
    let erp = SwitchableErp::new(false);
    let policies = policies_with(&[("outbox.toml", FAST_OUTBOX)]);
    let app = TestApp::build(&b, policies.path(), Some(erp.clone()), |_| {}).await;
    app.state.dispatcher.clone().spawn();
    let shop = app.as_key("test-shop-key");

    let traceparent = format!("00-{TRACE}-b7ad6b7169203331-01");
    let body = serde_json::to_vec(&order_body("TL-1", &[("CAP-RED", 2)])).unwrap();
    let headers = [
        ("content-type", "application/json"),
        ("idempotency-key", "timeline-1"),
        ("traceparent", traceparent.as_str()),
    ];
    let r = shop
        .send(Method::POST, "/v1/orders", &headers, Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_owned();

    // The ERP refuses at least twice, then takes the order.
    let failed = |e: &[Value]| {
        e.iter()
            .filter(|e| e["stage"] == "submitted" && e["outcome"] == "failed")
            .count()
    };
    timeline_until(&shop, &id, |e| failed(e) >= 2).await;
    erp.up.store(true, Ordering::SeqCst);
    // Both the ERP's answer and the settled delivery that got it.
    let entries = timeline_until(&shop, &id, |e| {
        let seen = stages(e);
        seen.contains(&"acknowledged/done".to_owned())
            && seen.contains(&"submitted/done".to_owned())
    })
    .await;
    shop.as_key("test-wms-key")
        .ship(&id, "TL-SHIP-1", &[("CAP-RED", 2)])
        .await;
    // The shipment is written to the ERP too, as its own stage.
    let after = timeline_until(&shop, &id, |e| {
        stages(e).contains(&"erp_updated/done".to_owned())
    })
    .await;

    let seen = stages(&entries);
    assert_eq!(&seen[..2], ["accepted/done", "reserved/done"], "{seen:?}");
    let refused = failed(&entries);
    assert!(refused >= 2, "{seen:?}");
    assert_eq!(
        seen[2..2 + refused],
        vec!["submitted/failed".to_owned(); refused],
        "{seen:?}"
    );
    // The store records the ERP's answer a moment before the dispatcher settles the
    // delivery that got it, and the timeline keeps the order things were recorded in.
    let mut last: Vec<_> = seen[2 + refused..].to_vec();
    last.sort();
    assert_eq!(last, ["acknowledged/done", "submitted/done"], "{seen:?}");

    // Every attempt is numbered and carries the ERP's error; the last one succeeded.
    for (n, e) in entries[2..2 + refused].iter().enumerate() {
        assert_eq!(e["attempt"], n as u64 + 1, "{e}");
        assert_eq!(e["system"], "erp:switchable");
        assert!(
            e["error"].as_str().unwrap().contains("connection refused"),
            "{e}"
        );
    }
    let done = entries
        .iter()
        .find(|e| e["stage"] == "submitted" && e["outcome"] == "done")
        .unwrap();
    assert_eq!(done["attempt"], refused as u64 + 1);
    assert!(entries[0]["detail"].as_str().unwrap().contains("TL-1"));
    assert_eq!(entries[1]["detail"], "CAP-RED 2 at WH-MAIN");
    let acknowledged = entries
        .iter()
        .find(|e| e["stage"] == "acknowledged")
        .unwrap();
    assert_eq!(acknowledged["detail"], format!("SO-{}", &id[4..12]));

    // The order's stages carry the trace id it came in with; times never go backwards.
    for e in entries.iter().filter(|e| e["stage"] != "acknowledged") {
        assert_eq!(e["trace_id"], TRACE, "{e}");
    }
    let times: Vec<_> = after
        .iter()
        .map(|e| {
            time::OffsetDateTime::parse(
                e["at"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{after:#?}");
    let shipped = after.iter().find(|e| e["stage"] == "shipped").unwrap();
    assert_eq!(shipped["system"], "warehouse");
    assert!(
        shipped["detail"].as_str().unwrap().contains("JJD0001"),
        "{shipped}"
    );

    // Another channel's client learns nothing, not even that the order exists.
    let other = app.as_key("test-market-key");
    let r = other.get(&format!("/v1/orders/{id}/timeline")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = shop
        .get("/v1/orders/ord_01JNOSUCHORDER000000000000/timeline")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

crate::tests! {
    per_backend: [an_order_timeline_shows_every_stage_attempt_and_trace],
}
