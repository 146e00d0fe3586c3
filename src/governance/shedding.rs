//! Load shedding by priority class. Under overload, background work (admin, bulk) is
//! refused first, then standard reads, and critical work (order acceptance, returns)
//! last: the lower classes may only take a slot while enough stay free for the higher
//! ones, and only critical and standard work may queue for one.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::policy::{Priority, Shedding};

/// What a request's priority class gets right now.
pub enum Admission {
    Now(OwnedSemaphorePermit),
    /// No slot free, but the class may wait this long for one.
    Queue(Duration),
    Shed,
}

pub struct Shedder {
    slots: Arc<Semaphore>,
    policy: Shedding,
}

impl Shedder {
    pub fn new(policy: Shedding) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(policy.max_in_flight.max(1))),
            policy,
        }
    }

    /// Slots a class must leave free when it takes one.
    fn reserve(&self, p: Priority) -> usize {
        let percent = match p {
            Priority::Critical => 0,
            Priority::Standard => self.policy.standard_reserve_percent,
            Priority::Background => self.policy.background_reserve_percent,
        };
        self.policy.max_in_flight * usize::from(percent) / 100
    }

    fn queue(&self, p: Priority) -> Duration {
        Duration::from_millis(match p {
            Priority::Critical => self.policy.critical_queue_ms,
            Priority::Standard => self.policy.standard_queue_ms,
            Priority::Background => 0,
        })
    }

    /// A slot for the request, held until it is answered; `None` means shed it.
    pub async fn admit(&self, p: Priority) -> Option<OwnedSemaphorePermit> {
        match self.try_admit(p) {
            Admission::Now(slot) => Some(slot),
            Admission::Queue(wait) => self.queue_for(wait).await,
            Admission::Shed => None,
        }
    }

    /// The decision that needs no waiting.
    pub fn try_admit(&self, p: Priority) -> Admission {
        // Critical work reserves nothing for anyone: it only ever waits.
        if p != Priority::Critical && self.slots.available_permits() <= self.reserve(p) {
            return Admission::Shed;
        }
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            return Admission::Now(slot);
        }
        match self.queue(p) {
            wait if wait.is_zero() => Admission::Shed,
            wait => Admission::Queue(wait),
        }
    }

    /// Waits up to `wait` for a slot to free up.
    pub fn queue_for(
        &self,
        wait: Duration,
    ) -> impl Future<Output = Option<OwnedSemaphorePermit>> + Send + 'static {
        let slots = self.slots.clone();
        async move {
            tokio::time::timeout(wait, slots.acquire_owned())
                .await
                .ok()?
                .ok()
        }
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.policy
            .max_in_flight
            .saturating_sub(self.slots.available_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shedder(max: usize) -> Shedder {
        Shedder::new(Shedding {
            max_in_flight: max,
            critical_queue_ms: 50,
            standard_queue_ms: 0,
            ..Shedding::default()
        })
    }

    #[tokio::test]
    async fn lower_classes_leave_headroom_for_higher_ones() {
        let s = shedder(10);
        let mut held = Vec::new();
        for _ in 0..5 {
            held.push(s.admit(Priority::Background).await.unwrap());
        }
        assert!(
            s.admit(Priority::Background).await.is_none(),
            "background stops at half"
        );
        for _ in 0..4 {
            held.push(s.admit(Priority::Standard).await.unwrap());
        }
        assert!(
            s.admit(Priority::Standard).await.is_none(),
            "standard leaves 10% for critical"
        );
        held.push(s.admit(Priority::Critical).await.unwrap());
        assert_eq!(s.in_flight(), 10);
        assert!(
            s.admit(Priority::Critical).await.is_none(),
            "critical waits its queue time, then is shed"
        );
        drop(held.pop());
        assert!(s.admit(Priority::Critical).await.is_some());
    }
}
