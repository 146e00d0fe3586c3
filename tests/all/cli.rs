//! The command line, run as a real process.

use serde_json::json;

use crate::harness::{Backend, Site, binary, get_json, http};

fn openapi_prints_the_spec() {
    let out = binary().arg("openapi").output().unwrap();
    assert!(out.status.success());
    let spec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(spec["info"]["title"], "Stockade");
}

async fn import_is_all_or_nothing_and_names_bad_lines(b: Backend) {
    let site = Site::new(&b);
    let out = site
        .import_stock("sku,location,on_hand\nIMP-1,WH-MAIN,5\nIMP-2,MOON,1\nIMP-3,WH-MAIN,-4\n");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":3:") && err.contains("MOON"), "{err}");
    assert!(err.contains(":4:") && err.contains("on_hand"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");

    let out = site.import_stock("sku,location,on_hand,safety_stock\nIMP-1,WH-MAIN,5,1\nIMP-1,3PL-EAST,2,\nIMP-2,WH-MAIN,7,0\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 3 rows"));

    // A second import replaces on-hand and keeps safety stock it does not mention.
    let out = site.import_stock("sku,location,on_hand\nIMP-1,WH-MAIN,9\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let server = site.start().await;
    let a = get_json(&http(), &format!("{}/v1/availability/IMP-1", server.base)).await;
    assert_eq!(a["available_to_sell"], (9 - 1) + 2);
    let missing = get_json(
        &http(),
        &format!("{}/v1/availability?sku=IMP-3", server.base),
    )
    .await;
    assert_eq!(
        missing["missing"],
        json!(["IMP-3"]),
        "the failed import left nothing behind"
    );
    drop(server);
    site.assert_ledger_verifies();
}

crate::tests! { per_backend: [import_is_all_or_nothing_and_names_bad_lines], once: [openapi_prints_the_spec] }
