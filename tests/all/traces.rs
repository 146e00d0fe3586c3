//! Spans leave a real gateway process over OTLP/HTTP when an endpoint is configured: an
//! order with a caller's `traceparent` is one trace holding the request, the service and
//! store steps below it, the ERP delivery the outbox makes later and the ERP's calls,
//! whose `traceparent` names the exported call span; a request without one is the root of
//! the trace its answer names. Nothing is exported on a timer in this test, so what the
//! collector holds was flushed at shutdown.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::Value;

use crate::erp::Stock;
use crate::erp::netsuite_fake::FakeNetSuite;
use crate::harness::{
    Backend, ExportedSpan, FakeCollector, Server, Site, get_json, http_as, order_body,
    policies_with,
};

const TRACE: &str = "7d3c1f0e2b4a59687a8b9c0d1e2f3a4b";
const CALLER_SPAN: &str = "c0ffee00d15ea5e1";
const SERVICE: &str = "stockade-under-test";
const FAST_OUTBOX: &str = "[dispatcher]\ntick_ms = 50\nbackoff_base_ms = 20\nbackoff_max_ms = 200\n\
                           breaker_failures = 3\nbreaker_cooldown_ms = 300\n";

fn named<'a>(spans: &'a [ExportedSpan], name: &str) -> Vec<&'a ExportedSpan> {
    spans.iter().filter(|s| s.name == name).collect()
}

/// The one span called `name`, failing with the whole trace when there is not exactly one.
fn one<'a>(spans: &'a [ExportedSpan], name: &str) -> &'a ExportedSpan {
    match named(spans, name).as_slice() {
        [span] => span,
        other => panic!("{} `{name}` spans in {spans:#?}", other.len()),
    }
}

/// Whether `span` descends from `ancestor` through the trace's own parent links.
fn descends(spans: &[ExportedSpan], span: &ExportedSpan, ancestor: &ExportedSpan) -> bool {
    let by_id: HashMap<&str, &ExportedSpan> =
        spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let mut at = span;
    while let Some(parent) = at.parent_id.as_deref() {
        if parent == ancestor.span_id {
            return true;
        }
        match by_id.get(parent) {
            Some(p) => at = p,
            None => return false,
        }
    }
    false
}

async fn an_order_is_one_exported_trace_from_request_to_erp(b: Backend) {
    let collector = FakeCollector::start().await;
    let netsuite = FakeNetSuite::start().await;
    netsuite.seed(&[Stock {
        sku: "TRC-1".into(),
        location: "WH-MAIN".into(),
        on_hand: 50,
        committed: 0,
        unavailable: 0,
        incoming: 0,
    }]);
    let policies = policies_with(&[("outbox.toml", FAST_OUTBOX)]);
    let site = Site::with_policies(&b, policies.path());
    let out = site.import_stock("sku,location,on_hand,safety_stock\nTRC-1,WH-MAIN,50,0\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cmd = site.command();
    cmd.env("STOCKADE_OTLP_ENDPOINT", &collector.base)
        .env("OTEL_SERVICE_NAME", SERVICE)
        // Ten minutes between scheduled exports: only the flush at shutdown sends anything.
        .env("OTEL_BSP_SCHEDULE_DELAY", "600000")
        .envs(netsuite.env());
    let server = Server::start(cmd).await;
    let shop = http_as("test-shop-key");

    let r = shop
        .post(format!("{}/v1/orders", server.base))
        .header("idempotency-key", "trace-export-1")
        .header("traceparent", format!("00-{TRACE}-{CALLER_SPAN}-01"))
        .json(&order_body("TRC-ORDER-1", &[("TRC-1", 1)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let order: Value = r.json().await.unwrap();
    let order_url = format!(
        "{}/v1/orders/{}",
        server.base,
        order["id"].as_str().unwrap()
    );

    // The outbox hands the order to the ERP; once it is acknowledged, its delivery is over.
    let started = Instant::now();
    loop {
        let erp = get_json(&shop, &order_url).await["erp"].clone();
        if erp["state"] == "acknowledged" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the order never reached the ERP: {erp}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let erp_calls = netsuite.calls_in_trace(TRACE);
    assert!(
        erp_calls
            .iter()
            .any(|(call, _)| call == "POST /services/rest/record/v1/salesOrder"),
        "the sales order was made outside the order's trace: {erp_calls:?}"
    );

    // Without a traceparent the gateway begins the trace its answer names.
    let r = shop
        .get(format!("{}/v1/availability/TRC-1", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answered = r.headers()["traceparent"].to_str().unwrap().to_owned();
    let fresh_trace = answered.split('-').nth(1).unwrap().to_owned();

    assert!(
        collector.spans().is_empty(),
        "exported before shutdown: {:#?}",
        collector.spans()
    );
    let status = server.stop().await;
    assert!(status.success(), "the gateway stopped with {status}");

    let spans = collector.trace(TRACE);
    assert!(
        spans.iter().all(|s| s.service == SERVICE),
        "service.name: {spans:#?}"
    );
    let request = one(&spans, "request");
    assert_eq!(
        request.parent_id.as_deref(),
        Some(CALLER_SPAN),
        "{request:#?}"
    );
    assert_eq!(request.kind, SpanKind::Server);
    assert_eq!(request.attributes["http.path"], "/v1/orders");
    assert_eq!(request.attributes["http.response.status_code"], "201");

    let accept = one(&spans, "accept order");
    assert_eq!(accept.parent_id.as_deref(), Some(request.span_id.as_str()));
    let store = one(&spans, "store accept order");
    assert_eq!(store.parent_id.as_deref(), Some(accept.span_id.as_str()));

    // The delivery hangs from the request that caused it, the ERP's calls from the delivery.
    let deliveries: Vec<_> = named(&spans, "deliver")
        .into_iter()
        .filter(|d| d.attributes.get("destination").map(String::as_str) == Some("erp"))
        .collect();
    assert!(!deliveries.is_empty(), "no ERP delivery in {spans:#?}");
    for d in &deliveries {
        assert_eq!(
            d.parent_id.as_deref(),
            Some(request.span_id.as_str()),
            "{d:#?}"
        );
    }
    let outbound = named(&spans, "outbound");
    assert!(!outbound.is_empty(), "no ERP call in {spans:#?}");
    for call in &outbound {
        assert_eq!(call.kind, SpanKind::Client);
        assert!(
            deliveries.iter().any(|d| descends(&spans, call, d)),
            "{call:#?}"
        );
        assert_eq!(call.attributes["server.address"], "127.0.0.1");
        assert!(
            call.attributes.contains_key("http.request.method"),
            "{call:#?}"
        );
        assert!(
            call.attributes.contains_key("http.response.status_code"),
            "{call:#?}"
        );
        assert!(
            call.attributes
                .values()
                .all(|v| !v.contains("/services/") && !v.contains('?')),
            "a path or query leaked into {call:#?}"
        );
    }
    // What the ERP was told is the exported call span, one each.
    for (call, parent) in &erp_calls {
        assert!(
            outbound.iter().any(|s| &s.span_id == parent),
            "{call} names parent {parent}, which no exported call span is: {outbound:#?}"
        );
    }

    // Every link holds: each parent is a span of the trace, but for the caller's.
    for span in &spans {
        let parent = span.parent_id.as_deref();
        assert!(
            parent == Some(CALLER_SPAN) || spans.iter().any(|s| Some(s.span_id.as_str()) == parent),
            "`{}` hangs from {parent:?}, outside the trace: {spans:#?}",
            span.name
        );
    }

    let begun = collector.trace(&fresh_trace);
    let root = one(&begun, "request");
    assert_eq!(
        root.parent_id, None,
        "a trace begun here has its request as root"
    );
    assert_eq!(root.attributes["http.path"], "/v1/availability/TRC-1");
    let read = one(&begun, "availability");
    assert_eq!(read.parent_id.as_deref(), Some(root.span_id.as_str()));
    assert!(
        named(&begun, "availability read")
            .iter()
            .all(|s| descends(&begun, s, read)),
        "{begun:#?}"
    );
}

crate::tests! {
    per_backend: [an_order_is_one_exported_trace_from_request_to_erp],
}
