//! The command line, run as a real process.

use std::io::Write;

use crate::harness::{Server, binary, http};

#[test]
fn openapi_prints_the_spec() {
    let out = binary().arg("openapi").output().unwrap();
    assert!(out.status.success());
    let spec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(spec["info"]["title"], "Stockade");
}

#[tokio::test]
async fn import_is_all_or_nothing_and_names_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::File::create(&p)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        p
    };
    let bad = write(
        "bad.csv",
        "sku,location,on_hand\nIMP-1,WH-MAIN,5\nIMP-2,MOON,1\nIMP-3,WH-MAIN,-4\n",
    );
    let out = binary()
        .args(["import", "stock"])
        .arg(&bad)
        .env("STOCKADE_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":3:") && err.contains("MOON"), "{err}");
    assert!(err.contains(":4:") && err.contains("on_hand"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");

    let good = write(
        "good.csv",
        "sku,location,on_hand,safety_stock\nIMP-1,WH-MAIN,5,1\nIMP-1,3PL-EAST,2,\nIMP-2,WH-MAIN,7,0\n",
    );
    let out = binary()
        .args(["import", "stock"])
        .arg(&good)
        .env("STOCKADE_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 3 rows"));

    // A second import replaces on-hand and keeps safety stock it does not mention.
    let again = write("again.csv", "sku,location,on_hand\nIMP-1,WH-MAIN,9\n");
    let out = binary()
        .args(["import", "stock"])
        .arg(&again)
        .env("STOCKADE_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let server = Server::start(&data).await;
    let a: serde_json::Value = http()
        .get(format!("{}/v1/availability/IMP-1", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a["available_to_sell"], (9 - 1) + 2);
    let missing: serde_json::Value = http()
        .get(format!("{}/v1/availability?sku=IMP-3", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        missing["missing"],
        serde_json::json!(["IMP-3"]),
        "the failed import left nothing behind"
    );
    drop(server);

    let out = binary()
        .args(["ledger", "verify"])
        .env("STOCKADE_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
