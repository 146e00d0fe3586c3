//! Available-to-sell written to the store: the channel's figure (never on-hand), through
//! the products and variations batch endpoints, at most 100 items a request, only where
//! it differs from what was last written, with `manage_stock` on.
//!
//! `stock.changed` deliveries arriving within a short window are written together: each
//! one joins the open batch, and the batch is written when the window closes or 100 SKUs
//! have joined. The figure written is read when the batch is written, not taken from the
//! event, so several changes of one SKU in a row end in one write of the newest figure.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tokio::sync::oneshot;

use super::Connector;
use super::wire::BatchAnswer;
use crate::adapters::AdapterError;
use crate::domain::availability::{degrade, summarize};
use crate::domain::quantity::Position;
use crate::domain::time::now;
use crate::store::{WooPushed, WooSku};

/// WooCommerce refuses batches of more than 100 items.
pub const MAX_BATCH: usize = 100;
/// How long the first change of a batch waits for others to join it.
pub const WINDOW: Duration = Duration::from_millis(200);

type Outcome = Result<(), AdapterError>;

/// The batch being gathered: who waits for which SKU.
#[derive(Default)]
pub(super) struct Gathering {
    /// Bumped whenever a batch leaves, so a window timer never flushes a later batch early.
    generation: u64,
    waiters: HashMap<String, Vec<oneshot::Sender<Outcome>>>,
}

fn transient(e: impl std::fmt::Display) -> AdapterError {
    AdapterError::Transient(e.to_string())
}

impl Connector {
    /// Writes the SKU's available-to-sell with whatever else changes within the window,
    /// and answers once that batch is written.
    pub async fn write_stock_soon(self: &Arc<Self>, sku: &str) -> Outcome {
        let (tell, told) = oneshot::channel();
        let full = {
            let mut g = self
                .gathering
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let opens = g.waiters.is_empty();
            g.waiters.entry(sku.to_owned()).or_default().push(tell);
            if g.waiters.len() >= MAX_BATCH {
                g.generation += 1;
                Some(std::mem::take(&mut g.waiters))
            } else {
                if opens {
                    let (me, generation) = (self.clone(), g.generation);
                    tokio::spawn(async move {
                        tokio::time::sleep(WINDOW).await;
                        me.close_window(generation);
                    });
                }
                None
            }
        };
        if let Some(batch) = full {
            self.clone().flush(batch);
        }
        told.await
            .unwrap_or_else(|_| Err(transient("the stock write was abandoned")))
    }

    fn close_window(self: Arc<Self>, generation: u64) {
        let batch = {
            let mut g = self
                .gathering
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if g.generation != generation || g.waiters.is_empty() {
                return;
            }
            g.generation += 1;
            std::mem::take(&mut g.waiters)
        };
        self.flush(batch);
    }

    fn flush(self: Arc<Self>, batch: HashMap<String, Vec<oneshot::Sender<Outcome>>>) {
        tokio::spawn(async move {
            let skus: Vec<String> = batch.keys().cloned().collect();
            let results = self.write_stock(Some(&skus)).await;
            for (sku, waiters) in batch {
                let outcome = match &results {
                    Ok(per_sku) => per_sku.get(&sku).cloned().unwrap_or(Ok(())),
                    Err(e) => Err(e.clone()),
                };
                for w in waiters {
                    let _ = w.send(outcome.clone());
                }
            }
        });
    }

    /// Writes every mapped SKU whose figure differs from what was last written: on
    /// connecting, and after the SKU map changed.
    pub async fn sync_stock(&self, skus: Option<&[String]>) -> Outcome {
        let results = self.write_stock(skus).await?;
        let failed: Vec<&AdapterError> =
            results.values().filter_map(|r| r.as_ref().err()).collect();
        match failed.first() {
            None => Ok(()),
            Some(first) => {
                tracing::warn!(store = %self.policy.name, skus.failed = failed.len(), error = %first, "woocommerce stock not written");
                Err((*first).clone())
            }
        }
    }

    /// Writes the SKUs' available-to-sell where it changed; the outcome per SKU.
    async fn write_stock(
        &self,
        skus: Option<&[String]>,
    ) -> Result<BTreeMap<String, Outcome>, AdapterError> {
        let _one_at_a_time = self.writing.lock().await;
        let name = &self.policy.name;
        let targets = self
            .store
            .woo_stock_targets(name, skus)
            .await
            .map_err(transient)?;
        let mut results: BTreeMap<String, Outcome> =
            targets.iter().map(|t| (t.sku.clone(), Ok(()))).collect();
        if targets.is_empty() {
            return Ok(results);
        }
        let wanted: Vec<String> = results.keys().cloned().collect();
        // SKUs the store sells but Stockade does not know get no figure: not Stockade's to
        // write.
        let ats = self.available_to_sell(&wanted).await?;
        let pairs: Vec<(i64, i64)> = targets
            .iter()
            .map(|t| (t.product_id, t.variation_id))
            .collect();
        let pushed: HashMap<(i64, i64), i64> = self
            .store
            .woo_pushed(name, &pairs)
            .await
            .map_err(transient)?
            .into_iter()
            .map(|p| ((p.product_id, p.variation_id), p.stock))
            .collect();
        let changes: Vec<(&WooSku, i64)> = targets
            .iter()
            .filter_map(|t| Some((t, *ats.get(&t.sku)?)))
            .filter(|(t, stock)| pushed.get(&(t.product_id, t.variation_id)) != Some(stock))
            .collect();
        let (products, variations): (Vec<_>, Vec<_>) =
            changes.into_iter().partition(|(t, _)| t.variation_id == 0);
        for chunk in products.chunks(MAX_BATCH) {
            self.write_batch("/products/batch".to_owned(), chunk, &mut results)
                .await;
        }
        // TODO: a batch's requests go one after another; one touching the variations of
        // many variable products waits on each product's request in turn.
        let mut by_parent: BTreeMap<i64, Vec<(&WooSku, i64)>> = BTreeMap::new();
        for v in variations {
            by_parent.entry(v.0.product_id).or_default().push(v);
        }
        for (parent, items) in by_parent {
            for chunk in items.chunks(MAX_BATCH) {
                let path = format!("/products/{parent}/variations/batch");
                self.write_batch(path, chunk, &mut results).await;
            }
        }
        Ok(results)
    }

    /// One batch request; what it wrote is remembered, what failed is reported per SKU.
    async fn write_batch(
        &self,
        path: String,
        items: &[(&WooSku, i64)],
        results: &mut BTreeMap<String, Outcome>,
    ) {
        let id = |t: &WooSku| {
            if t.variation_id == 0 {
                t.product_id
            } else {
                t.variation_id
            }
        };
        let update: Vec<serde_json::Value> = items
            .iter()
            .map(|(t, stock)| json!({"id": id(t), "manage_stock": true, "stock_quantity": stock}))
            .collect();
        let mut fail = |sku: &str, e: AdapterError| {
            if let Some(r) = results.get_mut(sku)
                && r.is_ok()
            {
                *r = Err(e);
            }
        };
        let answer = match self
            .client
            .send::<BatchAnswer>(Method::POST, &path, &json!({"update": update}))
            .await
        {
            Ok(answer) => answer,
            Err(e) => {
                for (t, _) in items {
                    fail(&t.sku, e.clone());
                }
                return;
            }
        };
        let errors: HashMap<i64, _> = answer
            .update
            .into_iter()
            .filter_map(|item| Some((item.id, item.error?)))
            .collect();
        let mut written = Vec::new();
        for (t, stock) in items {
            match errors.get(&id(t)) {
                None => written.push(WooPushed {
                    product_id: t.product_id,
                    variation_id: t.variation_id,
                    stock: *stock,
                }),
                // Deleted since the map was made: the map is refreshed, and the retry
                // finds nothing to write there.
                Some(e) if e.code.ends_with("invalid_id") => {
                    self.queue_refresh(t.product_id);
                    fail(
                        &t.sku,
                        transient(format!(
                            "product {} is gone; the SKU map is being refreshed",
                            t.product_id
                        )),
                    );
                }
                Some(e) => fail(
                    &t.sku,
                    AdapterError::Permanent(format!("{}: {}", e.code, e.message)),
                ),
            }
        }
        if let Err(e) = self
            .store
            .woo_set_pushed(&self.policy.name, &written, now())
            .await
        {
            // Written but not remembered: it will be written again, to the same figure.
            for w in &written {
                if let Some(t) = items
                    .iter()
                    .find(|(t, _)| (t.product_id, t.variation_id) == (w.product_id, w.variation_id))
                {
                    fail(&t.0.sku, transient(&e));
                }
            }
        }
    }

    /// The channel's available-to-sell of each SKU Stockade knows (the others are left
    /// out): the sum over its eligible locations, shaped by the channel's fallback when the
    /// figures are older than its freshness bound, exactly as `GET /v1/availability`
    /// answers it.
    pub async fn available_to_sell(
        &self,
        skus: &[String],
    ) -> Result<HashMap<String, i64>, AdapterError> {
        let known: HashSet<String> = self
            .store
            .skus(skus)
            .await
            .map_err(transient)?
            .into_iter()
            .map(|s| s.sku)
            .collect();
        let skus: Vec<String> = skus
            .iter()
            .filter(|s| known.contains(*s))
            .cloned()
            .collect();
        let skus = skus.as_slice();
        let channel = &self.policy.channel;
        let eligible: Vec<String> = self
            .policies
            .eligible_locations(channel)
            .iter()
            .map(|(l, _)| l.clone())
            .collect();
        let rows = self
            .store
            .positions(skus, &eligible)
            .await
            .map_err(transient)?;
        let mut at: HashMap<&str, HashMap<&str, Position>> = HashMap::new();
        let mut as_of = HashMap::new();
        for r in &rows {
            at.entry(r.sku.as_str())
                .or_default()
                .insert(r.location.as_str(), r.position);
            if let Some(t) = r.as_of {
                let oldest = as_of.entry(r.sku.as_str()).or_insert(t);
                *oldest = (*oldest).min(t);
            }
        }
        let policy = self.policies.channel(channel);
        let now = now();
        Ok(skus
            .iter()
            .map(|sku| {
                let figures_of = |loc: &str| at.get(sku.as_str()).and_then(|m| m.get(loc)).copied();
                let as_of = as_of.get(sku.as_str()).copied().unwrap_or(now);
                let mut a = summarize(sku, false, &eligible, figures_of, as_of);
                if let Some(c) = policy
                    && let Some(bound) = c.freshness_seconds
                    && now - as_of
                        > time::Duration::seconds(i64::try_from(bound).unwrap_or(i64::MAX))
                {
                    a = degrade(a, c.fallback.rule());
                }
                (sku.clone(), a.available_to_sell)
            })
            .collect())
    }
}
