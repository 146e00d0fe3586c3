//! Degraded modes: order capture survives an ERP outage, stale or unobtainable figures
//! are answered by the channel's fallback, and overload is shed by priority class.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::harness::{
    Backend, Proxy, SwitchableErp, TestApp, fixture_policies, order_body, policies_with,
};

/// Quick retries; a breaker that rests long enough for the test to watch it spare the ERP
/// even when a loaded machine is slow to look.
const FAST_OUTBOX: &str = "[dispatcher]\ntick_ms = 50\nbackoff_base_ms = 20\nbackoff_max_ms = 200\nbreaker_failures = 3\nbreaker_cooldown_ms = 1500\n";

async fn orders_are_captured_while_the_erp_is_down(b: Backend) {
    let erp = SwitchableErp::new(false);
    let policies = policies_with(&[("outbox.toml", FAST_OUTBOX)]);
    let app = TestApp::build(&b, policies.path(), Some(erp.clone()), |_| {}).await;
    app.state.dispatcher.clone().spawn();
    let shop = app.as_key("test-shop-key");
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = shop
            .post(
                "/v1/orders",
                &order_body(&format!("DOWN-{i}"), &[("CAP-RED", 1)]),
                Some(&format!("down-{i}")),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "order capture does not wait for the ERP"
        );
        assert_eq!(r.json()["erp"]["state"], "pending");
        ids.push(r.json()["id"].as_str().unwrap().to_owned());
    }
    // The ERP is tried, fails, and rests behind its breaker; the gateway stays ready.
    let started = Instant::now();
    loop {
        let ready = app.get("/readyz").await;
        assert_eq!(
            ready.status,
            StatusCode::OK,
            "one ERP does not make the instance unready"
        );
        let v = ready.json();
        let erp_breaker = v["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["destination"] == "erp")
            .unwrap()["breaker"]
            .clone();
        if erp_breaker == "open" {
            assert_eq!(v["status"], "degraded");
            assert!(v["checks"]["erp"].as_str().unwrap().starts_with("down"));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the breaker never opened: {v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Deliveries claimed before it opened finish their attempt; after them, nothing
    // reaches the ERP until the cooldown (1.5 s) is over.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls_while_open = erp.calls.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        erp.calls.load(Ordering::SeqCst),
        calls_while_open,
        "an open breaker spares the ERP"
    );
    // After the cooldown one trial goes, fails, and the breaker rests again: five orders
    // wait, and the ERP still down is called once.
    tokio::time::sleep(Duration::from_millis(1900)).await;
    assert_eq!(
        erp.calls.load(Ordering::SeqCst),
        calls_while_open + 1,
        "one trial per cooldown"
    );
    for id in &ids {
        assert_eq!(
            shop.get(&format!("/v1/orders/{id}")).await.json()["erp"]["state"],
            "pending"
        );
    }

    erp.up.store(true, Ordering::SeqCst);
    for id in &ids {
        let started = Instant::now();
        loop {
            let o = shop.get(&format!("/v1/orders/{id}")).await.json();
            if o["erp"]["state"] == "acknowledged" {
                assert!(o["erp"]["reference"].as_str().unwrap().starts_with("SO-"));
                assert_eq!(o["status"], "submitted");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "order {id} never reached the ERP"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The web channel treats ERP figures older than a minute as stale and shows half.
fn stale_after_a_minute() -> String {
    std::fs::read_to_string(fixture_policies().join("channels.toml")).unwrap().replace(
        "name = \"web\"\nlocations = [\"WH-MAIN\", \"3PL-EAST\"]",
        "name = \"web\"\nlocations = [\"WH-MAIN\", \"3PL-EAST\"]\nfreshness_seconds = 60\nfallback = { mode = \"fraction\", fraction = 0.5 }",
    )
}

async fn stale_projected_figures_answer_with_the_channels_fallback(b: Backend) {
    let channels = stale_after_a_minute();
    assert!(channels.contains("freshness_seconds"));
    let policies = policies_with(&[("channels.toml", &channels)]);
    let app = TestApp::with_policies(&b, policies.path())
        .await
        .as_key("test-shop-key");
    let fresh = app.get("/v1/availability/SOCK-3PK-M").await.json();
    assert_eq!(fresh["source"], "live");
    // An ERP projection confirmed WH-MAIN's figure two minutes ago.
    let two_minutes_ago = stockade::domain::time::to_micros(
        time::OffsetDateTime::now_utc() - time::Duration::minutes(2),
    );
    app.raw_sql(&format!("UPDATE positions SET as_of = {two_minutes_ago} WHERE sku = 'SOCK-3PK-M' AND location = 'WH-MAIN'"))
        .await
        .unwrap();
    let other = app.get("/v1/availability/SOCK-3PK-L").await.json();
    let stale = app.get("/v1/availability/SOCK-3PK-M?fresh=1").await.json();
    let stale = if stale["source"] == "cache" {
        // The cached answer predates the update; the next computation sees it.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        app.get("/v1/availability/SOCK-3PK-M").await.json()
    } else {
        stale
    };
    assert_eq!(stale["source"], "fallback", "{stale}");
    assert_eq!(stale["stale"], true);
    let halves: i64 = fresh["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["available_to_sell"].as_i64().unwrap() / 2)
        .sum();
    assert_eq!(stale["available_to_sell"].as_i64().unwrap(), halves);
    assert_eq!(other["stale"], false, "other SKUs are unaffected");
}

async fn a_store_outage_answers_from_the_last_known_figures(b: Backend) {
    let Backend::Postgres(services) = &b else {
        unreachable!()
    };
    let target = services
        .postgres
        .split('@')
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let proxy = Proxy::start(target.clone()).await;
    let channels = stale_after_a_minute();
    let routes = std::fs::read_to_string(fixture_policies().join("routes.toml"))
        .unwrap()
        .replace("cache_ttl_ms = 2000", "cache_ttl_ms = 100");
    let policies = policies_with(&[("channels.toml", &channels), ("routes.toml", &routes)]);
    let app = TestApp::build(&b, policies.path(), None, |c| {
        let url = c
            .database_url
            .as_ref()
            .unwrap()
            .expose()
            .replace(&target, &proxy.addr.to_string());
        c.database_url = Some(stockade::config::Secret::new(url));
    })
    .await
    .as_key("test-shop-key");
    let before = app.get("/v1/availability/CAP-RED").await.json();
    assert_eq!(before["source"], "live");
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let during = app.get("/v1/availability/CAP-RED").await;
    assert_eq!(during.status, StatusCode::OK, "{:?}", during.body);
    let during = during.json();
    assert_eq!(during["source"], "fallback");
    assert_eq!(during["stale"], true);
    let halves: i64 = before["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["available_to_sell"].as_i64().unwrap() / 2)
        .sum();
    assert_eq!(during["available_to_sell"].as_i64().unwrap(), halves);
    let ready = app.get("/readyz").await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "without its store the instance is not ready"
    );
    proxy.restore();
    let started = Instant::now();
    loop {
        let after = app.get("/v1/availability/CAP-RED").await.json();
        if after["source"] != "fallback" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "never recovered: {after}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn overload_sheds_background_and_standard_work_before_order_capture(b: Backend) {
    let limits = std::fs::read_to_string(fixture_policies().join("limits.toml")).unwrap()
        + "\n[shedding]\nmax_in_flight = 4\nstandard_reserve_percent = 25\nbackground_reserve_percent = 50\ncritical_queue_ms = 10000\nstandard_queue_ms = 0\n";
    let policies = policies_with(&[("limits.toml", &limits)]);
    let app = TestApp::with_policies(&b, policies.path()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let flood = |key: &'static str, uri: &'static str| {
        let (app, stop) = (app.as_key(key), stop.clone());
        tokio::spawn(async move {
            let (mut ok, mut shed) = (0, 0);
            while !stop.load(Ordering::SeqCst) {
                // A shed answer comes back without touching anything that suspends; a
                // client in process must yield as a remote one would wait on its socket.
                tokio::task::yield_now().await;
                let r = app.get(uri).await;
                match r.status.as_u16() {
                    503 => {
                        assert_eq!(r.code(), "shed");
                        assert!(r.header("retry-after").is_some());
                        shed += 1;
                    }
                    _ => ok += 1,
                }
            }
            (ok, shed)
        })
    };
    let mut floods = Vec::new();
    for _ in 0..24 {
        floods.push(flood("test-ops-key", "/v1/admin/audit?limit=50"));
        floods.push(flood(
            "test-shop-key",
            "/v1/availability?sku=CAP-RED&sku=TEE-BLK-M&sku=MUG-LOGO",
        ));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let shop = app.as_key("test-shop-key");
    let orders: Vec<_> = (0..20)
        .map(|i| {
            let shop = shop.clone();
            tokio::spawn(async move {
                shop.post(
                    "/v1/orders",
                    &order_body(&format!("SHED-{i}"), &[("SOCK-3PK-M", 1)]),
                    Some(&format!("shed-{i}")),
                )
                .await
                .status
            })
        })
        .collect();
    for o in orders {
        assert_eq!(
            o.await.unwrap(),
            StatusCode::CREATED,
            "order capture was shed"
        );
    }
    stop.store(true, Ordering::SeqCst);
    let (mut background_shed, mut standard_shed) = (0, 0);
    for (i, f) in floods.into_iter().enumerate() {
        let (_, shed) = f.await.unwrap();
        if i % 2 == 0 {
            background_shed += shed;
        } else {
            standard_shed += shed;
        }
    }
    assert!(background_shed > 0, "background work was never shed");
    assert!(standard_shed > 0, "standard work was never shed");
    // The metrics count every shed call by its class, and no order capture.
    let metrics = app.as_key("test-ops-key").get("/metrics").await;
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    let shed = |class: &str| {
        let series = format!("stockade_shed_total{{priority=\"{class}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .map_or(0, |v| v.trim().parse::<u64>().unwrap())
    };
    assert_eq!(shed("background"), background_shed, "{text}");
    assert_eq!(shed("standard"), standard_shed, "{text}");
    assert_eq!(shed("critical"), 0, "{text}");
    println!(
        "{b}: shed {background_shed} background and {standard_shed} standard calls; every order accepted"
    );
}

crate::tests! {
    per_backend: [
        orders_are_captured_while_the_erp_is_down,
        stale_projected_figures_answer_with_the_channels_fallback,
        overload_sheds_background_and_standard_work_before_order_capture,
    ],
    postgres_only: [a_store_outage_answers_from_the_last_known_figures],
}
