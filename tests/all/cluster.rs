//! Two real gateway processes on two ports sharing one PostgreSQL and one Redis: no
//! oversell, one order per key, one rate limit, one cache truth, and surviving the loss
//! of an instance.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::{Barrier, Mutex};

use crate::harness::{
    Backend, Proxy, SECRET, Server, Site, TestSubscriber, get_json, http_as, order_body,
    policies_with,
};

const SHOP: &str = "test-shop-key";

/// Two instances over one site, with the governance test policies, `routes.toml`
/// adjusted by `routes`.
struct Cluster {
    site: Site,
    a: Server,
    b: Server,
    _policies: TempDir,
}

fn routes(patch: impl Fn(String) -> String) -> String {
    patch(
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/policies/routes.toml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
}

async fn cluster(
    backend: &Backend,
    routes_toml: &str,
    stock_csv: &str,
    redis_via: Option<&Proxy>,
) -> Cluster {
    let policies = policies_with(&[("routes.toml", routes_toml)]);
    let mut site = Site::with_policies(backend, policies.path());
    site.redis_url = redis_via.map(|p| format!("redis://{}", p.addr));
    let out = site.import_stock(stock_csv);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (a, b) = tokio::join!(site.start(), site.start());
    Cluster {
        site,
        a,
        b,
        _policies: policies,
    }
}

fn plain_routes() -> String {
    routes(|r| r)
}

/// The host and port behind a `redis://` URL.
fn redis_target(backend: &Backend) -> String {
    let Backend::Postgres(s) = backend else {
        unreachable!("cluster tests run on the PostgreSQL backend")
    };
    s.redis
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

async fn zero_oversell_across_two_instances(b: Backend) {
    const ROUNDS: usize = 20;
    const BUYERS: usize = 300;
    let mut csv = String::from("sku,location,on_hand,safety_stock\n");
    for round in 0..ROUNDS {
        csv.push_str(&format!("DUO-{round:02},WH-MAIN,10,0\n"));
    }
    let c = cluster(&b, &plain_routes(), &csv, None).await;
    let client = http_as(SHOP);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xd0);
    for round in 0..ROUNDS {
        let sku = format!("DUO-{round:02}");
        // (instance, key, body, quantity): a tenth of the buyers repeat an earlier buyer's
        // key and body on the other instance.
        let mut plan: Vec<(usize, String, Value, i64)> = Vec::with_capacity(BUYERS);
        for i in 0..BUYERS {
            if i % 10 == 9 {
                let (instance, key, body, q) = plan[rng.random_range(0..i)].clone();
                plan.push((1 - instance, key, body, q));
            } else {
                let key = format!("duo{round}-{i}");
                let q = rng.random_range(1..=3);
                plan.push((i % 2, key.clone(), order_body(&key, &[(&sku, q)]), q));
            }
        }
        let barrier = Arc::new(Barrier::new(BUYERS));
        let bases = [c.a.base.clone(), c.b.base.clone()];
        let tasks: Vec<_> = plan
            .into_iter()
            .map(|(instance, key, body, q)| {
                let (client, barrier, url) = (
                    client.clone(),
                    barrier.clone(),
                    format!("{}/v1/orders", bases[instance]),
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
                    (
                        key,
                        q,
                        status,
                        v["code"].as_str().map(str::to_owned),
                        v["id"].as_str().map(str::to_owned),
                    )
                })
            })
            .collect();
        let mut by_key: BTreeMap<String, (i64, BTreeSet<String>)> = BTreeMap::new();
        for t in tasks {
            let (key, q, status, code, id) = t.await.unwrap();
            assert!(
                status == 201 || status == 409,
                "round {round}: {status} {code:?}"
            );
            if status == 409 {
                let code = code.unwrap();
                assert!(
                    code == "insufficient-stock" || code == "idempotency-key-in-flight",
                    "round {round}: {code}"
                );
            }
            if let Some(id) = id.filter(|_| status == 201) {
                by_key
                    .entry(key)
                    .or_insert((q, BTreeSet::new()))
                    .1
                    .insert(id);
            }
        }
        assert!(
            by_key.values().all(|(_, ids)| ids.len() == 1),
            "round {round}: a key made two orders"
        );
        let accepted: i64 = by_key.values().map(|(q, _)| q).sum();
        assert!(
            accepted <= 10,
            "round {round}: oversold, {accepted} units of 10"
        );
        for base in &bases {
            let a = get_json(&client, &format!("{base}/v1/availability/{sku}")).await;
            assert_eq!(
                a["locations"][0]["committed"], accepted,
                "round {round}: {base} disagrees"
            );
        }
        println!(
            "two instances, round {round:2}: {accepted} units in {} orders",
            by_key.len()
        );
    }
    c.site.assert_ledger_verifies();
    // Both instances appended every accepted order to one audit chain at once.
    let audit = c.site.command().args(["audit", "verify"]).output().unwrap();
    assert!(
        audit.status.success(),
        "{}",
        String::from_utf8_lossy(&audit.stderr)
    );
    println!("{}", String::from_utf8_lossy(&audit.stdout).trim());
}

async fn one_key_on_both_instances_makes_one_order(b: Backend) {
    let c = cluster(
        &b,
        &plain_routes(),
        "sku,location,on_hand\nIDEM-1,WH-MAIN,1000\n",
        None,
    )
    .await;
    let client = http_as(SHOP);
    for i in 0..10 {
        let key = format!("both-{i}");
        let body = order_body(&key, &[("IDEM-1", 1)]);
        let barrier = Arc::new(Barrier::new(2));
        let send = |base: String| {
            let (client, barrier, key, body) =
                (client.clone(), barrier.clone(), key.clone(), body.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let r = client
                    .post(format!("{base}/v1/orders"))
                    .header("idempotency-key", key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let replayed = r.headers().contains_key("idempotent-replayed");
                (
                    r.status().as_u16(),
                    replayed,
                    r.json::<Value>().await.unwrap(),
                )
            })
        };
        let (x, y) = tokio::join!(send(c.a.base.clone()), send(c.b.base.clone()));
        let (x, y) = (x.unwrap(), y.unwrap());
        let mut answers = [(x.0, x.1), (y.0, y.1)];
        answers.sort();
        assert!(
            answers == [(201, false), (201, true)] || answers == [(201, false), (409, false)],
            "pair {i}: {answers:?}"
        );
        if x.0 == 201 && y.0 == 201 {
            assert_eq!(x.2["id"], y.2["id"], "a replay names the same order");
        }
        let found = get_json(
            &client,
            &format!("{}/v1/orders?external_id={key}", c.a.base),
        )
        .await;
        assert_eq!(found["items"].as_array().unwrap().len(), 1, "pair {i}");
    }
}

async fn one_rate_limit_across_instances(b: Backend) {
    let c = cluster(
        &b,
        &plain_routes(),
        "sku,location,on_hand\nRL-1,WH-MAIN,10\n",
        None,
    )
    .await;
    let client = http_as("test-limited-key");
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let url = format!(
                "{}/v1/availability/RL-1",
                if i % 2 == 0 { &c.a.base } else { &c.b.base }
            );
            let client = client.clone();
            tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut allowed = 0;
    for call in calls {
        match call.await.unwrap() {
            200 => allowed += 1,
            429 => {}
            other => panic!("unexpected {other}"),
        }
    }
    // The tier allows 5 per minute; Redis decides atomically, so there is no tolerance.
    assert_eq!(
        allowed, 5,
        "the two instances together let {allowed} through"
    );
}

async fn a_change_on_one_instance_shows_on_the_other(b: Backend) {
    // A minute-long TTL: only invalidation can make the other instance fresh.
    let long_ttl = routes(|r| r.replace("cache_ttl_ms = 2000", "cache_ttl_ms = 60000"));
    let c = cluster(
        &b,
        &long_ttl,
        "sku,location,on_hand\nCOH-1,WH-MAIN,50\n",
        None,
    )
    .await;
    let client = http_as(SHOP);
    let read = |base: &str| {
        let (client, url) = (client.clone(), format!("{base}/v1/availability/COH-1"));
        async move { get_json(&client, &url).await }
    };
    assert_eq!(read(&c.b.base).await["available_to_sell"], 50);
    assert_eq!(read(&c.b.base).await["source"], "cache");
    let r = client
        .post(format!("{}/v1/orders", c.a.base))
        .header("idempotency-key", "coh")
        .json(&order_body("COH", &[("COH-1", 3)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let answered = Instant::now();
    let mut seen = read(&c.b.base).await;
    while seen["available_to_sell"] != 47 && answered.elapsed() < Duration::from_millis(500) {
        tokio::time::sleep(Duration::from_millis(2)).await;
        seen = read(&c.b.base).await;
    }
    assert_eq!(
        seen["available_to_sell"], 47,
        "instance B still serves the old figure"
    );
    println!(
        "instance B fresh {} µs after instance A answered",
        answered.elapsed().as_micros()
    );
}

async fn losing_an_instance_loses_no_order(b: Backend) {
    let c = cluster(
        &b,
        &plain_routes(),
        "sku,location,on_hand,safety_stock\nLOSE-1,WH-MAIN,1000000,0\n",
        None,
    )
    .await;
    let accepted: Arc<Mutex<Vec<String>>> = Arc::default();
    let killed = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let base = if w % 2 == 0 {
                c.a.base.clone()
            } else {
                c.b.base.clone()
            };
            let (client, accepted, killed, stop) = (
                http_as(SHOP),
                accepted.clone(),
                killed.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let survivor = w % 2 == 1;
                let mut failures_after_kill = 0;
                for i in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let key = format!("lose-{w}-{i}");
                    let sent = client
                        .post(format!("{base}/v1/orders"))
                        .header("idempotency-key", &key)
                        .json(&order_body(&key, &[("LOSE-1", 1)]))
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 201 => {
                            accepted.lock().await.push(
                                r.json::<Value>().await.unwrap()["id"]
                                    .as_str()
                                    .unwrap()
                                    .to_owned(),
                            );
                        }
                        _ if survivor && killed.load(Ordering::SeqCst) => failures_after_kill += 1,
                        _ => {}
                    }
                }
                failures_after_kill
            })
        })
        .collect();
    while accepted.lock().await.len() < 200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let Cluster {
        site,
        a,
        b: survivor,
        _policies,
    } = c;
    a.kill9();
    killed.store(true, Ordering::SeqCst);
    let at_kill = accepted.lock().await.len();
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, Ordering::SeqCst);
    let mut failures = 0;
    for w in workers {
        failures += w.await.unwrap();
    }
    let accepted = accepted.lock().await.clone();
    assert_eq!(
        failures, 0,
        "the surviving instance failed {failures} requests after the kill"
    );
    assert!(
        accepted.len() > at_kill,
        "the survivor kept accepting orders"
    );
    let client = http_as(SHOP);
    for id in &accepted {
        let r = client
            .get(format!("{}/v1/orders/{id}", survivor.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "order {id} answered 201 is gone");
    }
    println!(
        "{} orders answered 201 ({at_kill} before the kill); all present on the survivor",
        accepted.len()
    );
    drop(survivor);
    site.assert_ledger_verifies();
}

async fn a_redis_outage_fails_open_or_closed_by_route_policy(b: Backend) {
    let proxy = Proxy::start(redis_target(&b)).await;
    let closed_admin = routes(|r| {
        r.replace(
            "path = \"/v1/admin/audit\"\nscope = \"admin\"\npriority = \"background\"",
            "path = \"/v1/admin/audit\"\nscope = \"admin\"\npriority = \"background\"\non_limiter_failure = \"closed\"",
        )
    });
    assert!(closed_admin.contains("on_limiter_failure"));
    let c = cluster(
        &b,
        &closed_admin,
        "sku,location,on_hand\nOUT-1,WH-MAIN,10\n",
        Some(&proxy),
    )
    .await;
    let (shop, ops) = (http_as(SHOP), http_as("test-ops-key"));
    let status = |client: &reqwest::Client, url: String| {
        let client = client.clone();
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        status(&ops, format!("{}/v1/admin/audit", c.a.base)).await,
        200
    );
    proxy.cut();
    assert_eq!(
        status(&shop, format!("{}/v1/availability/OUT-1", c.a.base)).await,
        200,
        "fail-open route"
    );
    assert_eq!(
        status(&ops, format!("{}/v1/admin/audit", c.a.base)).await,
        503,
        "fail-closed route"
    );
    proxy.restore();
    let back = Instant::now();
    while status(&ops, format!("{}/v1/admin/audit", c.a.base)).await != 200 {
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "the limiter did not come back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(c.b);
}

async fn two_instances_share_the_outbox_without_delivering_twice(b: Backend) {
    let subscriber = TestSubscriber::start().await;
    let subscribers = format!(
        "[[subscriber]]\nname = \"feed\"\nurl = \"http://{}/events\"\nevents = [\"*\"]\n\
         secret_file = \"subscriber.secret\"\nmax_attempts = 10\n",
        subscriber.addr
    );
    let policies = policies_with(&[
        ("subscribers.toml", subscribers.as_str()),
        ("subscriber.secret", SECRET),
        ("outbox.toml", "[dispatcher]\ntick_ms = 20\nbatch = 20\n"),
    ]);
    let site = Site::with_policies(&b, policies.path());
    assert!(
        site.import_stock("sku,location,on_hand,safety_stock\nSHARE-1,WH-MAIN,100000,0\n")
            .status
            .success()
    );
    let (a, b2) = tokio::join!(site.start(), site.start());
    let client = http_as(SHOP);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (client, base) = (
                client.clone(),
                if i % 2 == 0 {
                    a.base.clone()
                } else {
                    b2.base.clone()
                },
            );
            tokio::spawn(async move {
                let key = format!("share-{i}");
                let r = client
                    .post(format!("{base}/v1/orders"))
                    .header("idempotency-key", &key)
                    .json(&order_body(&key, &[("SHARE-1", 1)]))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let committed: BTreeSet<String> = site
        .query_column("SELECT id FROM outbox")
        .await
        .into_iter()
        .collect();
    let started = Instant::now();
    while subscriber.applied() != committed {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} of {} delivered",
            subscriber.applied().len(),
            committed.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deliveries = subscriber.inbox.deliveries.lock().unwrap().clone();
    assert_eq!(
        deliveries.len(),
        committed.len(),
        "an event was delivered twice"
    );
    println!(
        "two instances delivered {} events, each exactly once",
        deliveries.len()
    );
}

crate::tests! {
    postgres_only: [
        two_instances_share_the_outbox_without_delivering_twice,
        zero_oversell_across_two_instances,
        one_key_on_both_instances_makes_one_order,
        one_rate_limit_across_instances,
        a_change_on_one_instance_shows_on_the_other,
        losing_an_instance_loses_no_order,
        a_redis_outage_fails_open_or_closed_by_route_policy,
    ],
}
