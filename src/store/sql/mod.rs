//! The SQL store: one implementation over sqlx's `Any` driver, so that SQLite (embedded)
//! and PostgreSQL (scaled out) run the same statements. Where the two must differ (how a
//! write transaction takes its locks), [`Dialect`] says so in one place.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Executor, Transaction};
use time::OffsetDateTime;

use super::{StoreError, StoreResult};

mod audit;
mod events;
mod idempotency;
mod ledger;
mod orders;
mod outbox;
mod projection;
mod reconcile;
mod returns;
mod store;
mod timeline;
mod woocommerce;

type Tx = Transaction<'static, sqlx::Any>;

/// How many times a write transaction is retried after a serialization failure, a
/// deadlock or a lost race on a unique key.
const MAX_ATTEMPTS: u32 = 6;

/// How the SQL differs between backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
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

    /// Serializes stock imports (and the demo seeding two instances may start at once):
    /// an import replaces absolute figures, so two must not interleave.
    pub(crate) fn import_lock(self) -> Option<&'static str> {
        match self {
            Self::Sqlite => None,
            Self::Postgres => Some("SELECT 1 AS locked FROM pg_advisory_xact_lock(727302)"),
        }
    }

    /// Suffix that lets several instances take different rows of the same queue at once.
    pub(crate) fn skip_locked(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// A statement that serializes appends to the audit chain for the rest of the
    /// transaction. On PostgreSQL, two instances appending at once must not both read the
    /// same chain head; SQLite's write lock already guarantees that.
    pub(crate) fn chain_lock(self) -> Option<&'static str> {
        match self {
            Self::Sqlite => None,
            Self::Postgres => Some("SELECT 1 AS locked FROM pg_advisory_xact_lock(727301)"),
        }
    }
}

/// How much of the SQLite file is read through a memory map.
const MMAP_BYTES: u64 = 4 << 30;

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
        let options =
            AnyConnectOptions::from_str(&format!("sqlite://{}?mode=rwc", file.display()))?;
        let synchronous = if settings.synchronous == "normal" {
            "NORMAL"
        } else {
            "FULL"
        };
        // Reads go through a memory map of the file (one copy, shared by every connection
        // and reclaimable by the kernel) rather than a read call per page, so a large
        // catalog costs about what a small one does; the page cache per connection grows
        // on demand to 64 MiB, which keeps a bulk import from thrashing its indexes.
        let pragmas = format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
             PRAGMA mmap_size = {MMAP_BYTES}; PRAGMA cache_size = -65536;"
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

    /// Connects to PostgreSQL and migrates it. Several gateway instances may share it;
    /// migrations take sqlx's advisory lock, so two instances starting at once are safe.
    pub async fn open_postgres(url: &str, pool_size: u32) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(pool_size.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self {
            read: pool.clone(),
            write: pool,
            dialect: Dialect::Postgres,
        })
    }

    /// Starts a write transaction that holds its locks from the first statement: SQLite's
    /// `BEGIN IMMEDIATE` takes the write lock up front, so a transaction never has to
    /// upgrade a read lock (the classic source of `SQLITE_BUSY` deadlocks). PostgreSQL runs
    /// at READ COMMITTED and locks the rows it will change (`FOR UPDATE`).
    async fn begin_write(&self) -> StoreResult<Tx> {
        Ok(match self.dialect {
            Dialect::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.write.begin().await?,
        })
    }
}

/// Runs `$body` (which uses the transaction `$tx`) in a write transaction, commits when
/// `$commit(&outcome)` says so and rolls back otherwise, and runs it again from the start
/// when the database reports a conflict that a retry resolves.
macro_rules! write_tx {
    ($store:expr, |$tx:ident| $body:expr, $commit:expr) => {{
        let mut attempt = 1;
        loop {
            let mut $tx = $store.begin_write().await?;
            let result = $body;
            let result = match result {
                Ok(outcome) => {
                    let done = if ($commit)(&outcome) {
                        $tx.commit().await
                    } else {
                        $tx.rollback().await
                    };
                    done.map(|()| outcome)
                        .map_err($crate::store::StoreError::from)
                }
                Err(e) => Err(e),
            };
            match result {
                Err(e)
                    if attempt < $crate::store::sql::MAX_ATTEMPTS
                        && $crate::store::sql::retryable(&e) =>
                {
                    $crate::store::sql::back_off(attempt).await;
                    attempt += 1;
                }
                other => break other,
            }
        }
    }};
}
pub(crate) use write_tx;

/// Serialization failures, deadlocks and unique-key races (PostgreSQL), and a busy
/// database (SQLite): the transaction did nothing, and running it again is safe.
pub(crate) fn retryable(e: &StoreError) -> bool {
    let StoreError::Database(sqlx::Error::Database(db)) = e else {
        return false;
    };
    matches!(
        db.code().as_deref(),
        Some("40001" | "40P01" | "23505" | "5" | "6" | "517" | "2067")
    )
}

pub(crate) async fn back_off(attempt: u32) {
    let base = 2_u64.pow(attempt.min(6));
    let jitter: u64 = rand::random_range(0..=base);
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
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

/// Shorthand for the connection inside a transaction.
pub(crate) fn conn(tx: &mut Tx) -> &mut AnyConnection {
    tx
}
