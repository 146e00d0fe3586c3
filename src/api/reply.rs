//! Responses of mutations that take an Idempotency-Key: the stored bytes, as stored.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::services::idempotency::Reply;

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.response.status).unwrap_or(StatusCode::OK);
        let mut resp = (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            self.response.body,
        )
            .into_response();
        if let Some(location) = self
            .response
            .location
            .and_then(|l| HeaderValue::from_str(&l).ok())
        {
            resp.headers_mut().insert(header::LOCATION, location);
        }
        if self.replayed {
            resp.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        resp
    }
}
