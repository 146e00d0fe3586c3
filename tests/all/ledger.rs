//! The movement ledger is the truth: append-only, and positions are its fold.

use crate::harness::TestApp;

#[tokio::test]
async fn positions_equal_the_fold_after_every_kind_of_movement() {
    let app = TestApp::new().await;
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

#[tokio::test]
async fn the_ledger_refuses_updates_and_deletes() {
    let app = TestApp::new().await;
    let db = app.dir.path().join("stockade.db");
    let url = format!("sqlite://{}", db.display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let update = sqlx::query("UPDATE movements SET d_on_hand = d_on_hand + 1")
        .execute(&mut conn)
        .await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("DELETE FROM movements")
        .execute(&mut conn)
        .await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
}
