//! Service level objectives from `policies/slo.toml`, reported by `GET /v1/admin/slo`
//! against what the gateway measured: latency of a route, the error rate, the freshness
//! of stock figures and the age of the event backlog.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use crate::harness::{Backend, SwitchableErp, TestApp, order_body, policies_with};

const SLOS: &str = r#"
sample_seconds = 1

[[slo]]
name = "acceptance"
indicator = "latency"
route = "POST /v1/orders"
threshold_ms = 60000
objective = 0.99
window_minutes = 60

[[slo]]
name = "errors"
indicator = "error_rate"
objective = 0.999
window_minutes = 60

[[slo]]
name = "freshness"
indicator = "freshness"
threshold_seconds = 120
objective = 0.99
window_minutes = 60

[[slo]]
name = "backlog"
indicator = "backlog_age"
threshold_seconds = 0
objective = 0.99
window_minutes = 60
"#;

async fn report(app: &TestApp) -> Vec<Value> {
    let r = app.as_key("test-ops-key").get("/v1/admin/slo").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.json()["items"].as_array().unwrap().clone()
}

fn slo<'a>(items: &'a [Value], name: &str) -> &'a Value {
    items.iter().find(|s| s["name"] == name).unwrap()
}

async fn objectives_are_reported_against_what_was_measured(b: Backend) {
    let policies = policies_with(&[("slo.toml", SLOS)]);
    let erp = SwitchableErp::new(false);
    let app = TestApp::build(&b, policies.path(), Some(erp), |_| {}).await;
    app.state.dispatcher.clone().spawn();

    let before = report(&app).await;
    assert_eq!(before.len(), 4);
    for s in &before {
        assert_eq!(s["status"], "no_data", "{s}");
        assert_eq!(s["error_budget_remaining"], 1.0, "{s}");
    }
    assert_eq!(slo(&before, "acceptance")["threshold"], "60000 ms");
    assert_eq!(slo(&before, "acceptance")["window_seconds"], 3600);

    // Two orders accepted; one refused for its own fault, which no latency counts.
    let shop = app.as_key("test-shop-key");
    for i in 0..2 {
        let r = shop
            .post(
                "/v1/orders",
                &order_body(&format!("SLO-{i}"), &[("CAP-RED", 1)]),
                Some(&format!("slo-{i}")),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let r = shop
        .post("/v1/orders", &json!({"lines": "none"}), Some("slo-bad"))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // A count taken just now is fresh; one that held an hour ago is not.
    let at = |ago: Duration| {
        (time::OffsetDateTime::now_utc() - ago)
            .format(&Rfc3339)
            .unwrap()
    };
    let counts = json!([
        {"id": "slo-count-1", "type": "stock.counted", "source": "wms-slo", "occurred_at": at(Duration::ZERO),
         "data": {"sku": "CAP-RED", "location": "WH-MAIN", "on_hand": 40, "sequence": 1}},
        {"id": "slo-count-2", "type": "stock.counted", "source": "wms-slo", "occurred_at": at(Duration::from_secs(3600)),
         "data": {"sku": "TEE-BLK-M", "location": "WH-MAIN", "on_hand": 40, "sequence": 1}}]);
    let results = app.as_key("test-wms-key").events(counts).await;
    assert!(
        results.iter().all(|r| r["status"] == "applied"),
        "{results:?}"
    );

    // One sample: the ERP (down, never read) has no fresh figures, and the two orders
    // wait in the outbox.
    let store = &app.state.services.store;
    let waiting = std::time::Instant::now();
    while !store
        .outbox_stats()
        .await
        .unwrap()
        .destinations
        .iter()
        .any(|d| d.oldest_pending_ms > Some(0))
    {
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "the orders never reached the outbox"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = time::OffsetDateTime::now_utc() - Duration::from_secs(3600);
    app.state.services.sample_slos(started).await;

    let after = report(&app).await;
    let acceptance = slo(&after, "acceptance");
    assert_eq!(
        (acceptance["good"].as_u64(), acceptance["total"].as_u64()),
        (Some(2), Some(2)),
        "{acceptance}"
    );
    assert_eq!(acceptance["status"], "met");
    assert_eq!(acceptance["error_budget_remaining"], 1.0);

    let errors = slo(&after, "errors");
    assert!(errors["total"].as_u64().unwrap() >= 4, "{errors}");
    assert_eq!(
        errors["good"], errors["total"],
        "no answer was a server error: {errors}"
    );

    let freshness = slo(&after, "freshness");
    assert_eq!(
        (freshness["good"].as_u64(), freshness["total"].as_u64()),
        (Some(1), Some(3)),
        "{freshness}"
    );
    assert_eq!(freshness["status"], "breached");
    assert!(
        freshness["error_budget_remaining"].as_f64().unwrap() < 0.0,
        "{freshness}"
    );

    let backlog = slo(&after, "backlog");
    assert_eq!(
        (backlog["good"].as_u64(), backlog["total"].as_u64()),
        (Some(0), Some(1)),
        "{backlog}"
    );
    assert_eq!(backlog["status"], "breached");

    // Only admins read it.
    assert_eq!(
        shop.get("/v1/admin/slo").await.status,
        StatusCode::FORBIDDEN
    );
}

crate::tests! {
    per_backend: [
        objectives_are_reported_against_what_was_measured,
    ],
}
