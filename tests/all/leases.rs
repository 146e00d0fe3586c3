//! Periodic jobs done once for the cluster: of the instances sharing a store, the one
//! holding a job's lease runs each round, and another takes over once it lapses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::erp::Stock;
use crate::erp::netsuite_fake::FakeNetSuite;
use crate::harness::{Backend, Server, Site, TestApp, http_as, policies_with};

async fn one_holder_at_a_time_however_many_race(b: Backend) {
    let app = TestApp::new(&b).await;
    let store = app.state.services.store.clone();
    let now = OffsetDateTime::now_utc();
    let until = now + time::Duration::seconds(10);
    // Sixteen holders at once, each on its own connection where the store has several.
    let tries = (0..16).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let holder = format!("gw-{i}");
            let held = store.try_lease("job", &holder, now, until).await.unwrap();
            (holder, held)
        })
    });
    let mut winners = Vec::new();
    for t in tries {
        let (holder, held) = t.await.unwrap();
        if held {
            winners.push(holder);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let winner = &winners[0];
    // The holder renews; nobody else takes it before it lapses; then anyone may.
    assert!(store.try_lease("job", winner, now, until).await.unwrap());
    let other = if winner == "gw-0" { "gw-1" } else { "gw-0" };
    let before = until - time::Duration::milliseconds(1);
    assert!(!store.try_lease("job", other, before, until).await.unwrap());
    let later = until + time::Duration::seconds(10);
    assert!(store.try_lease("job", other, until, later).await.unwrap());
    assert!(!store.try_lease("job", winner, until, later).await.unwrap());
    // Another job's lease is its own.
    assert!(
        store
            .try_lease("other-job", winner, now, until)
            .await
            .unwrap()
    );
}

/// Two gateway processes sweeping the same ERP every second read it about once a second
/// between them, not twice; with one of them killed, the other carries on.
async fn two_instances_sweep_the_erp_once_per_interval(b: Backend) {
    let netsuite = Arc::new(FakeNetSuite::start().await);
    netsuite.seed(&[Stock {
        sku: "LEASE-1".into(),
        location: "WH-MAIN".into(),
        on_hand: 5,
        committed: 0,
        unavailable: 0,
        incoming: 0,
    }]);
    // Every instance samples how fresh the ERP's figures are each second.
    let policies = policies_with(&[("slo.toml", "sample_seconds = 1\n")]);
    let site = Site::with_policies(&b, policies.path());
    let out = site.import_stock("sku,location,on_hand,safety_stock\nLEASE-1,WH-MAIN,5,0\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let start = || {
        let mut cmd = site.command();
        cmd.env("STOCKADE_PROJECTION_INTERVAL_SECONDS", "1")
            .envs(netsuite.env());
        Server::start(cmd)
    };
    let (a, other) = tokio::join!(start(), start());
    // One catalog page of one SKU: a sweep is one stock read.
    let window = Duration::from_secs(8);
    let (before, t0) = (netsuite.stock_reads(), Instant::now());
    tokio::time::sleep(window).await;
    let reads = netsuite.stock_reads() - before;
    let seconds = t0.elapsed().as_secs_f64();
    assert!(
        (seconds - 2.0..=seconds + 2.0).contains(&(reads as f64)),
        "{reads} sweeps in {seconds:.1} s by two instances sweeping every second"
    );
    // Both report the figures as fresh, whichever of them swept.
    for server in [&a, &other] {
        let swept = erp_figures_time(server).await;
        let age = OffsetDateTime::now_utc().unix_timestamp() as f64 - swept;
        assert!(age < 4.0, "{}: ERP figures {age:.1} s old", server.base);
    }
    a.kill9();
    // The survivor takes the lapsed lease over and keeps the figures fresh.
    let before = netsuite.stock_reads();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        netsuite.stock_reads() - before >= 2,
        "the survivor stopped sweeping"
    );
    drop(other);
}

/// Drift found by `stockade reconcile`, a process of its own, shows in the drift ratio of
/// every running instance, so an alert on any of them neither misses it nor outlives it.
async fn every_instance_reports_the_last_reconciliation(b: Backend) {
    let policies = policies_with(&[("slo.toml", "sample_seconds = 1\n")]);
    let site = Site::with_policies(&b, policies.path());
    let out = site.import_stock("sku,location,on_hand,safety_stock\nLEASE-2,WH-MAIN,40,0\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (a, other) = tokio::join!(site.start(), site.start());
    // The warehouse counts 30 where Stockade holds 40; an import then says 40 again,
    // which no physical flow explains.
    let r = http_as("test-wms-key")
        .post(format!("{}/v1/events", a.base))
        .json(
            &serde_json::json!({"events": [{"id": "cnt-l2", "type": "stock.counted",
            "source": "wms", "occurred_at": crate::harness::now(),
            "data": {"sku": "LEASE-2", "location": "WH-MAIN", "on_hand": 30, "sequence": 1}}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let out = site.import_stock("sku,location,on_hand,safety_stock\nLEASE-2,WH-MAIN,40,0\n");
    assert!(out.status.success());
    let run = site
        .command()
        .args(["reconcile", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let ratio = report["run"]["drift_ratio"].as_f64().unwrap();
    assert!(ratio > 0.0);
    for server in [&a, &other] {
        let t0 = Instant::now();
        loop {
            let shown = metric(server, "stockade_drift_ratio ").await;
            if shown == Some(ratio) {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "{}: {shown:?}",
                server.base
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A series' value as an instance's `/metrics` shows it.
async fn metric(server: &Server, series: &str) -> Option<f64> {
    let text = http_as("test-ops-key")
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = text.lines().find(|l| l.starts_with(series))?;
    line[series.len()..].trim().parse().ok()
}

/// When the newest ERP figure an instance reports was read, in Unix seconds.
async fn erp_figures_time(server: &Server) -> f64 {
    let series = r#"stockade_stock_source_updated_timestamp_seconds{source="erp:netsuite"} "#;
    metric(server, series)
        .await
        .unwrap_or_else(|| panic!("{}: no ERP figures time", server.base))
}

crate::tests! {
    per_backend: [one_holder_at_a_time_however_many_race],
    postgres_only: [
        two_instances_sweep_the_erp_once_per_interval,
        every_instance_reports_the_last_reconciliation,
    ],
}
