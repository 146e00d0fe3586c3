//! The SQL store: one implementation over sqlx's `Any` driver, so that SQLite (embedded)
//! and PostgreSQL (scaled out) run the same statements. Where the two must differ (how a
//! write transaction takes its locks), [`Dialect`] says so in one place.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Executor, Transaction};
use time::OffsetDateTime;

use super::*;
use crate::domain::audit::{AuditEntry, AuditRecord};
use crate::domain::events::Event;
use crate::domain::order::{ErpState, Order};
use crate::domain::shipment::Shipment;

mod audit;
mod events;
mod idempotency;
mod ledger;
mod orders;
mod returns;

type Tx = Transaction<'static, sqlx::Any>;

/// How the SQL differs between backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    #[expect(
        dead_code,
        reason = "constructed once the PostgreSQL backend opens its pool"
    )]
    Postgres,
}

impl Dialect {
    /// Suffix for a read whose rows the transaction will then update. SQLite's write
    /// transactions already hold the database's write lock; PostgreSQL locks the rows.
    pub(crate) fn for_update(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE",
        }
    }
}

/// Tuning for the embedded SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteSettings {
    /// `full` survives power loss; `normal` survives a killed process only.
    pub synchronous: String,
    pub read_connections: u32,
}

impl Default for SqliteSettings {
    fn default() -> Self {
        Self {
            synchronous: "full".into(),
            read_connections: 4,
        }
    }
}

/// The store over SQLite or PostgreSQL.
#[derive(Clone)]
pub struct SqlStore {
    read: AnyPool,
    /// SQLite has one writer at a time; a pool of one connection queues writers in
    /// process instead of letting them spin on `SQLITE_BUSY`. On PostgreSQL it is the same
    /// pool as `read`.
    write: AnyPool,
    dialect: Dialect,
}

impl SqlStore {
    /// Opens (creating if needed) `stockade.db` in `data_dir`, in WAL mode, and migrates it.
    pub async fn open_sqlite(data_dir: &Path, settings: &SqliteSettings) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        let file = data_dir.join("stockade.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let options = AnyConnectOptions::from_str(&url)?;
        let synchronous = match settings.synchronous.as_str() {
            "normal" => "NORMAL",
            _ => "FULL",
        };
        let pragmas = format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;"
        );
        let pool = |max: u32| {
            let pragmas = pragmas.clone();
            AnyPoolOptions::new()
                .max_connections(max)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(move |conn, _| {
                    let pragmas = pragmas.clone();
                    Box::pin(async move {
                        conn.execute(pragmas.as_str()).await?;
                        Ok(())
                    })
                })
                .connect_with(options.clone())
        };
        let write = pool(1).await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = pool(settings.read_connections.max(1)).await?;
        Ok(Self {
            read,
            write,
            dialect: Dialect::Sqlite,
        })
    }

    /// Starts a write transaction that holds its locks from the first statement: SQLite's
    /// `BEGIN IMMEDIATE` takes the write lock up front, so a transaction never has to
    /// upgrade a read lock (the classic source of `SQLITE_BUSY` deadlocks).
    async fn begin_write(&self) -> StoreResult<Tx> {
        Ok(match self.dialect {
            Dialect::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.write.begin().await?,
        })
    }
}

/// `$first, $first+1, …` for `n` values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    crate::domain::time::to_micros(t)
}

pub(crate) fn instant(us: i64) -> OffsetDateTime {
    crate::domain::time::from_micros(us)
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

#[async_trait]
impl Store for SqlStore {
    async fn sync_locations(&self, locations: &[LocationDef]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for l in locations {
            sqlx::query(
                "INSERT INTO locations (code, name) VALUES ($1, $2) \
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name",
            )
            .bind(&l.code)
            .bind(&l.name)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn catalog_is_empty(&self) -> StoreResult<bool> {
        let row: Option<(String,)> = sqlx::query_as("SELECT sku FROM skus LIMIT 1")
            .fetch_optional(&self.read)
            .await?;
        Ok(row.is_none())
    }

    async fn upsert_skus(&self, skus: &[SkuDef]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for s in skus {
            ledger::upsert_sku(&mut tx, s, micros(OffsetDateTime::now_utc())).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn import_stock(
        &self,
        rows: &[StockRow],
        source: &str,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> StoreResult<ImportSummary> {
        let mut tx = self.begin_write().await?;
        let summary = ledger::import(&mut tx, rows, source, progress).await?;
        tx.commit().await?;
        Ok(summary)
    }

    async fn skus(&self, skus: &[String]) -> StoreResult<Vec<SkuInfo>> {
        let mut conn = self.read.acquire().await?;
        ledger::skus(&mut conn, skus).await
    }

    async fn positions(
        &self,
        skus: &[String],
        locations: &[String],
    ) -> StoreResult<Vec<PositionRow>> {
        let mut conn = self.read.acquire().await?;
        ledger::positions(&mut conn, skus, locations, "").await
    }

    async fn idempotency_key(
        &self,
        client_id: &str,
        key: &str,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<KeyState>> {
        let mut conn = self.read.acquire().await?;
        idempotency::lookup(&mut conn, client_id, key, fingerprint, now).await
    }

    async fn purge_idempotency_keys(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at < $1")
            .bind(micros(now))
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }

    async fn accept_order(&self, cmd: AcceptOrder<'_>) -> StoreResult<AcceptOutcome> {
        let mut tx = self.begin_write().await?;
        let outcome = orders::accept(&mut tx, self.dialect, &cmd).await?;
        finish(tx, matches!(outcome, AcceptOutcome::Accepted(_))).await?;
        Ok(outcome)
    }

    async fn order(&self, id: &str) -> StoreResult<Option<Order>> {
        let mut conn = self.read.acquire().await?;
        orders::load(&mut conn, id).await
    }

    async fn orders_by_external_id(
        &self,
        external_id: &str,
        channels: &[String],
    ) -> StoreResult<Vec<Order>> {
        let mut conn = self.read.acquire().await?;
        orders::by_external_id(&mut conn, external_id, channels).await
    }

    async fn cancel_order(&self, id: &str, now: OffsetDateTime) -> StoreResult<CancelOutcome> {
        let mut tx = self.begin_write().await?;
        let outcome = orders::cancel(&mut tx, self.dialect, id, now).await?;
        finish(tx, matches!(outcome, CancelOutcome::Cancelled(_))).await?;
        Ok(outcome)
    }

    async fn set_erp_state(
        &self,
        id: &str,
        state: ErpState,
        reference: Option<&str>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        orders::set_erp_state(
            &mut tx,
            id,
            state,
            reference,
            micros(OffsetDateTime::now_utc()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn orders_awaiting_erp(&self, limit: u32) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM orders WHERE erp_state = 'pending' AND status <> 'cancelled' \
             ORDER BY created_at LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn shipments(&self, order_id: &str) -> StoreResult<Vec<Shipment>> {
        let mut conn = self.read.acquire().await?;
        orders::shipments(&mut conn, order_id).await
    }

    async fn authorize_return(&self, cmd: AuthorizeReturn<'_>) -> StoreResult<AuthorizeOutcome> {
        let mut tx = self.begin_write().await?;
        let outcome = returns::authorize(&mut tx, self.dialect, &cmd).await?;
        finish(tx, matches!(outcome, AuthorizeOutcome::Authorized(_))).await?;
        Ok(outcome)
    }

    async fn rma(&self, id: &str) -> StoreResult<Option<RmaRecord>> {
        let mut conn = self.read.acquire().await?;
        returns::load(&mut conn, id).await
    }

    async fn set_rma_refunded(&self, id: &str, reference: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE rmas SET status = 'refunded', refund_reference = $2, updated_at = $3 \
             WHERE id = $1 AND status = 'received'",
        )
        .bind(id)
        .bind(reference)
        .bind(micros(OffsetDateTime::now_utc()))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn rmas_awaiting_refund(&self, limit: u32) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM rmas WHERE status = 'received' ORDER BY updated_at LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn apply_event(&self, event: &Event, ctx: &EventContext) -> StoreResult<EventOutcome> {
        let mut tx = self.begin_write().await?;
        let outcome = events::apply(&mut tx, self.dialect, event, ctx).await?;
        finish(tx, matches!(outcome, EventOutcome::Applied(_))).await?;
        Ok(outcome)
    }

    async fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        audit::append(&mut tx, self.dialect, entries).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn audit_page(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let mut conn = self.read.acquire().await?;
        audit::page(&mut conn, query).await
    }

    async fn audit_chain(&self, after: i64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        let mut conn = self.read.acquire().await?;
        audit::chain(&mut conn, after, limit).await
    }

    async fn ledger_fold(&self) -> StoreResult<Vec<PositionRow>> {
        let mut conn = self.read.acquire().await?;
        ledger::fold(&mut conn).await
    }

    async fn all_positions(&self) -> StoreResult<Vec<PositionRow>> {
        let mut conn = self.read.acquire().await?;
        ledger::all_positions(&mut conn).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read.acquire().await?.execute("SELECT 1").await?;
        Ok(())
    }
}

/// Commits when the outcome changed something, rolls back otherwise: a refused order or a
/// rejected event must leave no trace, not even a processed-event marker.
async fn finish(tx: Tx, commit: bool) -> StoreResult<()> {
    if commit {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(())
}

/// Shorthand for the connection inside a transaction.
pub(crate) fn conn(tx: &mut Tx) -> &mut AnyConnection {
    tx
}
