//! Reconciliation over a large catalog, against the projection sweep over the same catalog
//! as its baseline: both read the ERP's figures for every SKU at every location, a page
//! at a time; a run also reads Stockade's positions, the warehouses' counts and a store's
//! published stock, compares them, records the differences and takes drifted SKUs over.
//!
//! `cargo bench --bench reconcile` (`STOCKADE_BENCH_SKUS` sets the catalog's size, 100,000
//! by default; `STOCKADE_BENCH_PRODUCTS` the store's, 1,000). The ERP is the test suite's
//! fake NetSuite on loopback, read through the NetSuite adapter (OAuth 1.0a signed SuiteQL,
//! 1,000 rows a page), and the store the suite's fake WooCommerce. A real ERP's read time
//! adds to run and sweep alike. `docs/PERFORMANCE.md` lists the latest figures.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use stockade::config::Config;
use stockade::domain::events::{EventBody, StockCounted};
use stockade::store::{SkuDef, StockRow};
use time::OffsetDateTime;

#[expect(
    dead_code,
    reason = "the bench uses a few of the fake store's controls"
)]
#[path = "../tests/all/harness/woo.rs"]
mod woo;

/// What the suite's fake ERPs share; the fake NetSuite finds it as `super::`.
#[expect(
    dead_code,
    reason = "the bench seeds stock and uses no faults or documents"
)]
#[path = "../tests/all/erp/fake.rs"]
mod fake;
#[expect(dead_code, reason = "the bench reads stock and makes no documents")]
#[path = "../tests/all/erp/netsuite_fake.rs"]
mod netsuite_fake;

use fake::{Doc, ErpFake, Fault, Stock};
use netsuite_fake::FakeNetSuite;

const LOCATIONS: [&str; 3] = ["WH-MAIN", "3PL-EAST", "STORE-01"];

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn on_hand(i: usize, location: usize) -> i64 {
    ((i * 7 + location * 13) % 90 + 10) as i64
}

/// SKU number `i` in the ERP at every location, `shift` units short at the first.
fn stock(i: usize, sku: &str, shift: i64) -> Vec<Stock> {
    LOCATIONS
        .iter()
        .enumerate()
        .map(|(l, location)| Stock {
            sku: sku.to_owned(),
            location: (*location).to_owned(),
            on_hand: on_hand(i, l) - if l == 0 { shift } else { 0 },
            committed: 0,
            unavailable: 0,
            incoming: 0,
        })
        .collect()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
}

async fn bench() {
    let (skus, products) = (
        size("STOCKADE_BENCH_SKUS", 100_000),
        size("STOCKADE_BENCH_PRODUCTS", 1_000),
    );
    let names: Vec<String> = (0..skus).map(|i| format!("SKU-{i:07}")).collect();

    // A store selling the first `products` SKUs on channel `web`.
    let config = woo::WooConfig::default();
    let store = woo::FakeWoo::start(config.clone()).await;
    for name in names.iter().take(products) {
        store.add_simple_product(name, Some(0));
    }
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policies");
    for f in std::fs::read_dir(fixtures).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), policies.join(f.file_name())).unwrap();
    }
    let files = [
        (
            "stores.toml",
            format!(
                "[[store]]\nname = \"shop\"\nchannel = \"web\"\nbase_url = \"{}\"\n\
             consumer_key_file = \"woo.key\"\nconsumer_secret_file = \"woo.secret\"\n\
             webhook_secret_file = \"woo.webhook\"\npoll_interval_seconds = 3600\n\
             unmappable_lines = \"exception\"\nuncoverable_orders = \"backorder\"\n",
                store.base_url()
            ),
        ),
        ("reconcile.toml", "[threshold]\nunits = 2\n".to_owned()),
        ("woo.key", config.consumer_key.clone()),
        ("woo.secret", config.consumer_secret.clone()),
        ("woo.webhook", config.webhook_secret.clone()),
    ];
    for (name, text) in files {
        std::fs::write(policies.join(name), text).unwrap();
    }

    let netsuite = FakeNetSuite::start().await;
    let rows: Vec<Stock> = names
        .iter()
        .enumerate()
        .flat_map(|(i, s)| stock(i, s, 0))
        .collect();
    netsuite.seed(&rows);
    let erp = Arc::new(stockade::adapters::netsuite::NetSuite::new(
        stockade::adapters::netsuite::NetSuiteConfig {
            page_size: 1000,
            timeout: Duration::from_secs(10),
            ..netsuite.config()
        },
    ));
    let config = Config {
        data_dir: dir.path().to_owned(),
        policies,
        ..Config::default()
    };
    let state = stockade::startup::build_with_erp(&config, Some(erp.clone()))
        .await
        .unwrap();
    let services = state.services.clone();
    let db = services.store.clone();

    let t = Instant::now();
    let defs: Vec<SkuDef> = names
        .iter()
        .map(|s| SkuDef {
            sku: s.clone(),
            name: s.clone(),
            backorderable: false,
        })
        .collect();
    db.upsert_skus(&defs).await.unwrap();
    let rows: Vec<StockRow> = names
        .iter()
        .enumerate()
        .flat_map(|(i, sku)| {
            LOCATIONS
                .iter()
                .enumerate()
                .map(move |(l, location)| StockRow {
                    sku: sku.clone(),
                    location: (*location).to_owned(),
                    on_hand: on_hand(i, l),
                    safety_stock: None,
                })
        })
        .collect();
    db.import_stock(&rows, "bench", &|_| {}).await.unwrap();
    // A warehouse counts one position in a hundred.
    for (i, sku) in names.iter().enumerate().step_by(100) {
        let event = stockade::domain::events::Event {
            id: format!("cnt-{i}"),
            source: "wms".to_owned(),
            occurred_at: OffsetDateTime::now_utc(),
            body: EventBody::StockCounted(StockCounted {
                sku: sku.clone(),
                location: "WH-MAIN".to_owned(),
                on_hand: on_hand(i, 0),
                sequence: 1,
            }),
        };
        let ctx = stockade::store::EventContext {
            restock_location: "WH-MAIN".to_owned(),
            now: OffsetDateTime::now_utc(),
            traceparent: None,
        };
        db.apply_event(&event, &ctx).await.unwrap();
    }
    let shop = services.woocommerce["shop"].clone();
    shop.discover().await.unwrap();
    shop.sync_stock(None).await.unwrap();
    println!(
        "catalog: {skus} SKUs at {} locations, {products} store products, {} warehouse counts; set up in {:.1} s",
        LOCATIONS.len(),
        skus.div_ceil(100),
        t.elapsed().as_secs_f64()
    );

    let mut sweeps = Vec::new();
    let mut runs = Vec::new();
    for round in 0..3 {
        // Drift injected behind Stockade's back: one SKU in a thousand in the ERP.
        let drifted: Vec<Stock> = (round..skus)
            .step_by(1000)
            .flat_map(|i| stock(i, &names[i], 5 * (round as i64 + 1)))
            .collect();
        netsuite.seed(&drifted);
        let t = Instant::now();
        let run = services.reconcile("bench", &|_, _| {}).await.unwrap();
        runs.push(t.elapsed());
        assert_eq!(run.skus, skus as u64, "{run:?}");
        println!(
            "  run {}: {:.2} s, {} figures compared, {} drifted, {} corrected",
            round + 1,
            t.elapsed().as_secs_f64(),
            run.compared,
            run.drifted,
            run.corrected
        );
        let t = Instant::now();
        let swept = services.sweep_projection(500).await.unwrap();
        sweeps.push(t.elapsed());
        assert_eq!(swept.skus, skus as u64);
        println!("  sweep {}: {:.2} s", round + 1, t.elapsed().as_secs_f64());
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (run, sweep) = (median(runs), median(sweeps));
    println!(
        "{}",
        json!({
            "skus": skus,
            "locations": LOCATIONS.len(),
            "store_products": products,
            "reconcile_seconds_median": run.as_secs_f64(),
            "sweep_seconds_median": sweep.as_secs_f64(),
            "reconcile_over_sweep": run.as_secs_f64() / sweep.as_secs_f64(),
        })
    );
}
