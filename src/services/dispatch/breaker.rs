//! A circuit breaker per destination: after enough consecutive failures the destination
//! rests for a cooldown; then deliveries go again (half open), and the first answer decides:
//! a success closes the breaker, a failure opens it for another cooldown.
// TODO: half open, every delivery of the next pass is let through, up to the destination's
// concurrency, rather than a single trial; a destination still down gets that many calls
// once per cooldown instead of one.
//!
//! Written here rather than taken from a crate: it needs only counting and a clock, and
//! its state must be readable for `/readyz` and the metrics.

use std::time::{Duration, Instant};

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug)]
pub struct Breaker {
    failures_to_open: u32,
    cooldown: Duration,
    consecutive_failures: u32,
    open_until: Option<Instant>,
}

impl Breaker {
    pub fn new(failures_to_open: u32, cooldown: Duration) -> Self {
        Self {
            failures_to_open: failures_to_open.max(1),
            cooldown,
            consecutive_failures: 0,
            open_until: None,
        }
    }

    pub fn state(&self, now: Instant) -> BreakerState {
        match self.open_until {
            None => BreakerState::Closed,
            Some(t) if now < t => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// Whether deliveries to the destination may be attempted now.
    pub fn allows(&self, now: Instant) -> bool {
        self.state(now) != BreakerState::Open
    }

    pub fn succeeded(&mut self) {
        self.consecutive_failures = 0;
        self.open_until = None;
    }

    /// Counts a failure; a failed trial while half open opens the breaker again at once.
    pub fn failed(&mut self, now: Instant) {
        self.consecutive_failures += 1;
        let half_open = self.state(now) == BreakerState::HalfOpen;
        if half_open || self.consecutive_failures >= self.failures_to_open {
            self.open_until = Some(now + self.cooldown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_recovers_after_a_good_trial() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, Duration::from_secs(10));
        b.failed(t0);
        b.failed(t0);
        assert_eq!(b.state(t0), BreakerState::Closed);
        b.failed(t0);
        assert_eq!(b.state(t0), BreakerState::Open);
        assert!(!b.allows(t0 + Duration::from_secs(5)));
        let later = t0 + Duration::from_secs(11);
        assert_eq!(b.state(later), BreakerState::HalfOpen);
        b.failed(later);
        assert_eq!(
            b.state(later),
            BreakerState::Open,
            "a failed trial opens it again"
        );
        b.succeeded();
        assert_eq!(b.state(later), BreakerState::Closed);
    }

    #[test]
    fn a_success_resets_the_count() {
        let t0 = Instant::now();
        let mut b = Breaker::new(2, Duration::from_secs(1));
        b.failed(t0);
        b.succeeded();
        b.failed(t0);
        assert_eq!(b.state(t0), BreakerState::Closed);
    }
}
