//! Odoo's own rules, beyond the conformance suite, against the fake Odoo over real
//! sockets and both transports: `limit`/`offset` paging to the last short page, quants
//! summed over a warehouse's internal locations, one delivery per warehouse reserved at
//! confirmation, a draft left by a lost confirmation finished on retry, deliveries
//! validated with a backorder for the rest, the return picking and the posted credit
//! note, refused credentials in each transport's shape, the session rule (renewed once,
//! refused twice is permanent), and Odoo's exceptions kept in the error. No storage.

use std::sync::atomic::Ordering;

use libtest_mimic::Trial;
use serde_json::{Value, json};
use stockade::adapters::odoo::client::Transport;
use stockade::adapters::odoo::{Odoo, OdooConfig};
use stockade::adapters::{AdapterError, ErpAdapter};
use stockade::config::Secret;
use stockade::domain::order::{Allocation, Order};
use stockade::domain::rma::{Rma, RmaLine, RmaStatus};
use stockade::domain::shipment::{Shipment, ShipmentLine, ShipmentStatus};
use time::OffsetDateTime;

use super::Stock;
use super::conformance::{block_on, order_for_tests};
use super::odoo_fake::records::id_of;
use super::odoo_fake::{FakeOdoo, ODOO_DB, ODOO_PARTNER, ODOO_UID};

pub fn register(trials: &mut Vec<Trial>) {
    macro_rules! once {
        ($($test:ident),* $(,)?) => {$(
            let name = concat!(module_path!(), "::", stringify!($test));
            trials.push(crate::harness::once(name, || block_on($test())));
        )*};
    }
    once!(
        stock_is_read_in_pages_to_the_last_short_one,
        quants_of_a_warehouse_are_summed_and_others_ignored,
        an_order_reserves_at_each_allocations_warehouse,
        a_draft_left_by_a_lost_confirmation_is_confirmed_on_retry,
        a_recorded_shipment_validates_the_delivery_and_leaves_a_backorder,
        a_return_is_a_receipt_and_its_credit_note_is_posted,
        bad_credentials_are_refused_in_each_transports_shape,
        an_expired_session_is_renewed_once_and_twice_is_permanent,
        odoo_exceptions_keep_their_name_and_kind,
        a_long_retry_after_goes_back_to_the_caller,
    );
}

fn adapter(fake: &FakeOdoo, transport: Transport) -> Odoo {
    Odoo::new(fake.config(transport)).unwrap()
}

fn both() -> [Transport; 2] {
    [FakeOdoo::json_rpc(), FakeOdoo::json_2()]
}

fn stock(sku: &str, location: &str, on_hand: i64, committed: i64) -> Stock {
    Stock {
        sku: sku.into(),
        location: location.into(),
        on_hand,
        committed,
        unavailable: 0,
        incoming: 0,
    }
}

/// The figures read for (sku, location), as (on hand, committed).
async fn figures(erp: &Odoo, sku: &str, location: &str) -> (i64, i64) {
    let rows = erp
        .stock_levels(&[sku.into()], &[location.into()])
        .await
        .unwrap();
    rows.first()
        .map_or((0, 0), |r| (r.position.on_hand, r.position.committed))
}

fn shipment(id: &str, order: &Order, lines: &[(&str, i64)], tracking: &str) -> Shipment {
    Shipment {
        id: id.into(),
        order_id: order.id.clone(),
        reference: "WMS-1".into(),
        status: ShipmentStatus::Shipped,
        carrier: Some("DHL".into()),
        tracking_number: Some(tracking.into()),
        tracking_url: None,
        lines: lines
            .iter()
            .map(|(sku, quantity)| ShipmentLine {
                sku: (*sku).into(),
                quantity: *quantity,
            })
            .collect(),
        milestones: Vec::new(),
        shipped_at: Some(OffsetDateTime::now_utc()),
    }
}

async fn stock_is_read_in_pages_to_the_last_short_one() {
    for transport in both() {
        // 14 products: two full pages of 7, then an empty one says the list is over.
        let fake = FakeOdoo::start().await;
        let rows: Vec<Stock> = (0..14)
            .map(|i| stock(&format!("P-{i:02}"), "WH-EAST", i, i / 2))
            .collect();
        fake.seed(&rows);
        let erp = adapter(&fake, transport.clone());
        let skus: Vec<String> = (0..14).map(|i| format!("P-{i:02}")).collect();
        let read = erp.stock_levels(&skus, &[]).await.unwrap();
        assert_eq!(read.len(), 14, "{transport:?}");
        for r in &read {
            let i: i64 = r.sku[2..].parse().unwrap();
            assert_eq!((r.position.on_hand, r.position.committed), (i, i / 2));
            assert_eq!(r.location, "WH-EAST", "the warehouse code maps back");
        }
        let calls = fake.calls();
        let product_pages = calls.iter().filter(|c| *c == "product.product.search_read");
        assert_eq!(product_pages.count(), 3, "{calls:?}");
        let limits = fake.state.limits.lock().unwrap().clone();
        assert!(limits.iter().all(|l| *l == json!(7)), "{limits:?}");
    }
}

async fn quants_of_a_warehouse_are_summed_and_others_ignored() {
    let fake = FakeOdoo::start().await;
    fake.seed(&[
        stock("CAP", "WH-EAST", 10, 4),
        stock("CAP", "WH-WEST", 5, 0),
    ]);
    {
        let mut db = fake.db();
        let east = db.warehouse("EAST");
        // A shelf inside the stock location, and goods already at the customer's.
        let shelf = db
            .all("stock.location")
            .find(|l| l["complete_name"] == "EAST/Stock/Shelf 1")
            .and_then(|l| id_of(&l["id"]))
            .unwrap();
        db.quant("CAP", shelf, 3.0, 1.0);
        let customers = db
            .all("stock.location")
            .find(|l| l["usage"] == "customer")
            .and_then(|l| id_of(&l["id"]))
            .unwrap();
        db.quant("CAP", customers, 99.0, 0.0);
        assert_ne!(east, 0);
    }
    let erp = adapter(&fake, FakeOdoo::json_rpc());
    assert_eq!(figures(&erp, "CAP", "WH-EAST").await, (13, 5));
    let all = erp.stock_levels(&["CAP".into()], &[]).await.unwrap();
    assert_eq!(all.len(), 2, "no row for the customers' location: {all:?}");
    // A location Odoo has no warehouse for holds nothing.
    assert!(
        erp.stock_levels(&["CAP".into()], &["STORE-9".into()])
            .await
            .unwrap()
            .is_empty()
    );

    // Half a unit (a product counted in another unit of measure) is refused by name.
    {
        let mut db = fake.db();
        let west = db.warehouse("WEST");
        let stock = db.stock_location(west);
        db.quant("CAP", stock, 0.5, 0.0);
    }
    let e = erp
        .stock_levels(&["CAP".into()], &["WH-WEST".into()])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, AdapterError::Permanent(m) if m.contains("CAP at WH-WEST quantity")),
        "{e}"
    );
}

async fn an_order_reserves_at_each_allocations_warehouse() {
    for transport in both() {
        let fake = FakeOdoo::start().await;
        fake.seed(&[
            stock("CAP", "WH-EAST", 10, 0),
            stock("CAP", "WH-WEST", 10, 0),
            stock("TEE", "WH-WEST", 10, 0),
        ]);
        let erp = adapter(&fake, transport);
        let mut order = order_for_tests("ord_odoo_alloc");
        order.lines[0].sku = "CAP".into();
        order.lines[0].allocations = vec![
            Allocation {
                location: "WH-EAST".into(),
                quantity: 2,
            },
            Allocation {
                location: "WH-WEST".into(),
                quantity: 1,
            },
        ];
        order.lines[1].sku = "TEE".into();
        order.lines[1].allocations = vec![Allocation {
            location: "WH-WEST".into(),
            quantity: 1,
        }];
        let reference = erp.submit_order(&order).await.unwrap();
        assert_eq!(erp.submit_order(&order).await.unwrap(), reference);
        assert_eq!(figures(&erp, "CAP", "WH-EAST").await, (10, 2));
        assert_eq!(figures(&erp, "CAP", "WH-WEST").await, (10, 1));
        assert_eq!(figures(&erp, "TEE", "WH-WEST").await, (10, 1));

        let db = fake.db();
        let so: i64 = reference.0.parse().unwrap();
        let sale = db.get("sale.order", so).unwrap();
        assert_eq!(sale["state"], "sale");
        assert_eq!(sale["client_order_ref"], "ord_odoo_alloc");
        let routes: Vec<Value> = db
            .all("sale.order.line")
            .filter(|l| id_of(&l["order_id"]) == Some(so))
            .map(|l| l["route_id"][1].clone())
            .collect();
        assert_eq!(
            routes,
            [
                json!("EAST: Deliver in 1 step (ship)"),
                json!("WEST: Deliver in 1 step (ship)"),
                json!("WEST: Deliver in 1 step (ship)"),
            ]
        );
        let deliveries: Vec<String> = db
            .all("stock.picking")
            .filter(|p| id_of(&p["sale_id"]) == Some(so))
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(deliveries, ["EAST/OUT/00001", "WEST/OUT/00001"]);
    }
}

async fn a_draft_left_by_a_lost_confirmation_is_confirmed_on_retry() {
    let fake = FakeOdoo::start().await;
    fake.seed(&[
        stock("SKU-0001", "WH-EAST", 10, 0),
        stock("SKU-0002", "WH-EAST", 10, 0),
    ]);
    let order = order_for_tests("ord_odoo_draft");
    let draft = {
        let mut db = fake.db();
        let p1 = db.product("SKU-0001");
        db.create(
            "sale.order",
            &json!({"partner_id": ODOO_PARTNER, "client_order_ref": order.id,
                    "order_line": [[0, 0, {"product_id": p1, "product_uom_qty": 3.0}]]}),
        )
        .unwrap()
    };
    let erp = adapter(&fake, FakeOdoo::json_rpc());
    let reference = erp.submit_order(&order).await.unwrap();
    assert_eq!(reference.0, draft.to_string());
    assert_eq!(fake.count("sale.order", |_| true), 1);
    assert_eq!(fake.db().get("sale.order", draft).unwrap()["state"], "sale");
    assert_eq!(figures(&erp, "SKU-0001", "WH-EAST").await, (10, 3));
}

async fn a_recorded_shipment_validates_the_delivery_and_leaves_a_backorder() {
    for transport in both() {
        let fake = FakeOdoo::start().await;
        fake.seed(&[
            stock("SKU-0001", "WH-EAST", 10, 0),
            stock("SKU-0002", "WH-EAST", 10, 0),
        ]);
        let erp = adapter(&fake, transport);
        let mut order = order_for_tests("ord_odoo_ship");
        order.erp.reference = Some(erp.submit_order(&order).await.unwrap().0);
        assert_eq!(figures(&erp, "SKU-0001", "WH-EAST").await, (10, 3));

        let first = shipment("shp_odoo_1", &order, &[("SKU-0001", 2)], "JJD001");
        let made = erp.record_shipment(&order, &first).await.unwrap();
        assert_eq!(erp.record_shipment(&order, &first).await.unwrap(), made);
        // Two left Odoo's stock, and the third unit stays reserved on the backorder.
        assert_eq!(figures(&erp, "SKU-0001", "WH-EAST").await, (8, 1));
        {
            let db = fake.db();
            let picking = db.get("stock.picking", made.0.parse().unwrap()).unwrap();
            assert_eq!(picking["state"], "done");
            assert_eq!(picking["carrier_tracking_ref"], "JJD001");
            assert_eq!(picking["origin"], "S00001/shp_odoo_1");
            let open: Vec<&str> = db
                .all("stock.picking")
                .filter(|p| p["state"] != "done")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(open, ["EAST/OUT/00002"], "the rest is on a backorder");
        }

        let read = erp.shipments(&order).await.unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].id, "shp_odoo_1", "read back under Stockade's id");
        assert_eq!(read[0].reference, "EAST/OUT/00001");
        assert_eq!(read[0].tracking_number.as_deref(), Some("JJD001"));
        assert_eq!(read[0].shipped_at.unwrap().unix_timestamp(), 1_772_446_500);

        // More than is open anywhere is refused before anything is written.
        let calls = fake.calls().len();
        let too_many = shipment("shp_odoo_2", &order, &[("SKU-0002", 2)], "JJD002");
        let e = erp.record_shipment(&order, &too_many).await.unwrap_err();
        assert!(
            matches!(&e, AdapterError::Permanent(m) if m.contains("shp_odoo_2")),
            "{e}"
        );
        let writes = fake.calls()[calls..]
            .iter()
            .filter(|c| !c.ends_with("search_read"))
            .count();
        assert_eq!(writes, 0);

        // The warehouse validates the backorder in Odoo itself. Odoo copied the source
        // document onto it, yet Stockade's shipment id stays with the delivery it made.
        let so = order.erp.reference.as_deref().unwrap().parse().unwrap();
        fake.db().ship(so, &[("SKU-0001", 1), ("SKU-0002", 1)]);
        let read = erp.shipments(&order).await.unwrap();
        let ids: Vec<&str> = read.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[0], "shp_odoo_1");
        assert!(ids[1].starts_with("odoo-picking-"), "{ids:?}");
        assert_eq!(
            erp.record_shipment(&order, &first).await.unwrap(),
            made,
            "still found as recorded"
        );
    }
}

async fn a_return_is_a_receipt_and_its_credit_note_is_posted() {
    for transport in both() {
        let fake = FakeOdoo::start().await;
        fake.seed(&[
            stock("SKU-0001", "WH-EAST", 10, 0),
            stock("SKU-0002", "WH-EAST", 10, 0),
        ]);
        let erp = adapter(&fake, transport);
        let order = order_for_tests("ord_odoo_rma");
        erp.submit_order(&order).await.unwrap();
        let mut rma = Rma {
            id: "rma_odoo_1".into(),
            order_id: order.id.clone(),
            status: RmaStatus::Authorized,
            lines: vec![RmaLine {
                sku: "SKU-0001".into(),
                quantity: 2,
                reason: "too small".into(),
                received_resellable: 0,
                received_damaged: 0,
            }],
            refund_reference: None,
            created_at: OffsetDateTime::now_utc(),
            updated_at: OffsetDateTime::now_utc(),
        };
        let receipt = erp.create_return(&order, &rma).await.unwrap();
        assert_eq!(erp.create_return(&order, &rma).await.unwrap(), receipt);
        {
            let db = fake.db();
            let picking = db.get("stock.picking", receipt.0.parse().unwrap()).unwrap();
            assert_eq!(picking["picking_type_code"], "incoming");
            assert_eq!(picking["state"], "assigned", "ready to receive");
            assert_eq!(picking["location_id"][1], "Partners/Customers");
            assert_eq!(picking["location_dest_id"][1], "EAST/Stock");
        }

        // Nothing received yet: nothing to credit, and nothing is booked.
        let e = erp.post_refund(&order, &rma).await.unwrap_err();
        assert!(
            matches!(&e, AdapterError::Permanent(m) if m.contains("nothing")),
            "{e}"
        );
        rma.lines[0].received_resellable = 1;
        rma.lines[0].received_damaged = 1;
        let credit = erp.post_refund(&order, &rma).await.unwrap();
        assert_eq!(erp.post_refund(&order, &rma).await.unwrap(), credit);
        let db = fake.db();
        let note = db.get("account.move", credit.0.parse().unwrap()).unwrap();
        assert_eq!(note["state"], "posted");
        assert_eq!(note["ref"], "rma_odoo_1");
        assert_eq!(note["amount_total"].as_f64(), Some(2.0 * 19.90));
        assert_eq!(db.all("account.move").count(), 1);
    }
}

async fn bad_credentials_are_refused_in_each_transports_shape() {
    let fake = FakeOdoo::start().await;
    let refused = |config: OdooConfig| async move {
        let erp = Odoo::new(config).unwrap();
        match erp.health().await {
            Err(AdapterError::Permanent(why)) => why,
            other => panic!("not a permanent refusal: {other:?}"),
        }
    };
    let rpc = |database: &str, uid: i64| Transport::JsonRpc {
        database: database.into(),
        uid,
    };
    let mut wrong_key = fake.config(rpc(ODOO_DB, ODOO_UID));
    wrong_key.api_key = Secret::new("not-the-key");
    let why = refused(wrong_key).await;
    assert!(why.contains("odoo.exceptions.AccessDenied"), "{why}");
    assert!(!why.contains("not-the-key"), "the key is never in an error");
    let why = refused(fake.config(rpc(ODOO_DB, ODOO_UID + 1))).await;
    assert!(why.contains("Access Denied"), "{why}");
    let why = refused(fake.config(rpc("nope", ODOO_UID))).await;
    assert!(why.contains("does not exist"), "{why}");

    let mut wrong_key = fake.config(FakeOdoo::json_2());
    wrong_key.api_key = Secret::new("not-the-key");
    let why = refused(wrong_key).await;
    assert!(
        why.contains("HTTP 401") && why.contains("Invalid apikey"),
        "{why}"
    );
    let wrong_db = fake.config(Transport::Json2 {
        database: Some("nope".into()),
    });
    assert!(refused(wrong_db).await.contains("HTTP 404"));
    // Without the header, a server with one database takes the call.
    let one_db = Odoo::new(fake.config(Transport::Json2 { database: None })).unwrap();
    one_db.health().await.unwrap();
    assert!(
        fake.calls()
            .iter()
            .all(|c| c == "stock.warehouse.search_read")
    );
}

async fn an_expired_session_is_renewed_once_and_twice_is_permanent() {
    for transport in both() {
        let fake = FakeOdoo::start().await;
        fake.seed(&[
            stock("SKU-0001", "WH-EAST", 10, 0),
            stock("SKU-0002", "WH-EAST", 10, 0),
        ]);
        let erp = adapter(&fake, transport.clone());
        fake.faults().expire = 1;
        erp.health().await.unwrap();
        assert_eq!(fake.state.expired.load(Ordering::SeqCst), 1);

        fake.faults().expire = 2;
        let order = order_for_tests("ord_odoo_expired");
        let e = erp.submit_order(&order).await.unwrap_err();
        assert!(
            matches!(&e, AdapterError::Permanent(m) if m.contains("twice")),
            "{transport:?}: {e}"
        );
        assert_eq!(fake.state.expired.load(Ordering::SeqCst), 3);
        assert_eq!(fake.count("sale.order", |_| true), 0, "nothing was made");
        erp.submit_order(&order).await.unwrap();
    }
}

async fn odoo_exceptions_keep_their_name_and_kind() {
    for transport in both() {
        let fake = FakeOdoo::start().await;
        fake.seed(&[
            stock("SKU-0001", "WH-EAST", 10, 0),
            stock("SKU-0002", "WH-EAST", 10, 0),
        ]);
        let mut config = fake.config(transport.clone());
        config.partner_id = 999;
        let erp = Odoo::new(config).unwrap();
        let e = erp
            .submit_order(&order_for_tests("ord_odoo_partner"))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, AdapterError::Permanent(m)
                if m.contains("sale.order.create") && m.contains("odoo.exceptions.MissingError")),
            "{transport:?}: {e}"
        );

        // A SKU Odoo has no product for is named, and no order is attempted.
        let erp = adapter(&fake, transport.clone());
        let before = fake.calls().len();
        let mut order = order_for_tests("ord_odoo_sku");
        order.lines[1].sku = "NO-SUCH".into();
        let e = erp.submit_order(&order).await.unwrap_err();
        assert!(
            matches!(&e, AdapterError::Permanent(m) if m.contains("NO-SUCH")),
            "{e}"
        );
        assert!(
            !fake.calls()[before..]
                .iter()
                .any(|c| c == "sale.order.create")
        );

        // A 5xx from the proxy is transient in either transport.
        fake.faults().fail_5xx = 1;
        let e = erp.health().await.unwrap_err();
        assert!(matches!(e, AdapterError::Transient(_)), "{e}");
    }
}

async fn a_long_retry_after_goes_back_to_the_caller() {
    let fake = FakeOdoo::start().await;
    let erp = adapter(&fake, FakeOdoo::json_rpc());
    {
        let mut f = fake.faults();
        f.throttle = 1;
        f.retry_after_secs = 30;
    }
    let e = erp.health().await.unwrap_err();
    assert!(
        matches!(e, AdapterError::Throttled { retry_after: Some(w) } if w.as_secs() == 30),
        "{e}"
    );
    erp.health().await.unwrap();
}
