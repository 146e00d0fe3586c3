//! WooCommerce stores as sales channels, through the REST API (wc/v3) and webhooks.
//!
//! A [`Connector`] per store declared in `stores.toml` holds what talking to that store
//! needs: its client, its webhook secret, the SKU map kept in the store, the stock writes
//! being gathered. The rules of what an order becomes live in `services::woocommerce`;
//! this module maps WooCommerce's shapes and speaks its protocol.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::Notify;

use crate::adapters::AdapterError;
use crate::policy::{Policies, StorePolicy};
use crate::store::{Store, WooSku};

pub mod catalog;
pub mod client;
pub mod outbound;
mod stock;
pub mod wire;

use client::{Client, Credentials, Page};
use wire::{Note, Order};

/// The webhook secret of the demo store while the demo policy is in use, so that the
/// walk-through in `docs/WOOCOMMERCE.md` works without configuration.
pub const DEMO_WEBHOOK_SECRET: &str = "stockade-demo-webhook-secret";

pub struct Connector {
    pub policy: StorePolicy,
    client: Client,
    webhook_secret: Vec<u8>,
    /// False when the demo store runs without API credentials: webhooks are taken in, but
    /// nothing is read from or written to the store.
    api: bool,
    store: Arc<dyn Store>,
    policies: Arc<Policies>,
    gathering: Mutex<stock::Gathering>,
    /// One stock write at a time per store: each reads what was last written, writes the
    /// difference and records it, and two overlapping would both write the same change.
    writing: tokio::sync::Mutex<()>,
    /// Products whose SKU map must be read again (a `product.*` webhook named them).
    refresh: Mutex<BTreeSet<i64>>,
    /// Wakes the store's worker: there are products to refresh or exceptions to note.
    wake: Notify,
}

impl Connector {
    /// One connector per declared store, with its secrets from the environment or files.
    /// A missing secret stops the start, except for the demo store under the demo policy,
    /// whose webhook secret has a published default and which runs without API access
    /// until its credentials are set.
    pub fn all(
        policies: &Arc<Policies>,
        store: &Arc<dyn Store>,
        http: &reqwest::Client,
    ) -> anyhow::Result<Vec<Arc<Self>>> {
        let mut out = Vec::new();
        for p in &policies.stores {
            let demo = policies.demo && p.name == "demo";
            let dir = &policies.dir;
            let read = |what: &str, env: &Option<String>, file: &Option<std::path::PathBuf>| {
                secret(dir, env, file).with_context(|| format!("store {}: {what}", p.name))
            };
            let webhook_secret = match read(
                "webhook secret",
                &p.webhook_secret_env,
                &p.webhook_secret_file,
            )? {
                Some(s) => s,
                None if demo => DEMO_WEBHOOK_SECRET.to_owned(),
                None => anyhow::bail!(
                    "store {}: the webhook secret is not set ({})",
                    p.name,
                    source(&p.webhook_secret_env)
                ),
            };
            let key = read("consumer key", &p.consumer_key_env, &p.consumer_key_file)?;
            let key_secret = read(
                "consumer secret",
                &p.consumer_secret_env,
                &p.consumer_secret_file,
            )?;
            let (credentials, api) = match (key, key_secret) {
                (Some(key), Some(secret)) => (Credentials { key, secret }, true),
                _ if demo => {
                    tracing::warn!(store = %p.name, "woocommerce demo store has no API credentials; only its webhooks are taken in");
                    (
                        Credentials {
                            key: String::new(),
                            secret: String::new(),
                        },
                        false,
                    )
                }
                _ => anyhow::bail!(
                    "store {}: the consumer key and secret must both be set ({}, {})",
                    p.name,
                    source(&p.consumer_key_env),
                    source(&p.consumer_secret_env)
                ),
            };
            out.push(Arc::new(Self {
                client: Client::new(p, credentials, http.clone()),
                policy: p.clone(),
                webhook_secret: webhook_secret.into_bytes(),
                api,
                store: store.clone(),
                policies: policies.clone(),
                gathering: Mutex::default(),
                writing: tokio::sync::Mutex::new(()),
                refresh: Mutex::default(),
                wake: Notify::new(),
            }));
        }
        Ok(out)
    }

    pub fn name(&self) -> &str {
        &self.policy.name
    }

    /// Whether Stockade may call the store's API (false only for a demo store without
    /// credentials).
    pub fn has_api(&self) -> bool {
        self.api
    }

    /// `X-WC-Webhook-Signature`: base64 of the HMAC-SHA256 of the raw body under the
    /// webhook secret, compared in constant time.
    pub fn verify(&self, body: &[u8], signature: &str) -> bool {
        verify_signature(&self.webhook_secret, body, signature)
    }

    /// Asks the worker to read this product again.
    pub fn queue_refresh(&self, product_id: i64) {
        self.refresh
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(product_id);
        self.wake.notify_one();
    }

    pub fn take_refreshes(&self) -> Vec<i64> {
        std::mem::take(
            &mut *self
                .refresh
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_iter()
        .collect()
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Reads the whole catalog into the SKU map; what the store shows that differs from
    /// what was last written is written again by the next sync. Returns the map's size.
    pub async fn discover(&self) -> Result<usize, AdapterError> {
        let mapped = catalog::discover(&self.client).await?;
        self.store
            .woo_replace_skus(self.name(), None, &mapped.rows)
            .await
            .map_err(transient)?;
        self.forget_drifted(&mapped).await?;
        Ok(mapped.rows.len())
    }

    /// Reads these products again (a `product.*` webhook named them); the SKUs whose
    /// stock targets may have changed.
    pub async fn refresh_products(&self, ids: &[i64]) -> Result<Vec<String>, AdapterError> {
        let mut skus = BTreeSet::new();
        for &asked in ids {
            let (id, mapped) = catalog::product(&self.client, asked)
                .await?
                .unwrap_or((asked, catalog::Mapped::default()));
            let before = self
                .store
                .woo_skus_of_products(self.name(), &[id])
                .await
                .map_err(transient)?;
            self.store
                .woo_replace_skus(self.name(), Some(&[id]), &mapped.rows)
                .await
                .map_err(transient)?;
            self.forget_drifted(&mapped).await?;
            skus.extend(before.into_iter().chain(mapped.rows).map(|r| r.sku));
        }
        Ok(skus.into_iter().collect())
    }

    /// The stock the store publishes now for each SKU Stockade writes there: one figure
    /// per product or variation that manages its stock. Reads the whole catalog and
    /// changes nothing.
    pub async fn published_stock(&self) -> Result<Vec<(WooSku, i64)>, AdapterError> {
        let mapped = catalog::discover(&self.client).await?;
        Ok(mapped
            .rows
            .into_iter()
            .filter(|r| r.writes_stock)
            .filter_map(|r| {
                let shown = mapped
                    .observed
                    .iter()
                    .find(|o| (o.product_id, o.variation_id) == (r.product_id, r.variation_id))?;
                Some((r, shown.stock))
            })
            .collect())
    }

    /// Writes Stockade's figure over what these products and variations show, whatever
    /// was last written there.
    pub async fn rewrite_stock(&self, targets: &[WooSku]) -> Result<(), AdapterError> {
        let pairs: Vec<(i64, i64)> = targets
            .iter()
            .map(|t| (t.product_id, t.variation_id))
            .collect();
        self.store
            .woo_forget_pushed(self.name(), &pairs)
            .await
            .map_err(transient)?;
        let mut skus: Vec<String> = targets.iter().map(|t| t.sku.clone()).collect();
        skus.sort();
        skus.dedup();
        self.sync_stock(Some(&skus)).await
    }

    /// Forgets the product's map at once (`product.deleted`).
    pub async fn forget_product(&self, id: i64) -> Result<(), AdapterError> {
        self.store
            .woo_replace_skus(self.name(), Some(&[id]), &[])
            .await
            .map_err(transient)
    }

    /// A target whose stock in the store is not what Stockade last wrote there (a shop
    /// manager changed it, or it does not manage stock) is written again: Stockade owns
    /// the sellable figure.
    // TODO: the store lowers its own figure at checkout, before the order's webhook
    // arrives; a figure read in that moment is written over with Stockade's, which drops
    // by the order's units a moment later, when the order is taken in.
    async fn forget_drifted(&self, mapped: &catalog::Mapped) -> Result<(), AdapterError> {
        let targets: Vec<(i64, i64)> = mapped
            .rows
            .iter()
            .filter(|r| r.writes_stock)
            .map(|r| (r.product_id, r.variation_id))
            .collect();
        let pushed = self
            .store
            .woo_pushed(self.name(), &targets)
            .await
            .map_err(transient)?;
        let drifted: Vec<(i64, i64)> = pushed
            .iter()
            .filter(|p| {
                !mapped.observed.iter().any(|o| {
                    (o.product_id, o.variation_id) == (p.product_id, p.variation_id)
                        && o.stock == p.stock
                })
            })
            .map(|p| (p.product_id, p.variation_id))
            .collect();
        if !drifted.is_empty() {
            self.store
                .woo_forget_pushed(self.name(), &drifted)
                .await
                .map_err(transient)?;
        }
        Ok(())
    }

    /// One page of the orders modified after `after` (GMT), oldest change first.
    pub async fn orders_page(
        &self,
        after: time::OffsetDateTime,
        page: u32,
    ) -> Result<Page<Order>, AdapterError> {
        let query = [
            ("modified_after", wire::format_gmt(after)),
            ("dates_are_gmt", "true".to_owned()),
            ("orderby", "modified".to_owned()),
            ("order", "asc".to_owned()),
        ];
        self.client.page("/orders", &query, page).await
    }

    pub async fn order(&self, id: i64) -> Result<Order, AdapterError> {
        self.client.get(&format!("/orders/{id}"), &[]).await
    }

    /// Adds a note to an order unless the same note is already there, so a retried
    /// delivery does not repeat it. A customer note is also emailed to the customer.
    pub async fn add_note(
        &self,
        order: i64,
        note: &str,
        customer: bool,
    ) -> Result<(), AdapterError> {
        let path = format!("/orders/{order}/notes");
        let notes: Vec<Note> = self.client.get(&path, &[]).await?;
        // WordPress stores `&` in notes as an entity.
        let same = |n: &Note| n.note.replace("&amp;", "&").trim() == note.trim();
        if notes.iter().any(same) {
            return Ok(());
        }
        let body = json!({"note": note, "customer_note": customer});
        self.client
            .send::<Value>(Method::POST, &path, &body)
            .await
            .map(drop)
    }

    pub async fn set_status(&self, order: i64, status: &str) -> Result<(), AdapterError> {
        let body = json!({"status": status});
        self.client
            .send::<Value>(Method::PUT, &format!("/orders/{order}"), &body)
            .await
            .map(drop)
    }

    pub async fn refund(&self, order: i64, body: &Value) -> Result<(), AdapterError> {
        self.client
            .send::<Value>(Method::POST, &format!("/orders/{order}/refunds"), body)
            .await
            .map(drop)
    }
}

/// Whether `signature` is the base64 HMAC-SHA256 of `body` under `secret`; the digests
/// are compared in constant time.
pub fn verify_signature(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Ok(claimed) = BASE64.decode(signature.trim()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    mac.verify_slice(&claimed).is_ok()
}

fn transient(e: impl std::fmt::Display) -> AdapterError {
    AdapterError::Transient(e.to_string())
}

fn source(env: &Option<String>) -> String {
    env.as_ref()
        .map_or_else(|| "its file".to_owned(), |v| format!("${v}"))
}

/// A secret from an environment variable (`None` when unset or empty) or a file relative
/// to the policy directory.
fn secret(
    dir: &Path,
    env: &Option<String>,
    file: &Option<std::path::PathBuf>,
) -> anyhow::Result<Option<String>> {
    match (env, file) {
        (Some(var), _) => Ok(std::env::var(var).ok().filter(|v| !v.trim().is_empty())),
        (None, Some(f)) => {
            let text = std::fs::read_to_string(dir.join(f))
                .with_context(|| format!("cannot read {}", dir.join(f).display()))?;
            Ok(Some(text.trim().to_owned()).filter(|s| !s.is_empty()))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_over_the_raw_bytes() {
        // WordPress escapes slashes, so the bytes differ from a re-serialised object.
        let body = br#"{"id":1,"permalink":"https:\/\/shop.example\/p\/1"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(body);
        let good = BASE64.encode(mac.finalize().into_bytes());
        assert!(verify_signature(b"secret", body, &good));
        assert!(verify_signature(b"secret", body, &format!(" {good}\n")));
        assert!(!verify_signature(b"other", body, &good));
        let reserialised =
            serde_json::to_vec(&serde_json::from_slice::<Value>(body).unwrap()).unwrap();
        assert!(!verify_signature(b"secret", &reserialised, &good));
        assert!(!verify_signature(b"secret", body, "not base64"));
        assert!(!verify_signature(b"secret", body, ""));
    }
}
