use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::extract::QueryPairs;
use crate::api::{AppState, docs};
use crate::error::Result;
use crate::store::{WooException, WooExceptionQuery};

const MAX_PAGE: u32 = 500;

#[derive(Serialize, ToSchema)]
pub struct WooExceptionPage {
    pub items: Vec<WooException>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<String>,
}

/// WooCommerce orders Stockade could not take as they are (lines without a SKU it knows,
/// stock it could not cover, items changed after acceptance…), oldest first. Each is also
/// noted on its order in the store.
// TODO: an exception cannot be retried from here; once its cause is fixed, someone must
// change the order in the store so that a new version of it arrives.
#[utoipa::path(
    get,
    path = "/v1/admin/woocommerce/exceptions",
    tag = "admin",
    params(
        ("store" = Option<String>, Query, description = "Only this store's"),
        ("code" = Option<String>, Query, description = "e.g. `unmapped-lines`, `insufficient-stock`"),
        ("after" = Option<String>, Query, description = "Page after this id"),
        ("limit" = Option<u32>, Query, description = "1 to 500; default 100"),
    ),
    responses(
        (status = 200, description = "A page of exceptions", body = WooExceptionPage),
        (status = 400, description = "The page size does not parse or exceeds its cap", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::invalid_parameter("limit"))),
    )
)]
pub async fn list_woocommerce_exceptions(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Json<WooExceptionPage>> {
    let limit = query.limit(100, MAX_PAGE)?;
    let q = WooExceptionQuery {
        store: query.first("store").map(str::to_owned),
        code: query.first("code").map(str::to_owned),
        after: query.first("after").map(str::to_owned),
        unnoted: false,
        limit,
    };
    let items = state.services.woocommerce_exceptions(&q).await?;
    let next_after = (items.len() == limit as usize)
        .then(|| items.last().map(|e| e.id.clone()))
        .flatten();
    Ok(Json(WooExceptionPage { items, next_after }))
}
