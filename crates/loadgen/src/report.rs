//! What a run measured.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Report {
    pub label: String,
    pub scenario: String,
    /// `rate` (constant arrival rate) or `saturation`.
    pub mode: String,
    pub target_rate: Option<u64>,
    pub connections: usize,
    pub seconds: f64,
    pub requests: u64,
    pub ok: u64,
    /// Answers the scenario expects besides success (a 409 for a sold-out SKU).
    pub expected_refusals: u64,
    pub errors: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    pub throughput_rps: f64,
    pub latency_ms: Latency,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    /// From a histogram of microseconds.
    pub fn from(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

impl Report {
    pub fn print(&self) {
        let l = &self.latency_ms;
        println!(
            "{:<28} {:>10} {:>9.0} rps  p50 {:>7.3}  p95 {:>7.3}  p99 {:>7.3}  max {:>8.3} ms  ok {:>8}  refused {:>6}  errors {:>5}",
            self.label,
            self.mode,
            self.throughput_rps,
            l.p50,
            l.p95,
            l.p99,
            l.max,
            self.ok,
            self.expected_refusals,
            self.errors
        );
        for (kind, n) in &self.errors_by_kind {
            println!("{:<28}   error {kind}: {n}", "");
        }
    }
}
