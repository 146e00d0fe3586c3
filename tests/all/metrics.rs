//! `/metrics` moves as things happen: requests by route, status and client, cache hits,
//! rate-limit refusals, dead letters, open breakers, stock freshness per source and the
//! order workflow's stages; it needs the `admin` scope on the API's address and none on
//! its own.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;

use crate::harness::{
    Backend, Server, Site, SwitchableErp, TestApp, free_port, order_body, policies_with,
};

/// Two attempts, then a dead letter; the breaker opens on the second failure.
const OUTBOX: &str = "[dispatcher]\ntick_ms = 50\nbackoff_base_ms = 20\nbackoff_max_ms = 100\nbreaker_failures = 2\nbreaker_cooldown_ms = 300\n\n[erp]\nmax_attempts = 2\ntimeout_ms = 2000\n";

/// The value of one series, `name{labels}` exactly as the text format writes it.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

async fn scrape(app: &TestApp) -> String {
    let r = app.as_key("test-ops-key").get("/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    let kind = r.header("content-type").unwrap();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    String::from_utf8(r.body.to_vec()).unwrap()
}

async fn scrape_until(app: &TestApp, series: &str, want: f64) -> String {
    let started = Instant::now();
    loop {
        let text = scrape(app).await;
        if value(&text, series) == Some(want) {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{series} never reached {want}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn metrics_move_as_requests_refusals_and_dead_letters_happen(b: Backend) {
    let erp = SwitchableErp::new(false);
    let policies = policies_with(&[("outbox.toml", OUTBOX)]);
    let app = TestApp::build(&b, policies.path(), Some(erp.clone()), |_| {}).await;
    app.state.dispatcher.clone().spawn();

    // Admin only on the API's address.
    assert_eq!(app.get("/metrics").await.status, StatusCode::UNAUTHORIZED);
    let shop = app.as_key("test-shop-key");
    assert_eq!(shop.get("/metrics").await.status, StatusCode::FORBIDDEN);

    // Requests by route, method, status and client; the second read is a cache hit.
    for _ in 0..2 {
        assert_eq!(
            shop.get("/v1/availability/CAP-RED").await.status,
            StatusCode::OK
        );
    }
    let text = scrape(&app).await;
    let ok = r#"stockade_http_requests_total{route="/v1/availability/{sku}",method="GET",status="200",client="shop"}"#;
    assert_eq!(value(&text, ok), Some(2.0), "{text}");
    let refused =
        r#"stockade_http_requests_total{route="/metrics",method="GET",status="403",client="shop"}"#;
    assert_eq!(value(&text, refused), Some(1.0), "{text}");
    let anonymous = r#"stockade_http_requests_total{route="/metrics",method="GET",status="401",client="anonymous"}"#;
    assert_eq!(value(&text, anonymous), Some(1.0), "{text}");
    let timed = r#"stockade_http_request_duration_seconds_count{route="/v1/availability/{sku}",method="GET"}"#;
    assert_eq!(value(&text, timed), Some(2.0), "{text}");
    assert_eq!(
        value(&text, r#"stockade_availability_cache_total{result="hit"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(&text, r#"stockade_availability_cache_total{result="miss"}"#),
        Some(1.0)
    );

    // Every refusal of the tiny tier is counted against its client.
    let limited = app.as_key("test-limited-key");
    let mut refusals = 0;
    for _ in 0..50 {
        if limited.get("/v1/availability/CAP-RED").await.status == StatusCode::TOO_MANY_REQUESTS {
            refusals += 1;
        }
    }
    assert!(refusals > 0, "the tiny tier never refused");
    let text = scrape(&app).await;
    assert_eq!(
        value(&text, r#"stockade_rate_limited_total{client="limited"}"#),
        Some(f64::from(refusals)),
        "{text}"
    );
    let too_many = r#"stockade_http_requests_total{route="/v1/availability/{sku}",method="GET",status="429",client="limited"}"#;
    assert_eq!(value(&text, too_many), Some(f64::from(refusals)));

    // A warehouse count dates its source's freshness.
    let counted_at = "2026-12-04T09:30:00Z";
    let wms = app.as_key("test-wms-key");
    let r = wms
        .events(json!([{"id": "count-1", "type": "stock.counted", "source": "wms-metrics",
            "occurred_at": counted_at, "data": {"sku": "CAP-RED", "location": "WH-MAIN", "on_hand": 40, "sequence": 1}}]))
        .await;
    assert_eq!(r[0]["status"], "applied", "{r:?}");
    let at = time::OffsetDateTime::parse(counted_at, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp() as f64;
    let text = scrape(&app).await;
    let fresh = r#"stockade_stock_source_updated_timestamp_seconds{source="wms-metrics"}"#;
    assert_eq!(value(&text, fresh), Some(at), "{text}");

    // An order the ERP refuses twice becomes a dead letter and opens the ERP's breaker.
    let r = shop
        .post(
            "/v1/orders",
            &order_body("MET-1", &[("CAP-RED", 1)]),
            Some("met-1"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let text = scrape_until(&app, r#"stockade_dead_letters{destination="erp"}"#, 1.0).await;
    assert_eq!(
        value(&text, r#"stockade_breaker_open{destination="erp"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, r#"stockade_outbox_pending{destination="erp"}"#),
        Some(0.0),
        "{text}"
    );

    // Replayed once the ERP is back: the accepted-to-submitted stage is observed, the
    // dead letter is gone and the breaker closes.
    erp.up.store(true, std::sync::atomic::Ordering::SeqCst);
    let ops = app.as_key("test-ops-key");
    let letters = ops
        .get("/v1/admin/dead-letters?kind=order.accepted")
        .await
        .json();
    let letter = letters["items"][0]["id"].as_str().unwrap().to_owned();
    let r = ops
        .post(
            &format!("/v1/admin/dead-letters/{letter}/replay"),
            &json!({}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let submitted = r#"stockade_order_stage_duration_seconds_count{stage="accepted_to_submitted"}"#;
    let text = scrape_until(&app, submitted, 1.0).await;
    assert_eq!(
        value(&text, r#"stockade_dead_letters{destination="erp"}"#),
        Some(0.0),
        "{text}"
    );
    scrape_until(&app, r#"stockade_breaker_open{destination="erp"}"#, 0.0).await;

    wms.ship(&id, "MET-SHIP-1", &[("CAP-RED", 1)]).await;
    let shipped = r#"stockade_order_stage_duration_seconds_count{stage="submitted_to_shipped"}"#;
    assert_eq!(value(&scrape(&app).await, shipped), Some(1.0));
}

/// `STOCKADE_METRICS_LISTEN` serves the metrics without credentials, and nothing else.
async fn a_metrics_address_of_its_own_needs_no_credentials(b: Backend) {
    let site = Site::new(&b);
    let port = free_port();
    let mut cmd = site.command();
    cmd.env("STOCKADE_METRICS_LISTEN", format!("127.0.0.1:{port}"));
    let server = Server::start(cmd).await;
    // No credentials at all.
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{}/metrics", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let r = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("# TYPE stockade_http_requests_total counter"),
        "{text}"
    );
    let other = client
        .get(format!("http://127.0.0.1:{port}/v1/availability/CAP-RED"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

crate::tests! {
    per_backend: [
        metrics_move_as_requests_refusals_and_dead_letters_happen,
        a_metrics_address_of_its_own_needs_no_credentials,
    ],
}
