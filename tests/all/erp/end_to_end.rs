//! The whole gateway on each adapter, pointed at its fake: availability is served from
//! the projection of the ERP's stock, an order lands in the ERP once and its reservation
//! is handed over once the ERP counts it, and an ERP outage leaves orders captured as
//! pending until it returns. Written once, run per fake.

use std::time::{Duration, Instant};

use libtest_mimic::Trial;
use serde_json::Value;
use time::OffsetDateTime;

use super::conformance::block_on;
use super::{Doc, ErpFake, Fault, Stock};
use crate::harness::{Backend, TestApp, ats_in, policies_with};

const FAST_OUTBOX: &str = "[dispatcher]\ntick_ms = 50\nbackoff_base_ms = 20\nbackoff_max_ms = 200\nbreaker_failures = 3\nbreaker_cooldown_ms = 300\n";

pub fn register<F: ErpFake>(trials: &mut Vec<Trial>) {
    let name = format!(
        "erp::end_to_end::serves_the_projection_and_delivers_orders_once::{}",
        F::NAME
    );
    trials.push(crate::harness::once(&name, || {
        block_on(serves_the_projection_and_delivers_orders_once::<F>());
    }));
}

fn held(sku: &str, location: &str, on_hand: i64, committed: i64) -> Stock {
    Stock {
        sku: sku.into(),
        location: location.into(),
        on_hand,
        committed,
        unavailable: 0,
        incoming: 0,
    }
}

async fn erp_state(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/orders/{id}")).await.json()["erp"].clone()
}

async fn wait_acknowledged(app: &TestApp, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let erp = erp_state(app, id).await;
        if erp["state"] == "acknowledged" {
            return erp;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "order {id} never reached the ERP: {erp}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn serves_the_projection_and_delivers_orders_once<F: ErpFake>() {
    let fake = F::start().await;
    // The ERP stocks two of the demo catalog's SKUs; it holds none of the others.
    fake.seed_stock(&[
        held("CAP-RED", "WH-MAIN", 30, 2),
        held("CAP-RED", "3PL-EAST", 9, 0),
        held("CAP-BLU", "WH-MAIN", 8, 0),
    ]);
    let policies = policies_with(&[("outbox.toml", FAST_OUTBOX)]);
    let app = TestApp::build(
        &Backend::Sqlite,
        policies.path(),
        Some(fake.adapter()),
        |_| {},
    )
    .await
    .as_key("test-shop-key");
    app.state.dispatcher.clone().spawn();
    let services = &app.state.services;
    let safety = |sku: &str, location: &str| {
        let (sku, location) = (sku.to_owned(), location.to_owned());
        async move {
            services.store.positions(&[sku], &[location]).await.unwrap()[0]
                .position
                .safety_stock
        }
    };

    // Availability comes from the ERP's figures, with the time they were read.
    let before = OffsetDateTime::now_utc();
    let report = services.sweep_projection(10).await.unwrap();
    assert!(report.skus >= 20 && report.changed >= 1, "{report:?}");
    let a = app.get("/v1/availability/CAP-RED?fresh=1").await.json();
    let main_safety = safety("CAP-RED", "WH-MAIN").await;
    assert_eq!(ats_in(&a, "WH-MAIN"), 30 - 2 - main_safety, "{a}");
    let east_safety = safety("CAP-RED", "3PL-EAST").await;
    assert_eq!(ats_in(&a, "3PL-EAST"), (9 - east_safety).max(0), "{a}");
    let as_of = OffsetDateTime::parse(
        a["as_of"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(as_of >= before - time::Duration::seconds(1), "{a}");
    let tee = app.get("/v1/availability/TEE-NVY-M?fresh=1").await.json();
    assert_eq!(tee["available_to_sell"], 0, "the ERP holds none: {tee}");

    // An order lands in the ERP once, which commits its units where Stockade reserved
    // them; the next sweep hands the reservation over, so it is counted once.
    let first = app.order("E2E-1", &[("CAP-RED", 2)]).await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    let erp = wait_acknowledged(&app, &first_id).await;
    assert!(
        erp["reference"].as_str().is_some_and(|r| !r.is_empty()),
        "{erp}"
    );
    assert_eq!(fake.documents_with_ref(Doc::SalesOrder, &first_id), 1);
    let report = services.sweep_projection(10).await.unwrap();
    assert_eq!(report.held_locally, 0, "{report:?}");
    let a = app.get("/v1/availability/CAP-RED?fresh=1").await.json();
    assert_eq!(ats_in(&a, "WH-MAIN"), 30 - 2 - main_safety - 2, "{a}");

    // The ERP goes down: orders are still taken, and wait as pending.
    fake.inject(Fault::Down(true));
    let second = app.order("E2E-2", &[("CAP-RED", 1)]).await;
    let second_id = second["id"].as_str().unwrap().to_owned();
    assert_eq!(second["erp"]["state"], "pending");
    assert!(
        services.sweep_projection(10).await.is_err(),
        "a sweep against a down ERP fails"
    );
    let a = app.get("/v1/availability/CAP-RED?fresh=1").await.json();
    assert_eq!(
        ats_in(&a, "WH-MAIN"),
        30 - 2 - main_safety - 2 - 1,
        "the last figures stand, less what was taken since: {a}"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(erp_state(&app, &second_id).await["state"], "pending");
    assert_eq!(fake.documents_with_ref(Doc::SalesOrder, &second_id), 0);

    // It returns: the waiting order is delivered, once, and nothing is sent twice.
    fake.inject(Fault::Down(false));
    wait_acknowledged(&app, &second_id).await;
    assert_eq!(fake.documents_with_ref(Doc::SalesOrder, &second_id), 1);
    assert_eq!(fake.documents_with_ref(Doc::SalesOrder, &first_id), 1);
    let report = services.sweep_projection(10).await.unwrap();
    assert_eq!(report.held_locally, 0, "{report:?}");
    let a = app.get("/v1/availability/CAP-RED?fresh=1").await.json();
    assert_eq!(ats_in(&a, "WH-MAIN"), 30 - 2 - main_safety - 2 - 1, "{a}");
    drop(policies);
}
