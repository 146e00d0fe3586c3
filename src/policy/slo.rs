//! Service level objectives: `slo.toml`. Each names what is measured (its indicator), the
//! threshold a good event stays within, the share of events that must be good, and the
//! rolling window the share is taken over.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloFile {
    /// Seconds between samples of the sampled indicators (freshness, backlog age).
    #[serde(default = "sample_seconds")]
    pub sample_seconds: u64,
    #[serde(default)]
    pub slo: Vec<Slo>,
}

fn sample_seconds() -> u64 {
    10
}

impl Default for SloFile {
    fn default() -> Self {
        Self {
            sample_seconds: sample_seconds(),
            slo: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    /// Answers to `route` within `threshold_ms`, of all its answers that were not refused
    /// for the caller's own fault (4xx).
    Latency,
    /// `/v1` answers that were not server errors (5xx), of all `/v1` answers.
    ErrorRate,
    /// Stock updates taken in within `threshold_seconds` of when they happened: each
    /// warehouse stock event, and a sample of the ERP projection's age every
    /// `sample_seconds`.
    Freshness,
    /// Samples, every `sample_seconds`, at which the oldest waiting outbox delivery was
    /// younger than `threshold_seconds`.
    BacklogAge,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    pub name: String,
    pub indicator: Indicator,
    /// `METHOD /template`, for a latency objective.
    pub route: Option<String>,
    pub threshold_ms: Option<u64>,
    pub threshold_seconds: Option<u64>,
    /// The share of good events, e.g. 0.99.
    pub objective: f64,
    pub window_minutes: u64,
}

impl Slo {
    /// What makes an event good, in words, for the report.
    pub fn threshold(&self) -> Option<String> {
        match self.indicator {
            Indicator::Latency => self.threshold_ms.map(|ms| format!("{ms} ms")),
            Indicator::Freshness | Indicator::BacklogAge => {
                self.threshold_seconds.map(|s| format!("{s} s"))
            }
            Indicator::ErrorRate => None,
        }
    }

    /// The first rule this objective breaks: (field, why).
    pub fn check(&self) -> Option<(&'static str, String)> {
        if !(self.objective > 0.0 && self.objective < 1.0) {
            return Some((
                "objective",
                "must be a share between 0 and 1, such as 0.99".into(),
            ));
        }
        if !(1..=60 * 24 * 31).contains(&self.window_minutes) {
            return Some(("window_minutes", "must be 1 minute to 31 days".into()));
        }
        match self.indicator {
            Indicator::Latency if self.threshold_ms.is_none() => Some((
                "threshold_ms",
                "a latency objective needs its threshold".into(),
            )),
            Indicator::Latency if self.route.is_none() => Some((
                "route",
                "a latency objective names its route, `POST /v1/orders`".into(),
            )),
            Indicator::Freshness | Indicator::BacklogAge if self.threshold_seconds.is_none() => {
                Some((
                    "threshold_seconds",
                    "this objective needs its threshold".into(),
                ))
            }
            _ => None,
        }
    }
}
