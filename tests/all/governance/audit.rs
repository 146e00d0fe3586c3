//! The audit chain: mutations, admin calls and refusals are recorded without bodies or
//! secrets; the admin API pages and filters them; tampering is detected.

use axum::http::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::harness::Backend;
use crate::harness::{TestApp, order_body};

fn verify(app: &TestApp) -> std::process::Output {
    app.command(&["audit", "verify"])
}

async fn entries(app: &TestApp, query: &str) -> Value {
    let r = app
        .as_key("test-ops-key")
        .get(&format!("/v1/admin/audit?{query}"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.json()
}

async fn mutations_admin_calls_and_refusals_are_recorded(b: Backend) {
    let app = TestApp::governed(&b).await;
    let body = order_body("A-1", &[("CAP-RED", 1)]);
    let bytes = serde_json::to_vec(&body).unwrap();
    let created = app
        .as_key("test-shop-key")
        .post("/v1/orders", &body, Some("audit-key-1"))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let order_id = created.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get("/v1/availability/CAP-RED").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.as_key("test-shop-key")
            .get("/v1/admin/audit")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    for _ in 0..6 {
        app.as_key("test-limited-key")
            .get("/v1/availability/CAP-RED")
            .await;
    }
    // Reads that were let in are not audited: availability traffic would drown the log.
    app.as_key("test-shop-key")
        .get("/v1/availability/CAP-RED")
        .await;

    let all = entries(&app, "").await;
    let items = all["items"].as_array().unwrap();
    let statuses: Vec<u64> = items
        .iter()
        .map(|e| e["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 401, 403, 429], "{items:#?}");
    let order = &items[0];
    assert_eq!(order["client_id"], "shop");
    assert_eq!(order["route"], "/v1/orders");
    assert_eq!(order["resource_id"], order_id.as_str());
    assert_eq!(order["idempotency_key"], "audit-key-1");
    assert_eq!(order["body_sha256"], hex::encode(Sha256::digest(&bytes)));
    assert!(order["request_id"].as_str().unwrap().len() >= 32);
    assert_eq!(items[1]["client_id"], Value::Null);
    assert_eq!(items[3]["client_id"], "limited");
    let text = serde_json::to_string(&all).unwrap();
    for secret in ["test-shop-key", "buyer@example.com", "Test Buyer"] {
        assert!(!text.contains(secret), "the audit log leaks {secret}");
    }
    // The admin read itself is audited too.
    let again = entries(&app, "route=/v1/admin/audit").await;
    assert!(
        again["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["status"] == 200 && e["client_id"] == "ops")
    );
}

async fn the_admin_api_filters_and_pages(b: Backend) {
    let app = TestApp::governed(&b).await;
    for i in 0..5 {
        app.as_key("test-shop-key")
            .post(
                "/v1/orders",
                &order_body(&format!("P-{i}"), &[("CAP-RED", 1)]),
                Some(&format!("p{i}")),
            )
            .await;
    }
    app.get("/v1/orders?external_id=P-1").await;
    let only_401 = entries(&app, "status=401").await;
    assert_eq!(only_401["items"].as_array().unwrap().len(), 1);
    let first = entries(&app, "client=shop&limit=2").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let next = first["next_after"].as_i64().unwrap();
    let second = entries(&app, &format!("client=shop&limit=2&after={next}")).await;
    assert!(second["items"][0]["seq"].as_i64().unwrap() > next);
    let r = app
        .as_key("test-ops-key")
        .get("/v1/admin/audit?limit=501")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "invalid-parameter");
    let r = app
        .as_key("test-ops-key")
        .get("/v1/admin/audit?since=yesterday")
        .await;
    assert_eq!(r.code(), "invalid-parameter");
}

async fn the_chain_detects_an_edited_or_removed_entry(b: Backend) {
    let app = TestApp::governed(&b).await;
    for i in 0..4 {
        app.as_key("test-shop-key")
            .post(
                "/v1/orders",
                &order_body(&format!("T-{i}"), &[("CAP-RED", 1)]),
                Some(&format!("t{i}")),
            )
            .await;
    }
    let ok = verify(&app);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("audit ok: 4 entries"));

    app.raw_sql("UPDATE audit_log SET status = 200 WHERE seq = 2")
        .await
        .unwrap();
    let broken = verify(&app);
    assert!(!broken.status.success());
    let err = String::from_utf8_lossy(&broken.stderr);
    assert!(err.contains("entry 2") && err.contains("edited"), "{err}");

    app.raw_sql("UPDATE audit_log SET status = 201 WHERE seq = 2")
        .await
        .unwrap();
    assert!(
        verify(&app).status.success(),
        "restoring the field restores the chain"
    );
    app.raw_sql("DELETE FROM audit_log WHERE seq = 3")
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&verify(&app).stderr).into_owned();
    assert!(err.contains("entry 3") && err.contains("missing"), "{err}");
}

crate::tests! { per_backend: [mutations_admin_calls_and_refusals_are_recorded, the_admin_api_filters_and_pages, the_chain_detects_an_edited_or_removed_entry] }
