//! WooCommerce stores: deliveries, order versions, the SKU map, stock written, cursors,
//! exceptions and refunds.

use async_trait::async_trait;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{SqlStore, conn, instant, micros, placeholders, write_tx};
use crate::domain::ids::new_id;
use crate::store::{
    NewWooException, StoreError, StoreResult, WooClaim, WooDelivery, WooException,
    WooExceptionQuery, WooLink, WooOrderState, WooPushed, WooSku, WooStore,
};

/// Links the order being accepted to its store order, if the version being acted on is
/// still the newest claimed. False: a newer version came in, and the acceptance must not
/// happen.
pub(crate) async fn link_order(
    c: &mut AnyConnection,
    link: &WooLink<'_>,
    order_id: &str,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE woo_orders SET order_id = $3, lines_hash = $4, settled = 1 \
         WHERE store = $1 AND woo_order_id = $2 AND modified = $5 AND order_id IS NULL",
    )
    .bind(link.store)
    .bind(link.woo_order_id)
    .bind(order_id)
    .bind(link.lines_hash)
    .bind(link.modified)
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// `(product, variation)` pairs as `(p = $n AND v = $n+1) OR …` with their binds.
fn pairs_filter(first: usize, n: usize) -> String {
    (0..n)
        .map(|i| {
            let p = first + 2 * i;
            format!("(product_id = ${p} AND variation_id = ${})", p + 1)
        })
        .collect::<Vec<_>>()
        .join(" OR ")
}

fn exception(r: &sqlx::any::AnyRow) -> StoreResult<WooException> {
    Ok(WooException {
        id: r.try_get("id")?,
        store: r.try_get("store")?,
        woo_order_id: r.try_get("woo_order_id")?,
        number: r.try_get("number")?,
        code: r.try_get("code")?,
        detail: r.try_get("detail")?,
        order_id: r.try_get("order_id")?,
        noted: r.try_get::<i64, _>("noted")? != 0,
        created_at: instant(r.try_get("created_at")?),
        updated_at: instant(r.try_get("updated_at")?),
    })
}

fn sku_row(r: &sqlx::any::AnyRow) -> StoreResult<WooSku> {
    Ok(WooSku {
        product_id: r.try_get("product_id")?,
        variation_id: r.try_get("variation_id")?,
        sku: r.try_get("sku")?,
        writes_stock: r.try_get::<i64, _>("writes_stock")? != 0,
    })
}

/// SQL binds are limited per statement; lists are written and read in slices of this.
const CHUNK: usize = 200;

#[async_trait]
impl WooStore for SqlStore {
    async fn woo_record_delivery(&self, d: &WooDelivery, now: OffsetDateTime) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO woo_deliveries (store, delivery_id, topic, payload, received_at, processed_at) \
             VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT (store, delivery_id) DO NOTHING",
        )
        .bind(&d.store)
        .bind(&d.delivery_id)
        .bind(&d.topic)
        .bind(&d.payload)
        .bind(micros(now))
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn woo_delivery_processed(
        &self,
        store: &str,
        delivery_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE woo_deliveries SET processed_at = $3, payload = '' \
             WHERE store = $1 AND delivery_id = $2",
        )
        .bind(store)
        .bind(delivery_id)
        .bind(micros(now))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn woo_unprocessed(
        &self,
        store: &str,
        before: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<WooDelivery>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT delivery_id, topic, payload FROM woo_deliveries \
             WHERE store = $1 AND processed_at IS NULL AND received_at < $2 \
             ORDER BY received_at LIMIT $3",
        )
        .bind(store)
        .bind(micros(before))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(delivery_id, topic, payload)| WooDelivery {
                store: store.to_owned(),
                delivery_id,
                topic,
                payload,
            })
            .collect())
    }

    async fn woo_purge_deliveries(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM woo_deliveries WHERE processed_at IS NOT NULL AND received_at < $1",
        )
        .bind(micros(before))
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected())
    }

    async fn woo_claim_order(
        &self,
        store: &str,
        woo_order_id: i64,
        number: &str,
        modified: i64,
    ) -> StoreResult<WooClaim> {
        let now = micros(OffsetDateTime::now_utc());
        write_tx!(
            self,
            |tx| {
                async {
                let c = conn(&mut tx);
                // One statement decides and records, so of two versions arriving at once
                // the older can never overwrite the newer.
                let newer = sqlx::query(
                    "INSERT INTO woo_orders (store, woo_order_id, number, order_id, modified, settled, \
                     lines_hash, updated_at) VALUES ($1, $2, $3, NULL, $4, 0, NULL, $5) \
                     ON CONFLICT (store, woo_order_id) DO UPDATE SET modified = excluded.modified, \
                     settled = 0, number = excluded.number, updated_at = excluded.updated_at \
                     WHERE woo_orders.modified < excluded.modified",
                )
                .bind(store)
                .bind(woo_order_id)
                .bind(number)
                .bind(modified)
                .bind(now)
                .execute(&mut *c)
                .await?;
                let row = sqlx::query(
                    "SELECT order_id, lines_hash, modified, settled FROM woo_orders \
                     WHERE store = $1 AND woo_order_id = $2",
                )
                .bind(store)
                .bind(woo_order_id)
                .fetch_one(&mut *c)
                .await?;
                // The same version, claimed before but never settled: a process stopped
                // half way, or a delivery raced the poll. Acting again is safe: every
                // effect is idempotent.
                let unsettled = row.try_get::<i64, _>("modified")? == modified
                    && row.try_get::<i64, _>("settled")? == 0;
                if newer.rows_affected() == 0 && !unsettled {
                    return Ok::<_, StoreError>(WooClaim::Stale);
                }
                Ok(WooClaim::Claimed(WooOrderState {
                    order_id: row.try_get("order_id")?,
                    lines_hash: row.try_get("lines_hash")?,
                }))
            }
            .await
            },
            |_: &_| true
        )
    }

    async fn woo_settle_order(
        &self,
        store: &str,
        woo_order_id: i64,
        modified: i64,
        order_id: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE woo_orders SET settled = 1, order_id = COALESCE($4, order_id) \
             WHERE store = $1 AND woo_order_id = $2 AND modified = $3",
        )
        .bind(store)
        .bind(woo_order_id)
        .bind(modified)
        .bind(order_id)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn woo_order_of(&self, store: &str, order_id: &str) -> StoreResult<Option<i64>> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT woo_order_id FROM woo_orders WHERE store = $1 AND order_id = $2",
        )
        .bind(store)
        .bind(order_id)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|(id,)| id))
    }

    async fn woo_linked_order(
        &self,
        store: &str,
        woo_order_id: i64,
    ) -> StoreResult<Option<String>> {
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT order_id FROM woo_orders WHERE store = $1 AND woo_order_id = $2",
        )
        .bind(store)
        .bind(woo_order_id)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.and_then(|(id,)| id))
    }

    async fn woo_record_exception(&self, e: &NewWooException) -> StoreResult<()> {
        let now = micros(OffsetDateTime::now_utc());
        // A changed detail is news: it is noted on the order again.
        sqlx::query(
            "INSERT INTO woo_exceptions (id, store, woo_order_id, number, code, detail, order_id, noted, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8) \
             ON CONFLICT (store, woo_order_id, code) DO UPDATE SET updated_at = excluded.updated_at, \
             order_id = COALESCE(excluded.order_id, woo_exceptions.order_id), \
             noted = CASE WHEN woo_exceptions.detail = excluded.detail THEN woo_exceptions.noted ELSE 0 END, \
             detail = excluded.detail",
        )
        .bind(new_id("wex"))
        .bind(&e.store)
        .bind(e.woo_order_id)
        .bind(&e.number)
        .bind(e.code)
        .bind(&e.detail)
        .bind(&e.order_id)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn woo_resolve_exceptions(&self, store: &str, woo_order_id: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM woo_exceptions WHERE store = $1 AND woo_order_id = $2 AND order_id IS NULL",
        )
        .bind(store)
        .bind(woo_order_id)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected())
    }

    async fn woo_exceptions(&self, q: &WooExceptionQuery) -> StoreResult<Vec<WooException>> {
        let mut conditions = Vec::new();
        let mut binds: Vec<&str> = Vec::new();
        for (column, value) in [
            ("store =", &q.store),
            ("code =", &q.code),
            ("id >", &q.after),
        ] {
            if let Some(v) = value {
                binds.push(v.as_str());
                conditions.push(format!("{column} ${}", binds.len()));
            }
        }
        if q.unnoted {
            conditions.push("noted = 0".to_owned());
        }
        let filter = if conditions.is_empty() {
            "true".to_owned()
        } else {
            conditions.join(" AND ")
        };
        let sql = format!(
            "SELECT id, store, woo_order_id, number, code, detail, order_id, noted, created_at, updated_at \
             FROM woo_exceptions WHERE {filter} ORDER BY id LIMIT ${}",
            binds.len() + 1
        );
        let mut query = sqlx::query(&sql);
        for b in binds {
            query = query.bind(b);
        }
        let rows = query.bind(i64::from(q.limit)).fetch_all(&self.read).await?;
        rows.iter().map(exception).collect()
    }

    async fn woo_exception_noted(&self, id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE woo_exceptions SET noted = 1 WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn woo_replace_skus(
        &self,
        store: &str,
        products: Option<&[i64]>,
        rows: &[WooSku],
    ) -> StoreResult<()> {
        write_tx!(
            self,
            |tx| {
                async {
                let c = conn(&mut tx);
                match products {
                    None => {
                        sqlx::query("DELETE FROM woo_skus WHERE store = $1")
                            .bind(store)
                            .execute(&mut *c)
                            .await?;
                    }
                    Some(ids) => {
                        for chunk in ids.chunks(CHUNK) {
                            let sql = format!(
                                "DELETE FROM woo_skus WHERE store = $1 AND product_id IN ({})",
                                placeholders(2, chunk.len())
                            );
                            let mut q = sqlx::query(&sql).bind(store);
                            for id in chunk {
                                q = q.bind(*id);
                            }
                            q.execute(&mut *c).await?;
                        }
                    }
                }
                for chunk in rows.chunks(CHUNK) {
                    let values: Vec<String> = (0..chunk.len())
                        .map(|i| format!("($1, {})", placeholders(2 + 4 * i, 4)))
                        .collect();
                    let sql = format!(
                        "INSERT INTO woo_skus (store, product_id, variation_id, sku, writes_stock) VALUES {}",
                        values.join(", ")
                    );
                    let mut q = sqlx::query(&sql).bind(store);
                    for r in chunk {
                        q = q
                            .bind(r.product_id)
                            .bind(r.variation_id)
                            .bind(&r.sku)
                            .bind(i64::from(r.writes_stock));
                    }
                    q.execute(&mut *c).await?;
                }
                Ok::<_, StoreError>(())
            }
            .await
            },
            |_: &_| true
        )
    }

    async fn woo_skus_of_products(
        &self,
        store: &str,
        products: &[i64],
    ) -> StoreResult<Vec<WooSku>> {
        let mut out = Vec::new();
        for chunk in products.chunks(CHUNK) {
            let sql = format!(
                "SELECT product_id, variation_id, sku, writes_stock FROM woo_skus \
                 WHERE store = $1 AND product_id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(store);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&self.read).await? {
                out.push(sku_row(&r)?);
            }
        }
        Ok(out)
    }

    async fn woo_stock_targets(
        &self,
        store: &str,
        skus: Option<&[String]>,
    ) -> StoreResult<Vec<WooSku>> {
        const COLUMNS: &str = "product_id, variation_id, sku, writes_stock";
        let Some(skus) = skus else {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM woo_skus WHERE store = $1 AND writes_stock = 1 \
                 ORDER BY product_id, variation_id"
            ))
            .bind(store)
            .fetch_all(&self.read)
            .await?;
            return rows.iter().map(sku_row).collect();
        };
        let mut out = Vec::new();
        for chunk in skus.chunks(CHUNK) {
            let sql = format!(
                "SELECT {COLUMNS} FROM woo_skus WHERE store = $1 AND writes_stock = 1 AND sku IN ({}) \
                 ORDER BY product_id, variation_id",
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(store);
            for s in chunk {
                q = q.bind(s);
            }
            for r in q.fetch_all(&self.read).await? {
                out.push(sku_row(&r)?);
            }
        }
        Ok(out)
    }

    async fn woo_pushed(&self, store: &str, targets: &[(i64, i64)]) -> StoreResult<Vec<WooPushed>> {
        let mut out = Vec::new();
        for chunk in targets.chunks(CHUNK) {
            let sql = format!(
                "SELECT product_id, variation_id, stock FROM woo_pushed WHERE store = $1 AND ({})",
                pairs_filter(2, chunk.len())
            );
            let mut q = sqlx::query_as::<_, (i64, i64, i64)>(&sql).bind(store);
            for (p, v) in chunk {
                q = q.bind(*p).bind(*v);
            }
            out.extend(q.fetch_all(&self.read).await?.into_iter().map(
                |(product_id, variation_id, stock)| WooPushed {
                    product_id,
                    variation_id,
                    stock,
                },
            ));
        }
        Ok(out)
    }

    async fn woo_set_pushed(
        &self,
        store: &str,
        rows: &[WooPushed],
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let now = micros(now);
        write_tx!(
            self,
            |tx| {
                async {
                let c = conn(&mut tx);
                for chunk in rows.chunks(CHUNK) {
                    let values: Vec<String> = (0..chunk.len())
                        .map(|i| format!("($1, {}, $2)", placeholders(3 + 3 * i, 3)))
                        .collect();
                    let sql = format!(
                        "INSERT INTO woo_pushed (store, product_id, variation_id, stock, pushed_at) VALUES {} \
                         ON CONFLICT (store, product_id, variation_id) DO UPDATE SET stock = excluded.stock, \
                         pushed_at = excluded.pushed_at",
                        values.join(", ")
                    );
                    let mut q = sqlx::query(&sql).bind(store).bind(now);
                    for r in chunk {
                        q = q.bind(r.product_id).bind(r.variation_id).bind(r.stock);
                    }
                    q.execute(&mut *c).await?;
                }
                Ok::<_, StoreError>(())
            }
            .await
            },
            |_: &_| true
        )
    }

    async fn woo_forget_pushed(&self, store: &str, targets: &[(i64, i64)]) -> StoreResult<()> {
        for chunk in targets.chunks(CHUNK) {
            let sql = format!(
                "DELETE FROM woo_pushed WHERE store = $1 AND ({})",
                pairs_filter(2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(store);
            for (p, v) in chunk {
                q = q.bind(*p).bind(*v);
            }
            q.execute(&self.write).await?;
        }
        Ok(())
    }

    async fn woo_cursor(&self, store: &str) -> StoreResult<Option<i64>> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT modified_after FROM woo_cursors WHERE store = $1")
                .bind(store)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.map(|(v,)| v))
    }

    async fn woo_set_cursor(&self, store: &str, modified_after: i64) -> StoreResult<()> {
        // Never backwards: two instances polling at once may finish in either order.
        sqlx::query(
            "INSERT INTO woo_cursors (store, modified_after) VALUES ($1, $2) \
             ON CONFLICT (store) DO UPDATE SET modified_after = excluded.modified_after \
             WHERE woo_cursors.modified_after < excluded.modified_after",
        )
        .bind(store)
        .bind(modified_after)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn woo_refunded(&self, store: &str, rma_id: &str) -> StoreResult<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT sku, units FROM woo_refunds WHERE store = $1 AND rma_id = $2 ORDER BY sku",
        )
        .bind(store)
        .bind(rma_id)
        .fetch_all(&self.read)
        .await?)
    }

    async fn woo_add_refunded(
        &self,
        store: &str,
        rma_id: &str,
        units: &[(String, i64)],
    ) -> StoreResult<()> {
        write_tx!(
            self,
            |tx| {
                async {
                let c = conn(&mut tx);
                for (sku, n) in units {
                    sqlx::query(
                        "INSERT INTO woo_refunds (store, rma_id, sku, units) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (store, rma_id, sku) DO UPDATE SET units = woo_refunds.units + excluded.units",
                    )
                    .bind(store)
                    .bind(rma_id)
                    .bind(sku)
                    .bind(*n)
                    .execute(&mut *c)
                    .await?;
                }
                Ok::<_, StoreError>(())
            }
            .await
            },
            |_: &_| true
        )
    }
}
