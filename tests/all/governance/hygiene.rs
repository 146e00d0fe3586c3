//! Versioning and hygiene: deprecation and sunset, trace context, security headers, CORS,
//! body and JSON caps.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::harness::Backend;
use crate::harness::{TestApp, order_body, policies_with};

async fn deprecated_routes_say_so_and_retired_ones_answer_410(b: Backend) {
    let routes = std::fs::read_to_string(format!("{}/tests/fixtures/policies/routes.toml", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .replace(
            "path = \"/v1/orders/{id}/shipments\"\nscope = \"orders:read\"",
            "path = \"/v1/orders/{id}/shipments\"\nscope = \"orders:read\"\ndeprecated = \"2026-01-01\"\nsunset = \"2099-01-01\"\nlink = \"https://docs.example.com/v2-shipments\"",
        )
        .replace(
            "path = \"/v1/returns/{id}\"\nscope = \"orders:read\"",
            "path = \"/v1/returns/{id}\"\nscope = \"orders:read\"\ndeprecated = \"2020-01-01\"\nsunset = \"2020-06-30\"",
        );
    let dir = policies_with(&[("routes.toml", &routes)]);
    let app = TestApp::with_policies(&b, dir.path())
        .await
        .as_key("test-shop-key");
    let order = app
        .post(
            "/v1/orders",
            &order_body("D-1", &[("CAP-RED", 1)]),
            Some("d1"),
        )
        .await
        .json();
    let r = app
        .get(&format!(
            "/v1/orders/{}/shipments",
            order["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("deprecation"), Some("@1767225600"));
    assert_eq!(r.header("sunset"), Some("Thu, 01 Jan 2099 00:00:00 GMT"));
    assert_eq!(
        r.header("link"),
        Some("<https://docs.example.com/v2-shipments>; rel=\"deprecation\"; type=\"text/html\"")
    );
    let r = app.get("/v1/returns/rma_01JEZ9A7C5D3E1F0G9H8J7K6L5").await;
    assert_eq!(r.status, StatusCode::GONE);
    assert_eq!(r.code(), "gone");
    assert!(r.header("sunset").is_some());
    assert!(
        app.get(&format!("/v1/orders/{}", order["id"].as_str().unwrap()))
            .await
            .header("deprecation")
            .is_none()
    );
}

async fn trace_context_is_kept_or_started(b: Backend) {
    let app = TestApp::governed(&b).await.as_key("test-shop-key");
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r = app
        .send(
            Method::GET,
            "/v1/availability/CAP-RED",
            &[("traceparent", tp)],
            None,
        )
        .await;
    assert_eq!(r.header("traceparent"), Some(tp));
    for sent in [None, Some("00-zzzz-bad-01")] {
        let headers: Vec<(&str, &str)> = sent.iter().map(|v| ("traceparent", *v)).collect();
        let r = app
            .send(Method::GET, "/v1/availability/CAP-RED", &headers, None)
            .await;
        let got = r.header("traceparent").unwrap();
        assert!(
            stockade::governance::layers::valid_traceparent(got) && Some(got) != sent,
            "{got}"
        );
    }
}

async fn security_headers_are_on_every_answer(b: Backend) {
    let app = TestApp::governed(&b).await;
    for (who, uri) in [
        (Some("test-shop-key"), "/v1/availability/CAP-RED"),
        (None, "/v1/availability/CAP-RED"),
        (None, "/livez"),
    ] {
        let app = who.map_or_else(|| app.clone(), |k| app.as_key(k));
        let r = app.get(uri).await;
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{uri}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert!(
            r.header("content-security-policy")
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
}

async fn cors_answers_only_the_listed_origins(b: Backend) {
    let app = TestApp::governed(&b).await;
    let preflight = |origin: &'static str| {
        let app = app.clone();
        async move {
            app.send(
                Method::OPTIONS,
                "/v1/availability/CAP-RED",
                &[
                    ("origin", origin),
                    ("access-control-request-method", "GET"),
                    ("access-control-request-headers", "authorization"),
                ],
                None,
            )
            .await
        }
    };
    let ok = preflight("https://shop.example.com").await;
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://shop.example.com")
    );
    assert_ne!(ok.header("access-control-allow-origin"), Some("*"));
    let other = preflight("https://evil.example.net").await;
    assert_eq!(other.header("access-control-allow-origin"), None);
}

async fn bodies_past_the_caps_are_refused(b: Backend) {
    let app = TestApp::governed(&b).await.as_key("test-shop-key");
    let mut deep = json!(1);
    for _ in 0..17 {
        deep = json!([deep]);
    }
    let mut body = order_body("J-1", &[("CAP-RED", 1)]);
    body["customer"] = json!({"name": deep});
    let r = app.post("/v1/orders", &body, Some("deep")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "json-too-deep");
    let events: Vec<_> = (0..601).map(|i| json!({"id": i})).collect();
    let r = app
        .as_key("test-wms-key")
        .post("/v1/events", &json!({"events": events}), None)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.code(), "too-many-items");
    let huge = vec![b' '; 65_537];
    let r = app
        .send(
            Method::POST,
            "/v1/orders",
            &[
                ("content-type", "application/json"),
                ("idempotency-key", "big"),
            ],
            Some(huge),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "payload-too-large");
}

crate::tests! { per_backend: [deprecated_routes_say_so_and_retired_ones_answer_410, trace_context_is_kept_or_started, security_headers_are_on_every_answer, cors_answers_only_the_listed_origins, bodies_past_the_caps_are_refused] }
