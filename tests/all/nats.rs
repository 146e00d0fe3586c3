//! NATS JetStream as the event transport: outbound events stored once each and marked
//! sent only after the stream's acknowledgement; inbound events applied once, acknowledged
//! after commit, and dead-lettered when they cannot be applied.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures::StreamExt;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::harness::{
    Backend, Proxy, Site, get_json, http_as, nats_url, order_body, policies_with,
};

const SHOP: &str = "test-shop-key";
const OPS: &str = "test-ops-key";

struct NatsSite {
    site: Site,
    proxy: Proxy,
    js: jetstream::Context,
    _policies: TempDir,
}

async fn nats_site(b: &Backend) -> NatsSite {
    let url = nats_url().unwrap();
    let target = url.trim_start_matches("nats://").to_owned();
    let proxy = Proxy::start(target).await;
    let outbox = "[dispatcher]\ntick_ms = 50\nbackoff_base_ms = 20\nbackoff_max_ms = 200\nbreaker_failures = 3\nbreaker_cooldown_ms = 200\n";
    let policies = policies_with(&[("outbox.toml", outbox)]);
    let mut site = Site::with_policies(b, policies.path());
    site.nats_url = Some(format!("nats://{}", proxy.addr));
    let out = site.import_stock("sku,location,on_hand,safety_stock\nNAT-1,WH-MAIN,1000,0\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let js = jetstream::new(async_nats::connect(&url).await.unwrap());
    NatsSite {
        site,
        proxy,
        js,
        _policies: policies,
    }
}

impl NatsSite {
    fn stream(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.site.isolated.prefix.to_uppercase())
    }

    /// Every `Nats-Msg-Id` in the events stream, repeats included.
    async fn published(&self) -> Vec<String> {
        let stream = self.js.get_stream(self.stream("EVENTS")).await.unwrap();
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::Config {
                ..Default::default()
            })
            .await
            .unwrap();
        let count = stream.cached_info().state.messages as usize;
        let mut ids = Vec::new();
        let mut batch = consumer
            .fetch()
            .max_messages(count.max(1))
            .expires(Duration::from_millis(500))
            .messages()
            .await
            .unwrap();
        while let Some(Ok(m)) = batch.next().await {
            let id = m
                .headers
                .as_ref()
                .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                .map(|v| v.as_str().to_owned())
                .unwrap();
            ids.push(id);
            m.ack().await.unwrap();
        }
        ids
    }

    async fn committed(&self) -> BTreeSet<String> {
        self.site
            .query_column("SELECT id FROM outbox")
            .await
            .into_iter()
            .collect()
    }

    async fn drop_streams(&self) {
        for s in ["EVENTS", "INBOUND"] {
            let _ = self.js.delete_stream(self.stream(s)).await;
        }
    }
}

async fn place(base: &str, prefix: &str, n: usize) {
    let client = http_as(SHOP);
    for i in 0..n {
        let key = format!("{prefix}-{i}");
        let r = client
            .post(format!("{base}/v1/orders"))
            .header("idempotency-key", &key)
            .json(&order_body(&key, &[("NAT-1", 1)]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
}

async fn nats_pending(base: &str) -> u64 {
    let report = get_json(&http_as(OPS), &format!("{base}/v1/admin/outbox")).await;
    report["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["destination"] == "nats")
        .map_or(0, |d| d["pending"].as_u64().unwrap())
}

async fn outbound_events_are_stored_once_each_and_sent_only_when_acknowledged(b: Backend) {
    let n = nats_site(&b).await;
    let server = n.site.start().await;
    place(&server.base, "NATS-A", 3).await;
    let started = Instant::now();
    loop {
        let (committed, published) = (n.committed().await, n.published().await);
        let unique: BTreeSet<String> = published.iter().cloned().collect();
        assert_eq!(unique.len(), published.len(), "an event was stored twice");
        if unique == committed {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{} of {} events published",
            unique.len(),
            committed.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // NATS unreachable: nothing can be acknowledged, so nothing is marked sent.
    n.proxy.cut();
    place(&server.base, "NATS-B", 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waiting = nats_pending(&server.base).await;
    assert!(
        waiting >= 4,
        "{waiting} deliveries pending while NATS is away"
    );
    n.proxy.restore();
    let started = Instant::now();
    while nats_pending(&server.base).await > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the backlog to NATS never drained"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let published = n.published().await;
    let unique: BTreeSet<String> = published.iter().cloned().collect();
    assert_eq!(unique.len(), published.len(), "an event was stored twice");
    assert_eq!(unique, n.committed().await);
    n.drop_streams().await;
}

async fn inbound_events_are_applied_once_and_unappliable_ones_dead_lettered(b: Backend) {
    let n = nats_site(&b).await;
    let server = n.site.start().await;
    let subject = format!("{}.inbound.wms", n.site.isolated.prefix);
    let publish = |event: Value, msg_id: &str| {
        let (js, subject, msg_id) = (n.js.clone(), subject.clone(), msg_id.to_owned());
        async move {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, msg_id.as_str());
            js.publish_with_headers(subject, headers, serde_json::to_vec(&event).unwrap().into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    };
    let adjust = |id: &str, sku: &str| {
        json!({"id": id, "type": "stock.adjusted", "source": "wms-east", "occurred_at": "2026-12-03T12:00:00Z",
            "data": {"sku": sku, "location": "WH-MAIN", "delta": 5, "bucket": "on_hand", "reason": "found"}})
    };
    let on_hand = || {
        let base = server.base.clone();
        async move {
            get_json(&http_as(SHOP), &format!("{base}/v1/availability/NAT-1")).await["locations"][0]
                ["on_hand"]
                .as_i64()
                .unwrap()
        }
    };
    publish(adjust("in-1", "NAT-1"), "m1").await;
    let started = Instant::now();
    while on_hand().await != 1005 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the inbound event was never applied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The same event again (a different message): the intake drops it by (source, id).
    publish(adjust("in-1", "NAT-1"), "m2").await;
    publish(adjust("in-2", "NAT-1"), "m3").await;
    let started = Instant::now();
    while on_hand().await != 1010 {
        assert!(started.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(on_hand().await, 1010, "a repeated event was applied twice");

    // An event for a SKU that does not exist yet, and a message that is not JSON.
    publish(adjust("in-3", "NAT-2"), "m4").await;
    n.js.publish(subject.clone(), "{not json".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let ops = http_as(OPS);
    let letters = || {
        let (ops, base) = (ops.clone(), server.base.clone());
        async move {
            get_json(
                &ops,
                &format!("{base}/v1/admin/dead-letters?direction=inbound"),
            )
            .await["items"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    let started = Instant::now();
    while letters().await.len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the bad messages never reached the dead-letter store"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = letters().await;
    let unknown = all.iter().find(|l| l["event_id"] == "in-3").unwrap();
    assert!(
        unknown["last_error"]
            .as_str()
            .unwrap()
            .contains("unknown-sku"),
        "{unknown}"
    );
    assert!(
        unknown["destination"]
            .as_str()
            .unwrap()
            .starts_with("inbound:")
    );
    assert!(
        all.iter()
            .any(|l| l["last_error"].as_str().unwrap().contains("not JSON"))
    );

    // Replayed before the cause is fixed: still rejected. After: applied, once.
    let replay = format!(
        "{}/v1/admin/dead-letters/{}/replay",
        server.base,
        unknown["id"].as_str().unwrap()
    );
    assert_eq!(ops.post(&replay).send().await.unwrap().status(), 422);
    let out = n
        .site
        .import_stock("sku,location,on_hand\nNAT-2,WH-MAIN,7\n");
    assert!(out.status.success());
    let r = ops.post(&replay).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["state"], "replayed");
    let a = get_json(
        &http_as(SHOP),
        &format!("{}/v1/availability/NAT-2", server.base),
    )
    .await;
    assert_eq!(a["locations"][0]["on_hand"], 12);
    assert_eq!(
        ops.post(&replay)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["state"],
        "replayed"
    );
    assert_eq!(
        get_json(
            &http_as(SHOP),
            &format!("{}/v1/availability/NAT-2", server.base)
        )
        .await["locations"][0]["on_hand"],
        12,
        "a second replay applies nothing"
    );
    n.drop_streams().await;
}

crate::tests! {
    nats: [
        outbound_events_are_stored_once_each_and_sent_only_when_acknowledged,
        inbound_events_are_applied_once_and_unappliable_ones_dead_lettered,
    ],
}
