//! Zero oversell, proven over real sockets: 200 concurrent buyers, one in ten repeating
//! another buyer's idempotency key and body, race for the last 10 units of a SKU, 20 times.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::harness::Backend;
use crate::harness::{Site, get_json, http, order_body};

const ROUNDS: usize = 20;
const BUYERS: usize = 200;
const UNITS: i64 = 10;

struct Attempt {
    key: String,
    quantity: i64,
    status: u16,
    code: Option<String>,
    order_id: Option<String>,
}

/// One SKU per round, with exactly `UNITS` sellable units for the web channel.
fn import_race_skus(site: &Site) {
    let mut csv = String::from("sku,location,on_hand,safety_stock\n");
    for round in 0..ROUNDS {
        csv.push_str(&format!("RACE-{round:02},WH-MAIN,{UNITS},0\n"));
    }
    let out = site.import_stock(&csv);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn concurrent_buyers_never_oversell(b: Backend) {
    let site = Site::new(&b);
    import_race_skus(&site);
    let server = site.start().await;
    let client = http();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);

    for round in 0..ROUNDS {
        let sku = format!("RACE-{round:02}");
        // (key, body, quantity): every tenth buyer repeats an earlier buyer's key and body.
        let mut plan: Vec<(String, Value, i64)> = Vec::with_capacity(BUYERS);
        for i in 0..BUYERS {
            if i % 10 == 9 {
                let j = rng.random_range(0..i);
                plan.push(plan[j].clone());
            } else {
                let key = format!("r{round}-b{i}");
                let quantity = rng.random_range(1..=3);
                plan.push((key.clone(), order_body(&key, &[(&sku, quantity)]), quantity));
            }
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(BUYERS));
        let tasks: Vec<_> = plan
            .into_iter()
            .map(|(key, body, quantity)| {
                let (client, barrier, url) = (
                    client.clone(),
                    barrier.clone(),
                    format!("{}/v1/orders", server.base),
                );
                tokio::spawn(async move {
                    barrier.wait().await;
                    let r = client
                        .post(url)
                        .header("idempotency-key", &key)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    let v: Value = r.json().await.unwrap();
                    let code = v["code"].as_str().map(str::to_owned);
                    let order_id = (status == 201).then(|| v["id"].as_str().unwrap().to_owned());
                    Attempt {
                        key,
                        quantity,
                        status,
                        code,
                        order_id,
                    }
                })
            })
            .collect();
        let mut attempts = Vec::with_capacity(BUYERS);
        for t in tasks {
            attempts.push(t.await.unwrap());
        }

        // No 5xx, and every refusal is a clean, known one.
        for a in &attempts {
            assert!(
                a.status == 201 || a.status == 409,
                "round {round}: unexpected {} {:?}",
                a.status,
                a.code
            );
            if a.status == 409 {
                let code = a.code.as_deref().unwrap();
                assert!(
                    code == "insufficient-stock" || code == "idempotency-key-in-flight",
                    "round {round}: {code}"
                );
            }
        }
        // One order per key: every 201 under a key names the same order.
        let mut by_key: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for a in attempts.iter().filter(|a| a.status == 201) {
            by_key
                .entry(&a.key)
                .or_default()
                .insert(a.order_id.as_deref().unwrap());
        }
        assert!(
            by_key.values().all(|ids| ids.len() == 1),
            "round {round}: a key produced two orders"
        );
        let accepted: i64 = by_key
            .keys()
            .map(|k| attempts.iter().find(|a| a.key == *k).unwrap().quantity)
            .sum();
        assert!(
            accepted <= UNITS,
            "round {round}: oversold, {accepted} units accepted of {UNITS}"
        );

        let a = get_json(&client, &format!("{}/v1/availability/{sku}", server.base)).await;
        let left = a["available_to_sell"].as_i64().unwrap();
        assert_eq!(
            left,
            UNITS - accepted,
            "round {round}: availability disagrees with the orders"
        );
        assert_eq!(a["locations"][0]["committed"], accepted, "round {round}");
        // Equal to 10 when demand allows: nobody was refused a quantity that is still there.
        for a in attempts
            .iter()
            .filter(|a| a.code.as_deref() == Some("insufficient-stock"))
        {
            assert!(
                a.quantity > left,
                "round {round}: refused {} units while {left} remain",
                a.quantity
            );
        }
        let count = |code: &str| {
            attempts
                .iter()
                .filter(|a| a.code.as_deref() == Some(code))
                .count()
        };
        println!(
            "round {round:2}: {accepted} units in {} orders; {} answers 201, {} insufficient-stock, {} in-flight",
            by_key.len(),
            attempts.iter().filter(|a| a.status == 201).count(),
            count("insufficient-stock"),
            count("idempotency-key-in-flight"),
        );
        for key in by_key.keys() {
            let found = get_json(
                &client,
                &format!("{}/v1/orders?external_id={key}", server.base),
            )
            .await;
            assert_eq!(
                found["items"].as_array().unwrap().len(),
                1,
                "round {round}: key {key}"
            );
        }
    }
    drop(server);
    site.assert_ledger_verifies();
}

crate::tests! { per_backend: [concurrent_buyers_never_oversell] }
