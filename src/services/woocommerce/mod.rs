//! WooCommerce stores as channels: signed webhooks in, the order intake they share with the
//! poll, and the exceptions a person must look at.
//!
//! Every order a store sends, by webhook or poll, goes through [`Services::woo_intake`]:
//! its version (`date_modified_gmt`) is claimed first, so a repeated, late or out-of-order
//! copy changes nothing; then [`rules::decide`] says what it becomes. Acceptance is
//! idempotent on (store, order id), so no path ever creates a second order.

use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::Services;
use crate::adapters::woocommerce::Connector;
use crate::adapters::woocommerce::wire::Order as WooOrder;
use crate::domain::time::now;
use crate::error::{Error, Result};
use crate::store::{WooDelivery, WooException, WooExceptionQuery};

mod intake;
pub mod rules;
mod worker;

pub use worker::spawn;

/// A webhook delivery as the handler hands it over: the raw body and the headers that
/// matter, nothing parsed yet.
#[derive(Debug, Clone, Default)]
pub struct WebhookDelivery {
    pub signature: Option<String>,
    pub topic: Option<String>,
    pub delivery_id: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    /// The unsigned ping a store sends when a webhook is saved.
    Ping,
    /// Recorded and processed.
    Processed,
    /// This delivery id was received before.
    Duplicate,
    /// Recorded; processing failed for a passing reason and is retried in the background.
    Queued,
}

/// What the store is answered: always 2xx once the delivery is recorded, since a store
/// disables a webhook whose deliveries keep failing.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"delivery_id": "3f1c0a6e-9a4b-4df2-8d8e-0c6f9d1d2b7a", "status": "processed", "outcome": "accepted"}))]
pub struct WebhookReceipt {
    pub delivery_id: Option<String>,
    pub status: ReceiptStatus,
    /// For a processed order: `accepted`, `cancelled`, `unchanged`, `stale`, `exception`;
    /// for products: `refresh_queued`, `forgotten`; otherwise `ignored`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
}

/// What the intake did with one version of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intake {
    Accepted(String),
    Cancelled(String),
    /// Nothing Stockade acts on changed.
    Unchanged,
    /// This version, or a newer one, was taken in before.
    Stale,
    Exception(&'static str),
}

impl Intake {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Accepted(_) => "accepted",
            Self::Cancelled(_) => "cancelled",
            Self::Unchanged => "unchanged",
            Self::Stale => "stale",
            Self::Exception(_) => "exception",
        }
    }
}

/// WooCommerce's save-time ping: `webhook_id=<n>`, unsigned, form-encoded (or with no
/// content type at all, as some WordPress versions send it).
fn is_ping(d: &WebhookDelivery) -> bool {
    let form = d
        .content_type
        .as_deref()
        .is_none_or(|c| c.starts_with("application/x-www-form-urlencoded"));
    let body = std::str::from_utf8(&d.body).unwrap_or("");
    form && body
        .strip_prefix("webhook_id=")
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

impl Services {
    fn connector(&self, store: &str) -> Result<&Arc<Connector>> {
        self.woocommerce.get(store).ok_or_else(|| Error::NotFound {
            kind: "store",
            id: store.to_owned(),
        })
    }

    /// A delivery to `POST /v1/webhooks/woocommerce/{store}`. The signature is checked
    /// over the raw bytes before anything is read from them; a delivery with a valid one
    /// is recorded, then processed, and answered 2xx whatever happens to its order.
    pub async fn woocommerce_webhook(
        &self,
        store: &str,
        d: WebhookDelivery,
        traceparent: Option<&str>,
    ) -> Result<WebhookReceipt> {
        let conn = self.connector(store)?.clone();
        let Some(signature) = d.signature.as_deref() else {
            if is_ping(&d) {
                tracing::info!(store, "woocommerce webhook ping");
                return Ok(WebhookReceipt {
                    delivery_id: None,
                    status: ReceiptStatus::Ping,
                    outcome: None,
                });
            }
            return Err(Error::WebhookSignature("no X-WC-Webhook-Signature header"));
        };
        if !conn.verify(&d.body, signature) {
            return Err(Error::WebhookSignature(
                "X-WC-Webhook-Signature does not match the body under this store's secret",
            ));
        }
        let header_id = d.delivery_id.filter(|id| !id.trim().is_empty());
        // WooCommerce derives the delivery id from the webhook and the current second, so
        // two different deliveries within a second share it: a repeat is the same id with
        // the same body.
        let digest = hex::encode(&Sha256::digest(&d.body)[..16]);
        let delivery = WooDelivery {
            store: store.to_owned(),
            delivery_id: format!("{}:{digest}", header_id.as_deref().unwrap_or("-")),
            topic: d.topic.unwrap_or_default(),
            payload: String::from_utf8_lossy(&d.body).into_owned(),
        };
        if !self.store.woo_record_delivery(&delivery, now()).await? {
            return Ok(WebhookReceipt {
                delivery_id: header_id,
                status: ReceiptStatus::Duplicate,
                outcome: None,
            });
        }
        let (status, outcome) = match self.woo_process(&conn, &delivery, traceparent).await {
            Ok(outcome) => (ReceiptStatus::Processed, Some(outcome)),
            Err(e) => {
                tracing::warn!(store, delivery.id = %delivery.delivery_id, error = %e, "woocommerce delivery kept for a retry");
                (ReceiptStatus::Queued, None)
            }
        };
        Ok(WebhookReceipt {
            delivery_id: header_id,
            status,
            outcome,
        })
    }

    /// Processes a recorded delivery and marks it processed.
    pub(crate) async fn woo_process(
        &self,
        conn: &Arc<Connector>,
        d: &WooDelivery,
        traceparent: Option<&str>,
    ) -> Result<&'static str> {
        let outcome = self.woo_apply(conn, d, traceparent).await?;
        self.store
            .woo_delivery_processed(&d.store, &d.delivery_id, now())
            .await?;
        Ok(outcome)
    }

    async fn woo_apply(
        &self,
        conn: &Arc<Connector>,
        d: &WooDelivery,
        traceparent: Option<&str>,
    ) -> Result<&'static str> {
        let field = |name: &str| {
            serde_json::from_str::<serde_json::Value>(&d.payload)
                .ok()
                .and_then(|v| v.get(name).and_then(serde_json::Value::as_i64))
        };
        let id_of = || field("id");
        match d.topic.as_str() {
            "order.created" | "order.updated" | "order.restored" => {
                match serde_json::from_str::<WooOrder>(&d.payload) {
                    Ok(order) => Ok(self.woo_intake(conn, &order, traceparent).await?.as_str()),
                    Err(e) => {
                        // Signed by the store, so not an attacker's: a store (or a plugin
                        // of it) sending shapes Stockade cannot read needs a person.
                        tracing::warn!(store = %d.store, delivery.id = %d.delivery_id, error = %e, "woocommerce order unreadable");
                        self.woo_exception(
                            conn,
                            id_of().unwrap_or(0),
                            "",
                            "unreadable-order",
                            format!("delivery {} could not be read: {e}", d.delivery_id),
                            None,
                        )
                        .await?;
                        Ok("exception")
                    }
                }
            }
            "order.deleted" => match id_of() {
                Some(id) => self.woo_deleted(conn, id, traceparent).await,
                None => Ok("ignored"),
            },
            "product.created" | "product.updated" | "product.restored" => {
                // A variation's change is read with its product, whose map holds it.
                let product = field("parent_id").filter(|p| *p > 0).or_else(id_of);
                if let Some(id) = product.filter(|_| conn.has_api()) {
                    conn.queue_refresh(id);
                    return Ok("refresh_queued");
                }
                Ok("ignored")
            }
            "product.deleted" => match (field("parent_id").filter(|p| *p > 0), id_of()) {
                (Some(parent), _) if conn.has_api() => {
                    conn.queue_refresh(parent);
                    Ok("refresh_queued")
                }
                (_, Some(id)) => {
                    conn.forget_product(id)
                        .await
                        .map_err(|e| anyhow::anyhow!(e))?;
                    Ok("forgotten")
                }
                _ => Ok("ignored"),
            },
            _ => Ok("ignored"),
        }
    }

    pub async fn woocommerce_exceptions(
        &self,
        query: &WooExceptionQuery,
    ) -> Result<Vec<WooException>> {
        Ok(self.store.woo_exceptions(query).await?)
    }
}
