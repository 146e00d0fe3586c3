//! The OpenAPI document is a tested artifact: committed, compared, and served.

use axum::http::StatusCode;

use crate::harness::Backend;
use crate::harness::TestApp;

fn the_committed_spec_matches_the_code() {
    let generated = stockade::api::openapi().to_pretty_json().unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/v1.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/v1.json is stale; regenerate it with `cargo run -- openapi > openapi/v1.json`"
    );
}

fn every_route_documents_its_problems_and_the_spec_is_3_1() {
    let spec: serde_json::Value =
        serde_json::from_str(&stockade::api::openapi().to_json().unwrap()).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(
                !responses.is_empty(),
                "{method} {path} documents no responses"
            );
            if path.starts_with("/v1/") {
                let problem = responses.iter().any(|(status, r)| {
                    status.starts_with('4') && r["content"]["application/problem+json"].is_object()
                });
                assert!(problem, "{method} {path} documents no problem response");
            }
        }
    }
    let key = &spec["paths"]["/v1/orders"]["post"]["parameters"][0];
    assert_eq!(key["name"], "Idempotency-Key");
    assert_eq!(key["in"], "header");
}

async fn the_spec_and_the_docs_ui_are_served_without_a_cdn(b: Backend) {
    let app = TestApp::new(&b).await;
    let r = app.get("/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["info"]["title"], "Stockade");
    let r = app.get("/docs/").await;
    assert_eq!(r.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&r.body);
    assert!(html.contains("swagger-ui"));
    assert!(
        !html.contains("cdn") && !html.contains("unpkg"),
        "assets must be vendored"
    );
    let js = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.body.len() > 100_000);
}

crate::tests! { per_backend: [the_spec_and_the_docs_ui_are_served_without_a_cdn], once: [the_committed_spec_matches_the_code, every_route_documents_its_problems_and_the_spec_is_3_1] }
