//! The baseline for durable order acceptance: SQLite write transactions with the same
//! statements an accepted one-line order costs Stockade (claim the key, check the
//! channel's number, read the SKU and its positions, write the order, line, allocation,
//! movement and position, two outbox events, store the response), in WAL mode with
//! `synchronous = FULL`, one writer, as the embedded ledger runs.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Executor, Row};

use crate::report::{Latency, Report};

const SCHEMA: &str = "
CREATE TABLE skus (sku TEXT PRIMARY KEY, backorderable INTEGER NOT NULL);
CREATE TABLE positions (sku TEXT NOT NULL, location TEXT NOT NULL, on_hand INTEGER NOT NULL, committed INTEGER NOT NULL,
    updated_at INTEGER NOT NULL, PRIMARY KEY (sku, location));
CREATE TABLE movements (id INTEGER PRIMARY KEY AUTOINCREMENT, sku TEXT NOT NULL, location TEXT NOT NULL, kind TEXT NOT NULL,
    d_committed INTEGER NOT NULL, reference TEXT, at INTEGER NOT NULL);
CREATE TABLE orders (id TEXT PRIMARY KEY, channel TEXT NOT NULL, external_id TEXT NOT NULL, status TEXT NOT NULL,
    customer TEXT NOT NULL, created_at INTEGER NOT NULL, UNIQUE (channel, external_id));
CREATE TABLE order_lines (order_id TEXT NOT NULL, line_no INTEGER NOT NULL, sku TEXT NOT NULL, quantity INTEGER NOT NULL,
    PRIMARY KEY (order_id, line_no));
CREATE TABLE allocations (order_id TEXT NOT NULL, line_no INTEGER NOT NULL, location TEXT NOT NULL, quantity INTEGER NOT NULL,
    PRIMARY KEY (order_id, line_no, location));
CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, payload TEXT NOT NULL,
    created_at INTEGER NOT NULL);
CREATE TABLE idempotency_keys (client_id TEXT NOT NULL, key TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (client_id, key));
";

pub async fn run(dir: &Path, duration: Duration) -> anyhow::Result<Report> {
    std::fs::create_dir_all(dir)?;
    let file = dir.join("bare.db");
    let _ = std::fs::remove_file(&file);
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", file.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    pool.execute(SCHEMA).await?;
    let mut seed = pool.begin().await?;
    for i in 0..100 {
        sqlx::query("INSERT INTO skus VALUES ($1, 0)")
            .bind(format!("LOAD-{i:03}"))
            .execute(&mut *seed)
            .await?;
        sqlx::query("INSERT INTO positions VALUES ($1, 'WH-MAIN', 1000000, 0, 0)")
            .bind(format!("LOAD-{i:03}"))
            .execute(&mut *seed)
            .await?;
    }
    seed.commit().await?;

    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let started = Instant::now();
    let mut n: u64 = 0;
    while started.elapsed() < duration {
        let t = Instant::now();
        one(&pool, n).await?;
        let _ = latency.record(t.elapsed().as_micros().max(1) as u64);
        n += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Report {
        label: "bare sqlite order tx".into(),
        scenario: "sqlite-bare".into(),
        mode: "saturation".into(),
        target_rate: None,
        connections: 1,
        seconds,
        requests: n,
        ok: n,
        expected_refusals: 0,
        errors: 0,
        errors_by_kind: Default::default(),
        throughput_rps: n as f64 / seconds,
        latency_ms: Latency::from(&latency),
    })
}

async fn one(pool: &sqlx::SqlitePool, n: u64) -> anyhow::Result<()> {
    let (id, key, sku) = (
        format!("ord_{n:026}"),
        format!("key-{n}"),
        format!("LOAD-{:03}", n % 100),
    );
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::query("INSERT INTO idempotency_keys VALUES ('c', $1, 0, '') ON CONFLICT DO NOTHING")
        .bind(&key)
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT id FROM orders WHERE channel = 'web' AND external_id = $1")
        .bind(&id)
        .fetch_optional(&mut *tx)
        .await?;
    sqlx::query("SELECT sku, backorderable FROM skus WHERE sku IN ($1)")
        .bind(&sku)
        .fetch_all(&mut *tx)
        .await?;
    let row = sqlx::query("SELECT on_hand, committed FROM positions WHERE sku IN ($1) AND location IN ('WH-MAIN', '3PL-EAST')")
        .bind(&sku)
        .fetch_one(&mut *tx)
        .await?;
    let _available: i64 = row.try_get::<i64, _>(0)? - row.try_get::<i64, _>(1)?;
    sqlx::query("INSERT INTO orders VALUES ($1, 'web', $1, 'accepted', '{}', 0)")
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO order_lines VALUES ($1, 0, $2, 1)")
        .bind(&id)
        .bind(&sku)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO allocations VALUES ($1, 0, 'WH-MAIN', 1)")
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO movements (sku, location, kind, d_committed, reference, at) VALUES ($1, 'WH-MAIN', 'reservation', 1, $2, 0)")
        .bind(&sku)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO positions VALUES ($1, 'WH-MAIN', 0, 1, 0) ON CONFLICT (sku, location) \
         DO UPDATE SET committed = positions.committed + excluded.committed",
    )
    .bind(&sku)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO outbox (id, kind, payload, created_at) VALUES ($1, 'order.accepted', '{}', 0)",
    )
    .bind(format!("evt_a{n}"))
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT on_hand, committed FROM positions WHERE sku IN ($1)")
        .bind(&sku)
        .fetch_all(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO outbox (id, kind, payload, created_at) VALUES ($1, 'stock.changed', '{}', 0)",
    )
    .bind(format!("evt_s{n}"))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE idempotency_keys SET status = 201, body = '{}' WHERE client_id = 'c' AND key = $1",
    )
    .bind(&key)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
