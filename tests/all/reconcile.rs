//! Reconciliation: drift injected behind Stockade's back (in the ERP, in a store, between a
//! warehouse's count and the figures taken over since) is found by the next run, reported
//! with its variance, corrected where policy allows, announced by `drift.detected` and
//! shown by the drift ratio metric; the command line gates a job on it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stockade::domain::reconcile::Variance;
use stockade::store::Run;
use tempfile::TempDir;

use crate::harness::{Backend, FakeWoo, ScriptedErp, TestApp, WooConfig, now, policies_with};

const OPS: &str = "test-ops-key";
const WMS: &str = "test-wms-key";

/// Channel `web` may be corrected, `marketplace` may not; drift is anything past 2 units.
const CHANNELS: &str = "[[channel]]\nname = \"web\"\nlocations = [\"WH-MAIN\", \"3PL-EAST\"]\ncorrect_drift = true\n\n\
    [[channel]]\nname = \"marketplace\"\nlocations = [\"WH-MAIN\", \"3PL-EAST\"]\n\n\
    [[channel]]\nname = \"b2b\"\nlocations = [\"WH-MAIN\"]\n";
const RECONCILE: &str = "[threshold]\nunits = 2\nratio = 0.0\n";

/// Stores `shop` (channel `web`) and `market` (channel `marketplace`) on fakes, each
/// selling these SKUs, and the policies naming them.
async fn stores(skus: &[&str]) -> (FakeWoo, FakeWoo, TempDir) {
    let config = WooConfig::default();
    let (shop, market) = (
        FakeWoo::start(config.clone()).await,
        FakeWoo::start(config.clone()).await,
    );
    let mut toml = String::new();
    for (name, channel, woo) in [("shop", "web", &shop), ("market", "marketplace", &market)] {
        for sku in skus {
            woo.add_simple_product(sku, Some(0));
        }
        toml.push_str(&format!(
            "[[store]]\nname = \"{name}\"\nchannel = \"{channel}\"\nbase_url = \"{}\"\n\
             consumer_key_file = \"woo.key\"\nconsumer_secret_file = \"woo.secret\"\n\
             webhook_secret_file = \"woo.webhook\"\npoll_interval_seconds = 3600\n\
             unmappable_lines = \"exception\"\nuncoverable_orders = \"backorder\"\ntimeout_ms = 3000\n\n",
            woo.base_url()
        ));
    }
    let policies = policies_with(&[
        ("stores.toml", &toml),
        ("channels.toml", CHANNELS),
        ("reconcile.toml", RECONCILE),
        ("woo.key", &config.consumer_key),
        ("woo.secret", &config.consumer_secret),
        ("woo.webhook", &config.webhook_secret),
    ]);
    (shop, market, policies)
}

/// Maps each store's catalog and writes Stockade's figures there, as a connected store has.
async fn publish(app: &TestApp) {
    for connector in app.state.services.woocommerce.values() {
        connector.discover().await.unwrap();
        connector.sync_stock(None).await.unwrap();
    }
}

async fn ats(app: &TestApp, channel_key: &str, sku: &str) -> i64 {
    let a = app
        .as_key(channel_key)
        .get(&format!("/v1/availability/{sku}"))
        .await
        .json();
    a["available_to_sell"].as_i64().unwrap()
}

/// Starts a run through the admin API and waits for its end.
async fn run_by_api(app: &TestApp) -> Value {
    let ops = app.as_key(OPS);
    let started = ops
        .post("/v1/admin/reconciliations", &json!({}), None)
        .await;
    assert_eq!(started.status, 202, "{:?}", started.body);
    let id = started.json()["id"].as_str().unwrap().to_owned();
    let t0 = Instant::now();
    loop {
        let run = ops
            .get(&format!("/v1/admin/reconciliations/{id}"))
            .await
            .json();
        if run["state"] != "running" {
            return run;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "run never ended: {run}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn entry<'a>(run: &'a Value, source: &str, sku: &str) -> Option<&'a Value> {
    run["variances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["source"] == source && v["sku"] == sku)
}

/// Runs one to its end, and reads back what it found.
async fn reconcile_now(app: &TestApp) -> (Run, Vec<Variance>) {
    let services = &app.state.services;
    let run = services.reconcile("test", &|_, _| {}).await.unwrap();
    let (_, variances) = services.reconciliation(&run.id, 100).await.unwrap();
    (run, variances)
}

async fn erp_drift_is_found_reported_taken_over_and_corrected_on_the_channel(b: Backend) {
    let erp = Arc::new(ScriptedErp::default());
    erp.set("CAP-RED", "WH-MAIN", 40, 0);
    erp.set("CAP-RED", "3PL-EAST", 10, 0);
    erp.set("MUG-LOGO", "WH-MAIN", 30, 0);
    let (shop, market, policies) = stores(&["CAP-RED", "MUG-LOGO"]).await;
    let app = TestApp::build(&b, policies.path(), Some(erp.clone()), |_| {}).await;
    app.state.services.sweep_projection(500).await.unwrap();
    publish(&app).await;
    // CAP-RED keeps 3 units of safety stock at WH-MAIN: 37 + 10 for the web.
    assert_eq!(shop.stock_of("CAP-RED"), Some(47));
    let clean = run_by_api(&app).await;
    assert_eq!(clean["state"], "finished", "{clean}");
    assert_eq!(clean["drifted"], 0, "{clean}");
    assert!(clean["compared"].as_u64().unwrap() > 0, "{clean}");

    // Behind Stockade's back: 7 units of CAP-RED go missing in the ERP, 1 of MUG-LOGO.
    erp.set("CAP-RED", "WH-MAIN", 33, 0);
    erp.set("MUG-LOGO", "WH-MAIN", 29, 0);
    let run = run_by_api(&app).await;
    assert_eq!(run["state"], "finished", "{run}");
    let cap = entry(&run, "erp", "CAP-RED").expect("the ERP's drift is reported");
    assert_eq!(cap["location"], "WH-MAIN");
    assert_eq!(
        (&cap["stockade"], &cap["other"], &cap["variance"]),
        (&json!(40), &json!(33), &json!(-7))
    );
    assert_eq!(cap["over_threshold"], true);
    let mug = entry(&run, "erp", "MUG-LOGO").expect("a small difference is reported too");
    assert_eq!(
        (&mug["variance"], &mug["over_threshold"]),
        (&json!(-1), &json!(false))
    );
    assert_eq!(
        run["drifted"], 3,
        "CAP-RED in the ERP and in both stores: {run}"
    );
    let ratio = run["drift_ratio"].as_f64().unwrap();
    let expected = 3.0 / run["compared"].as_f64().unwrap();
    assert!((ratio - expected).abs() < 1e-9, "{run}");

    // The ERP is the system of record: its figure is taken over, and the web store,
    // whose policy allows it, shows the corrected figure at once.
    assert_eq!(ats(&app, "test-shop-key", "CAP-RED").await, 40);
    let channel = entry(&run, "woocommerce:shop", "CAP-RED").expect("the store's figure drifted");
    assert_eq!(
        (
            &channel["stockade"],
            &channel["other"],
            &channel["location"]
        ),
        (&json!(40), &json!(47), &Value::Null)
    );
    assert_eq!(shop.stock_of("CAP-RED"), Some(40));
    assert_eq!(run["corrected"], 1);
    // The marketplace's policy does not allow corrections: it is reported, and left to the
    // stock change the take-over queued for it like any other.
    let behind = entry(&run, "woocommerce:market", "CAP-RED").expect("reported");
    assert_eq!(behind["variance"], 7);
    assert_eq!(market.stock_of("CAP-RED"), Some(47));

    // One drift.detected in the outbox, naming the run and what drifted.
    let events = app
        .query_column("SELECT payload FROM outbox WHERE kind = 'drift.detected' ORDER BY seq")
        .await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(event["run_id"], run["id"]);
    assert_eq!(event["drifted"], 3);
    let skus: Vec<&str> = event["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, ["CAP-RED", "CAP-RED", "CAP-RED"], "{event}");

    // The metric shows the last run's ratio.
    let metrics = app.as_key(OPS).get("/metrics").await;
    let text = String::from_utf8_lossy(&metrics.body);
    let line = text
        .lines()
        .find(|l| l.starts_with("stockade_drift_ratio "))
        .unwrap_or_else(|| panic!("no drift ratio in\n{text}"));
    let shown: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((shown - ratio).abs() < 1e-9, "{line} vs {ratio}");

    // Listed with the earlier run, newest first.
    let list = app
        .as_key(OPS)
        .get("/v1/admin/reconciliations")
        .await
        .json();
    let ids: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(ids, [&run["id"], &clean["id"]]);
}

async fn a_reservation_the_erp_does_not_count_yet_is_not_drift(b: Backend) {
    let erp = Arc::new(ScriptedErp::default());
    erp.set("SOCK-3PK-M", "WH-MAIN", 55, 0);
    let (_shop, _market, policies) = stores(&[]).await;
    let app = TestApp::build(&b, policies.path(), Some(erp.clone()), |_| {}).await;
    app.state.services.sweep_projection(500).await.unwrap();
    // The ERP takes no orders: this one's reservation is Stockade's alone.
    app.as_key("test-shop-key")
        .order("rec-1", &[("SOCK-3PK-M", 5)])
        .await;
    let (run, variances) = reconcile_now(&app).await;
    assert!(variances.is_empty(), "{variances:?}");
    assert!(run.compared > 0);
    // The ERP commits it before acknowledging it: the projection counts it twice until
    // the acknowledgement (the cautious side of the hand-over), and so does the
    // comparison, which is not drift.
    erp.set("SOCK-3PK-M", "WH-MAIN", 55, 5);
    app.state.services.sweep_projection(500).await.unwrap();
    let (_, variances) = reconcile_now(&app).await;
    assert!(variances.is_empty(), "{variances:?}");
    let shop = app.as_key("test-shop-key");
    assert_eq!(shop.ats_at("SOCK-3PK-M", "WH-MAIN").await, 55 - 10 - 5);
}

async fn a_store_figure_is_rewritten_only_where_the_channel_allows(b: Backend) {
    let (shop, market, policies) = stores(&["TOTE-CANVAS", "PEN-SET"]).await;
    let app = TestApp::build(&b, policies.path(), None, |_| {}).await;
    publish(&app).await;
    let web = ats(&app, "test-shop-key", "TOTE-CANVAS").await;
    let marketplace = ats(&app, "test-market-key", "TOTE-CANVAS").await;
    assert_eq!(shop.stock_of("TOTE-CANVAS"), Some(web));
    // A shop manager changes the figure in both stores.
    shop.set_stock_by_admin("TOTE-CANVAS", Some(web + 9));
    market.set_stock_by_admin("TOTE-CANVAS", Some(marketplace - 5));
    let (run, variances) = reconcile_now(&app).await;
    assert_eq!(run.drifted, 2, "{run:?}");
    assert_eq!(run.corrected, 1, "only the web store may be corrected");
    let of = |source: &str| {
        variances
            .iter()
            .find(|v| v.source == source && v.sku == "TOTE-CANVAS")
            .unwrap_or_else(|| panic!("no {source} entry in {variances:?}"))
            .variance
    };
    assert_eq!((of("woocommerce:shop"), of("woocommerce:market")), (9, -5));
    assert_eq!(shop.stock_of("TOTE-CANVAS"), Some(web));
    assert_eq!(market.stock_of("TOTE-CANVAS"), Some(marketplace - 5));
    // With the embedded ledger there is no ERP to compare with.
    assert!(variances.iter().all(|v| v.source != "erp"), "{variances:?}");
}

async fn a_warehouse_count_is_carried_forward_and_compared(b: Backend) {
    let erp = Arc::new(ScriptedErp::default());
    let (_shop, _market, policies) = stores(&[]).await;
    let app = TestApp::build(&b, policies.path(), Some(erp.clone()), |_| {}).await;
    let wms = app.as_key(WMS);
    let count = json!({"events": [{"id": "cnt-1", "type": "stock.counted", "source": "wms-main",
        "occurred_at": now(), "data": {"sku": "NOTEBOOK-A5", "location": "WH-MAIN", "on_hand": 40, "sequence": 1}}]});
    // A count that confirms the figure moves nothing, and is still the warehouse's word.
    let confirm = json!({"events": [{"id": "cnt-2", "type": "stock.counted", "source": "wms-main",
        "occurred_at": now(), "data": {"sku": "PEN-SET", "location": "WH-MAIN", "on_hand": 44, "sequence": 1}}]});
    let adjust = json!({"events": [{"id": "adj-1", "type": "stock.adjusted", "source": "wms-main",
        "occurred_at": now(), "data": {"sku": "NOTEBOOK-A5", "location": "WH-MAIN", "delta": -2,
        "bucket": "on_hand", "reason": "damaged in handling"}}]});
    for body in [count, confirm, adjust] {
        let r = wms.post("/v1/events", &body, None).await;
        assert_eq!(r.status, 202, "{:?}", r.body);
        assert_eq!(r.json()["results"][0]["status"], "applied", "{:?}", r.body);
    }
    // The ERP's figure, taken over by the sweep, is 3 below the count carried forward.
    erp.set("NOTEBOOK-A5", "WH-MAIN", 35, 0);
    erp.set("PEN-SET", "WH-MAIN", 41, 0);
    app.state.services.sweep_projection(500).await.unwrap();
    let (_, variances) = reconcile_now(&app).await;
    let found = |sku: &str| -> Vec<_> {
        variances
            .iter()
            .filter(|v| v.sku == sku)
            .map(|v| {
                (
                    v.source.clone(),
                    v.location.clone(),
                    v.stockade,
                    v.other,
                    v.variance,
                )
            })
            .collect()
    };
    let at = |stockade, other, variance| {
        let (source, location) = ("warehouse:wms-main".to_owned(), Some("WH-MAIN".to_owned()));
        vec![(source, location, stockade, other, variance)]
    };
    assert_eq!(found("NOTEBOOK-A5"), at(35, 38, 3));
    assert_eq!(found("PEN-SET"), at(41, 44, 3));
    assert!(
        variances.iter().all(|v| v.source != "erp"),
        "the ERP agrees: {variances:?}"
    );
    // Drift in the ERP is taken over, and the same run compares the count with the figure
    // it leaves.
    erp.set("NOTEBOOK-A5", "WH-MAIN", 30, 0);
    let (_, variances) = reconcile_now(&app).await;
    let warehouse = variances
        .iter()
        .find(|v| v.sku == "NOTEBOOK-A5" && v.source.starts_with("warehouse"))
        .unwrap_or_else(|| panic!("{variances:?}"));
    assert_eq!((warehouse.stockade, warehouse.other), (30, 38));
}

async fn the_command_line_reports_and_exits_non_zero_on_drift(b: Backend) {
    // No store: the command runs in its own process while this test waits on it.
    let policies = policies_with(&[("reconcile.toml", RECONCILE)]);
    let app = TestApp::build(&b, policies.path(), None, |_| {}).await;
    let clean = app.command(&["reconcile"]);
    let stdout = String::from_utf8_lossy(&clean.stdout);
    assert!(
        clean.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(stdout.contains("every figure compared agrees"), "{stdout}");

    // The warehouse counts 40; an import then sets 30, which no physical flow explains.
    let r = app
        .as_key(WMS)
        .post(
            "/v1/events",
            &json!({"events": [{"id": "cnt-9", "type": "stock.counted", "source": "wms-main",
                "occurred_at": now(), "data": {"sku": "PEN-SET", "location": "WH-MAIN", "on_hand": 40, "sequence": 1}}]}),
            None,
        )
        .await;
    assert_eq!(r.status, 202);
    let csv = app.dir.path().join("stock.csv");
    std::fs::write(&csv, "sku,location,on_hand\nPEN-SET,WH-MAIN,30\n").unwrap();
    let imported = app.command(&["import", "stock", csv.to_str().unwrap()]);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );

    let drifted = app.command(&["reconcile"]);
    let table = String::from_utf8_lossy(&drifted.stdout);
    assert_eq!(drifted.status.code(), Some(2), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("warehouse:wms-main"))
        .unwrap_or_else(|| panic!("no warehouse row in\n{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "warehouse:wms-main",
            "PEN-SET",
            "WH-MAIN",
            "30",
            "40",
            "+10",
            "yes"
        ]
    );

    let json_run = app.command(&["reconcile", "--json"]);
    assert_eq!(json_run.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&json_run.stdout).unwrap();
    assert_eq!(report["run"]["started_by"], "cli");
    assert_eq!(report["run"]["drifted"], 1);
    assert_eq!(report["variances"][0]["variance"], 10);
}

async fn one_run_at_a_time_and_bad_asks_are_problems(b: Backend) {
    let erp = Arc::new(ScriptedErp::default());
    *erp.read_delay.lock().unwrap() = Duration::from_secs(1);
    let (_shop, _market, policies) = stores(&[]).await;
    let app = TestApp::build(&b, policies.path(), Some(erp.clone()), |_| {}).await;
    let ops = app.as_key(OPS);
    let first = ops
        .post("/v1/admin/reconciliations", &json!({}), None)
        .await;
    assert_eq!(first.status, 202);
    let second = ops
        .post("/v1/admin/reconciliations", &json!({}), None)
        .await;
    assert_eq!(second.status, 409);
    assert_eq!(second.code(), "reconciliation-running");
    let missing = ops.get("/v1/admin/reconciliations/rec_nothing").await;
    assert_eq!(
        (missing.status.as_u16(), missing.code()),
        (404, "not-found".to_owned())
    );
    let bad = ops.get("/v1/admin/reconciliations?limit=0").await;
    assert_eq!(
        (bad.status.as_u16(), bad.code()),
        (400, "invalid-parameter".to_owned())
    );
    // Not an admin: refused before anything runs.
    let shop = app.as_key("test-shop-key");
    let refused = shop
        .post("/v1/admin/reconciliations", &json!({}), None)
        .await;
    assert_eq!(refused.status, 403);
    // Once the first has ended, another may start.
    *erp.read_delay.lock().unwrap() = Duration::ZERO;
    let id = first.json()["id"].as_str().unwrap().to_owned();
    let t0 = Instant::now();
    while ops
        .get(&format!("/v1/admin/reconciliations/{id}"))
        .await
        .json()["state"]
        == "running"
    {
        assert!(t0.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let third = ops
        .post("/v1/admin/reconciliations", &json!({}), None)
        .await;
    assert_eq!(third.status, 202, "{:?}", third.body);
    let runs = ops.get("/v1/admin/reconciliations").await.json();
    assert_eq!(
        runs["items"].as_array().unwrap().len(),
        2,
        "the refused start left no run"
    );
}

crate::tests! {
    per_backend: [
        erp_drift_is_found_reported_taken_over_and_corrected_on_the_channel,
        a_reservation_the_erp_does_not_count_yet_is_not_drift,
        a_store_figure_is_rewritten_only_where_the_channel_allows,
        a_warehouse_count_is_carried_forward_and_compared,
        the_command_line_reports_and_exits_non_zero_on_drift,
        one_run_at_a_time_and_bad_asks_are_problems,
    ],
}
