//! The error boundary: problems everywhere, with request ids and stable codes.

use axum::http::{Method, StatusCode};

use crate::harness::Backend;
use crate::harness::TestApp;

async fn unknown_routes_and_wrong_methods_are_problems(b: Backend) {
    let app = TestApp::new(&b).await;
    let r = app.get("/v1/nothing-here").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "route-not-found");
    let r = app.send(Method::DELETE, "/v1/orders", &[], None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.code(), "method-not-allowed");
    let allow = r.header("allow").unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
}

async fn the_request_id_is_echoed_and_carried_by_problems(b: Backend) {
    let app = TestApp::new(&b).await;
    let r = app
        .send(
            Method::GET,
            "/v1/availability/NOPE",
            &[("x-request-id", "trace-me-42")],
            None,
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("trace-me-42"));
    assert_eq!(r.json()["request_id"], "trace-me-42");
    let r = app.get("/livez").await;
    assert!(
        r.header("x-request-id").is_some_and(|id| id.len() >= 32),
        "generated when absent"
    );
}

async fn problem_types_resolve(b: Backend) {
    let app = TestApp::new(&b).await;
    let r = app.get("/problems/insufficient-stock").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], 409);
    assert_eq!(
        app.get("/problems/no-such-problem").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn health_routes_answer(b: Backend) {
    let app = TestApp::new(&b).await;
    assert_eq!(app.get("/livez").await.json()["status"], "ok");
    assert_eq!(app.get("/readyz").await.json()["status"], "ok");
}

crate::tests! { per_backend: [unknown_routes_and_wrong_methods_are_problems, the_request_id_is_echoed_and_carried_by_problems, problem_types_resolve, health_routes_answer] }
