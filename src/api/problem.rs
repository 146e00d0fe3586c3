//! The error boundary: every problem a client sees is rendered here, as
//! `application/problem+json`, with the request id; every server-side failure is logged
//! here, once.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::error::Error;
use crate::governance::gate::{Entry, Gate, Reply};
use crate::problem::{self, Problem};

/// A problem waiting for the rendering layer, which knows the request id.
#[derive(Clone)]
struct Pending {
    problem: Problem,
    /// The internal cause of a 5xx, for the log only.
    cause: Option<String>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let problem = Problem::from(&self);
        let cause = problem.is_server_error().then(|| format!("{self:#}"));
        pending(problem, cause)
    }
}

/// A response that the rendering layer will fill with `problem`.
pub fn pending(problem: Problem, cause: Option<String>) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = status.into_response();
    resp.extensions_mut().insert(Pending { problem, cause });
    resp
}

/// Renders pending problems, and turns the router's bare 404 and 405 into problems too.
#[derive(Clone)]
pub struct Render;

impl Gate for Render {
    /// The request id and the address, for the problem and the log.
    type Ticket = (Option<HeaderValue>, Uri);

    fn enter(&self, req: &mut Request) -> Entry<Self::Ticket> {
        let request_id = req.headers().get("x-request-id").cloned();
        Entry::Pass((request_id, req.uri().clone()))
    }

    fn leave(&self, (request_id, uri): Self::Ticket, mut resp: Response) -> Reply {
        let path = uri.path();
        let pending = resp
            .extensions_mut()
            .remove::<Pending>()
            .or_else(|| bare_router_problem(&resp, path));
        let Some(Pending { mut problem, cause }) = pending else {
            return Reply::Now(resp);
        };
        let request_id = request_id.and_then(|v| v.to_str().ok().map(str::to_owned));
        if let Some(cause) = cause {
            tracing::error!(request.id = request_id.as_deref().unwrap_or("-"), http.path = %path, error = %cause, "request failed");
        }
        problem.request_id = request_id;
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let (mut parts, _) = resp.into_parts();
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        parts.headers.remove(header::CONTENT_LENGTH);
        Reply::Now(Response::from_parts(parts, Body::from(body)))
    }
}

fn bare_router_problem(resp: &Response, path: &str) -> Option<Pending> {
    if resp.headers().contains_key(header::CONTENT_TYPE) {
        return None;
    }
    let problem = match resp.status() {
        StatusCode::NOT_FOUND => Problem::new(
            problem::ROUTE_NOT_FOUND,
            format!("no route matches `{path}`"),
        ),
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = resp
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            Problem::new(
                problem::METHOD_NOT_ALLOWED,
                format!("`{path}` allows {allow}"),
            )
        }
        _ => return None,
    };
    Some(Pending {
        problem,
        cause: None,
    })
}
