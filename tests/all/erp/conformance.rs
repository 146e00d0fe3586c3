//! What every ERP adapter must do, whatever its vendor: read stock across pages, create a
//! sales order exactly once even when an answer is lost, read shipments back, record a
//! shipment once, create a return and its credit once, and come through throttling,
//! expired sessions and garbage answers either with the right figures or with a clear
//! error, never a panic or a wrong number. Each case runs once per fake; figures a vendor
//! does not keep ([`ErpFake::FIGURES`]) are neither seeded nor compared.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use libtest_mimic::Trial;
use stockade::adapters::{AdapterError, ErpAdapter};
use stockade::domain::order::{
    Address, Customer, ErpLink, ErpState, Order, OrderLine, OrderStatus,
};
use stockade::domain::rma::{Rma, RmaLine, RmaStatus};
use stockade::domain::shipment::{Shipment, ShipmentLine, ShipmentStatus};
use stockade::store::PositionRow;
use time::OffsetDateTime;

use super::{Doc, ErpFake, Fault, Figure, Stock};

pub fn register<F: ErpFake>(trials: &mut Vec<Trial>) {
    macro_rules! cases {
        ($($case:ident),* $(,)?) => {$(
            let name = format!("erp::conformance::{}::{}", stringify!($case), F::NAME);
            trials.push(crate::harness::once(&name, || block_on($case::<F>())));
        )*};
    }
    cases!(
        stock_levels_span_pages_and_locations,
        an_order_is_created_once,
        a_retry_after_a_lost_answer_finds_the_first_order,
        shipments_are_read_back,
        a_shipment_is_recorded_once,
        a_return_is_authorized_once,
        a_refund_is_booked_once,
        throttling_is_waited_out,
        an_expired_session_is_renewed,
        garbage_answers_are_clear_errors,
        slow_and_failing_answers_are_transient,
    );
}

pub fn block_on(test: impl Future<Output = ()>) {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.worker_threads(2).enable_all();
    runtime.build().unwrap().block_on(test);
}

// --- Fixtures ---------------------------------------------------------------------------

/// `value` where the vendor keeps `figure`, zero where it does not.
fn kept<F: ErpFake>(figure: Figure, value: i64) -> i64 {
    if F::FIGURES.contains(&figure) {
        value
    } else {
        0
    }
}

fn stock<F: ErpFake>(sku: &str, location: &str, on_hand: i64) -> Stock {
    Stock {
        sku: sku.into(),
        location: location.into(),
        on_hand: kept::<F>(Figure::OnHand, on_hand),
        committed: kept::<F>(Figure::Committed, on_hand / 4),
        unavailable: kept::<F>(Figure::Unavailable, on_hand % 3),
        incoming: kept::<F>(Figure::Incoming, on_hand % 5),
    }
}

/// 130 SKUs in two locations, and one SKU nobody asks for.
fn catalog<F: ErpFake>() -> Vec<Stock> {
    let mut rows = Vec::new();
    for i in 0..130 {
        rows.push(stock::<F>(&format!("SKU-{i:04}"), "WH-EAST", 10 + i));
        rows.push(stock::<F>(&format!("SKU-{i:04}"), "WH-WEST", 3 * i));
    }
    rows.push(stock::<F>("NOT-ASKED", "WH-EAST", 99));
    rows
}

fn asked() -> Vec<String> {
    (0..130).map(|i| format!("SKU-{i:04}")).collect()
}

/// What the adapter must answer for these rows, sorted.
fn expected(rows: &[Stock], locations: &[&str]) -> Vec<(String, String, [i64; 5])> {
    let mut out: Vec<_> = rows
        .iter()
        .filter(|r| r.sku != "NOT-ASKED")
        .filter(|r| locations.is_empty() || locations.contains(&r.location.as_str()))
        .map(|r| {
            let figures = [r.on_hand, r.committed, 0, r.unavailable, r.incoming];
            (r.sku.clone(), r.location.clone(), figures)
        })
        .collect();
    out.sort();
    out
}

/// What the adapter answered, only the figures the vendor keeps.
fn figures<F: ErpFake>(rows: &[PositionRow]) -> Vec<(String, String, [i64; 5])> {
    let mut out: Vec<_> = rows
        .iter()
        .map(|r| {
            let p = &r.position;
            let figures = [
                kept::<F>(Figure::OnHand, p.on_hand),
                kept::<F>(Figure::Committed, p.committed),
                p.safety_stock,
                kept::<F>(Figure::Unavailable, p.unavailable),
                kept::<F>(Figure::Incoming, p.incoming),
            ];
            (r.sku.clone(), r.location.clone(), figures)
        })
        .collect();
    out.sort();
    out
}

/// An accepted order of SKU-0001 ×3 and SKU-0002 ×1, not yet in the ERP.
pub fn order_for_tests(id: &str) -> Order {
    order(id)
}

fn order(id: &str) -> Order {
    let line = |sku: &str, quantity| OrderLine {
        sku: sku.into(),
        quantity,
        unit_price: "19.90".into(),
        allocations: Vec::new(),
        backordered: 0,
        shipped: 0,
    };
    Order {
        id: id.into(),
        status: OrderStatus::Accepted,
        channel: "web".into(),
        external_id: format!("WEB-{id}"),
        currency: "EUR".into(),
        customer: Customer {
            email: Some("buyer@example.com".into()),
            ..Customer::default()
        },
        shipping_address: Address {
            name: "A Buyer".into(),
            line1: "1 Main St".into(),
            city: "Lyon".into(),
            postal_code: "69001".into(),
            country: "FR".into(),
            ..Address::default()
        },
        lines: vec![line("SKU-0001", 3), line("SKU-0002", 1)],
        erp: ErpLink {
            system: String::new(),
            reference: None,
            state: ErpState::Pending,
        },
        created_at: OffsetDateTime::now_utc(),
        updated_at: OffsetDateTime::now_utc(),
    }
}

/// A shipment of these lines of `order` that has left, with its carrier and tracking.
fn shipment(id: &str, order: &Order, lines: &[(&str, i64)]) -> Shipment {
    let now = OffsetDateTime::now_utc();
    Shipment {
        id: id.into(),
        order_id: order.id.clone(),
        reference: format!("WMS-{}", &id[id.len() - 4..]),
        status: ShipmentStatus::Shipped,
        carrier: Some("DHL".into()),
        tracking_number: Some(format!("JJD{}", &id[id.len() - 6..])),
        tracking_url: None,
        lines: lines
            .iter()
            .map(|(sku, quantity)| ShipmentLine {
                sku: (*sku).into(),
                quantity: *quantity,
            })
            .collect(),
        milestones: Vec::new(),
        shipped_at: Some(now),
    }
}

fn lines_of(shipment: &Shipment) -> Vec<(String, i64)> {
    let mut lines: Vec<_> = shipment
        .lines
        .iter()
        .map(|l| (l.sku.clone(), l.quantity))
        .collect();
    lines.sort();
    lines
}

fn rma(id: &str, order: &Order) -> Rma {
    Rma {
        id: id.into(),
        order_id: order.id.clone(),
        status: RmaStatus::Authorized,
        lines: vec![RmaLine {
            sku: "SKU-0001".into(),
            quantity: 2,
            reason: "damaged".into(),
            received_resellable: 0,
            received_damaged: 0,
        }],
        refund_reference: None,
        created_at: OffsetDateTime::now_utc(),
        updated_at: OffsetDateTime::now_utc(),
    }
}

/// A fake with the catalog in it, and its adapter.
async fn seeded<F: ErpFake>() -> (F, Arc<dyn ErpAdapter>) {
    let fake = F::start().await;
    fake.seed_stock(&catalog::<F>());
    let adapter = fake.adapter();
    (fake, adapter)
}

async fn submitted(adapter: &dyn ErpAdapter, id: &str) -> Order {
    let mut order = order(id);
    let reference = adapter.submit_order(&order).await.unwrap();
    order.erp.reference = Some(reference.0);
    order.erp.state = ErpState::Acknowledged;
    order
}

/// Garbage is the ERP failing, not asking us to slow down: a retry later may help, or
/// never will, and the caller must be told which.
fn is_clear(e: &AdapterError) -> bool {
    matches!(e, AdapterError::Transient(why) | AdapterError::Permanent(why) if !why.is_empty())
}

// --- Cases ------------------------------------------------------------------------------

async fn stock_levels_span_pages_and_locations<F: ErpFake>() {
    let (_fake, adapter) = seeded::<F>().await;
    let mut skus = asked();
    skus.push("NO-SUCH-SKU".into());
    let all = adapter.stock_levels(&skus, &[]).await.unwrap();
    assert_eq!(figures::<F>(&all), expected(&catalog::<F>(), &[]));
    assert_eq!(all.len(), 260);
    assert!(
        all.iter().all(|r| r.as_of.is_some()),
        "ERP figures carry their as_of"
    );

    let east = adapter
        .stock_levels(&skus, &["WH-EAST".into()])
        .await
        .unwrap();
    assert_eq!(figures::<F>(&east), expected(&catalog::<F>(), &["WH-EAST"]));
}

async fn an_order_is_created_once<F: ErpFake>() {
    let (fake, adapter) = seeded::<F>().await;
    let order = order("ord_01JCONFORMANCE0000000001");
    let first = adapter.submit_order(&order).await.unwrap();
    let again = adapter.submit_order(&order).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(fake.documents_with_ref(Doc::SalesOrder, &order.id), 1);

    let other = adapter
        .submit_order(&self::order("ord_01JCONFORMANCE0000000002"))
        .await
        .unwrap();
    assert_ne!(first, other);
}

async fn a_retry_after_a_lost_answer_finds_the_first_order<F: ErpFake>() {
    let (fake, adapter) = seeded::<F>().await;
    let order = order("ord_01JCONFORMANCE0000000003");
    fake.inject(Fault::SlowWrite(Duration::from_secs(2)));
    let lost = adapter.submit_order(&order).await;
    assert!(matches!(lost, Err(AdapterError::Transient(_))), "{lost:?}");
    // The ERP did create it; only the answer was lost.
    assert_eq!(fake.documents_with_ref(Doc::SalesOrder, &order.id), 1);
    let retried = adapter.submit_order(&order).await.unwrap();
    assert_eq!(fake.documents_with_ref(Doc::SalesOrder, &order.id), 1);
    assert_eq!(adapter.submit_order(&order).await.unwrap(), retried);
}

async fn shipments_are_read_back<F: ErpFake>() {
    let (fake, adapter) = seeded::<F>().await;
    let order = submitted(adapter.as_ref(), "ord_01JCONFORMANCE0000000004").await;
    assert!(adapter.shipments(&order).await.unwrap().is_empty());

    let erp_order = order.erp.reference.clone().unwrap();
    fake.ship(&erp_order, &[("SKU-0001", 2)]);
    fake.ship(&erp_order, &[("SKU-0001", 1), ("SKU-0002", 1)]);
    let shipments = adapter.shipments(&order).await.unwrap();
    let lines: Vec<Vec<(String, i64)>> = shipments
        .iter()
        .map(|s| {
            s.lines
                .iter()
                .map(|l| (l.sku.clone(), l.quantity))
                .collect()
        })
        .collect();
    assert_eq!(
        lines,
        [
            vec![("SKU-0001".to_owned(), 2)],
            vec![("SKU-0001".to_owned(), 1), ("SKU-0002".to_owned(), 1)],
        ]
    );
    assert!(
        shipments
            .iter()
            .all(|s| s.order_id == order.id && s.shipped_at.is_some())
    );
    assert_ne!(shipments[0].reference, shipments[1].reference);

    // An order whose reference was never recorded is found by its external id.
    let mut unrecorded = order.clone();
    unrecorded.erp.reference = None;
    assert_eq!(adapter.shipments(&unrecorded).await.unwrap().len(), 2);
}

async fn a_shipment_is_recorded_once<F: ErpFake>() {
    let (fake, adapter) = seeded::<F>().await;
    let order = submitted(adapter.as_ref(), "ord_01JCONFORMANCE0000000012").await;
    let first = shipment("shp_01JCONFORMANCE0000000012", &order, &[("SKU-0001", 2)]);
    let made = adapter.record_shipment(&order, &first).await.unwrap();
    assert_eq!(adapter.record_shipment(&order, &first).await.unwrap(), made);
    assert_eq!(fake.documents_with_ref(Doc::Shipment, &first.id), 1);

    // The ERP makes the document but its answer is lost: the retry finds it.
    let second = shipment(
        "shp_01JCONFORMANCE0000000013",
        &order,
        &[("SKU-0001", 1), ("SKU-0002", 1)],
    );
    fake.inject(Fault::SlowWrite(Duration::from_secs(2)));
    let lost = adapter.record_shipment(&order, &second).await;
    assert!(matches!(lost, Err(AdapterError::Transient(_))), "{lost:?}");
    assert_eq!(fake.documents_with_ref(Doc::Shipment, &second.id), 1);
    let retried = adapter.record_shipment(&order, &second).await.unwrap();
    assert_ne!(retried, made);
    assert_eq!(fake.documents_with_ref(Doc::Shipment, &second.id), 1);

    // Both read back, each with its own tracking number and lines.
    let read = adapter.shipments(&order).await.unwrap();
    assert_eq!(read.len(), 2, "{read:?}");
    for sent in [&first, &second] {
        let found = read
            .iter()
            .find(|s| s.tracking_number == sent.tracking_number)
            .unwrap_or_else(|| panic!("{:?} not read back: {read:?}", sent.tracking_number));
        assert_eq!(lines_of(found), lines_of(sent));
        assert!(found.status.has_left() && found.shipped_at.is_some());
    }

    // The order is now fully shipped: one more unit is refused, and nothing is made.
    let extra = shipment("shp_01JCONFORMANCE0000000014", &order, &[("SKU-0002", 1)]);
    let refused = adapter.record_shipment(&order, &extra).await;
    assert!(
        matches!(refused, Err(AdapterError::Permanent(_))),
        "{refused:?}"
    );
    assert_eq!(fake.documents_with_ref(Doc::Shipment, &extra.id), 0);
}

async fn a_return_is_authorized_once<F: ErpFake>() {
    let (fake, adapter) = seeded::<F>().await;
    let order = submitted(adapter.as_ref(), "ord_01JCONFORMANCE0000000005").await;
    let rma = rma("rma_01JCONFORMANCE0000000005", &order);
    let first = adapter.create_return(&order, &rma).await.unwrap();
    assert_eq!(adapter.create_return(&order, &rma).await.unwrap(), first);
    assert_eq!(fake.documents_with_ref(Doc::Return, &rma.id), 1);

    let mut too_many = self::rma("rma_01JCONFORMANCE0000000006", &order);
    too_many.lines[0].quantity = 50;
    let refused = adapter.create_return(&order, &too_many).await;
    assert!(
        matches!(refused, Err(AdapterError::Permanent(_))),
        "{refused:?}"
    );
    assert_eq!(fake.documents_with_ref(Doc::Return, &too_many.id), 0);
}

async fn a_refund_is_booked_once<F: ErpFake>() {
    let (fake, adapter) = seeded::<F>().await;
    let order = submitted(adapter.as_ref(), "ord_01JCONFORMANCE0000000007").await;
    let mut rma = rma("rma_01JCONFORMANCE0000000007", &order);
    adapter.create_return(&order, &rma).await.unwrap();
    // The goods came back: a refund is for what was received.
    rma.lines[0].received_damaged = 2;
    let credit = adapter.post_refund(&order, &rma).await.unwrap();
    assert_eq!(adapter.post_refund(&order, &rma).await.unwrap(), credit);
    assert_eq!(fake.documents_with_ref(Doc::Credit, &rma.id), 1);

    // A refund for a return the ERP never authorized cannot be booked.
    let stray = self::rma("rma_01JCONFORMANCE0000000008", &order);
    let refused = adapter.post_refund(&order, &stray).await;
    assert!(
        matches!(refused, Err(AdapterError::Permanent(_))),
        "{refused:?}"
    );
    assert_eq!(fake.documents_with_ref(Doc::Credit, &stray.id), 0);
}

async fn throttling_is_waited_out<F: ErpFake>() {
    let (fake, adapter) = seeded::<F>().await;
    fake.inject(Fault::Throttle(3));
    let rows = adapter.stock_levels(&asked(), &[]).await.unwrap();
    assert_eq!(figures::<F>(&rows), expected(&catalog::<F>(), &[]));
    fake.inject(Fault::Throttle(2));
    let order = order("ord_01JCONFORMANCE0000000009");
    adapter.submit_order(&order).await.unwrap();
    assert_eq!(fake.documents_with_ref(Doc::SalesOrder, &order.id), 1);
}

async fn an_expired_session_is_renewed<F: ErpFake>() {
    let (fake, adapter) = seeded::<F>().await;
    adapter.health().await.unwrap();
    fake.inject(Fault::ExpireSession);
    let rows = adapter.stock_levels(&asked(), &[]).await.unwrap();
    assert_eq!(figures::<F>(&rows), expected(&catalog::<F>(), &[]));
    fake.inject(Fault::ExpireSession);
    let order = order("ord_01JCONFORMANCE0000000010");
    adapter.submit_order(&order).await.unwrap();
    assert_eq!(fake.documents_with_ref(Doc::SalesOrder, &order.id), 1);
}

async fn garbage_answers_are_clear_errors<F: ErpFake>() {
    let (fake, adapter) = seeded::<F>().await;
    for fault in [Fault::Malformed(1), Fault::Huge(1)] {
        fake.inject(fault);
        match adapter.stock_levels(&asked(), &[]).await {
            // An adapter may retry past one bad answer, but then its figures must be right.
            Ok(rows) => assert_eq!(
                figures::<F>(&rows),
                expected(&catalog::<F>(), &[]),
                "{fault:?}"
            ),
            Err(e) => assert!(is_clear(&e), "{fault:?}: {e:?}"),
        }
        let rows = adapter.stock_levels(&asked(), &[]).await.unwrap();
        assert_eq!(
            figures::<F>(&rows),
            expected(&catalog::<F>(), &[]),
            "after {fault:?}"
        );
    }
    fake.inject(Fault::Malformed(50));
    let order = order("ord_01JCONFORMANCE0000000011");
    let failed = adapter.submit_order(&order).await;
    assert!(
        matches!(
            failed,
            Err(AdapterError::Transient(_) | AdapterError::Permanent(_))
        ),
        "{failed:?}"
    );
}

async fn slow_and_failing_answers_are_transient<F: ErpFake>() {
    let (fake, adapter) = seeded::<F>().await;
    fake.inject(Fault::ServerError(50));
    let failed = adapter.stock_levels(&asked(), &[]).await;
    assert!(
        matches!(failed, Err(AdapterError::Transient(_))),
        "{failed:?}"
    );
    drain(adapter.as_ref()).await;
    fake.inject(Fault::Latency(Duration::from_secs(3)));
    let slow = adapter.health().await;
    assert!(matches!(slow, Err(AdapterError::Transient(_))), "{slow:?}");
    adapter.health().await.unwrap();
}

/// Spends whatever server errors are still queued, so the next case starts clean.
async fn drain(adapter: &dyn ErpAdapter) {
    for _ in 0..60 {
        if adapter.health().await.is_ok() {
            return;
        }
    }
    panic!("the fake kept failing after its faults were spent");
}
