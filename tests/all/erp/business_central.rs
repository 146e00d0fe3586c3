//! Business Central's own rules, beyond the conformance suite: one token shared by every
//! caller and renewed before it expires or once when refused, Entra's refusals and
//! Business Central's errors surfaced with their codes, `@odata.nextLink` paging,
//! `Retry-After` waited out within a bound, the concurrency limit kept, and shipments
//! posted with `shipAndInvoice` recorded once, also after Business Central deleted the
//! fully posted order; an order's units committed at the locations Stockade allocated
//! them to, location ids read once, and a location Business Central does not know refused
//! clearly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use libtest_mimic::Trial;
use stockade::adapters::business_central::BusinessCentral;
use stockade::adapters::{AdapterError, ErpAdapter};
use stockade::config::Secret;
use stockade::domain::order::{Allocation, Order};
use stockade::domain::shipment::{Shipment, ShipmentLine, ShipmentStatus};

use super::business_central_fake::FakeBusinessCentral;
use super::conformance::{block_on, order_for_tests};
use super::{Doc, Fault, Stock};

pub fn register(trials: &mut Vec<Trial>) {
    macro_rules! once {
        ($($test:ident),* $(,)?) => {$(
            let name = format!("{}::{}::business_central", module_path!(), stringify!($test));
            trials.push(crate::harness::once(&name, || block_on($test())));
        )*};
    }
    once!(
        one_token_serves_many_concurrent_calls,
        a_token_is_renewed_before_it_expires,
        a_revoked_token_is_renewed_once,
        wrong_credentials_are_a_clear_permanent_error,
        next_links_are_followed_to_the_last_page,
        retry_after_is_waited_out_within_a_bound,
        business_central_errors_name_their_code,
        the_adapter_stays_within_its_concurrency,
        an_outage_is_transient_until_it_ends,
        shipments_post_once_and_survive_the_deleted_order,
        an_order_commits_its_units_where_they_were_allocated,
        an_unknown_location_is_a_clear_permanent_error,
    );
}

fn stock(sku: &str, location: &str, on_hand: i64) -> Stock {
    Stock {
        sku: sku.into(),
        location: location.into(),
        on_hand,
        committed: 1,
        unavailable: 0,
        incoming: 2,
    }
}

async fn seeded() -> (FakeBusinessCentral, Arc<BusinessCentral>) {
    let fake = FakeBusinessCentral::start().await;
    fake.seed(&[
        stock("SKU-0001", "WH-EAST", 10),
        stock("SKU-0002", "WH-EAST", 5),
    ]);
    let adapter = Arc::new(fake.adapter());
    (fake, adapter)
}

async fn one_token_serves_many_concurrent_calls() {
    let (fake, adapter) = seeded().await;
    fake.set_service_time(Duration::from_millis(20));
    let calls = (0..16).map(|_| {
        let adapter = adapter.clone();
        tokio::spawn(async move { adapter.health().await })
    });
    for done in join_all(calls).await {
        done.unwrap().unwrap();
    }
    assert_eq!(
        fake.token_requests(),
        1,
        "one token request for sixteen callers"
    );
    adapter.health().await.unwrap();
    assert_eq!(fake.token_requests(), 1, "the cached token is reused");
    assert_eq!(fake.unauthorized(), 0);
}

async fn a_token_is_renewed_before_it_expires() {
    let (fake, adapter) = seeded().await;
    fake.set_token_lifetime(Duration::from_secs(4));
    adapter.health().await.unwrap();
    // A quarter of the lifetime before expiry, the adapter asks for a new token on its
    // own: Business Central never sees the old one expire.
    tokio::time::sleep(Duration::from_millis(3300)).await;
    adapter.health().await.unwrap();
    assert_eq!(fake.token_requests(), 2);
    assert_eq!(
        fake.unauthorized(),
        0,
        "no request went out with an expired token"
    );
}

async fn a_revoked_token_is_renewed_once() {
    let (fake, adapter) = seeded().await;
    adapter.health().await.unwrap();
    fake.inject(Fault::ExpireSession);
    let skus = ["SKU-0001".to_owned(), "SKU-0002".to_owned()];
    let rows = adapter.stock_levels(&skus, &[]).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(fake.unauthorized(), 1, "one call was refused");
    assert_eq!(fake.token_requests(), 2, "and one new token fetched for it");
}

async fn wrong_credentials_are_a_clear_permanent_error() {
    let fake = FakeBusinessCentral::start().await;
    let mut config = fake.config();
    config.credentials.client_secret = Secret::new("not-the-secret");
    let adapter = BusinessCentral::new(config).unwrap();
    match adapter.health().await {
        Err(AdapterError::Permanent(why)) => {
            assert!(why.contains("invalid_client: AADSTS7000215"), "{why}");
            assert!(
                !why.contains("not-the-secret"),
                "the secret is never repeated"
            );
        }
        other => panic!("a wrong secret is permanent: {other:?}"),
    }
    assert_eq!(fake.unauthorized(), 0, "no API call without a token");
}

async fn next_links_are_followed_to_the_last_page() {
    let fake = FakeBusinessCentral::start().await;
    let rows: Vec<Stock> = (0..12)
        .map(|i| stock(&format!("SKU-{i:04}"), "WH-EAST", i))
        .collect();
    fake.seed(&rows);
    let mut config = fake.config();
    config.page_size = 5;
    let adapter = BusinessCentral::new(config).unwrap();
    let read = adapter.stock_levels(&[], &[]).await.unwrap();
    let mut on_hand: Vec<i64> = read.iter().map(|r| r.position.on_hand).collect();
    on_hand.sort_unstable();
    assert_eq!(on_hand, (0..12).collect::<Vec<_>>());
    assert_eq!(fake.next_links_followed(), 2, "pages of 5, 5 and 2");
}

async fn retry_after_is_waited_out_within_a_bound() {
    let (fake, adapter) = seeded().await;
    adapter.health().await.unwrap();
    fake.set_retry_after(1);
    fake.inject(Fault::Throttle(2));
    let started = Instant::now();
    adapter.health().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "waited {:?}, not the two seconds asked",
        started.elapsed()
    );

    // A wait longer than the adapter's bound goes back to the caller at once.
    fake.set_retry_after(300);
    fake.inject(Fault::Throttle(1));
    let started = Instant::now();
    let refused = adapter.health().await;
    assert!(
        matches!(refused, Err(AdapterError::Throttled { retry_after: Some(d) }) if d.as_secs() == 300),
        "{refused:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

async fn business_central_errors_name_their_code() {
    let (_fake, adapter) = seeded().await;
    let mut order = order_for_tests("ord_01JBCERRORS0000000000001");
    order.lines[0].sku = "NO-SUCH-ITEM".into();
    match adapter.submit_order(&order).await {
        Err(AdapterError::Permanent(why)) => {
            assert!(
                why.starts_with("HTTP 404 Internal_RecordNotFound: The Item does not exist"),
                "{why}"
            );
            assert!(why.contains("No.='NO-SUCH-ITEM'"), "{why}");
            assert!(why.contains("(correlation id "), "{why}");
        }
        other => panic!("an unknown item is permanent: {other:?}"),
    }
}

async fn the_adapter_stays_within_its_concurrency() {
    let fake = FakeBusinessCentral::start().await;
    fake.set_service_time(Duration::from_millis(40));
    let mut config = fake.config();
    config.concurrency = 2;
    let adapter = Arc::new(BusinessCentral::new(config).unwrap());
    let calls = (0..10).map(|_| {
        let adapter = adapter.clone();
        tokio::spawn(async move { adapter.health().await })
    });
    for done in join_all(calls).await {
        done.unwrap().unwrap();
    }
    assert_eq!(fake.max_in_flight(), 2, "two at once, never more");
}

async fn an_outage_is_transient_until_it_ends() {
    let (fake, adapter) = seeded().await;
    fake.inject(Fault::Down(true));
    for _ in 0..3 {
        let down = adapter.health().await;
        assert!(matches!(down, Err(AdapterError::Transient(_))), "{down:?}");
    }
    fake.inject(Fault::Down(false));
    adapter.health().await.unwrap();
}

fn shipment(id: &str, order_id: &str, lines: &[(&str, i64)]) -> Shipment {
    Shipment {
        id: id.into(),
        order_id: order_id.into(),
        reference: format!("carrier-{id}"),
        status: ShipmentStatus::Shipped,
        carrier: None,
        tracking_number: None,
        tracking_url: None,
        lines: lines
            .iter()
            .map(|(sku, quantity)| ShipmentLine {
                sku: (*sku).into(),
                quantity: *quantity,
            })
            .collect(),
        milestones: Vec::new(),
        shipped_at: None,
    }
}

async fn shipments_post_once_and_survive_the_deleted_order() {
    let (fake, adapter) = seeded().await;
    let mut order = order_for_tests("ord_01JBCSHIP00000000000001");
    let so = adapter.submit_order(&order).await.unwrap();
    order.erp.reference = Some(so.0.clone());

    // A part of the order: only what the shipment holds is shipped and invoiced.
    let first = shipment("shp_01JBCSHIP00000000000001", &order.id, &[("SKU-0001", 2)]);
    let posted = adapter.record_shipment(&order, &first).await.unwrap();
    assert_eq!(
        adapter.record_shipment(&order, &first).await.unwrap(),
        posted
    );
    assert_eq!(fake.count(Doc::Shipment, &first.id), 1);
    assert!(
        fake.order_is_open(&so.0),
        "one unit and a line are still to ship"
    );

    let rest = [("SKU-0001", 1), ("SKU-0002", 1)];
    let second = shipment("shp_01JBCSHIP00000000000002", &order.id, &rest);
    adapter.record_shipment(&order, &second).await.unwrap();
    assert!(
        !fake.order_is_open(&so.0),
        "Business Central deleted the posted order"
    );

    let read = adapter.shipments(&order).await.unwrap();
    let ids: Vec<&str> = read.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, [first.id.as_str(), second.id.as_str()]);
    assert_eq!(read[0].lines[0].quantity, 2);

    // A retry of the order after it was posted finds it through its invoice.
    order.erp.reference = None;
    assert_eq!(adapter.submit_order(&order).await.unwrap(), so);
    assert_eq!(fake.count(Doc::SalesOrder, &order.id), 1);

    let too_much = shipment("shp_01JBCSHIP00000000000003", &order.id, &[("SKU-0001", 1)]);
    let refused = adapter.record_shipment(&order, &too_much).await;
    assert!(
        matches!(refused, Err(AdapterError::Permanent(_))),
        "{refused:?}"
    );
}

/// SKU-0001 ×4: two allocated at WH-EAST, one at WH-WEST, one backordered; SKU-0002 ×1
/// allocated nowhere.
fn allocated_order(id: &str) -> Order {
    let mut order = order_for_tests(id);
    let at = |location: &str, quantity| Allocation {
        location: location.into(),
        quantity,
    };
    order.lines[0].quantity = 4;
    order.lines[0].allocations = vec![at("WH-EAST", 2), at("WH-WEST", 1)];
    order.lines[0].backordered = 1;
    order
}

/// (location, on hand, committed) of a SKU, sorted by location.
async fn figures_of(adapter: &BusinessCentral, sku: &str) -> Vec<(String, i64, i64)> {
    let rows = adapter.stock_levels(&[sku.to_owned()], &[]).await.unwrap();
    let mut out: Vec<_> = rows
        .into_iter()
        .map(|r| (r.location, r.position.on_hand, r.position.committed))
        .collect();
    out.sort();
    out
}

async fn an_order_commits_its_units_where_they_were_allocated() {
    let fake = FakeBusinessCentral::start().await;
    fake.seed(&[
        stock("SKU-0001", "WH-EAST", 10),
        stock("SKU-0001", "WH-WEST", 4),
        stock("SKU-0002", "WH-EAST", 5),
    ]);
    let adapter = fake.adapter();
    let mut order = allocated_order("ord_01JBCLOCATIONS0000000001");
    let so = adapter.submit_order(&order).await.unwrap();
    order.erp.reference = Some(so.0);
    // Seeded with one committed each; the backordered unit is committed nowhere.
    let at = |location: &str, on_hand, committed| (location.to_owned(), on_hand, committed);
    assert_eq!(
        figures_of(&adapter, "SKU-0001").await,
        [at("WH-EAST", 10, 3), at("WH-WEST", 4, 2)]
    );
    let second = allocated_order("ord_01JBCLOCATIONS0000000002");
    adapter.submit_order(&second).await.unwrap();
    assert_eq!(fake.location_reads(), 1, "location ids are read once");

    // Three units ship: the two lines at locations first, then none of the backorder.
    let parcel = shipment("shp_01JBCLOCATIONS00000001", &order.id, &[("SKU-0001", 3)]);
    adapter.record_shipment(&order, &parcel).await.unwrap();
    assert_eq!(
        figures_of(&adapter, "SKU-0001").await,
        [at("WH-EAST", 8, 3), at("WH-WEST", 3, 2)],
        "on hand and committed fall where the lines were"
    );
    let read = adapter.shipments(&order).await.unwrap();
    assert_eq!(read.len(), 1);
    let lines: Vec<(&str, i64)> = read[0]
        .lines
        .iter()
        .map(|l| (l.sku.as_str(), l.quantity))
        .collect();
    assert_eq!(
        lines,
        [("SKU-0001", 3)],
        "one line per SKU, across locations"
    );

    // The rest: the backordered unit and SKU-0002, which name no location.
    let rest = [("SKU-0001", 1), ("SKU-0002", 1)];
    let last = shipment("shp_01JBCLOCATIONS00000002", &order.id, &rest);
    adapter.record_shipment(&order, &last).await.unwrap();
    assert!(!fake.order_is_open(order.erp.reference.as_deref().unwrap()));
    assert_eq!(
        figures_of(&adapter, "SKU-0001").await,
        [at("WH-EAST", 8, 3), at("WH-WEST", 3, 2)],
        "a line without a location moves no location's figures"
    );
}

async fn an_unknown_location_is_a_clear_permanent_error() {
    let (fake, adapter) = seeded().await;
    let mut order = allocated_order("ord_01JBCNOWHERE000000000001");
    order.lines[0].allocations[1].location = "WH-NOWHERE".into();
    match adapter.submit_order(&order).await {
        Err(AdapterError::Permanent(why)) => assert!(why.contains("`WH-NOWHERE`"), "{why}"),
        other => panic!("an unknown location is permanent: {other:?}"),
    }
    assert_eq!(fake.count(Doc::SalesOrder, &order.id), 0);

    // A location made anew after its id was read: Business Central refuses the old id,
    // and says which field it objected to.
    let mut order = allocated_order("ord_01JBCRECREATED0000000001");
    order.lines[0].allocations.truncate(1);
    adapter.submit_order(&order).await.unwrap();
    fake.recreate_location("WH-EAST");
    order.id = "ord_01JBCRECREATED0000000002".into();
    match adapter.submit_order(&order).await {
        Err(AdapterError::Permanent(why)) => {
            assert!(why.contains("Application_DialogException"), "{why}");
            assert!(why.contains("locationId"), "{why}");
        }
        other => panic!("a stale location id is refused: {other:?}"),
    }
}
