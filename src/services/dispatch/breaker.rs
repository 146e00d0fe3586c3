//! A circuit breaker per destination: after enough consecutive failures the destination
//! rests for a cooldown, then one trial decides whether it is back: a success closes the
//! breaker, a failure opens it for another cooldown. A destination still down is called
//! once per cooldown, however much waits for it.
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
    /// Half open, the one delivery let through is under way until its answer, or at the
    /// latest until this instant (an answer that never comes does not stop the next trial).
    trial_until: Option<Instant>,
}

impl Breaker {
    pub fn new(failures_to_open: u32, cooldown: Duration) -> Self {
        Self {
            failures_to_open: failures_to_open.max(1),
            cooldown,
            consecutive_failures: 0,
            open_until: None,
            trial_until: None,
        }
    }

    pub fn state(&self, now: Instant) -> BreakerState {
        match self.open_until {
            None => BreakerState::Closed,
            Some(t) if now < t => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// Whether deliveries to the destination may be attempted now: any while closed, one
    /// trial while half open.
    pub fn allows(&self, now: Instant) -> bool {
        match self.state(now) {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen => !self.trial_under_way(now),
        }
    }

    /// Whether only a trial may go now (half open, none under way).
    pub fn wants_trial(&self, now: Instant) -> bool {
        self.state(now) == BreakerState::HalfOpen && !self.trial_under_way(now)
    }

    /// The trial is under way: nothing else goes until it is answered.
    pub fn trial_started(&mut self, now: Instant) {
        self.trial_until = Some(now + self.cooldown);
    }

    fn trial_under_way(&self, now: Instant) -> bool {
        self.trial_until.is_some_and(|t| now < t)
    }

    pub fn succeeded(&mut self) {
        self.consecutive_failures = 0;
        self.open_until = None;
        self.trial_until = None;
    }

    /// Counts a failure; a failed trial while half open opens the breaker again at once.
    pub fn failed(&mut self, now: Instant) {
        self.consecutive_failures += 1;
        let half_open = self.state(now) == BreakerState::HalfOpen;
        if half_open || self.consecutive_failures >= self.failures_to_open {
            self.open_until = Some(now + self.cooldown);
        }
        self.trial_until = None;
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
    fn half_open_lets_one_trial_through_at_a_time() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, Duration::from_secs(10));
        b.failed(t0);
        let later = t0 + Duration::from_secs(11);
        assert!(b.wants_trial(later) && b.allows(later));
        b.trial_started(later);
        assert!(
            !b.allows(later),
            "nothing else while the trial is under way"
        );
        assert!(!b.wants_trial(later));
        b.failed(later);
        assert_eq!(b.state(later), BreakerState::Open);
        let again = later + Duration::from_secs(11);
        assert!(b.wants_trial(again));
        b.trial_started(again);
        // A trial never answered does not hold the destination for good.
        assert!(b.wants_trial(again + Duration::from_secs(11)));
        b.succeeded();
        assert!(b.allows(again) && !b.wants_trial(again));
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
