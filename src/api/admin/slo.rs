use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::AppState;
use crate::metrics::slo::SloReport;

#[derive(Serialize, ToSchema)]
pub struct SloList {
    pub items: Vec<SloReport>,
}

/// Each objective declared in `policies/slo.toml` against what this instance measured
/// over its rolling window: the share of good events and the error budget left.
#[utoipa::path(
    get,
    path = "/v1/admin/slo",
    tag = "admin",
    responses((status = 200, description = "Every objective's standing", body = SloList,
        example = json!({"items": [
            {"name": "order-acceptance-latency", "indicator": "latency", "objective": 0.99,
             "threshold": "300 ms", "route": "POST /v1/orders", "window_seconds": 3600,
             "good": 1985, "total": 1990, "measured": 0.99749, "error_budget_remaining": 0.7487,
             "status": "met"},
            {"name": "event-backlog-age", "indicator": "backlog_age", "objective": 0.99,
             "threshold": "60 s", "window_seconds": 3600, "good": 0, "total": 0,
             "measured": null, "error_budget_remaining": 1.0, "status": "no_data"}]})))
)]
pub async fn slo_report(State(state): State<AppState>) -> Json<SloList> {
    Json(SloList {
        items: state.services.metrics.slos.report(),
    })
}
