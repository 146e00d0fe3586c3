//! API keys: as `Authorization: Bearer` or `X-Api-Key`; anything else is 401.

use axum::http::{Method, StatusCode};

use crate::harness::Backend;
use crate::harness::TestApp;

async fn a_key_works_in_either_header(b: Backend) {
    let app = TestApp::governed(&b).await;
    assert_eq!(
        app.as_key("test-shop-key")
            .get("/v1/availability/TEE-BLK-M")
            .await
            .status,
        StatusCode::OK
    );
    let r = app
        .send(
            Method::GET,
            "/v1/availability/TEE-BLK-M",
            &[("x-api-key", "test-shop-key")],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

async fn missing_and_wrong_keys_are_401_with_a_challenge(b: Backend) {
    let app = TestApp::governed(&b).await;
    for auth in [
        None,
        Some("Bearer nope"),
        Some("Bearer test-shop-key-but-longer"),
        Some("Basic dGVzdDp0ZXN0"),
    ] {
        let r = app
            .with_auth(auth.map(str::to_owned))
            .get("/v1/availability/TEE-BLK-M")
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(r.code(), "unauthenticated");
        assert!(
            r.header("www-authenticate")
                .unwrap()
                .starts_with("Bearer realm=\"stockade\"")
        );
    }
}

async fn operations_routes_stay_open_and_admin_does_not(b: Backend) {
    let app = TestApp::governed(&b).await;
    for open in [
        "/livez",
        "/readyz",
        "/openapi.json",
        "/docs/",
        "/problems/not-found",
    ] {
        assert_eq!(app.get(open).await.status, StatusCode::OK, "{open}");
    }
    for closed in ["/v1/admin/audit", "/metrics", "/v1/orders?external_id=x"] {
        assert_eq!(
            app.get(closed).await.status,
            StatusCode::UNAUTHORIZED,
            "{closed}"
        );
    }
}

async fn the_demo_keys_exist_only_in_the_demo_policy(b: Backend) {
    let app = TestApp::governed(&b).await;
    let r = app
        .as_key("stockade-demo-key")
        .get("/v1/availability/TEE-BLK-M")
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let demo = TestApp::new(&b).await;
    let admin = demo
        .as_key("stockade-demo-admin-key")
        .get("/v1/admin/audit")
        .await;
    assert_eq!(admin.status, StatusCode::OK);
}

crate::tests! { per_backend: [a_key_works_in_either_header, missing_and_wrong_keys_are_401_with_a_challenge, operations_routes_stay_open_and_admin_does_not, the_demo_keys_exist_only_in_the_demo_policy] }
