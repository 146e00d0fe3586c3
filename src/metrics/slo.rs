//! The service level objectives' rolling windows: good and total events per time slice,
//! kept for one window. Fed by the same observations as the metrics.
//!
//! Each instance keeps its own windows in memory: a restart starts them empty, and with
//! several instances each reports what it served.
//! TODO: sum the windows of every instance (in the store or from Prometheus) so that one
//! call reports the fleet; today a per-instance figure can hide a sick instance's share.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::slo::Standing;
use crate::policy::{Indicator, Slo};

/// Slices per window: fine enough that the window rolls smoothly.
const SLICES: u64 = 60;

struct Window {
    slo: Slo,
    slice: Duration,
    /// (slice number since the epoch, good, total), oldest first.
    slices: Mutex<VecDeque<(u64, u64, u64)>>,
}

impl Window {
    fn new(slo: Slo) -> Self {
        let slice = Duration::from_secs((slo.window_minutes * 60).div_ceil(SLICES).max(1));
        Self {
            slo,
            slice,
            slices: Mutex::new(VecDeque::new()),
        }
    }

    fn slice_of(&self, at: OffsetDateTime) -> u64 {
        (at.unix_timestamp().max(0) as u64) / self.slice.as_secs()
    }

    fn record(&self, at: OffsetDateTime, good: bool) {
        let now = self.slice_of(at);
        let mut slices = self
            .slices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match slices.back_mut() {
            Some((n, g, t)) if *n == now => {
                *g += u64::from(good);
                *t += 1;
            }
            _ => slices.push_back((now, u64::from(good), 1)),
        }
        while slices.front().is_some_and(|(n, _, _)| n + SLICES <= now) {
            slices.pop_front();
        }
    }

    fn standing(&self, at: OffsetDateTime) -> Standing {
        let now = self.slice_of(at);
        let slices = self
            .slices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (good, total) = slices
            .iter()
            .filter(|(n, _, _)| n + SLICES > now)
            .fold((0, 0), |(g, t), (_, sg, st)| (g + sg, t + st));
        Standing::of(self.slo.objective, good, total)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SloReport {
    pub name: String,
    pub indicator: Indicator,
    /// The share of good events the objective asks for.
    pub objective: f64,
    /// What makes one event good: `300 ms`, `60 s`; absent for the error rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    pub window_seconds: u64,
    #[serde(flatten)]
    pub standing: Standing,
}

/// Every objective's window.
pub struct SloBook {
    windows: Vec<Window>,
}

impl SloBook {
    pub fn new(slos: &[Slo]) -> Self {
        Self {
            windows: slos.iter().cloned().map(Window::new).collect(),
        }
    }

    fn each(&self, indicator: Indicator) -> impl Iterator<Item = &Window> {
        self.windows
            .iter()
            .filter(move |w| w.slo.indicator == indicator)
    }

    /// One answer: counts towards latency objectives on its route and the error rate.
    pub fn answered(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let now = OffsetDateTime::now_utc();
        if route.starts_with("/v1/") {
            for w in self.each(Indicator::ErrorRate) {
                w.record(now, status < 500);
            }
        }
        // A refusal for the caller's own fault says nothing of the gateway's speed.
        if (400..500).contains(&status) {
            return;
        }
        for w in self.each(Indicator::Latency) {
            let on_route = w
                .slo
                .route
                .as_deref()
                .is_some_and(|r| r.split_once(' ') == Some((method, route)));
            if on_route {
                // A server error is never a good answer, however fast.
                let limit = w.slo.threshold_ms.unwrap_or(0) as f64 / 1000.0;
                w.record(now, status < 500 && seconds <= limit);
            }
        }
    }

    /// A stock figure taken in `lag` after it held (a warehouse event, the projection's age).
    pub fn stock_lag(&self, lag: Duration) {
        self.seconds_within(Indicator::Freshness, lag);
    }

    /// The oldest waiting delivery's age, sampled.
    pub fn backlog_age(&self, age: Duration) {
        self.seconds_within(Indicator::BacklogAge, age);
    }

    fn seconds_within(&self, indicator: Indicator, value: Duration) {
        let now = OffsetDateTime::now_utc();
        for w in self.each(indicator) {
            let limit = Duration::from_secs(w.slo.threshold_seconds.unwrap_or(0));
            w.record(now, value <= limit);
        }
    }

    pub fn report(&self) -> Vec<SloReport> {
        let now = OffsetDateTime::now_utc();
        self.windows
            .iter()
            .map(|w| SloReport {
                name: w.slo.name.clone(),
                indicator: w.slo.indicator,
                objective: w.slo.objective,
                threshold: w.slo.threshold(),
                route: w.slo.route.clone(),
                window_seconds: w.slo.window_minutes * 60,
                standing: w.standing(now),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slo(window_minutes: u64) -> Slo {
        Slo {
            name: "backlog".into(),
            indicator: Indicator::BacklogAge,
            route: None,
            threshold_ms: None,
            threshold_seconds: Some(60),
            objective: 0.9,
            window_minutes,
        }
    }

    #[test]
    fn server_errors_are_bad_and_the_callers_own_refusals_are_left_out_of_latency() {
        let latency = Slo {
            name: "acceptance".into(),
            indicator: Indicator::Latency,
            route: Some("POST /v1/orders".into()),
            threshold_ms: Some(300),
            ..slo(60)
        };
        let errors = Slo {
            name: "errors".into(),
            indicator: Indicator::ErrorRate,
            threshold_seconds: None,
            ..slo(60)
        };
        let book = SloBook::new(&[latency, errors]);
        book.answered("POST", "/v1/orders", 201, 0.01);
        book.answered("POST", "/v1/orders", 201, 0.5);
        book.answered("POST", "/v1/orders", 422, 0.01);
        book.answered("POST", "/v1/orders", 503, 0.01);
        book.answered("GET", "/livez", 500, 0.01);
        let r = book.report();
        let counts = |i: usize| (r[i].standing.good, r[i].standing.total);
        // Fast 201, slow 201, fast 503: one good of three; the 422 is not counted.
        assert_eq!(counts(0), (1, 3), "{r:?}");
        assert_eq!(counts(1), (3, 4), "{r:?}");
    }

    #[test]
    fn events_older_than_the_window_roll_out() {
        let w = Window::new(slo(60));
        let start = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        w.record(start, false);
        w.record(start + Duration::from_secs(30 * 60), true);
        assert_eq!(w.standing(start + Duration::from_secs(30 * 60)).total, 2);
        // An hour after the first, it has left the window; the second has not.
        let later = start + Duration::from_secs(3600);
        let s = w.standing(later);
        assert_eq!((s.good, s.total), (1, 1));
        w.record(later, true);
        assert_eq!(
            w.slices.lock().unwrap().len(),
            2,
            "the expired slice was dropped"
        );
    }
}
