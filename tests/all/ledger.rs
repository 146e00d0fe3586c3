//! The movement ledger is the truth: append-only, and positions are its fold.

use crate::harness::Backend;
use crate::harness::TestApp;

async fn positions_equal_the_fold_after_every_kind_of_movement(b: Backend) {
    let app = TestApp::new(&b).await;
    let o = app.order("L1", &[("TEE-BLK-S", 4), ("MUG-LOGO", 2)]).await;
    let id = o["id"].as_str().unwrap();
    app.ship(id, "S-L1", &[("TEE-BLK-S", 4)]).await;
    let other = app.order("L2", &[("TEE-BLK-S", 1)]).await;
    app.post(
        &format!("/v1/orders/{}/cancel", other["id"].as_str().unwrap()),
        &serde_json::json!({}),
        None,
    )
    .await;
    app.assert_ledger_consistent().await;
}

async fn the_ledger_refuses_updates_and_deletes(b: Backend) {
    let app = TestApp::new(&b).await;
    let update = app
        .raw_sql("UPDATE movements SET d_on_hand = d_on_hand + 1")
        .await;
    assert!(update.unwrap_err().contains("append-only"));
    let delete = app.raw_sql("DELETE FROM movements").await;
    assert!(delete.unwrap_err().contains("append-only"));
}

crate::tests! { per_backend: [positions_equal_the_fold_after_every_kind_of_movement, the_ledger_refuses_updates_and_deletes] }
