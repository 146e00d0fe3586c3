//! One background worker per store: connects (reads the catalog into the SKU map and
//! writes every changed figure), then polls orders modified since its cursor at the
//! store's interval, reads again the products `product.*` webhooks named, notes
//! exceptions on their orders, and finishes deliveries a stopped process left half done.
//!
//! A store that cannot be reached is retried with a doubling wait, one warning per try;
//! it never stops the gateway.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::Services;
use crate::adapters::AdapterError;
use crate::adapters::http::in_span;
use crate::adapters::woocommerce::Connector;
use crate::domain::time::{from_micros, now, to_micros};
use crate::store::{WooException, WooExceptionQuery};

/// How far back each poll reaches before its cursor: an order saved in the same second as
/// the newest one seen, or committed a little late, is still listed. Repeats are harmless.
const OVERLAP: time::Duration = time::Duration::seconds(60);
/// A delivery left unprocessed this long was not just being processed by its request.
const LEFT_OVER: time::Duration = time::Duration::seconds(30);
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(300);

/// Starts every store's worker. Each piece of a round is a trace of its own, which
/// every call to the store carries.
pub fn spawn(services: &Arc<Services>) {
    for conn in services.woocommerce.values() {
        tokio::spawn(run(services.clone(), conn.clone()));
    }
}

/// The span a piece of a round runs as, the root of its trace when spans are exported.
fn step(store: &str, step: &'static str) -> tracing::Span {
    tracing::debug_span!("woocommerce", store, woo.step = step)
}

/// Why a round of work stopped: the store, or Stockade's own store.
#[derive(Debug, thiserror::Error)]
enum Stopped {
    #[error("{0}")]
    Store(#[from] AdapterError),
    #[error("{0}")]
    Stockade(#[from] crate::error::Error),
}

impl From<crate::store::StoreError> for Stopped {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Stockade(e.into())
    }
}

/// A doubling wait between tries, reset by a success.
struct Backoff(Duration);

impl Backoff {
    fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(LAST_RETRY);
        wait
    }

    fn reset(&mut self) {
        self.0 = FIRST_RETRY;
    }
}

async fn run(services: Arc<Services>, conn: Arc<Connector>) {
    let store = conn.name().to_owned();
    let interval = Duration::from_secs(conn.policy.poll_interval_seconds);
    let mut backoff = Backoff(FIRST_RETRY);
    let mut connected = false;
    let mut next_poll = Instant::now();
    loop {
        if let Err(e) = in_span(
            None,
            step(&store, "leftovers"),
            services.woo_leftovers(&conn),
        )
        .await
        {
            tracing::warn!(store = %store, error = %e, "woocommerce deliveries left over not processed");
        }
        if conn.has_api() && !connected {
            match in_span(None, step(&store, "connect"), services.woo_connect(&conn)).await {
                Ok(skus) => {
                    connected = true;
                    backoff.reset();
                    tracing::info!(store = %store, woo.skus = skus, "woocommerce store connected");
                }
                Err(e) => {
                    let wait = backoff.next();
                    tracing::warn!(store = %store, retry_in_s = wait.as_secs(), error = %e, "woocommerce store unreachable");
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
        }
        if connected {
            if let Err(e) =
                in_span(None, step(&store, "refresh"), services.woo_refresh(&conn)).await
            {
                tracing::warn!(store = %store, error = %e, "woocommerce products not read again; retrying later");
            }
            if let Err(e) = in_span(
                None,
                step(&store, "exceptions"),
                services.woo_note_exceptions(&conn),
            )
            .await
            {
                tracing::warn!(store = %store, error = %e, "woocommerce exception notes not written; retrying later");
            }
            if Instant::now() >= next_poll {
                next_poll = Instant::now() + interval;
                match in_span(None, step(&store, "poll"), services.woo_poll(&conn)).await {
                    Ok(seen) => {
                        backoff.reset();
                        tracing::debug!(store = %store, woo.orders = seen, "woocommerce orders polled");
                    }
                    Err(e) => {
                        let wait = backoff.next().max(interval);
                        next_poll = Instant::now() + wait;
                        tracing::warn!(store = %store, retry_in_s = wait.as_secs(), error = %e, "woocommerce poll failed");
                    }
                }
            }
        }
        let until = if connected {
            next_poll
        } else {
            // Without API access only left-over deliveries are looked after.
            Instant::now() + interval.max(LAST_RETRY)
        };
        tokio::select! {
            () = conn.woken() => {}
            () = tokio::time::sleep_until(until) => {}
        }
    }
}

impl Services {
    /// Reads the catalog into the SKU map, starts the order cursor on first contact, and
    /// writes every figure that differs from what the store was last told.
    async fn woo_connect(&self, conn: &Arc<Connector>) -> Result<usize, Stopped> {
        let skus = conn.discover().await?;
        if self.store.woo_cursor(conn.name()).await?.is_none() {
            // Orders from before the store was connected are the store's history, not
            // Stockade's to reserve.
            self.store
                .woo_set_cursor(conn.name(), to_micros(now()))
                .await?;
        }
        // A figure that cannot be written now is written by its next change or the
        // dispatcher's retries; it does not keep the store from being connected.
        let _ = conn.sync_stock(None).await;
        Ok(skus)
    }

    /// Lists the orders modified since the cursor, page by page, through the intake; the
    /// cursor moves to the newest change seen only once every page is taken in.
    async fn woo_poll(&self, conn: &Arc<Connector>) -> Result<usize, Stopped> {
        let Some(cursor) = self.store.woo_cursor(conn.name()).await? else {
            return Ok(0);
        };
        let after = from_micros(cursor) - OVERLAP;
        let (mut newest, mut seen, mut page) = (cursor, 0, 1);
        loop {
            let p = conn.orders_page(after, page).await?;
            for order in &p.items {
                self.woo_intake(conn, order, None).await?;
                if let Some(m) = order.modified() {
                    newest = newest.max(to_micros(m));
                }
            }
            seen += p.items.len();
            if p.items.is_empty() || page >= p.total_pages {
                break;
            }
            page += 1;
        }
        self.store.woo_set_cursor(conn.name(), newest).await?;
        Ok(seen)
    }

    /// Reads again the products `product.*` webhooks named, and writes what changed.
    async fn woo_refresh(&self, conn: &Arc<Connector>) -> Result<(), Stopped> {
        let ids = conn.take_refreshes();
        if ids.is_empty() {
            return Ok(());
        }
        match conn.refresh_products(&ids).await {
            Ok(skus) => {
                // Not written now: the next change or the next refresh writes it.
                let _ = conn.sync_stock(Some(&skus)).await;
                Ok(())
            }
            Err(e) => {
                for id in ids {
                    conn.queue_refresh(id);
                }
                Err(e.into())
            }
        }
    }

    /// Adds a private note about each new exception to its order in the store.
    async fn woo_note_exceptions(&self, conn: &Arc<Connector>) -> Result<(), Stopped> {
        let query = WooExceptionQuery {
            store: Some(conn.name().to_owned()),
            unnoted: true,
            limit: 50,
            ..WooExceptionQuery::default()
        };
        for e in self.store.woo_exceptions(&query).await? {
            if e.woo_order_id <= 0 {
                self.store.woo_exception_noted(&e.id).await?;
                continue;
            }
            match conn
                .add_note(e.woo_order_id, &exception_note(&e), false)
                .await
            {
                Ok(()) => {}
                // The order is gone or the note refused: the exception is still listed.
                Err(AdapterError::Permanent(why)) => {
                    tracing::info!(store = conn.name(), woo.order_id = e.woo_order_id, error = %why, "woocommerce exception not noted on its order");
                }
                Err(other) => return Err(other.into()),
            }
            self.store.woo_exception_noted(&e.id).await?;
        }
        Ok(())
    }

    /// Deliveries recorded but never processed (the process stopped half way, or the
    /// database failed while processing).
    async fn woo_leftovers(&self, conn: &Arc<Connector>) -> Result<(), Stopped> {
        let left = self
            .store
            .woo_unprocessed(conn.name(), now() - LEFT_OVER, 100)
            .await?;
        for d in left {
            self.woo_process(conn, &d, None).await?;
        }
        Ok(())
    }
}

/// What the shop manager reads on the order.
fn exception_note(e: &WooException) -> String {
    match &e.order_id {
        Some(order) if e.code == "unmapped-lines" => format!(
            "Stockade accepted this order as {order} without some of its lines: {}. \
             Please fulfil those by hand.",
            e.detail
        ),
        Some(order) => format!(
            "Stockade order {order} needs a person ({}): {}.",
            e.code, e.detail
        ),
        None => format!(
            "Stockade could not take this order in ({}): {}. No stock is reserved for it.",
            e.code, e.detail
        ),
    }
}
