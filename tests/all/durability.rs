//! Durability, proven with a real process and SIGKILL: every order that was answered 201
//! is there after a restart, with its reservation, and the ledger still folds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Mutex;

use crate::harness::Backend;
use crate::harness::{Site, get_json, http, order_body};

async fn orders_answered_201_survive_kill_9(b: Backend) {
    let site = Site::new(&b);
    let out = site.import_stock("sku,location,on_hand,safety_stock\nDUR-1,WH-MAIN,1000000,0\n");
    assert!(out.status.success());

    let server = site.start().await;
    let accepted: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let (client, url) = (http(), format!("{}/v1/orders", server.base));
            let (accepted, stop) = (accepted.clone(), stop.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let key = format!("dur-{w}-{i}");
                    let sent = client
                        .post(&url)
                        .header("idempotency-key", &key)
                        .json(&order_body(&key, &[("DUR-1", 1)]))
                        .send()
                        .await;
                    // Once the process is gone, connections fail; that is the point.
                    let Ok(r) = sent else { continue };
                    if r.status() == 201
                        && let Ok(v) = r.json::<Value>().await
                    {
                        accepted
                            .lock()
                            .await
                            .push(v["id"].as_str().unwrap().to_owned());
                    }
                }
            })
        })
        .collect();
    // Let the buyers get going, then cut the process off mid-stream.
    while accepted.lock().await.len() < 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill9();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let accepted = accepted.lock().await.clone();

    let server = site.start().await;
    let client = http();
    for id in &accepted {
        let r = client
            .get(format!("{}/v1/orders/{id}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "order {id} was answered 201 but is gone after kill -9"
        );
        let o: Value = r.json().await.unwrap();
        assert_eq!(
            o["lines"][0]["allocations"][0]["quantity"], 1,
            "order {id} lost its reservation"
        );
    }
    let a = get_json(&client, &format!("{}/v1/availability/DUR-1", server.base)).await;
    let committed = a["locations"][0]["committed"].as_i64().unwrap();
    // Orders whose answer was lost in the kill may exist too; none answered 201 may be missing.
    assert!(
        committed >= accepted.len() as i64,
        "{committed} committed < {} accepted",
        accepted.len()
    );
    assert_eq!(
        a["available_to_sell"].as_i64().unwrap(),
        1_000_000 - committed
    );
    drop(server);
    site.assert_ledger_verifies();
    println!(
        "{} orders answered 201 before kill -9; all present after restart",
        accepted.len()
    );
}

crate::tests! { per_backend: [orders_answered_201_survive_kill_9] }
