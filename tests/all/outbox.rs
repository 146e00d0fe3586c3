//! Nothing lost: events committed with their change reach a subscriber at least once,
//! and exactly once once deduplicated by id, through kills, outages and poison. Faults
//! come from a proxy between the gateway and the subscriber, and from SIGKILL.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;

use crate::harness::{
    Backend, Proxy, SECRET, Site, TestSubscriber, get_json, http_as, order_body, policies_with,
};

const SHOP: &str = "test-shop-key";
const OPS: &str = "test-ops-key";

struct Rig {
    site: Site,
    subscriber: TestSubscriber,
    proxy: Proxy,
    _policies: TempDir,
}

/// A subscriber behind a fault proxy, following order events, with fast retries.
async fn rig(b: &Backend, max_attempts: u32) -> Rig {
    let subscriber = TestSubscriber::start().await;
    let proxy = Proxy::start(subscriber.addr.to_string()).await;
    let subscribers = format!(
        "[[subscriber]]\nname = \"market-feed\"\nurl = \"http://{}/events\"\n\
         events = [\"order.accepted\", \"order.cancelled\"]\nsecret_file = \"subscriber.secret\"\n\
         max_attempts = {max_attempts}\ntimeout_ms = 2000\n",
        proxy.addr
    );
    let outbox = "[dispatcher]\ntick_ms = 50\nbackoff_base_ms = 20\nbackoff_max_ms = 200\n\
                  breaker_failures = 3\nbreaker_cooldown_ms = 200\nlease_seconds = 3\n";
    let policies = policies_with(&[
        ("subscribers.toml", &subscribers),
        ("outbox.toml", outbox),
        ("subscriber.secret", SECRET),
    ]);
    let site = Site::with_policies(b, policies.path());
    let out = site.import_stock("sku,location,on_hand,safety_stock\nOBX-1,WH-MAIN,100000,0\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Rig {
        site,
        subscriber,
        proxy,
        _policies: policies,
    }
}

impl Rig {
    /// Every event the subscriber should hear about, as committed.
    async fn committed(&self) -> BTreeSet<String> {
        self.site
            .query_column(
                "SELECT id FROM outbox WHERE kind IN ('order.accepted', 'order.cancelled')",
            )
            .await
            .into_iter()
            .collect()
    }

    /// Waits until the subscriber has applied every committed event, and checks that it
    /// applied nothing else.
    async fn converge(&self) -> BTreeSet<String> {
        let started = Instant::now();
        loop {
            let (committed, applied) = (self.committed().await, self.subscriber.applied());
            if applied == committed && !committed.is_empty() {
                return committed;
            }
            assert!(
                applied.is_subset(&committed),
                "the subscriber applied events that were never committed"
            );
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{} of {} committed events delivered",
                applied.len(),
                committed.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn place(base: &str, names: &[String]) -> Vec<String> {
    let client = http_as(SHOP);
    let mut ids = Vec::new();
    for name in names {
        let r = client
            .post(format!("{base}/v1/orders"))
            .header("idempotency-key", name)
            .json(&order_body(name, &[("OBX-1", 1)]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        ids.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    ids
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

async fn committed_before_a_kill_is_delivered_after_restart(b: Backend) {
    let rig = rig(&b, 1000).await;
    rig.proxy.cut();
    let server = rig.site.start().await;
    place(&server.base, &names("KILL", 20)).await;
    server.kill9();
    assert!(
        rig.subscriber.applied().is_empty(),
        "nothing could be delivered before the kill"
    );
    rig.proxy.restore();
    let _server = rig.site.start().await;
    let delivered = rig.converge().await;
    assert_eq!(delivered.len(), 20);
}

async fn delivered_but_not_marked_sent_is_delivered_again_and_applied_once(b: Backend) {
    let rig = rig(&b, 1000).await;
    let server = rig.site.start().await;
    let (tell, held) = oneshot::channel();
    *rig.subscriber.inbox.hold.lock().unwrap() = Some(tell);
    place(&server.base, &names("HELD", 1)).await;
    let event = held.await.unwrap();
    // The subscriber has the event; the gateway dies before it hears back.
    server.kill9();
    let _server = rig.site.start().await;
    rig.converge().await;
    assert!(
        rig.subscriber.deliveries_of(&event) >= 2,
        "the event was not delivered again"
    );
    assert!(rig.subscriber.applied().contains(&event));
}

async fn a_backlog_drains_when_the_destination_returns(b: Backend) {
    let rig = rig(&b, 1000).await;
    let server = rig.site.start().await;
    rig.proxy.cut();
    let orders: Vec<_> = (0..4)
        .map(|w| {
            let base = server.base.clone();
            tokio::spawn(async move { place(&base, &names(&format!("LOAD{w}"), 25)).await })
        })
        .collect();
    for o in orders {
        o.await.unwrap();
    }
    let ops = http_as(OPS);
    let mut backlog = 0;
    for _ in 0..100 {
        let report = get_json(&ops, &format!("{}/v1/admin/outbox", server.base)).await;
        backlog = report["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["destination"] == "market-feed")
            .map_or(0, |d| d["pending"].as_u64().unwrap());
        if backlog >= 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        backlog, 100,
        "the backlog holds every event while the subscriber is away"
    );
    assert!(rig.subscriber.applied().is_empty());
    rig.proxy.restore();
    let delivered = rig.converge().await;
    assert_eq!(delivered.len(), 100);
    // The whole outbox drains, every destination's share included.
    let started = Instant::now();
    loop {
        let report = get_json(&ops, &format!("{}/v1/admin/outbox", server.base)).await;
        let pending: u64 = report["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["pending"].as_u64().unwrap())
            .sum();
        if pending == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{report}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_poison_event_is_dead_lettered_and_its_replay_applied_once(b: Backend) {
    let rig = rig(&b, 3).await;
    let server = rig.site.start().await;
    *rig.subscriber.inbox.poison.lock().unwrap() = Some("POISON".into());
    let mut all = names("GOOD-A", 2);
    all.push("POISON-1".into());
    all.extend(names("GOOD-B", 2));
    let ids = place(&server.base, &all).await;
    let ops = http_as(OPS);
    let letters = |query: String| {
        let (ops, base) = (ops.clone(), server.base.clone());
        async move { get_json(&ops, &format!("{base}/v1/admin/dead-letters?{query}")).await }
    };
    let started = Instant::now();
    let letter = loop {
        let page = letters("destination=market-feed".into()).await;
        if let Some(l) = page["items"].as_array().unwrap().first() {
            break l.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the poison event never became a dead letter"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(letter["aggregate"], ids[2].as_str());
    assert_eq!(letter["attempts"], 3);
    assert_eq!(letter["kind"], "order.accepted");
    // The other orders' events flowed past it.
    let poison_event = letter["event_id"].as_str().unwrap().to_owned();
    let committed = rig.committed().await;
    let others: BTreeSet<String> = committed
        .iter()
        .filter(|e| **e != poison_event)
        .cloned()
        .collect();
    let started = Instant::now();
    while !others.is_subset(&rig.subscriber.applied()) {
        assert!(started.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!rig.subscriber.applied().contains(&poison_event));
    let detail = get_json(
        &ops,
        &format!(
            "{}/v1/admin/dead-letters/{}",
            server.base,
            letter["id"].as_str().unwrap()
        ),
    )
    .await;
    let log = detail["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 3);
    assert!(
        log.iter()
            .all(|a| a["error"].as_str().unwrap().contains("500")),
        "{log:?}"
    );
    assert_eq!(detail["event"]["id"], poison_event.as_str());

    // Fixed on the subscriber's side; replayed once, applied once; replaying again is a no-op.
    *rig.subscriber.inbox.poison.lock().unwrap() = None;
    let replay = format!(
        "{}/v1/admin/dead-letters/{}/replay",
        server.base,
        letter["id"].as_str().unwrap()
    );
    let r = ops.post(&replay).send().await.unwrap();
    assert_eq!(r.status(), 200);
    rig.converge().await;
    assert_eq!(
        rig.subscriber.deliveries_of(&poison_event),
        4,
        "three failures and one success"
    );
    let again = ops
        .post(&replay)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(again["state"], "sent");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        rig.subscriber.deliveries_of(&poison_event),
        4,
        "a second replay delivers nothing"
    );
}

async fn dead_letters_are_discarded_with_a_reason_and_replayed_by_filter(b: Backend) {
    let rig = rig(&b, 1).await;
    let server = rig.site.start().await;
    *rig.subscriber.inbox.poison.lock().unwrap() = Some("DOOMED".into());
    place(&server.base, &names("DOOMED", 3)).await;
    let ops = http_as(OPS);
    let base = server.base.clone();
    let dead = || {
        let (ops, base) = (ops.clone(), base.clone());
        async move {
            get_json(
                &ops,
                &format!("{base}/v1/admin/dead-letters?kind=order.accepted"),
            )
            .await["items"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    let started = Instant::now();
    while dead().await.len() < 3 {
        assert!(started.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first = dead().await[0]["id"].as_str().unwrap().to_owned();
    let r = ops
        .post(format!("{base}/v1/admin/dead-letters/{first}/discard"))
        .json(&json!({"reason": "  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "a discard needs a reason");
    let r = ops
        .post(format!("{base}/v1/admin/dead-letters/{first}/discard"))
        .json(&json!({"reason": "cancelled by phone"}))
        .send()
        .await
        .unwrap();
    let discarded: Value = r.json().await.unwrap();
    assert_eq!(discarded["state"], "discarded");
    assert_eq!(discarded["discard_reason"], "cancelled by phone");
    assert_eq!(dead().await.len(), 2);

    *rig.subscriber.inbox.poison.lock().unwrap() = None;
    let r = ops
        .post(format!("{base}/v1/admin/dead-letters/replay"))
        .json(&json!({"destination": "market-feed", "kind": "order.accepted"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["replayed"], 2);
    let started = Instant::now();
    while rig.subscriber.applied().len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        rig.subscriber.applied().len(),
        2,
        "the discarded event stays undelivered"
    );
    // Every replay and discard is in the audit log.
    let audit = get_json(&ops, &format!("{base}/v1/admin/audit?client=ops&limit=500")).await;
    let routes: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["method"] == "POST")
        .map(|e| e["route"].as_str().unwrap())
        .collect();
    assert!(
        routes.contains(&"/v1/admin/dead-letters/{id}/discard"),
        "{routes:?}"
    );
    assert!(
        routes.contains(&"/v1/admin/dead-letters/replay"),
        "{routes:?}"
    );
}

async fn events_of_one_order_arrive_in_order(b: Backend) {
    let rig = rig(&b, 1000).await;
    let server = rig.site.start().await;
    rig.proxy.cut();
    let shop = http_as(SHOP);
    let mut orders = Vec::new();
    for name in names("SEQ", 10) {
        let ids = place(&server.base, std::slice::from_ref(&name)).await;
        let r = shop
            .post(format!("{}/v1/orders/{}/cancel", server.base, ids[0]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        orders.push(ids[0].clone());
    }
    // Both events of every order wait together; when the subscriber returns, each order's
    // cancellation must not overtake its acceptance.
    rig.proxy.restore();
    rig.converge().await;
    let arrived = rig.subscriber.inbox.deliveries.lock().unwrap().clone();
    let kinds: std::collections::HashMap<String, (String, String)> = rig
        .site
        .query_column("SELECT id || ' ' || kind || ' ' || aggregate FROM outbox")
        .await
        .into_iter()
        .map(|row| {
            let mut parts = row.split(' ');
            let id = parts.next().unwrap().to_owned();
            (
                id,
                (
                    parts.next().unwrap().to_owned(),
                    parts.next().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    for order in &orders {
        let sequence: Vec<&str> = arrived
            .iter()
            .filter(|id| kinds[*id].1 == *order)
            .map(|id| kinds[id].0.as_str())
            .collect();
        assert_eq!(
            sequence.first(),
            Some(&"order.accepted"),
            "{order}: {sequence:?}"
        );
        assert_eq!(
            sequence.last(),
            Some(&"order.cancelled"),
            "{order}: {sequence:?}"
        );
    }
}

crate::tests! {
    per_backend: [
        events_of_one_order_arrive_in_order,
        committed_before_a_kill_is_delivered_after_restart,
        delivered_but_not_marked_sent_is_delivered_again_and_applied_once,
        a_backlog_drains_when_the_destination_returns,
        a_poison_event_is_dead_lettered_and_its_replay_applied_once,
        dead_letters_are_discarded_with_a_reason_and_replayed_by_filter,
    ],
}
