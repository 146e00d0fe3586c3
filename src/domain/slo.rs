//! How an objective stands: the share of good events measured over its window, and how
//! much of its error budget (the bad events the objective allows) is left.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SloStatus {
    /// Within the objective.
    Met,
    /// Below the objective: the budget is spent.
    Breached,
    /// Nothing measured in the window yet.
    NoData,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Standing {
    pub good: u64,
    pub total: u64,
    /// Good events over all events in the window; absent when there were none.
    pub measured: Option<f64>,
    /// The share of the allowed bad events not yet spent: 1 when none were bad, 0 when
    /// exactly the allowed number were, below 0 when the objective is breached.
    pub error_budget_remaining: f64,
    pub status: SloStatus,
}

impl Standing {
    pub fn of(objective: f64, good: u64, total: u64) -> Self {
        if total == 0 {
            return Self {
                good,
                total,
                measured: None,
                error_budget_remaining: 1.0,
                status: SloStatus::NoData,
            };
        }
        let measured = good as f64 / total as f64;
        let allowed = (1.0 - objective) * total as f64;
        let bad = (total - good.min(total)) as f64;
        Self {
            good,
            total,
            measured: Some(measured),
            error_budget_remaining: 1.0 - bad / allowed,
            status: if measured >= objective {
                SloStatus::Met
            } else {
                SloStatus::Breached
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_the_bad_events_the_objective_allows() {
        let s = Standing::of(0.99, 995, 1000);
        assert_eq!(s.status, SloStatus::Met);
        assert!((s.error_budget_remaining - 0.5).abs() < 1e-9, "{s:?}");
        let s = Standing::of(0.99, 980, 1000);
        assert_eq!(s.status, SloStatus::Breached);
        assert!((s.error_budget_remaining + 1.0).abs() < 1e-9, "{s:?}");
        let s = Standing::of(0.99, 0, 0);
        assert_eq!((s.status, s.measured), (SloStatus::NoData, None));
    }
}
