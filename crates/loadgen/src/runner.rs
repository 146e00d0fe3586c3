//! Connections, pacing and measurement.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::net::TcpStream;

use crate::report::{Latency, Report};
use crate::scenarios::{Outcome, Scenario};

pub struct Plan {
    pub target: String,
    /// Requests per second; `None` runs at saturation.
    pub rate: Option<u64>,
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
}

/// What one connection measured.
struct Tally {
    latency: Histogram<u64>,
    ok: u64,
    refused: u64,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn new() -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            ok: 0,
            refused: 0,
            errors: BTreeMap::new(),
        }
    }

    fn merge(&mut self, other: Tally) {
        let _ = self.latency.add(&other.latency);
        self.ok += other.ok;
        self.refused += other.refused;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_insert(0) += v;
        }
    }
}

pub async fn run(plan: &Plan, scenario: Arc<dyn Scenario>, label: &str) -> anyhow::Result<Report> {
    let authority = plan
        .target
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let start = Instant::now() + Duration::from_millis(200);
    let measure_from = start + plan.warmup;
    let end = measure_from + plan.duration;
    let counter = Arc::new(AtomicU64::new(0));

    // Open loop: tickets fall due at fixed intervals; a connection takes the next one when
    // it is free, and latency counts from when the ticket fell due.
    let (tickets_tx, tickets_rx) = flume::bounded::<Instant>(1_000_000);
    if let Some(rate) = plan.rate {
        let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
        // The pacer has its own thread: the runtime's timer wheel has a resolution of one
        // millisecond, and a ticket released late by the timer would count the load
        // generator's own lateness as the server's latency. A thread's sleep is precise
        // to tens of microseconds.
        std::thread::spawn(move || {
            let mut i: u64 = 0;
            loop {
                let due = start + interval.mul_f64(i as f64);
                if due >= end {
                    break;
                }
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                // Catch up on every ticket that fell due while asleep.
                while start + interval.mul_f64(i as f64) <= Instant::now()
                    && start + interval.mul_f64(i as f64) < end
                {
                    if tickets_tx.send(start + interval.mul_f64(i as f64)).is_err() {
                        return;
                    }
                    i += 1;
                }
            }
        });
    } else {
        drop(tickets_tx);
    }

    let mut workers = Vec::with_capacity(plan.connections);
    for c in 0..plan.connections {
        let (authority, scenario, counter, tickets) = (
            authority.clone(),
            scenario.clone(),
            counter.clone(),
            tickets_rx.clone(),
        );
        let open_loop = plan.rate.is_some();
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::new();
            let mut rng = SmallRng::seed_from_u64(c as u64 + 1);
            let mut conn: Option<SendRequest<Full<Bytes>>> = None;
            tokio::time::sleep_until(start.into()).await;
            loop {
                let due = if open_loop {
                    match tickets.recv_async().await {
                        Ok(due) => due,
                        Err(_) => break,
                    }
                } else {
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    now
                };
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let req = scenario.request(n, &mut rng);
                let method = req.method;
                let result = send(&mut conn, &authority, req).await;
                let done = Instant::now();
                if due < measure_from || done > end + Duration::from_secs(5) {
                    continue;
                }
                let us = done.duration_since(due).as_micros().max(1) as u64;
                let _ = tally.latency.record(us.min(60_000_000));
                match result {
                    Ok(status) => match scenario.classify(method, status) {
                        Outcome::Ok => tally.ok += 1,
                        Outcome::Refused => tally.refused += 1,
                        Outcome::Error => {
                            *tally.errors.entry(format!("HTTP {status}")).or_insert(0) += 1
                        }
                    },
                    Err(e) => *tally.errors.entry(e).or_insert(0) += 1,
                }
            }
            tally
        }));
    }
    let mut total = Tally::new();
    for w in workers {
        total.merge(w.await?);
    }
    let seconds = plan.duration.as_secs_f64();
    let requests = total.ok + total.refused + total.errors.values().sum::<u64>();
    Ok(Report {
        label: label.to_owned(),
        scenario: scenario.name().to_owned(),
        mode: if plan.rate.is_some() {
            "rate".into()
        } else {
            "saturation".into()
        },
        target_rate: plan.rate,
        connections: plan.connections,
        seconds,
        requests,
        ok: total.ok,
        expected_refusals: total.refused,
        errors: total.errors.values().sum(),
        errors_by_kind: total.errors,
        throughput_rps: requests as f64 / seconds,
        latency_ms: Latency::from(&total.latency),
    })
}

/// Sends one request on the connection, (re)connecting as needed.
async fn send(
    conn: &mut Option<SendRequest<Full<Bytes>>>,
    authority: &str,
    req: crate::scenarios::Request,
) -> Result<u16, String> {
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        let stream = TcpStream::connect(authority)
            .await
            .map_err(|e| format!("connect: {}", e.kind()))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(connection);
        *conn = Some(sender);
    }
    let sender = conn.as_mut().expect("connected above");
    sender.ready().await.map_err(|e| format!("ready: {e}"))?;
    let mut builder = hyper::Request::builder()
        .method(req.method)
        .uri(&req.path)
        .header("host", authority);
    if let Some(key) = &req.key {
        builder = builder.header("authorization", key.as_ref());
    }
    if let Some(k) = &req.idempotency_key {
        builder = builder.header("idempotency-key", k);
    }
    if req.body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    let request = builder
        .body(Full::new(req.body.unwrap_or_default()))
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| {
        *conn = None;
        format!("send: {e}")
    })?;
    let status = response.status().as_u16();
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?;
    Ok(status)
}
