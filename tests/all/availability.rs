//! `GET /v1/availability/{sku}` and `GET /v1/availability?sku=…`.

use axum::http::StatusCode;

use crate::harness::Backend;
use crate::harness::TestApp;

async fn one_sku_sums_the_channels_eligible_locations_only(b: Backend) {
    let app = TestApp::new(&b).await;
    let r = app.get("/v1/availability/TEE-BLK-M").await;
    assert_eq!(r.status, StatusCode::OK);
    let a = r.json();
    // Seeded: WH-MAIN 14 on hand with 2 safety stock, 3PL-EAST 6; STORE-01 is not online.
    assert_eq!(a["available_to_sell"], 18);
    let locations: Vec<&str> = a["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["location"].as_str().unwrap())
        .collect();
    assert_eq!(locations, ["WH-MAIN", "3PL-EAST"]);
    assert_eq!(a["locations"][0]["safety_stock"], 2);
    assert_eq!(a["source"], "live");
    assert_eq!(a["stale"], false);
    assert!(a["as_of"].as_str().unwrap().ends_with('Z'));
}

async fn a_channel_the_caller_does_not_hold_is_refused(b: Backend) {
    let app = TestApp::new(&b).await;
    let r = app.get("/v1/availability/TEE-BLK-M?channel=b2b").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "channel-not-allowed");
}

async fn an_unknown_sku_is_404(b: Backend) {
    let app = TestApp::new(&b).await;
    let r = app.get("/v1/availability/NO-SUCH-SKU").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "not-found");
}

async fn many_skus_list_unknown_ones_as_missing(b: Backend) {
    let app = TestApp::new(&b).await;
    let r = app
        .get("/v1/availability?sku=MUG-LOGO&sku=NOPE&sku=TEE-BLK-M&sku=MUG-LOGO")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    let skus: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sku"].as_str().unwrap())
        .collect();
    assert_eq!(
        skus,
        ["MUG-LOGO", "TEE-BLK-M"],
        "asked order kept, repeats folded"
    );
    assert_eq!(v["missing"], serde_json::json!(["NOPE"]));
    assert_eq!(v["items"][0]["backorderable"], true);
}

async fn more_than_100_skus_or_none_is_a_problem(b: Backend) {
    let app = TestApp::new(&b).await;
    let query: Vec<String> = (0..101).map(|i| format!("sku=S{i}")).collect();
    let r = app
        .get(&format!("/v1/availability?{}", query.join("&")))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.code(), "too-many-items");
    let r = app.get("/v1/availability").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "missing-parameter");
}

crate::tests! { per_backend: [one_sku_sums_the_channels_eligible_locations_only, a_channel_the_caller_does_not_hold_is_refused, an_unknown_sku_is_404, many_skus_list_unknown_ones_as_missing, more_than_100_skus_or_none_is_a_problem] }
