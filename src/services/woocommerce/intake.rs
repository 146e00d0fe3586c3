//! The one intake every copy of a store order goes through, from a webhook or the poll:
//! claim its version, decide by [`rules::decide`], then accept, cancel, do nothing or
//! record an exception, and settle the version once the effect is done.

use std::collections::HashSet;
use std::sync::Arc;

use super::{Intake, rules};
use crate::adapters::woocommerce::Connector;
use crate::adapters::woocommerce::catalog::line_sku;
use crate::adapters::woocommerce::wire::Order as WooOrder;
use crate::domain::ids::{self, new_id};
use crate::domain::order::{MAX_LINES, Order};
use crate::domain::time::{now, to_micros};
use crate::error::Result;
use crate::policy::OnProblem;
use crate::services::Services;
use crate::services::idempotency::fingerprint;
use crate::store::{
    AcceptOrder, AcceptOutcome, CancelOutcome, IdempotencyScope, KeyState, NewWooException,
    StoredResponse, WooClaim, WooLink,
};

impl Services {
    /// One version of a store order, from a webhook or the poll.
    pub async fn woo_intake(
        &self,
        conn: &Arc<Connector>,
        order: &WooOrder,
        traceparent: Option<&str>,
    ) -> Result<Intake> {
        let name = conn.name();
        let number = order.number();
        // An order without dates has one version only: the first copy is taken in.
        let modified = order.modified().map_or(0, to_micros);
        let WooClaim::Claimed(state) = self
            .store
            .woo_claim_order(name, order.id, &number, modified)
            .await?
        else {
            return Ok(Intake::Stale);
        };
        let hash = rules::lines_hash(order);
        let changed = state.lines_hash.as_ref().is_some_and(|h| *h != hash);
        let intake = match rules::decide(&order.status, state.order_id.as_deref(), changed) {
            rules::Decision::Nothing => Intake::Unchanged,
            rules::Decision::Exception { code, detail } => {
                self.woo_exception(
                    conn,
                    order.id,
                    &number,
                    code,
                    detail,
                    state.order_id.clone(),
                )
                .await?
            }
            rules::Decision::Cancel(id) => self.woo_cancel(conn, order, &id, traceparent).await?,
            rules::Decision::Accept => {
                let intake = self
                    .woo_accept(conn, order, modified, &hash, traceparent)
                    .await?;
                if intake == Intake::Stale {
                    // A newer version was claimed meanwhile; that one settles.
                    return Ok(intake);
                }
                intake
            }
        };
        let order_id = match &intake {
            Intake::Accepted(id) => Some(id.as_str()),
            _ => None,
        };
        self.store
            .woo_settle_order(name, order.id, modified, order_id)
            .await?;
        Ok(intake)
    }

    async fn woo_accept(
        &self,
        conn: &Arc<Connector>,
        order: &WooOrder,
        modified: i64,
        hash: &str,
        traceparent: Option<&str>,
    ) -> Result<Intake> {
        let name = conn.name();
        let policy = &conn.policy;
        let mut products: Vec<i64> = order.line_items.iter().map(|l| l.product_id).collect();
        products.sort_unstable();
        products.dedup();
        let map = self.store.woo_skus_of_products(name, &products).await?;
        let mut skus: Vec<String> = order
            .line_items
            .iter()
            .filter_map(|l| line_sku(l, &map))
            .collect();
        skus.sort();
        skus.dedup();
        let known: HashSet<String> = self
            .store
            .skus(&skus)
            .await?
            .into_iter()
            .map(|s| s.sku)
            .collect();
        let mapping = rules::to_request(order, &policy.channel, &map, &known);
        let number = order.number();
        let unmapped = mapping.unmapped.join("; ");
        if !mapping.unmapped.is_empty()
            && (policy.unmappable_lines == OnProblem::Exception || mapping.request.lines.is_empty())
        {
            return self
                .woo_exception(conn, order.id, &number, "unmapped-lines", unmapped, None)
                .await;
        }
        if mapping.request.lines.len() > MAX_LINES {
            let detail = format!(
                "{} lines; an order may have at most {MAX_LINES}",
                mapping.request.lines.len()
            );
            return self
                .woo_exception(conn, order.id, &number, "invalid-order", detail, None)
                .await;
        }
        if let Err(errors) = mapping.request.validate() {
            let detail = errors
                .iter()
                .map(|e| format!("{} {}", e.pointer, e.detail))
                .collect::<Vec<_>>()
                .join("; ");
            return self
                .woo_exception(conn, order.id, &number, "invalid-order", detail, None)
                .await;
        }
        let client_id = format!("woocommerce:{name}");
        let key = format!("woo-order-{}", order.id);
        let print = fingerprint(
            "woocommerce order",
            format!("{name}/{}", order.id).as_bytes(),
        );
        let render = |o: &Order| StoredResponse {
            status: 201,
            body: serde_json::to_string(o).unwrap_or_default(),
            location: Some(format!("/v1/orders/{}", o.id)),
        };
        let outcome = self
            .store
            .accept_order(AcceptOrder {
                id: new_id(ids::ORDER),
                client_id: &client_id,
                request: &mapping.request,
                locations: self.policies.eligible_locations(&policy.channel).to_vec(),
                erp_system: self.erp.system(),
                now: now(),
                idempotency: IdempotencyScope {
                    client_id: &client_id,
                    key: &key,
                    fingerprint: &print,
                    expires_at: self.idempotency_expiry(),
                    render: &render,
                },
                traceparent,
                backorder_shortages: policy.uncoverable_orders == OnProblem::Backorder,
                woo: Some(WooLink {
                    store: name,
                    woo_order_id: order.id,
                    modified,
                    lines_hash: hash,
                }),
            })
            .await?;
        match outcome {
            AcceptOutcome::Accepted(o) => {
                let backordered: i64 = o.lines.iter().map(|l| l.backordered).sum();
                tracing::info!(order.id = %o.id, order.channel = %o.channel, store = name, woo.order_id = order.id, order.backordered = backordered, "woocommerce order accepted");
                self.stock_moved(&o.lines.iter().map(|l| l.sku.as_str()).collect::<Vec<_>>())
                    .await;
                self.outbox_wake.notify_one();
                // Whatever held an earlier version back has been put right.
                self.store.woo_resolve_exceptions(name, order.id).await?;
                if !mapping.unmapped.is_empty() {
                    // Accepted without those lines, by policy: someone must fulfil them.
                    self.woo_exception(
                        conn,
                        order.id,
                        &number,
                        "unmapped-lines",
                        unmapped,
                        Some(o.id.clone()),
                    )
                    .await?;
                }
                Ok(Intake::Accepted(o.id))
            }
            AcceptOutcome::Insufficient(shortages) => {
                let detail = shortages
                    .iter()
                    .map(|s| {
                        format!(
                            "`{}`: {} ordered, {} available",
                            s.sku, s.requested, s.available
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                self.woo_exception(conn, order.id, &number, "insufficient-stock", detail, None)
                    .await
            }
            AcceptOutcome::UnknownSkus(skus) => {
                let detail = format!("SKU(s) not in Stockade's catalog: {}", skus.join(", "));
                self.woo_exception(conn, order.id, &number, "unmapped-lines", detail, None)
                    .await
            }
            AcceptOutcome::DuplicateExternalId(existing) => {
                if self.store.woo_order_of(name, &existing).await? == Some(order.id) {
                    return Ok(Intake::Accepted(existing));
                }
                let detail = format!(
                    "channel `{}` already has order {existing} with number {number} from elsewhere; \
                     give each store its own channel or order number prefix",
                    policy.channel
                );
                self.woo_exception(conn, order.id, &number, "duplicate-number", detail, None)
                    .await
            }
            // The same order taken in at the same moment by another path: that one won.
            AcceptOutcome::Key(KeyState::Replay(stored)) => {
                let id = serde_json::from_str::<serde_json::Value>(&stored.body)
                    .ok()
                    .and_then(|v| v.get("id")?.as_str().map(str::to_owned))
                    .ok_or_else(|| anyhow::anyhow!("stored acceptance without an order id"))?;
                Ok(Intake::Accepted(id))
            }
            AcceptOutcome::Key(KeyState::Mismatch) => {
                Err(anyhow::anyhow!("woocommerce order key {key} holds another request").into())
            }
            AcceptOutcome::Superseded => Ok(Intake::Stale),
        }
    }

    async fn woo_cancel(
        &self,
        conn: &Arc<Connector>,
        order: &WooOrder,
        id: &str,
        traceparent: Option<&str>,
    ) -> Result<Intake> {
        match self.store.cancel_order(id, now(), traceparent).await? {
            CancelOutcome::Cancelled(o) => {
                tracing::info!(order.id = %o.id, store = conn.name(), woo.order_id = order.id, woo.status = %order.status, "order cancelled by its store");
                self.stock_moved(&o.lines.iter().map(|l| l.sku.as_str()).collect::<Vec<_>>())
                    .await;
                self.outbox_wake.notify_one();
                Ok(Intake::Cancelled(o.id))
            }
            CancelOutcome::AlreadyCancelled(_) => Ok(Intake::Unchanged),
            // Money paid back after everything shipped: a return's refund (Stockade's own,
            // or one made in the store), not a cancellation.
            CancelOutcome::Shipped if order.status == "refunded" => Ok(Intake::Unchanged),
            CancelOutcome::Shipped => {
                let detail = format!(
                    "the store marked the order {} after it shipped in full; nothing was released",
                    order.status
                );
                self.woo_exception(
                    conn,
                    order.id,
                    &order.number(),
                    "closed-after-shipping",
                    detail,
                    Some(id.to_owned()),
                )
                .await
            }
            CancelOutcome::NotFound => Err(anyhow::anyhow!(
                "woocommerce order {} links to missing order {id}",
                order.id
            )
            .into()),
        }
    }

    /// `order.deleted` (moved to the bin): an accepted order is cancelled.
    pub(super) async fn woo_deleted(
        &self,
        conn: &Arc<Connector>,
        woo_order_id: i64,
        traceparent: Option<&str>,
    ) -> Result<&'static str> {
        let Some(id) = self
            .store
            .woo_linked_order(conn.name(), woo_order_id)
            .await?
        else {
            return Ok("unchanged");
        };
        let order = WooOrder {
            id: woo_order_id,
            status: "trash".into(),
            ..WooOrder::default()
        };
        Ok(self
            .woo_cancel(conn, &order, &id, traceparent)
            .await?
            .as_str())
    }

    /// Records an order a person must look at; the worker notes it on the order.
    pub(super) async fn woo_exception(
        &self,
        conn: &Arc<Connector>,
        woo_order_id: i64,
        number: &str,
        code: &'static str,
        detail: String,
        order_id: Option<String>,
    ) -> Result<Intake> {
        self.store
            .woo_record_exception(&NewWooException {
                store: conn.name().to_owned(),
                woo_order_id,
                number: number.to_owned(),
                code,
                detail,
                order_id,
            })
            .await?;
        tracing::warn!(
            store = conn.name(),
            woo.order_id = woo_order_id,
            exception.code = code,
            "woocommerce order needs attention"
        );
        conn.wake();
        Ok(Intake::Exception(code))
    }
}
