use axum::Json;
use axum::extract::State;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use crate::api::extract::QueryPairs;
use crate::api::{AppState, docs};
use crate::domain::audit::AuditRecord;
use crate::error::{Error, Result};
use crate::store::AuditQuery;

/// The most entries one page may hold.
const MAX_PAGE: u32 = 500;

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    /// Oldest first.
    pub items: Vec<AuditRecord>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<i64>,
}

/// Pages through the hash-chained audit log, oldest first, with filters.
#[utoipa::path(
    get,
    path = "/v1/admin/audit",
    tag = "admin",
    params(
        ("after" = Option<i64>, Query, description = "Return entries after this `seq`; 0 or absent from the start"),
        ("limit" = Option<u32>, Query, description = "Entries per page, 1 to 500; default 100"),
        ("client" = Option<String>, Query, description = "Only this client's entries"),
        ("route" = Option<String>, Query, description = "Only this route template, e.g. `/v1/orders`"),
        ("resource" = Option<String>, Query, description = "Only entries about this resource id"),
        ("status" = Option<u16>, Query, description = "Only this outcome status, e.g. 401"),
        ("since" = Option<String>, Query, description = "RFC 3339; entries at or after"),
        ("until" = Option<String>, Query, description = "RFC 3339; entries before"),
    ),
    responses(
        (status = 200, description = "A page of audit entries", body = AuditPage, example = json!(docs::audit_page())),
        (status = 400, description = "A filter or the page size does not parse or exceeds its cap", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::invalid_parameter("limit"))),
        (status = 403, description = "The caller lacks the `admin` scope", body = crate::problem::Problem,
            content_type = "application/problem+json", example = json!(docs::insufficient_scope())),
    )
)]
pub async fn list_audit(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Json<AuditPage>> {
    let q = audit_query(&query)?;
    let limit = q.limit;
    let items = state.services.store.audit_page(&q).await?;
    let next_after = (items.len() == limit as usize)
        .then(|| items.last().map(|r| r.seq))
        .flatten();
    Ok(Json(AuditPage { items, next_after }))
}

fn audit_query(q: &QueryPairs) -> Result<AuditQuery> {
    let number = |name: &'static str| -> Result<Option<i64>> {
        q.first(name)
            .map(|v| {
                v.parse::<i64>().map_err(|_| Error::InvalidParameter {
                    name,
                    why: format!("`{v}` is not a whole number"),
                })
            })
            .transpose()
    };
    let instant = |name: &'static str| -> Result<Option<OffsetDateTime>> {
        q.first(name)
            .map(|v| {
                OffsetDateTime::parse(v, &Rfc3339).map_err(|_| Error::InvalidParameter {
                    name,
                    why: format!("`{v}` is not RFC 3339"),
                })
            })
            .transpose()
    };
    let limit = number("limit")?.unwrap_or(100);
    if !(1..=i64::from(MAX_PAGE)).contains(&limit) {
        return Err(Error::InvalidParameter {
            name: "limit",
            why: format!("must be from 1 to {MAX_PAGE}"),
        });
    }
    let status = number("status")?
        .map(|s| {
            u16::try_from(s).map_err(|_| Error::InvalidParameter {
                name: "status",
                why: "not an HTTP status".into(),
            })
        })
        .transpose()?;
    Ok(AuditQuery {
        after: number("after")?.unwrap_or(0).max(0),
        limit: limit as u32,
        client_id: q.first("client").map(str::to_owned),
        route: q.first("route").map(str::to_owned),
        resource_id: q.first("resource").map(str::to_owned),
        status,
        since: instant("since")?,
        until: instant("until")?,
    })
}
