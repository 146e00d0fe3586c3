//! The ERP projection: a sweep takes the ERP's figures over with their `as_of`, keeps the
//! reservations of orders the ERP does not count yet subtracted, and hands them over once
//! a snapshot taken after the ERP acknowledged the order counts it, so no unit is counted
//! twice or forgotten.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use stockade::domain::quantity::Position;
use stockade::store::{PositionRow, ProjectionOutcome, ProjectionSnapshot};

use crate::harness::{Backend, ScriptedErp, TestApp, ats_in, policies_with};

const FAST_OUTBOX: &str = "[dispatcher]\ntick_ms = 50\nbackoff_base_ms = 20\nbackoff_max_ms = 200\nbreaker_failures = 3\nbreaker_cooldown_ms = 300\n";

/// The app, and the policy directory it must not outlive.
async fn app_with(b: &Backend, erp: Arc<ScriptedErp>) -> (TestApp, tempfile::TempDir) {
    let policies = policies_with(&[("outbox.toml", FAST_OUTBOX)]);
    let app = TestApp::build(b, policies.path(), Some(erp), |_| {})
        .await
        .as_key("test-shop-key");
    (app, policies)
}

async fn position(app: &TestApp, sku: &str, location: &str) -> PositionRow {
    let rows = app
        .state
        .services
        .store
        .positions(&[sku.to_owned()], &[location.to_owned()])
        .await
        .unwrap();
    rows.into_iter().next().expect("a position")
}

async fn wait_acknowledged(app: &TestApp, id: &str) {
    let started = Instant::now();
    loop {
        let o = app.get(&format!("/v1/orders/{id}")).await.json();
        if o["erp"]["state"] == "acknowledged" {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "order {id} never reached the ERP: {o}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Applies a snapshot of CAP-RED at WH-MAIN read from `taken_at`, as a sweep would.
async fn snapshot_of_cap_red(
    app: &TestApp,
    taken_at: OffsetDateTime,
    on_hand: i64,
    committed: i64,
) -> ProjectionOutcome {
    let figures = [PositionRow {
        sku: "CAP-RED".into(),
        location: "WH-MAIN".into(),
        position: Position {
            on_hand,
            committed,
            ..Position::default()
        },
        updated_at: OffsetDateTime::now_utc(),
        as_of: None,
    }];
    let snapshot = ProjectionSnapshot {
        system: "scripted",
        taken_at,
        skus: &["CAP-RED".to_owned()],
        locations: &["WH-MAIN".to_owned()],
        figures: &figures,
    };
    app.state
        .services
        .store
        .apply_projection(&snapshot)
        .await
        .unwrap()
}

async fn a_reservation_is_counted_once_before_during_and_after_the_hand_over(b: Backend) {
    let erp = Arc::new(ScriptedErp::default());
    let (app, _policies) = app_with(&b, erp.clone()).await;
    app.state.dispatcher.clone().spawn();
    let services = &app.state.services;
    let safety = position(&app, "CAP-RED", "WH-MAIN")
        .await
        .position
        .safety_stock;
    erp.set("CAP-RED", "WH-MAIN", 40, 4);
    erp.set("CAP-RED", "3PL-EAST", 0, 0);

    let before = OffsetDateTime::now_utc();
    let report = services.sweep_projection(500).await.unwrap();
    assert!(
        report.skus >= 20,
        "the whole demo catalog is swept: {report:?}"
    );
    assert_eq!(report.held_locally, 0);
    let p = position(&app, "CAP-RED", "WH-MAIN").await;
    assert_eq!((p.position.on_hand, p.position.committed), (40, 4));
    assert_eq!(
        p.position.safety_stock, safety,
        "safety stock is policy, not the ERP's"
    );
    assert!(p.as_of.unwrap() >= before, "as_of is the snapshot's time");
    let a = app.get("/v1/availability/CAP-RED?fresh=1").await.json();
    assert_eq!(ats_in(&a, "WH-MAIN"), 40 - 4 - safety, "{a}");
    assert_eq!(
        ats_in(&a, "3PL-EAST"),
        0,
        "an unreported position holds nothing"
    );
    let as_of = OffsetDateTime::parse(
        a["as_of"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(
        as_of >= before - time::Duration::seconds(1),
        "the answer carries the ERP's time: {a}"
    );

    // The ERP takes no orders: the reservation is Stockade's alone, and every sweep keeps
    // it subtracted on top of the ERP's figure.
    let order = app.order("PROJ-1", &[("CAP-RED", 3)]).await;
    let id = order["id"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let report = services.sweep_projection(500).await.unwrap();
        assert_eq!(report.held_locally, 3);
        let p = position(&app, "CAP-RED", "WH-MAIN").await.position;
        assert_eq!((p.on_hand, p.committed), (40, 4 + 3));
    }

    // The ERP takes the order and commits its stock. A snapshot read before the
    // acknowledgement was recorded may or may not count it: it stays held (too cautious
    // for one sweep, never forgotten).
    let before_ack = OffsetDateTime::now_utc();
    erp.taking_orders.store(true, Ordering::SeqCst);
    wait_acknowledged(&app, &id).await;
    let outcome = snapshot_of_cap_red(&app, before_ack, 40, 7).await;
    assert_eq!(
        outcome.held_locally, 3,
        "acknowledged after the snapshot began"
    );

    // A snapshot read after the acknowledgement counts it: the reservation is handed over.
    let report = services.sweep_projection(500).await.unwrap();
    assert_eq!(report.held_locally, 0);
    let p = position(&app, "CAP-RED", "WH-MAIN").await.position;
    assert_eq!(
        (p.on_hand, p.committed),
        (40, 7),
        "counted once, in the ERP"
    );
    let a = app.get("/v1/availability/CAP-RED?fresh=1").await.json();
    assert_eq!(ats_in(&a, "WH-MAIN"), 40 - 7 - safety);

    // An older snapshot arriving late (another instance's) changes nothing.
    let outcome = snapshot_of_cap_red(&app, before_ack, 40, 0).await;
    assert_eq!(outcome.superseded, 1);
    assert!(outcome.changed.is_empty());
    assert_eq!(
        position(&app, "CAP-RED", "WH-MAIN")
            .await
            .position
            .committed,
        7
    );
    app.assert_ledger_consistent().await;
}

async fn a_sweep_reads_the_catalog_in_pages(b: Backend) {
    let erp = Arc::new(ScriptedErp::default());
    let (app, _policies) = app_with(&b, erp.clone()).await;
    let catalog = app
        .state
        .services
        .store
        .catalog_page(None, 1000)
        .await
        .unwrap();
    let report = app.state.services.sweep_projection(7).await.unwrap();
    assert_eq!(report.skus, catalog.len() as u64);
    let reads = erp.reads.lock().unwrap().clone();
    assert_eq!(reads.iter().sum::<usize>(), catalog.len());
    assert!(reads.iter().all(|&n| n <= 7), "{reads:?}");
    assert_eq!(reads.len(), catalog.len().div_ceil(7));
}

async fn a_negative_erp_figure_is_taken_as_nothing_to_sell(b: Backend) {
    let erp = Arc::new(ScriptedErp::default());
    let (app, _policies) = app_with(&b, erp.clone()).await;
    // Shipped before it was received, in an ERP that allows negative stock.
    erp.set("MUG-LOGO", "WH-MAIN", -3, 0);
    erp.set("PEN-SET", "WH-MAIN", 9, 0);
    let report = app.state.services.sweep_projection(500).await.unwrap();
    assert!(report.skus > 0);
    let mug = position(&app, "MUG-LOGO", "WH-MAIN").await;
    assert_eq!(mug.position.on_hand, 0);
    assert_eq!(
        position(&app, "PEN-SET", "WH-MAIN").await.position.on_hand,
        9
    );
    assert_eq!(app.ats_at("MUG-LOGO", "WH-MAIN").await, 0);
    app.assert_ledger_consistent().await;
    // Reconciliation compares like with like: no drift from the floor.
    let run = app
        .state
        .services
        .reconcile("test", &|_, _| {})
        .await
        .unwrap();
    let (_, variances) = app
        .state
        .services
        .reconciliation(&run.id, 100)
        .await
        .unwrap();
    assert!(
        variances.iter().all(|v| v.sku != "MUG-LOGO"),
        "{variances:?}"
    );
}

async fn a_failed_read_keeps_the_last_figures_and_their_age(b: Backend) {
    let erp = Arc::new(ScriptedErp::default());
    let (app, _policies) = app_with(&b, erp.clone()).await;
    erp.set("MUG-LOGO", "WH-MAIN", 12, 0);
    app.state.services.sweep_projection(500).await.unwrap();
    let swept = position(&app, "MUG-LOGO", "WH-MAIN").await;
    erp.stock_unreadable.store(true, Ordering::SeqCst);
    erp.set("MUG-LOGO", "WH-MAIN", 99, 0);
    let failed = app.state.services.sweep_projection(500).await;
    assert!(failed.is_err(), "a failed read is reported, not swallowed");
    let kept = position(&app, "MUG-LOGO", "WH-MAIN").await;
    assert_eq!(kept.position, swept.position);
    assert_eq!(kept.as_of, swept.as_of, "the figure keeps its age");
}

crate::tests! {
    per_backend: [
        a_reservation_is_counted_once_before_during_and_after_the_hand_over,
        a_sweep_reads_the_catalog_in_pages,
        a_failed_read_keeps_the_last_figures_and_their_age,
        a_negative_erp_figure_is_taken_as_nothing_to_sell,
    ],
}
