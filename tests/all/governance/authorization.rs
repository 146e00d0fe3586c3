//! Scopes per route, channels per client: another channel's objects do not exist, and no
//! storefront reaches an admin route.

use axum::http::{Method, StatusCode};
use serde_json::json;
use stockade::policy::Policies;

use super::tokens;
use crate::harness::Backend;
use crate::harness::{TestApp, fixture_policies, now, order_body};

async fn each_route_needs_its_scope(b: Backend) {
    let app = TestApp::governed(&b).await;
    let cases = [
        (
            "test-wms-key",
            Method::GET,
            "/v1/availability/TEE-BLK-M",
            "availability:read",
        ),
        ("test-shop-key", Method::POST, "/v1/events", "events:write"),
        (
            "test-limited-key",
            Method::POST,
            "/v1/orders",
            "orders:write",
        ),
        ("test-ops-key", Method::POST, "/v1/returns", "returns:write"),
    ];
    for (key, method, uri, scope) in cases {
        let body = Some(b"{}".to_vec());
        let r = app
            .as_key(key)
            .send(
                method,
                uri,
                &[
                    ("content-type", "application/json"),
                    ("idempotency-key", "k"),
                ],
                body,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{key} {uri}");
        assert_eq!(r.code(), "insufficient-scope");
        assert_eq!(r.json()["scope"], scope);
    }
}

async fn every_admin_route_refuses_a_storefront(b: Backend) {
    let app = TestApp::governed(&b).await;
    let policies = Policies::load(&fixture_policies()).unwrap();
    let admin: Vec<_> = policies
        .routes
        .iter()
        .filter(|r| r.scope.as_deref() == Some("admin"))
        .collect();
    assert!(!admin.is_empty());
    let portal = app.with_auth(Some(format!("Bearer {}", tokens::valid())));
    for route in admin {
        let method: Method = route.method.parse().unwrap();
        for caller in [
            app.as_key("test-shop-key"),
            app.as_key("test-market-key"),
            portal.clone(),
        ] {
            let r = caller.send(method.clone(), &route.path, &[], None).await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{} {}",
                route.method,
                route.path
            );
            assert_eq!(r.code(), "insufficient-scope");
        }
        let r = app
            .as_key("test-ops-key")
            .send(method, &route.path, &[], None)
            .await;
        // The admin client gets past authorization (a template path is a 404, an empty
        // body a 415: answers from inside, not refusals at the door).
        assert!(
            !matches!(r.status.as_u16(), 401 | 403),
            "ops refused on {} {}",
            route.method,
            route.path
        );
    }
}

async fn another_channels_objects_answer_404_on_every_id_route(b: Backend) {
    let app = TestApp::governed(&b).await;
    let shop = app.as_key("test-shop-key");
    let order = shop
        .post(
            "/v1/orders",
            &order_body("X-1", &[("CAP-RED", 2)]),
            Some("x1"),
        )
        .await
        .json();
    let order_id = order["id"].as_str().unwrap().to_owned();
    let shipped = app
        .as_key("test-wms-key")
        .post(
            "/v1/events",
            &json!({"events": [{"id": "s1", "type": "shipment.updated", "source": "wms", "occurred_at": now(),
                "data": {"order_id": order_id, "shipment_id": "S1", "status": "shipped", "lines": [{"sku": "CAP-RED", "quantity": 2}]}}]}),
            None,
        )
        .await;
    assert_eq!(shipped.json()["results"][0]["status"], "applied");
    let rma = shop
        .post("/v1/returns", &json!({"order_id": order_id, "lines": [{"sku": "CAP-RED", "quantity": 1, "reason": "r"}]}), Some("r1"))
        .await
        .json();
    let rma_id = rma["id"].as_str().unwrap().to_owned();

    // Every route with an {id}, whichever resource it names.
    let market = app.as_key("test-market-key");
    let mut checked = 0;
    for (method, template) in stockade::api::served_routes() {
        // Admin routes are not bound to channels; their scope is the gate.
        if !template.contains("{id}") || template.starts_with("/v1/admin/") {
            continue;
        }
        let id = if template.starts_with("/v1/returns") {
            &rma_id
        } else {
            &order_id
        };
        let uri = template.replace("{id}", id);
        let r = market
            .send(
                method.parse().unwrap(),
                &uri,
                &[("content-type", "application/json")],
                Some(b"{}".to_vec()),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{method} {uri} leaked another channel's object"
        );
        assert_eq!(r.code(), "not-found");
        // The owner still sees it, so the 404 is isolation, not absence.
        assert_ne!(
            shop.send(method.parse().unwrap(), &uri, &[], None)
                .await
                .status,
            StatusCode::NOT_FOUND,
            "{uri}"
        );
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} id routes checked");
    let r = market
        .post("/v1/returns", &json!({"order_id": order_id, "lines": [{"sku": "CAP-RED", "quantity": 1, "reason": "r"}]}), Some("r2"))
        .await;
    assert_eq!(r.code(), "unknown-order");
    assert_eq!(
        market.get("/v1/orders?external_id=X-1").await.json()["items"],
        json!([])
    );
    let mut foreign = order_body("X-2", &[("CAP-RED", 1)]);
    foreign["channel"] = json!("web");
    assert_eq!(
        market.post("/v1/orders", &foreign, Some("x2")).await.code(),
        "channel-not-allowed"
    );
}

crate::tests! { per_backend: [each_route_needs_its_scope, every_admin_route_refuses_a_storefront, another_channels_objects_answer_404_on_every_id_route] }
