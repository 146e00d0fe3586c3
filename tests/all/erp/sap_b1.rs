//! SAP Business One's own rules, beyond the conformance suite, against the fake Service
//! Layer over real sockets: `Prefer: odata.maxpagesize` paging with a relative
//! `odata.nextLink`, one order line per warehouse, delivery notes based on the order's
//! lines, cancelled notes, credit notes for what came back, the `B1SESSION` and `ROUTEID`
//! cookies with one re-login for many callers and a logout at shutdown, and the Service
//! Layer's error shapes. No storage; each test runs once.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use libtest_mimic::Trial;
use serde_json::{Value, json};
use stockade::adapters::sap_b1::{SapB1, SapB1Config};
use stockade::adapters::{AdapterError, ErpAdapter, ErpReference};
use stockade::config::Secret;
use stockade::domain::order::{
    Address, Allocation, Customer, ErpLink, ErpState, Order, OrderLine, OrderStatus,
};
use stockade::domain::rma::{Rma, RmaLine, RmaStatus};
use stockade::domain::shipment::{Shipment, ShipmentLine, ShipmentStatus};
use time::OffsetDateTime;

use super::conformance::block_on;
use super::sap_b1_fake::{FakeSapB1, SAP_CARD_CODE, SAP_COMPANY, SAP_PASSWORD, SAP_USER};

pub fn register(trials: &mut Vec<Trial>) {
    macro_rules! once {
        ($($test:ident),* $(,)?) => {$(
            let name = concat!(module_path!(), "::", stringify!($test));
            trials.push(crate::harness::once(name, || block_on($test())));
        )*};
    }
    once!(
        stock_of_many_items_is_read_across_pages,
        an_order_is_created_once_with_one_line_per_warehouse,
        delivery_notes_become_shipments,
        a_delivery_note_draws_on_the_order_lines_it_ships,
        a_credit_note_books_what_came_back,
        an_expired_session_is_renewed_once_for_all_callers,
        logout_ends_the_session,
        bad_credentials_are_a_permanent_failure,
        service_layer_errors_keep_their_code_and_kind,
        fractional_figures_are_refused_by_name,
    );
}

fn adapter(fake: &FakeSapB1, page_size: u32, timeout: Duration) -> SapB1 {
    SapB1::new(SapB1Config {
        url: fake.url(),
        company_db: SAP_COMPANY.into(),
        user: SAP_USER.into(),
        password: Secret::new(SAP_PASSWORD),
        card_code: SAP_CARD_CODE.into(),
        timeout,
        page_size,
    })
    .unwrap()
}

/// `(sku, quantity, [(location, allocated)])`; what is not allocated is backordered.
type Line<'a> = (&'a str, i64, &'a [(&'a str, i64)]);

fn order(id: &str, lines: &[Line<'_>]) -> Order {
    let now = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_772_400_000);
    Order {
        id: id.into(),
        status: OrderStatus::Accepted,
        channel: "web".into(),
        external_id: format!("ext-{id}"),
        currency: "USD".into(),
        customer: Customer::default(),
        shipping_address: Address {
            name: "Ada".into(),
            line1: "1 Main St".into(),
            city: "Springfield".into(),
            postal_code: "12345".into(),
            country: "US".into(),
            ..Address::default()
        },
        lines: lines
            .iter()
            .map(|(sku, quantity, allocations)| OrderLine {
                sku: (*sku).into(),
                quantity: *quantity,
                unit_price: "30.00".into(),
                allocations: allocations
                    .iter()
                    .map(|(location, quantity)| Allocation {
                        location: (*location).into(),
                        quantity: *quantity,
                    })
                    .collect(),
                backordered: quantity - allocations.iter().map(|a| a.1).sum::<i64>(),
                shipped: 0,
            })
            .collect(),
        erp: ErpLink {
            system: "sap_b1".into(),
            reference: None,
            state: ErpState::Pending,
        },
        created_at: now,
        updated_at: now,
    }
}

fn rma(id: &str, order_id: &str, lines: &[(&str, i64, i64, i64)]) -> Rma {
    Rma {
        id: id.into(),
        order_id: order_id.into(),
        status: RmaStatus::Authorized,
        lines: lines
            .iter()
            .map(|(sku, quantity, resellable, damaged)| RmaLine {
                sku: (*sku).into(),
                quantity: *quantity,
                reason: "too small".into(),
                received_resellable: *resellable,
                received_damaged: *damaged,
            })
            .collect(),
        refund_reference: None,
        created_at: OffsetDateTime::UNIX_EPOCH,
        updated_at: OffsetDateTime::UNIX_EPOCH,
    }
}

/// A fake with items `A00001`, `A00002` stocked in warehouses 01 and 02.
async fn stocked() -> FakeSapB1 {
    let fake = FakeSapB1::start().await;
    for code in ["A00001", "A00002"] {
        fake.add_item(
            code,
            &[
                ("01", json!(40.0), json!(5.0), json!(0.0)),
                ("02", json!(10.0), json!(0.0), json!(20.0)),
            ],
        );
    }
    fake
}

const SECOND: Duration = Duration::from_secs(5);

async fn stock_of_many_items_is_read_across_pages() {
    let fake = FakeSapB1::start().await;
    for i in 0..250_i64 {
        fake.add_item(
            &format!("SKU-{i:04}"),
            &[
                ("01", json!(i as f64), json!((i % 7) as f64), json!(3.0)),
                ("02", json!(100.0), json!(0.0), json!(0.0)),
            ],
        );
    }
    let erp = adapter(&fake, 7, SECOND);

    // Every item, in pages of 7 as asked, following the relative nextLink.
    let all = erp.stock_levels(&[], &[]).await.unwrap();
    assert_eq!(all.len(), 500);
    let lists = fake.state.lists.lock().unwrap().len();
    assert_eq!(lists, 250_usize.div_ceil(7), "one request per page");
    assert!(
        fake.state
            .prefers
            .lock()
            .unwrap()
            .iter()
            .all(|p| p == "odata.maxpagesize=7")
    );

    // Named items in one warehouse: every figure is the record's own.
    let skus: Vec<String> = (0..250).step_by(3).map(|i| format!("SKU-{i:04}")).collect();
    let rows = erp.stock_levels(&skus, &["01".into()]).await.unwrap();
    assert_eq!(rows.len(), skus.len());
    for row in &rows {
        let i: i64 = row.sku[4..].parse().unwrap();
        assert_eq!(row.location, "01");
        assert_eq!(row.position.on_hand, i);
        assert_eq!(row.position.committed, i % 7);
        assert_eq!(row.position.incoming, 3);
        assert_eq!(row.position.available_to_sell(), i - i % 7);
        assert!(row.as_of.is_some());
    }
    let mut seen: Vec<&str> = rows.iter().map(|r| r.sku.as_str()).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), skus.len(), "no item twice, none missing");
    // An item B1 does not know is simply absent.
    let none = erp.stock_levels(&["NOPE".into()], &[]).await.unwrap();
    assert!(none.is_empty());
}

async fn an_order_is_created_once_with_one_line_per_warehouse() {
    let fake = stocked().await;
    let erp = adapter(&fake, 20, SECOND);
    let o = order(
        "ord_1",
        &[
            ("A00001", 5, &[("01", 3), ("02", 2)]),
            ("A00002", 4, &[("01", 1)]),
        ],
    );
    let first = erp.submit_order(&o).await.unwrap();
    let again = erp.submit_order(&o).await.unwrap();
    assert_eq!(first, again);
    let orders = fake.documents("Orders");
    assert_eq!(orders.len(), 1);
    let doc = &orders[0];
    assert_eq!(first, ErpReference(doc["DocEntry"].to_string()));
    assert_eq!(doc["NumAtCard"], "ord_1");
    assert_eq!(doc["CardCode"], SAP_CARD_CODE);
    assert_eq!(doc["DocCurrency"], "USD");
    let lines: Vec<(String, f64, Value)> = doc["DocumentLines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["ItemCode"].as_str().unwrap().to_owned(),
                l["Quantity"].as_f64().unwrap(),
                l["WarehouseCode"].clone(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            ("A00001".into(), 3.0, json!("01")),
            ("A00001".into(), 2.0, json!("02")),
            ("A00002".into(), 1.0, json!("01")),
            // The backordered rest, from the item's default warehouse.
            ("A00002".into(), 3.0, Value::Null),
        ]
    );
}

async fn delivery_notes_become_shipments() {
    let fake = stocked().await;
    let erp = adapter(&fake, 20, SECOND);
    let o = order("ord_ship", &[("A00001", 5, &[("01", 5)])]);
    erp.submit_order(&o).await.unwrap();
    assert!(erp.shipments(&o).await.unwrap().is_empty());
    fake.deliver("ord_ship", &[("A00001", 3)], "1Z999", false);
    fake.deliver("ord_ship", &[("A00001", 2)], "", true);
    fake.deliver("ord_other", &[("A00002", 1)], "1Z000", false);
    let shipments = erp.shipments(&o).await.unwrap();
    assert_eq!(
        shipments.len(),
        1,
        "cancelled and other orders' notes are not ours"
    );
    let s = &shipments[0];
    assert_eq!(s.order_id, "ord_ship");
    assert_eq!(s.status, ShipmentStatus::Shipped);
    assert_eq!(s.tracking_number.as_deref(), Some("1Z999"));
    assert_eq!(s.lines.len(), 1);
    assert_eq!(
        (s.lines[0].sku.as_str(), s.lines[0].quantity),
        ("A00001", 3)
    );
    assert_eq!(s.shipped_at.unwrap().date().to_string(), "2026-03-02");
    assert_eq!(s.milestones.len(), 1);
}

fn shipment(id: &str, order: &Order, lines: &[(&str, i64)]) -> Shipment {
    Shipment {
        id: id.into(),
        order_id: order.id.clone(),
        reference: "WMS-77".into(),
        status: ShipmentStatus::Shipped,
        carrier: Some("UPS".into()),
        tracking_number: Some("1Z999AA10123456784".into()),
        tracking_url: None,
        lines: lines
            .iter()
            .map(|(sku, quantity)| ShipmentLine {
                sku: (*sku).into(),
                quantity: *quantity,
            })
            .collect(),
        milestones: Vec::new(),
        shipped_at: Some(OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_772_500_000)),
    }
}

async fn a_delivery_note_draws_on_the_order_lines_it_ships() {
    let fake = stocked().await;
    let erp = adapter(&fake, 20, SECOND);
    let o = order(
        "ord_dln",
        &[("A00001", 5, &[("01", 3), ("02", 2)]), ("A00002", 1, &[])],
    );
    let entry = erp.submit_order(&o).await.unwrap();
    // A clerk already delivered one unit of A00001 from warehouse 01 by hand.
    fake.deliver("ord_dln", &[("A00001", 1)], "", false);

    let s = shipment("shp_1", &o, &[("A00001", 4), ("A00002", 1)]);
    let made = erp.record_shipment(&o, &s).await.unwrap();
    let notes = fake.documents("DeliveryNotes");
    let note = notes
        .iter()
        .find(|n| n["DocEntry"] == made.0.parse::<i64>().unwrap())
        .unwrap();
    assert_eq!(note["NumAtCard"], "ord_dln/shp_1");
    assert_eq!(note["TrackingNumber"], "1Z999AA10123456784");
    assert_eq!(note["DocDate"], "2026-03-03");
    assert!(note["Comments"].as_str().unwrap().contains("by UPS"));
    let based: Vec<(Value, Value, f64, Value)> = note["DocumentLines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let q = l["Quantity"].as_f64().unwrap();
            (
                l["BaseType"].clone(),
                l["BaseLine"].clone(),
                q,
                l["WarehouseCode"].clone(),
            )
        })
        .collect();
    let entry: i64 = entry.0.parse().unwrap();
    assert!(
        note["DocumentLines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["BaseEntry"] == entry)
    );
    // What is left open on each order line, in line order: 2 of 3 from 01, 2 from 02, 1.
    assert_eq!(
        based,
        vec![
            (json!(17), json!(0), 2.0, json!("01")),
            (json!(17), json!(1), 2.0, json!("02")),
            (json!(17), json!(2), 1.0, Value::Null),
        ]
    );

    // Both notes read back: the clerk's under B1's number, Stockade's under its own id.
    let mut read: Vec<(String, Option<String>)> = erp
        .shipments(&o)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.id, s.tracking_number))
        .collect();
    read.sort();
    assert_eq!(read.len(), 2, "{read:?}");
    assert!(read[0].0.starts_with("sap-b1-dln-"));
    assert_eq!(read[1], ("shp_1".into(), Some("1Z999AA10123456784".into())));

    // Nothing is left open: one more unit is refused before B1 sees it.
    let more = shipment("shp_2", &o, &[("A00002", 1)]);
    let e = erp.record_shipment(&o, &more).await.unwrap_err();
    assert!(
        matches!(&e, AdapterError::Permanent(m) if m.contains("open")),
        "{e}"
    );
    assert_eq!(fake.documents("DeliveryNotes").len(), 2);

    // An order B1 does not hold has no lines to draw on.
    let stray = order("ord_never_sent", &[("A00001", 1, &[("01", 1)])]);
    let e = erp
        .record_shipment(&stray, &shipment("shp_3", &stray, &[("A00001", 1)]))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, AdapterError::Permanent(m) if m.contains("not in SAP B1")),
        "{e}"
    );
    assert_eq!(fake.documents("DeliveryNotes").len(), 2);
}

async fn a_credit_note_books_what_came_back() {
    let fake = stocked().await;
    let erp = adapter(&fake, 20, SECOND);
    let o = order(
        "ord_cn",
        &[("A00001", 5, &[("01", 5)]), ("A00002", 1, &[("01", 1)])],
    );
    // No credit for a return B1 never authorized.
    let r = rma(
        "rma_2",
        "ord_cn",
        &[("A00001", 3, 1, 1), ("A00002", 1, 0, 0)],
    );
    let e = erp.post_refund(&o, &r).await.unwrap_err();
    assert!(
        matches!(&e, AdapterError::Permanent(m) if m.contains("no return request")),
        "{e}"
    );
    assert!(fake.documents("CreditNotes").is_empty());

    let nothing = rma("rma_empty", "ord_cn", &[("A00001", 2, 0, 0)]);
    erp.create_return(&o, &nothing).await.unwrap();
    let e = erp.post_refund(&o, &nothing).await.unwrap_err();
    assert!(
        matches!(&e, AdapterError::Permanent(m) if m.contains("nothing to credit")),
        "{e}"
    );
    assert!(fake.documents("CreditNotes").is_empty());

    erp.create_return(&o, &r).await.unwrap();
    let first = erp.post_refund(&o, &r).await.unwrap();
    assert_eq!(erp.post_refund(&o, &r).await.unwrap(), first);
    let docs = fake.documents("CreditNotes");
    assert_eq!(docs.len(), 1);
    let lines = docs[0]["DocumentLines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "only what was received is credited");
    assert_eq!(lines[0]["ItemCode"], "A00001");
    assert_eq!(lines[0]["Quantity"], 2.0);
    assert_eq!(docs[0]["NumAtCard"], "rma_2");
}

async fn an_expired_session_is_renewed_once_for_all_callers() {
    let fake = stocked().await;
    *fake.state.session_ttl.lock().unwrap() = Duration::from_millis(300);
    let erp = Arc::new(adapter(&fake, 20, SECOND));
    let skus = vec!["A00001".to_owned()];
    assert_eq!(erp.stock_levels(&skus, &[]).await.unwrap().len(), 2);
    assert_eq!(fake.state.logins.load(Ordering::SeqCst), 1);

    // Idle past the timeout: the next call logs in again by itself.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(erp.stock_levels(&skus, &[]).await.unwrap().len(), 2);
    assert_eq!(fake.state.logins.load(Ordering::SeqCst), 2);

    // Many callers find the session gone at once: one login serves them all.
    *fake.state.session_ttl.lock().unwrap() = Duration::from_secs(60);
    fake.expire_sessions();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let erp = erp.clone();
            let skus = skus.clone();
            tokio::spawn(async move { erp.stock_levels(&skus, &[]).await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().len(), 2);
    }
    assert_eq!(fake.state.logins.load(Ordering::SeqCst), 3);
    assert_eq!(fake.live_sessions(), 1);
}

async fn logout_ends_the_session() {
    let fake = stocked().await;
    let erp = adapter(&fake, 20, SECOND);
    erp.health().await.unwrap();
    assert_eq!(fake.live_sessions(), 1);
    erp.shutdown().await;
    assert_eq!(fake.state.logouts.load(Ordering::SeqCst), 1);
    assert_eq!(fake.live_sessions(), 0);
}

async fn bad_credentials_are_a_permanent_failure() {
    let fake = stocked().await;
    let erp = SapB1::new(SapB1Config {
        url: fake.url(),
        company_db: SAP_COMPANY.into(),
        user: SAP_USER.into(),
        password: Secret::new("wrong"),
        card_code: SAP_CARD_CODE.into(),
        timeout: SECOND,
        page_size: 20,
    })
    .unwrap();
    let e = erp.health().await.unwrap_err();
    assert!(
        matches!(&e, AdapterError::Permanent(m) if m.contains("login refused")),
        "{e}"
    );
    assert!(
        !e.to_string().contains("wrong"),
        "the password is never echoed"
    );
}

async fn service_layer_errors_keep_their_code_and_kind() {
    let fake = stocked().await;
    let erp = adapter(&fake, 20, SECOND);
    // An item B1 does not know: a validation error, never worth a retry.
    let o = order("ord_bad", &[("NOPE", 1, &[("01", 1)])]);
    let e = erp.submit_order(&o).await.unwrap_err();
    assert!(
        matches!(&e, AdapterError::Permanent(m) if m.contains("(-10)") && m.contains("Invalid item code 'NOPE'")),
        "{e}"
    );
    assert!(fake.documents("Orders").is_empty());

    fake.faults().fail_5xx = 1;
    let e = erp.stock_levels(&[], &[]).await.unwrap_err();
    assert!(
        matches!(&e, AdapterError::Transient(m) if m.contains("HTTP 500")),
        "{e}"
    );

    // A wait longer than the adapter takes in place goes back to the caller at once.
    fake.faults().throttle = 1;
    fake.faults().retry_after_secs = 7;
    let e = erp.stock_levels(&[], &[]).await.unwrap_err();
    assert!(
        matches!(e, AdapterError::Throttled { retry_after: Some(d) } if d == Duration::from_secs(7)),
        "{e}"
    );

    // An outage answers 503 in the Service Layer's shape, without Retry-After: transient.
    fake.faults().down = true;
    let e = erp.stock_levels(&[], &[]).await.unwrap_err();
    assert!(
        matches!(&e, AdapterError::Transient(m) if m.contains("HTTP 503")),
        "{e}"
    );
    fake.faults().down = false;

    fake.faults().latency = Some(Duration::from_millis(400));
    let slow = adapter(&fake, 20, Duration::from_millis(150));
    // The login is not delayed; the list is.
    let e = slow.stock_levels(&[], &[]).await.unwrap_err();
    assert!(
        matches!(&e, AdapterError::Transient(m) if m.contains("no answer")),
        "{e}"
    );
    fake.faults().latency = None;
    assert_eq!(erp.stock_levels(&[], &[]).await.unwrap().len(), 4);
}

async fn fractional_figures_are_refused_by_name() {
    let fake = stocked().await;
    let erp = adapter(&fake, 20, SECOND);
    // Figures that are not whole units are refused, not rounded into availability.
    fake.add_item("A00003", &[("01", json!(2.5), json!(0), json!(0))]);
    let e = erp.stock_levels(&[], &[]).await.unwrap_err();
    assert!(
        matches!(&e, AdapterError::Permanent(m) if m.contains("item A00003 warehouse 01 InStock")),
        "{e}"
    );
    fake.add_item("A00003", &[("01", json!("many"), json!(0), json!(0))]);
    assert!(matches!(
        erp.stock_levels(&["A00003".into()], &[]).await,
        Err(AdapterError::Permanent(_))
    ));
    // The adapter keeps working afterwards.
    let rows = erp.stock_levels(&["A00001".into()], &[]).await.unwrap();
    assert_eq!(rows.len(), 2);
}
