//! ERPNext's own rules, beyond the conformance suite, against the fake site over real
//! sockets: `limit_start`/`limit_page_length` paging in a stable order until a short page,
//! warehouses named `<location> - <abbr>` or mapped by name, bins whose every reserved and
//! expected figure counts, sales orders submitted with a warehouse per allocation,
//! delivery notes against the order's rows with their transport receipt number, returns
//! as draft return delivery notes and refunds as return sales invoices, the token refused
//! once or for good, and Frappe's error shapes. No storage; each test runs once.

use std::sync::atomic::Ordering;
use std::time::Duration;

use libtest_mimic::Trial;
use serde_json::{Value, json};
use stockade::adapters::erpnext::ErpNext;
use stockade::adapters::erpnext::map::Warehouses;
use stockade::adapters::{AdapterError, ErpAdapter, ErpReference};
use stockade::config::Secret;
use stockade::domain::order::{
    Address, Allocation, Customer, ErpLink, ErpState, Order, OrderLine, OrderStatus,
};
use stockade::domain::rma::{Rma, RmaLine, RmaStatus};
use stockade::domain::shipment::{Shipment, ShipmentLine, ShipmentStatus};
use time::OffsetDateTime;

use super::conformance::block_on;
use super::erpnext_fake::{ABBR, FakeErpNext};

pub fn register(trials: &mut Vec<Trial>) {
    macro_rules! once {
        ($($test:ident),* $(,)?) => {$(
            let name = concat!(module_path!(), "::", stringify!($test));
            trials.push(crate::harness::once(name, || block_on($test())));
        )*};
    }
    once!(
        bins_are_read_in_stable_pages_until_a_short_one,
        every_reserved_and_expected_figure_counts,
        an_order_reserves_at_the_warehouses_of_its_allocations,
        a_draft_order_under_the_same_po_no_is_submitted_not_doubled,
        delivery_notes_carry_the_tracking_number_and_relieve_the_bin,
        returns_are_drafts_against_the_delivery_and_refunds_return_invoices,
        bad_credentials_are_refused_after_one_more_try,
        a_refused_credential_is_tried_once_more,
        frappe_errors_keep_their_type_and_kind,
    );
}

/// The fake's adapter, `WH-MAIN` mapped by name to `Stores - ACME`, in pages of `page`.
fn adapter(fake: &FakeErpNext, page: u32) -> ErpNext {
    let mut config = fake.config();
    config.page_size = page;
    config.timeout = Duration::from_secs(5);
    config.warehouses = Warehouses::new(Some(ABBR.into()), "WH-MAIN=Stores - ACME").unwrap();
    ErpNext::new(config).unwrap()
}

/// A fake with items `A` and `B` in `Stores - ACME` (their default) and `WH-EAST - ACME`.
async fn stocked() -> FakeErpNext {
    let fake = FakeErpNext::start().await;
    for item in ["A", "B"] {
        let mut books = fake.books();
        books.seed_bin(item, "Stores - ACME", 40.0, 5.0, 0.0);
        books.seed_bin(item, "WH-EAST - ACME", 10.0, 0.0, 20.0);
    }
    fake
}

fn figure(fake: &FakeErpNext, item: &str, warehouse: &str, field: &str) -> f64 {
    fake.bin(item, warehouse).unwrap()[field].as_f64().unwrap()
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
        currency: "EUR".into(),
        customer: Customer::default(),
        shipping_address: Address {
            name: "Ada".into(),
            line1: "1 Main St".into(),
            city: "Lyon".into(),
            postal_code: "69001".into(),
            country: "FR".into(),
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
            system: "erpnext".into(),
            reference: None,
            state: ErpState::Pending,
        },
        created_at: now,
        updated_at: now,
    }
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

fn rma(id: &str, order_id: &str, lines: &[(&str, i64, i64)]) -> Rma {
    Rma {
        id: id.into(),
        order_id: order_id.into(),
        status: RmaStatus::Authorized,
        lines: lines
            .iter()
            .map(|(sku, quantity, received)| RmaLine {
                sku: (*sku).into(),
                quantity: *quantity,
                reason: "too small".into(),
                received_resellable: *received,
                received_damaged: 0,
            })
            .collect(),
        refund_reference: None,
        created_at: OffsetDateTime::UNIX_EPOCH,
        updated_at: OffsetDateTime::UNIX_EPOCH,
    }
}

fn rows(doc: &Value) -> Vec<Value> {
    doc["items"].as_array().cloned().unwrap_or_default()
}

async fn bins_are_read_in_stable_pages_until_a_short_one() {
    let fake = FakeErpNext::start().await;
    for i in 0..10 {
        fake.books()
            .seed_bin(&format!("SKU-{i:02}"), "WH-EAST - ACME", i as f64, 0.0, 0.0);
    }
    // Another company's warehouse is not one of Stockade's locations.
    fake.books()
        .seed_bin("SKU-00", "Stores - OTHER", 99.0, 0.0, 0.0);
    let erp = adapter(&fake, 5);

    // Exactly two full pages: a third, empty one says the list has ended.
    let all = erp.stock_levels(&[], &[]).await.unwrap();
    assert_eq!(all.len(), 10);
    let seen: Vec<(usize, usize, String)> = fake
        .state
        .lists
        .lock()
        .unwrap()
        .iter()
        .map(|l| (l.limit_start, l.limit_page_length, l.order_by.clone()))
        .collect();
    let stable = || "name asc".to_owned();
    assert_eq!(
        seen,
        [(0, 5, stable()), (5, 5, stable()), (10, 5, stable())]
    );
    assert!(
        fake.state
            .lists
            .lock()
            .unwrap()
            .iter()
            .all(|l| l.doctype == "Bin")
    );

    // One more row: the third page is short, and the last.
    fake.books()
        .seed_bin("SKU-10", "WH-EAST - ACME", 1.0, 0.0, 0.0);
    fake.state.lists.lock().unwrap().clear();
    assert_eq!(erp.stock_levels(&[], &[]).await.unwrap().len(), 11);
    assert_eq!(fake.state.lists.lock().unwrap().len(), 3);

    // Named SKUs at a named location; a SKU ERPNext does not hold is simply absent.
    let rows = erp
        .stock_levels(&["SKU-03".into(), "NOPE".into()], &["WH-EAST".into()])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].sku.as_str(), rows[0].location.as_str()),
        ("SKU-03", "WH-EAST")
    );
    assert_eq!(rows[0].position.on_hand, 3);
    assert!(rows[0].as_of.is_some());
}

async fn every_reserved_and_expected_figure_counts() {
    let fake = stocked().await;
    {
        let mut books = fake.books();
        let bin = books.bin("A", "Stores - ACME");
        bin["reserved_qty_for_production"] = json!(2.0);
        bin["reserved_qty_for_sub_contract"] = json!(1.0);
        bin["planned_qty"] = json!(4.0);
        // Material requests are not expected stock.
        bin["indented_qty"] = json!(50.0);
    }
    let erp = adapter(&fake, 20);
    let rows = erp
        .stock_levels(&["A".into()], &["WH-MAIN".into()])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let p = &rows[0].position;
    assert_eq!(
        rows[0].location, "WH-MAIN",
        "Stores - ACME is mapped by name"
    );
    assert_eq!(
        (p.on_hand, p.committed, p.unavailable, p.incoming),
        (40, 5 + 2 + 1, 0, 4)
    );
    assert_eq!(p.available_to_sell(), 40 - 8);

    // A fraction (another unit of measure) is refused by name, never rounded.
    fake.books().bin("B", "WH-EAST - ACME")["actual_qty"] = json!(2.5);
    let e = erp.stock_levels(&["B".into()], &[]).await.unwrap_err();
    assert!(
        matches!(&e, AdapterError::Permanent(m) if m.contains("item B warehouse WH-EAST - ACME actual_qty")),
        "{e}"
    );
}

async fn an_order_reserves_at_the_warehouses_of_its_allocations() {
    let fake = stocked().await;
    let erp = adapter(&fake, 20);
    let o = order(
        "ord_1",
        &[
            ("A", 6, &[("WH-MAIN", 3), ("WH-EAST", 2)]),
            ("B", 1, &[("WH-EAST", 1)]),
        ],
    );
    let first = erp.submit_order(&o).await.unwrap();
    assert_eq!(erp.submit_order(&o).await.unwrap(), first);
    let orders = fake.documents("Sales Order");
    assert_eq!(orders.len(), 1);
    let so = &orders[0];
    assert_eq!(first, ErpReference(so["name"].as_str().unwrap().to_owned()));
    assert!(first.0.starts_with("SAL-ORD-"), "{first:?}");
    assert_eq!(so["docstatus"], 1, "created submitted");
    assert_eq!(so["po_no"], "ord_1");
    assert_eq!(so["currency"], "EUR");
    assert_eq!(so["ignore_pricing_rule"], 1);
    let lines: Vec<(Value, f64, Value)> = rows(so)
        .iter()
        .map(|r| {
            (
                r["item_code"].clone(),
                r["qty"].as_f64().unwrap(),
                r["warehouse"].clone(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (json!("A"), 3.0, json!("Stores - ACME")),
            (json!("A"), 2.0, json!("WH-EAST - ACME")),
            // The backordered unit goes to the item's default warehouse.
            (json!("A"), 1.0, json!("Stores - ACME")),
            (json!("B"), 1.0, json!("WH-EAST - ACME")),
        ]
    );
    // ERPNext reserves where Stockade did.
    assert_eq!(
        figure(&fake, "A", "Stores - ACME", "reserved_qty"),
        5.0 + 3.0 + 1.0
    );
    assert_eq!(figure(&fake, "A", "WH-EAST - ACME", "reserved_qty"), 2.0);
    assert_eq!(figure(&fake, "B", "WH-EAST - ACME", "reserved_qty"), 1.0);
}

async fn a_draft_order_under_the_same_po_no_is_submitted_not_doubled() {
    let fake = stocked().await;
    let erp = adapter(&fake, 20);
    let draft = fake
        .books()
        .insert(
            "Sales Order",
            serde_json::from_value(json!({"customer": "Web Shop", "company": "Acme Retail",
                "po_no": "ord_draft", "delivery_date": "2026-03-02", "docstatus": 0,
                "items": [{"item_code": "A", "qty": 2, "rate": 30, "warehouse": "WH-EAST - ACME"}]}))
            .unwrap(),
        )
        .unwrap();
    assert_eq!(
        figure(&fake, "A", "WH-EAST - ACME", "reserved_qty"),
        0.0,
        "a draft reserves nothing"
    );
    let o = order("ord_draft", &[("A", 2, &[("WH-EAST", 2)])]);
    let reference = erp.submit_order(&o).await.unwrap();
    assert_eq!(reference.0, draft["name"].as_str().unwrap());
    assert_eq!(fake.documents("Sales Order").len(), 1);
    assert_eq!(fake.documents("Sales Order")[0]["docstatus"], 1);
    assert_eq!(figure(&fake, "A", "WH-EAST - ACME", "reserved_qty"), 2.0);
}

async fn delivery_notes_carry_the_tracking_number_and_relieve_the_bin() {
    let fake = stocked().await;
    let erp = adapter(&fake, 20);
    let mut o = order(
        "ord_dn",
        &[("A", 5, &[("WH-MAIN", 3), ("WH-EAST", 2)]), ("B", 1, &[])],
    );
    o.erp.reference = Some(erp.submit_order(&o).await.unwrap().0);
    // A clerk delivered one unit of A from the first row by hand.
    let clerk = fake.deliver(o.erp.reference.as_deref().unwrap(), &[("A", 1)], "");
    assert_eq!(
        clerk["po_no"], "ord_dn",
        "ERPNext copies po_no from the order"
    );

    let s = shipment("shp_1", &o, &[("A", 4), ("B", 1)]);
    let made = erp.record_shipment(&o, &s).await.unwrap();
    assert_eq!(erp.record_shipment(&o, &s).await.unwrap(), made);
    let notes = fake.documents("Delivery Note");
    assert_eq!(notes.len(), 2);
    let note = notes.iter().find(|n| n["name"] == made.0.as_str()).unwrap();
    assert_eq!(note["docstatus"], 1);
    assert_eq!(note["po_no"], "ord_dn/shp_1");
    assert_eq!(note["lr_no"], "1Z999AA10123456784");
    assert_eq!(note["lr_date"], "2026-03-03");
    assert_eq!(note["transporter_name"], "UPS");
    let drawn: Vec<(Value, f64, Value)> = rows(note)
        .iter()
        .map(|r| {
            (
                r["item_code"].clone(),
                r["qty"].as_f64().unwrap(),
                r["warehouse"].clone(),
            )
        })
        .collect();
    // What each order row had left, in row order: 2 of 3 in Stores, 2 in WH-EAST, then B.
    assert_eq!(
        drawn,
        [
            (json!("A"), 2.0, json!("Stores - ACME")),
            (json!("A"), 2.0, json!("WH-EAST - ACME")),
            (json!("B"), 1.0, json!("Stores - ACME")),
        ]
    );
    assert!(rows(note).iter().all(|r| r["against_sales_order"]
        == o.erp.reference.as_deref().unwrap()
        && r["so_detail"].is_string()));
    // Stock left the warehouses, and their reservations with it.
    assert_eq!(
        figure(&fake, "A", "Stores - ACME", "actual_qty"),
        40.0 - 1.0 - 2.0
    );
    assert_eq!(figure(&fake, "A", "Stores - ACME", "reserved_qty"), 5.0);
    assert_eq!(figure(&fake, "A", "WH-EAST - ACME", "actual_qty"), 8.0);
    assert_eq!(figure(&fake, "A", "WH-EAST - ACME", "reserved_qty"), 0.0);

    // Both read back: the clerk's under ERPNext's name, Stockade's under its own id.
    let read = erp.shipments(&o).await.unwrap();
    assert_eq!(read.len(), 2, "{read:?}");
    assert_eq!(
        read[0].id,
        format!("erpnext-dn-{}", clerk["name"].as_str().unwrap())
    );
    assert_eq!(read[0].tracking_number, None);
    assert_eq!(read[1].id, "shp_1");
    assert_eq!(read[1].reference, made.0);
    assert_eq!(read[1].carrier.as_deref(), Some("UPS"));
    assert_eq!(
        read[1].tracking_number.as_deref(),
        Some("1Z999AA10123456784")
    );
    let lines: Vec<(&str, i64)> = read[1]
        .lines
        .iter()
        .map(|l| (l.sku.as_str(), l.quantity))
        .collect();
    assert_eq!(lines, [("A", 4), ("B", 1)], "rows of one SKU are summed");

    // Nothing is left: one more unit is refused before ERPNext sees it.
    let e = erp
        .record_shipment(&o, &shipment("shp_2", &o, &[("B", 1)]))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, AdapterError::Permanent(m) if m.contains("left to deliver")),
        "{e}"
    );
    assert_eq!(fake.documents("Delivery Note").len(), 2);
    // An order ERPNext does not hold has nothing to deliver against.
    let stray = order("ord_never_sent", &[("A", 1, &[("WH-MAIN", 1)])]);
    let e = erp
        .record_shipment(&stray, &shipment("shp_3", &stray, &[("A", 1)]))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, AdapterError::Permanent(m) if m.contains("not in ERPNext")),
        "{e}"
    );
    assert!(erp.shipments(&stray).await.unwrap().is_empty());
}

async fn returns_are_drafts_against_the_delivery_and_refunds_return_invoices() {
    let fake = stocked().await;
    let erp = adapter(&fake, 20);
    let mut o = order("ord_rt", &[("A", 3, &[("WH-EAST", 3)])]);
    o.erp.reference = Some(erp.submit_order(&o).await.unwrap().0);
    let shipped = erp
        .record_shipment(&o, &shipment("shp_rt", &o, &[("A", 3)]))
        .await
        .unwrap();
    let stock_after_shipping = figure(&fake, "A", "WH-EAST - ACME", "actual_qty");

    let r = rma("rma_1", "ord_rt", &[("A", 2, 0)]);
    let made = erp.create_return(&o, &r).await.unwrap();
    assert_eq!(erp.create_return(&o, &r).await.unwrap(), made);
    let note = fake
        .documents("Delivery Note")
        .into_iter()
        .find(|n| n["name"] == made.0.as_str())
        .unwrap();
    assert!(made.0.starts_with("MAT-DN-RET-"), "{made:?}");
    assert_eq!(
        (note["is_return"].clone(), note["docstatus"].clone()),
        (json!(1), json!(0))
    );
    assert_eq!(note["return_against"], shipped.0.as_str());
    assert_eq!(note["po_no"], "ord_rt/rma_1");
    let row = &rows(&note)[0];
    assert_eq!(row["qty"], -2.0);
    assert_eq!(row["warehouse"], "WH-EAST - ACME");
    assert!(row["dn_detail"].is_string());
    assert_eq!(
        figure(&fake, "A", "WH-EAST - ACME", "actual_qty"),
        stock_after_shipping,
        "a draft return books nothing until the goods arrive"
    );

    // The goods came back: a submitted credit note for what was received.
    let received = rma("rma_1", "ord_rt", &[("A", 2, 1)]);
    let credit = erp.post_refund(&o, &received).await.unwrap();
    assert_eq!(erp.post_refund(&o, &received).await.unwrap(), credit);
    let invoices = fake.documents("Sales Invoice");
    assert_eq!(invoices.len(), 1);
    let si = &invoices[0];
    assert!(credit.0.starts_with("ACC-SINV-RET-"), "{credit:?}");
    assert_eq!(
        (si["is_return"].clone(), si["docstatus"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(si["update_stock"], 0);
    assert_eq!(rows(si)[0]["qty"], -1.0);
    assert_eq!(rows(si)[0]["rate"], 30.0);

    // Nothing received, nothing credited.
    let nothing = rma("rma_2", "ord_rt", &[("A", 1, 0)]);
    erp.create_return(&o, &nothing).await.unwrap();
    let e = erp.post_refund(&o, &nothing).await.unwrap_err();
    assert!(
        matches!(&e, AdapterError::Permanent(m) if m.contains("nothing to credit")),
        "{e}"
    );
    assert_eq!(fake.documents("Sales Invoice").len(), 1);
}

async fn bad_credentials_are_refused_after_one_more_try() {
    let fake = stocked().await;
    for (key, secret) in [
        (super::erpnext_fake::API_KEY, "wrong-secret"),
        ("unknown-key", "wrong-secret"),
    ] {
        fake.state.refusals.store(0, Ordering::SeqCst);
        let mut config = fake.config();
        config.token.key = key.into();
        config.token.secret = Secret::new(secret);
        let erp = ErpNext::new(config).unwrap();
        let e = erp.health().await.unwrap_err();
        assert!(
            matches!(&e, AdapterError::Permanent(m) if m.contains("refused the API key") && m.contains("AuthenticationError")),
            "{e}"
        );
        assert!(
            !e.to_string().contains(secret),
            "the secret is never echoed"
        );
        assert_eq!(
            fake.state.refusals.load(Ordering::SeqCst),
            2,
            "one more try, no more"
        );
    }
}

async fn a_refused_credential_is_tried_once_more() {
    let fake = stocked().await;
    let erp = adapter(&fake, 20);
    fake.faults().refuse_once = true;
    erp.health().await.unwrap();
    assert_eq!(fake.state.refusals.load(Ordering::SeqCst), 1);
    // Writes too: the refused request did nothing, so repeating the create is safe.
    fake.faults().refuse_once = true;
    let o = order("ord_auth", &[("A", 1, &[("WH-EAST", 1)])]);
    erp.submit_order(&o).await.unwrap();
    assert_eq!(fake.documents("Sales Order").len(), 1);
    assert_eq!(fake.state.refusals.load(Ordering::SeqCst), 2);
}

async fn frappe_errors_keep_their_type_and_kind() {
    let fake = stocked().await;
    let erp = adapter(&fake, 20);
    // An item ERPNext does not know: a 417, never worth a retry, nothing created.
    let e = erp
        .submit_order(&order("ord_bad", &[("NOPE", 1, &[("WH-EAST", 1)])]))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, AdapterError::Permanent(m) if m == "HTTP 417 LinkValidationError: Could not find Row #1: Item Code: NOPE"),
        "{e}"
    );
    assert!(fake.documents("Sales Order").is_empty());

    // A role without Sales Invoice: Frappe's HTML message, without its tags.
    fake.state
        .forbidden
        .lock()
        .unwrap()
        .insert("Sales Invoice".into());
    let mut o = order("ord_perm", &[("A", 1, &[("WH-EAST", 1)])]);
    o.erp.reference = Some(erp.submit_order(&o).await.unwrap().0);
    let r = rma("rma_perm", "ord_perm", &[("A", 1, 1)]);
    erp.create_return(&o, &r).await.unwrap();
    let e = erp.post_refund(&o, &r).await.unwrap_err();
    assert!(
        matches!(&e, AdapterError::Permanent(m) if m.starts_with("HTTP 403 PermissionError: You are not permitted to access this resource.") && !m.contains('<')),
        "{e}"
    );

    // The rate limiter's wait runs to the end of its window: back to the caller at once.
    fake.faults().throttle = 1;
    fake.faults().retry_after_secs = 3417;
    let e = erp.health().await.unwrap_err();
    assert!(
        matches!(e, AdapterError::Throttled { retry_after: Some(d) } if d == Duration::from_secs(3417)),
        "{e}"
    );

    fake.faults().fail_5xx = 1;
    let e = erp.health().await.unwrap_err();
    assert!(
        matches!(&e, AdapterError::Transient(m) if m.contains("HTTP 500 OperationalError")),
        "{e}"
    );

    // A site in maintenance.
    fake.faults().down = true;
    let e = erp.stock_levels(&[], &[]).await.unwrap_err();
    assert!(
        matches!(&e, AdapterError::Transient(m) if m.contains("HTTP 503 SessionStopped")),
        "{e}"
    );
    fake.faults().down = false;

    // A 200 that is not JSON is the site failing for now.
    fake.faults().malformed = 1;
    assert!(matches!(
        erp.health().await,
        Err(AdapterError::Transient(_))
    ));
    erp.health().await.unwrap();
}
