//! Acumatica's own quirks, against its fake: logins refused with wrong credentials, every
//! operation logged out again (sessions count against the licence), a session refused
//! mid-operation renewed once and only once, the licence's session limit waited for and
//! never exceeded, `$top`/`$skip` paging boundaries, entity errors (a 500) kept apart from
//! failures a retry can mend, shipments confirmed, OAuth 2 tokens cached and renewed,
//! and configuration from the environment.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use libtest_mimic::Trial;
use stockade::adapters::acumatica::{Acumatica, AcumaticaConfig};
use stockade::adapters::{AdapterError, ErpAdapter};
use stockade::config::Secret;
use stockade::domain::shipment::{Shipment, ShipmentLine, ShipmentStatus};
use time::OffsetDateTime;

use super::acumatica_fake::FakeAcumatica;
use super::conformance::{block_on, order_for_tests};
use super::{ErpFake, Fault};

pub fn register(trials: &mut Vec<Trial>) {
    macro_rules! cases {
        ($($case:ident),* $(,)?) => {$(
            let name = format!("erp::acumatica::{}", stringify!($case));
            trials.push(crate::harness::once(&name, || block_on($case())));
        )*};
    }
    cases!(
        wrong_credentials_are_refused_and_leave_no_session,
        every_operation_logs_out_even_when_it_fails,
        a_session_refused_mid_operation_is_renewed_once,
        a_full_licence_is_waited_for,
        sessions_at_once_stay_within_the_setting,
        paging_stops_at_the_first_short_page,
        a_recorded_shipment_is_confirmed_and_relieves_stock,
        shutdown_refuses_new_operations,
        settings_come_from_the_environment,
        oauth_tokens_are_cached_renewed_and_refused,
    );
}

fn adapter_with(fake: &FakeAcumatica, change: impl FnOnce(&mut AcumaticaConfig)) -> Acumatica {
    let mut config = fake.config();
    change(&mut config);
    Acumatica::new(config).unwrap()
}

fn seeded_items(fake: &FakeAcumatica) {
    fake.add_item("SKU-0001", &[("MAIN", 10), ("RETAIL", 4)]);
    fake.add_item("SKU-0002", &[("MAIN", 5)]);
}

async fn wrong_credentials_are_refused_and_leave_no_session() {
    let fake = FakeAcumatica::start().await;
    let wrong: [fn(&mut AcumaticaConfig); 3] = [
        |c| c.password = Secret::new("not-the-password"),
        |c| c.company = "OtherTenant".into(),
        |c| c.branch = "NOBRANCH".into(),
    ];
    for change in wrong {
        let adapter = adapter_with(&fake, change);
        let refused = adapter.health().await;
        assert!(
            matches!(&refused, Err(AdapterError::Permanent(m)) if m.contains("login refused") && m.contains("Invalid credentials")),
            "{refused:?}"
        );
    }
    assert_eq!(fake.live_sessions(), 0);
    assert_eq!(fake.state.logins.load(Ordering::SeqCst), 0);
}

async fn every_operation_logs_out_even_when_it_fails() {
    let fake = FakeAcumatica::start().await;
    seeded_items(&fake);
    let adapter = fake.adapter();
    adapter.stock_levels(&[], &[]).await.unwrap();
    let order = order_for_tests("ord_01JACUMATICA00000000000001");
    adapter.submit_order(&order).await.unwrap();
    adapter.shipments(&order).await.unwrap();

    // A customer the company does not know: the entity error names the field, and it is
    // not worth a retry.
    let stranger = adapter_with(&fake, |c| c.customer_id = "NOBODY".into());
    let refused = stranger
        .submit_order(&order_for_tests("ord_01JACUMATICA00000000000002"))
        .await;
    assert!(
        matches!(&refused, Err(AdapterError::Permanent(m)) if m.contains("CustomerID: 'NOBODY'")),
        "{refused:?}"
    );
    // A database timeout is.
    fake.inject(Fault::ServerError(1));
    let failed = adapter.stock_levels(&[], &[]).await;
    assert!(
        matches!(failed, Err(AdapterError::Transient(_))),
        "{failed:?}"
    );

    assert_eq!(fake.live_sessions(), 0, "a session was left open");
    let logins = fake.state.logins.load(Ordering::SeqCst);
    assert_eq!(logins, 5);
    assert_eq!(fake.state.logouts.load(Ordering::SeqCst), logins);
}

async fn a_session_refused_mid_operation_is_renewed_once() {
    let fake = FakeAcumatica::start().await;
    seeded_items(&fake);
    let adapter = fake.adapter();
    fake.inject(Fault::ExpireSession);
    let rows = adapter.stock_levels(&[], &[]).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(fake.state.logins.load(Ordering::SeqCst), 2);
    assert_eq!(fake.live_sessions(), 0);

    // Sessions that die at once: one renewal, then the refusal is reported, not looped.
    *fake.state.session_ttl.lock().unwrap() = Duration::ZERO;
    let refused = adapter.health().await;
    assert!(
        matches!(&refused, Err(AdapterError::Permanent(m)) if m.contains("401")),
        "{refused:?}"
    );
    assert_eq!(fake.state.logins.load(Ordering::SeqCst), 4);
}

async fn a_full_licence_is_waited_for() {
    let fake = FakeAcumatica::start().await;
    fake.state.max_sessions.store(1, Ordering::SeqCst);
    let adapter = fake.adapter();
    // Another integration holds the only session for a moment.
    let held = fake.hold_session();
    let fake = Arc::new(fake);
    let releaser = {
        let fake = fake.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            fake.release_session(&held);
        })
    };
    adapter.health().await.unwrap();
    releaser.await.unwrap();
    assert_eq!(fake.live_sessions(), 0);

    // Held for good: the adapter gives up as throttled, so the dispatcher backs off.
    let held = fake.hold_session();
    let refused = adapter.health().await;
    assert!(
        matches!(refused, Err(AdapterError::Throttled { .. })),
        "{refused:?}"
    );
    fake.release_session(&held);
}

async fn sessions_at_once_stay_within_the_setting() {
    let fake = FakeAcumatica::start().await;
    seeded_items(&fake);
    let adapter: Arc<dyn ErpAdapter> = Arc::new(adapter_with(&fake, |c| c.limits.sessions = 1));
    let reads = (0..4).map(|_| {
        let adapter = adapter.clone();
        tokio::spawn(async move { adapter.stock_levels(&[], &[]).await })
    });
    for read in reads {
        assert_eq!(read.await.unwrap().unwrap().len(), 3);
    }
    assert_eq!(fake.state.peak_sessions.load(Ordering::SeqCst), 1);
    assert_eq!(fake.state.logins.load(Ordering::SeqCst), 4);
    assert_eq!(fake.live_sessions(), 0);
}

async fn paging_stops_at_the_first_short_page() {
    for (items, pages) in [(14, 3), (13, 2), (0, 1)] {
        let fake = FakeAcumatica::start().await;
        for i in 0..items {
            fake.add_item(&format!("P-{i:02}"), &[("MAIN", i)]);
        }
        let rows = fake.adapter().stock_levels(&[], &[]).await.unwrap();
        assert_eq!(rows.len() as i64, items);
        let item_pages: Vec<String> = fake
            .requests()
            .into_iter()
            .filter(|r| r.starts_with("GET StockItem?"))
            .collect();
        assert_eq!(item_pages.len(), pages, "{item_pages:?}");
        assert!(
            item_pages[pages - 1].contains(&format!("$top=7&$skip={}", 7 * (pages - 1))),
            "{item_pages:?}"
        );
        assert!(
            item_pages[0].contains("$expand=WarehouseDetails"),
            "{item_pages:?}"
        );
    }
}

async fn a_recorded_shipment_is_confirmed_and_relieves_stock() {
    let fake = FakeAcumatica::start().await;
    seeded_items(&fake);
    let adapter = fake.adapter();
    let order = order_for_tests("ord_01JACUMATICA00000000000003");
    adapter.submit_order(&order).await.unwrap();
    let figures = |rows: &[stockade::store::PositionRow], sku: &str| {
        let r = rows
            .iter()
            .find(|r| r.sku == sku && r.location == "MAIN")
            .unwrap();
        (r.position.on_hand, r.position.committed)
    };
    let before = adapter.stock_levels(&[], &[]).await.unwrap();
    assert_eq!(figures(&before, "SKU-0001"), (10, 3), "the order commits");

    let shipment = Shipment {
        id: "shp_01JACUMATICA00000000000003".into(),
        order_id: order.id.clone(),
        reference: "WMS-0003".into(),
        status: ShipmentStatus::Shipped,
        carrier: Some("UPS".into()),
        tracking_number: Some("1Z999".into()),
        tracking_url: None,
        lines: vec![ShipmentLine {
            sku: "SKU-0001".into(),
            quantity: 2,
        }],
        milestones: Vec::new(),
        shipped_at: Some(OffsetDateTime::now_utc()),
    };
    let made = adapter.record_shipment(&order, &shipment).await.unwrap();
    {
        let records = fake.records();
        let doc = records
            .shipments
            .iter()
            .find(|s| s["ShipmentNbr"]["value"] == made.0.as_str())
            .unwrap();
        assert_eq!(doc["Status"]["value"], "Confirmed");
        assert_eq!(doc["Packages"][0]["TrackingNbr"]["value"], "1Z999");
    }
    let after = adapter.stock_levels(&[], &[]).await.unwrap();
    assert_eq!(
        figures(&after, "SKU-0001"),
        (8, 1),
        "confirming relieves both"
    );
    let read = adapter.shipments(&order).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].id, shipment.id);
    assert!(
        fake.requests()
            .iter()
            .any(|r| r == "POST Shipment/ConfirmShipment?")
    );
    assert_eq!(fake.live_sessions(), 0);
}

async fn shutdown_refuses_new_operations() {
    let fake = FakeAcumatica::start().await;
    let adapter = fake.adapter();
    adapter.health().await.unwrap();
    adapter.shutdown().await;
    let refused = adapter.health().await;
    assert!(
        matches!(refused, Err(AdapterError::Transient(_))),
        "{refused:?}"
    );
    assert_eq!(fake.live_sessions(), 0);
    assert_eq!(fake.state.logins.load(Ordering::SeqCst), 1);
}

async fn settings_come_from_the_environment() {
    let env = |k: &str| {
        let v = match k {
            "STOCKADE_ACUMATICA_URL" => "https://erp.example/AcumaticaERP",
            "STOCKADE_ACUMATICA_USER" => "stockade",
            "STOCKADE_ACUMATICA_PASSWORD" => "pw",
            "STOCKADE_ACUMATICA_CUSTOMER_ID" => "WEBSHOP",
            "STOCKADE_ACUMATICA_ENDPOINT_VERSION" => "24.200.001",
            "STOCKADE_ACUMATICA_MAX_SESSIONS" => "3",
            _ => return None,
        };
        Some(v.to_owned())
    };
    let c = AcumaticaConfig::from_env(env).unwrap();
    assert_eq!(c.endpoint, "Default/24.200.001");
    assert_eq!(c.limits.sessions, 3);
    let e = AcumaticaConfig::from_env(|k| {
        (k != "STOCKADE_ACUMATICA_CUSTOMER_ID")
            .then(|| env(k))
            .flatten()
    })
    .unwrap_err();
    assert!(
        e.to_string().contains("STOCKADE_ACUMATICA_CUSTOMER_ID"),
        "{e}"
    );
    let e = AcumaticaConfig::from_env(|k| match k {
        "STOCKADE_ACUMATICA_REQUESTS_PER_MINUTE" => Some("lots".into()),
        _ => env(k),
    })
    .unwrap_err();
    assert!(e.to_string().contains("REQUESTS_PER_MINUTE"), "{e}");
}

async fn oauth_tokens_are_cached_renewed_and_refused() {
    let fake = FakeAcumatica::start().await;
    seeded_items(&fake);
    let adapter = Acumatica::new(fake.oauth_config()).unwrap();
    adapter.health().await.unwrap();
    assert_eq!(adapter.stock_levels(&[], &[]).await.unwrap().len(), 3);
    let issued = || fake.state.tokens_issued.load(Ordering::SeqCst);
    assert_eq!(issued(), 1, "the token is cached");
    assert_eq!(
        fake.state.logins.load(Ordering::SeqCst),
        0,
        "no cookie session"
    );

    // Refused mid-operation: renewed once, transparently.
    fake.inject(Fault::ExpireSession);
    adapter.health().await.unwrap();
    assert_eq!(issued(), 2);

    // Shortly before it expires, a token is replaced without a refusal.
    *fake.state.token_ttl.lock().unwrap() = Duration::from_secs(1);
    let short = Acumatica::new(fake.oauth_config()).unwrap();
    short.health().await.unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    short.health().await.unwrap();
    assert_eq!(issued(), 4);

    let mut wrong = fake.oauth_config();
    wrong.oauth.as_mut().unwrap().client_secret = Secret::new("guessed");
    let refused = Acumatica::new(wrong).unwrap().health().await;
    assert!(
        matches!(&refused, Err(AdapterError::Permanent(m)) if m.contains("invalid_client")),
        "{refused:?}"
    );
    let mut wrong = fake.oauth_config();
    wrong.password = Secret::new("guessed");
    let refused = Acumatica::new(wrong).unwrap().health().await;
    assert!(
        matches!(&refused, Err(AdapterError::Permanent(m)) if m.contains("invalid_grant")),
        "{refused:?}"
    );
    assert_eq!(fake.live_sessions(), 0);
}
