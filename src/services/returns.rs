//! Return authorization.

use super::Services;
use super::idempotency::{IdempotencyKey, Reply, settle};
use crate::domain::ids::{self, new_id};
use crate::domain::rma::{ReturnRequest, Rma};
use crate::domain::time::now;
use crate::error::{Error, Result};
use crate::policy::Client;
use crate::store::{AuthorizeOutcome, AuthorizeReturn, IdempotencyScope, StoredResponse};

impl Services {
    /// Authorizes what was shipped and not yet returned or authorized, inside the policy's
    /// return window.
    pub async fn authorize_return(
        &self,
        client: &Client,
        key: &IdempotencyKey,
        fingerprint: &str,
        request: &ReturnRequest,
        traceparent: Option<&str>,
    ) -> Result<Reply> {
        request.validate().map_err(Error::Invalid)?;
        // An order of another channel is as unknown as one that does not exist.
        if self.order(client, &request.order_id).await.is_err() {
            return Err(Error::UnknownOrder(request.order_id.clone()));
        }
        let guard = match self.begin_idempotent(&client.id, key, fingerprint).await? {
            Ok(guard) => guard,
            Err(replay) => return Ok(replay),
        };
        let render = |rma: &Rma| StoredResponse {
            status: 201,
            body: serde_json::to_string(rma).unwrap_or_default(),
            location: Some(format!("/v1/returns/{}", rma.id)),
        };
        let outcome = self
            .store
            .authorize_return(AuthorizeReturn {
                id: new_id(ids::RMA),
                client_id: &client.id,
                request,
                window_days: self.policies.returns.window_days,
                traceparent,
                now: now(),
                idempotency: IdempotencyScope {
                    client_id: &client.id,
                    key: key.as_str(),
                    fingerprint,
                    expires_at: self.idempotency_expiry(),
                    render: &render,
                },
            })
            .await?;
        drop(guard);
        match outcome {
            AuthorizeOutcome::Authorized(rma) => {
                self.outbox_wake.notify_one();
                tracing::info!(rma.id = %rma.id, order.id = %rma.order_id, "return authorized");
                Ok(Reply {
                    response: render(&rma),
                    replayed: false,
                })
            }
            AuthorizeOutcome::Broken(rule) => Err(Error::ReturnRule(rule)),
            AuthorizeOutcome::OrderNotFound => Err(Error::UnknownOrder(request.order_id.clone())),
            AuthorizeOutcome::Key(state) => settle(state),
        }
    }

    pub async fn rma(&self, client: &Client, id: &str) -> Result<Rma> {
        let not_found = || Error::NotFound {
            kind: "RMA",
            id: id.to_owned(),
        };
        if !ids::has_prefix(id, ids::RMA) {
            return Err(not_found());
        }
        match self.store.rma(id).await? {
            Some(record) if client.holds_channel(&record.channel) => Ok(record.rma),
            _ => Err(not_found()),
        }
    }
}
