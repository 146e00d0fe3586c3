//! Order acceptance, reads and cancellation.

use super::Services;
use super::idempotency::{IdempotencyKey, Reply, settle};
use crate::domain::ids::{self, new_id};
use crate::domain::order::{MAX_LINES, Order, OrderRequest};
use crate::domain::shipment::Shipment;
use crate::domain::time::now;
use crate::domain::timeline::Timeline;
use crate::error::{Error, Result};
use crate::policy::Client;
use crate::store::{AcceptOrder, AcceptOutcome, CancelOutcome, IdempotencyScope, StoredResponse};

impl Services {
    /// Validates, allocates and reserves the whole order in one step. The ERP hears about
    /// it afterwards: order capture never waits for the back office.
    #[tracing::instrument(name = "accept order", level = "debug", skip_all,
        fields(order.channel = %request.channel))]
    pub async fn accept_order(
        &self,
        client: &Client,
        key: &IdempotencyKey,
        fingerprint: &str,
        request: &OrderRequest,
        traceparent: Option<&str>,
    ) -> Result<Reply> {
        if request.lines.len() > MAX_LINES {
            return Err(Error::TooMany {
                what: "lines",
                max: MAX_LINES,
                got: request.lines.len(),
            });
        }
        request.validate().map_err(Error::Invalid)?;
        let channel = self.resolve_channel(client, Some(&request.channel))?;
        let guard = match self.begin_idempotent(&client.id, key, fingerprint).await? {
            Ok(guard) => guard,
            Err(replay) => return Ok(replay),
        };
        let render = |order: &Order| StoredResponse {
            status: 201,
            body: serde_json::to_string(order).unwrap_or_default(),
            location: Some(format!("/v1/orders/{}", order.id)),
        };
        let outcome = self
            .store
            .accept_order(AcceptOrder {
                id: new_id(ids::ORDER),
                client_id: &client.id,
                request,
                locations: self.policies.eligible_locations(&channel).to_vec(),
                erp_system: self.erp.system(),
                traceparent,
                now: now(),
                idempotency: IdempotencyScope {
                    client_id: &client.id,
                    key: key.as_str(),
                    fingerprint,
                    expires_at: self.idempotency_expiry(),
                    render: &render,
                },
                backorder_shortages: false,
                woo: None,
            })
            .await?;
        drop(guard);
        match outcome {
            AcceptOutcome::Accepted(order) => {
                tracing::info!(order.id = %order.id, order.channel = %order.channel, order.lines = order.lines.len(), "order accepted");
                self.stock_moved(
                    &order
                        .lines
                        .iter()
                        .map(|l| l.sku.as_str())
                        .collect::<Vec<_>>(),
                )
                .await;
                self.outbox_wake.notify_one();
                Ok(Reply {
                    response: render(&order),
                    replayed: false,
                })
            }
            AcceptOutcome::Insufficient(shortages) => Err(Error::InsufficientStock(shortages)),
            AcceptOutcome::UnknownSkus(skus) => Err(Error::UnknownSkus(skus)),
            AcceptOutcome::DuplicateExternalId(existing) => Err(Error::DuplicateOrder { existing }),
            AcceptOutcome::Key(state) => settle(state),
            AcceptOutcome::Superseded => Err(anyhow::anyhow!(
                "an API order cannot be superseded by a channel version"
            )
            .into()),
        }
    }

    /// The order, if it exists and belongs to one of the caller's channels. Another
    /// channel's order is reported exactly like one that does not exist.
    pub async fn order(&self, client: &Client, id: &str) -> Result<Order> {
        let not_found = || Error::NotFound {
            kind: "order",
            id: id.to_owned(),
        };
        if !ids::has_prefix(id, ids::ORDER) {
            return Err(not_found());
        }
        match self.store.order(id).await? {
            Some(order) if client.holds_channel(&order.channel) => Ok(order),
            _ => Err(not_found()),
        }
    }

    pub async fn orders_by_external_id(
        &self,
        client: &Client,
        external_id: &str,
    ) -> Result<Vec<Order>> {
        Ok(self
            .store
            .orders_by_external_id(external_id, &client.channels)
            .await?)
    }

    /// Cancels an unshipped order, or the unshipped remainder of a partly shipped one.
    /// Cancelling twice answers the same order.
    pub async fn cancel_order(
        &self,
        client: &Client,
        id: &str,
        traceparent: Option<&str>,
    ) -> Result<Order> {
        self.order(client, id).await?;
        match self.store.cancel_order(id, now(), traceparent).await? {
            CancelOutcome::Cancelled(order) => {
                self.outbox_wake.notify_one();
                self.stock_moved(
                    &order
                        .lines
                        .iter()
                        .map(|l| l.sku.as_str())
                        .collect::<Vec<_>>(),
                )
                .await;
                tracing::info!(order.id = %order.id, "order cancelled");
                Ok(order)
            }
            CancelOutcome::AlreadyCancelled(order) => Ok(order),
            CancelOutcome::Shipped => Err(Error::OrderShipped),
            CancelOutcome::NotFound => Err(Error::NotFound {
                kind: "order",
                id: id.to_owned(),
            }),
        }
    }

    pub async fn shipments(&self, client: &Client, order_id: &str) -> Result<Vec<Shipment>> {
        self.order(client, order_id).await?;
        Ok(self.store.shipments(order_id).await?)
    }

    /// Every stage the order went through; a client sees its own channels' orders only.
    pub async fn timeline(&self, client: &Client, order_id: &str) -> Result<Timeline> {
        let order = self.order(client, order_id).await?;
        let history = self.store.order_history(order_id).await?;
        Ok(Timeline::build(&order, &history))
    }
}
