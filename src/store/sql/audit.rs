//! The audit log: appends extend the hash chain inside one write transaction.

use sqlx::{AnyConnection, Row};

use super::{Dialect, Tx, conn, instant, micros};
use crate::domain::audit::{AuditEntry, AuditRecord, GENESIS, chain_hash};
use crate::store::{AuditQuery, StoreResult};

pub(crate) async fn append(
    tx: &mut Tx,
    dialect: Dialect,
    entries: &[AuditEntry],
) -> StoreResult<()> {
    let c = conn(tx);
    if let Some(lock) = dialect.chain_lock() {
        sqlx::query(lock).execute(&mut *c).await?;
    }
    let sql = format!(
        "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1{}",
        dialect.for_update()
    );
    let last: Option<(i64, String)> = sqlx::query_as(&sql).fetch_optional(&mut *c).await?;
    let (mut seq, mut prev) = last.unwrap_or((0, GENESIS.to_owned()));
    for e in entries {
        seq += 1;
        let hash = chain_hash(&prev, e);
        sqlx::query(
            "INSERT INTO audit_log (seq, at, client_id, subject, method, route, resource_id, status, \
             request_id, idempotency_key, body_sha256, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(seq)
        .bind(micros(e.at))
        .bind(&e.client_id)
        .bind(&e.subject)
        .bind(&e.method)
        .bind(&e.route)
        .bind(&e.resource_id)
        .bind(i64::from(e.status))
        .bind(&e.request_id)
        .bind(&e.idempotency_key)
        .bind(&e.body_sha256)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *c)
        .await?;
        prev = hash;
    }
    Ok(())
}

const COLUMNS: &str = "seq, at, client_id, subject, method, route, resource_id, status, request_id, \
     idempotency_key, body_sha256, prev_hash, hash";

pub(crate) async fn page(c: &mut AnyConnection, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
    enum Bind<'a> {
        Text(&'a str),
        Int(i64),
    }
    let mut filters: Vec<(&str, &str, Bind<'_>)> = vec![("seq", ">", Bind::Int(q.after))];
    for (column, value) in [
        ("client_id", &q.client_id),
        ("route", &q.route),
        ("resource_id", &q.resource_id),
    ] {
        if let Some(v) = value {
            filters.push((column, "=", Bind::Text(v)));
        }
    }
    for (column, op, value) in [
        ("status", "=", q.status.map(i64::from)),
        ("at", ">=", q.since.map(micros)),
        ("at", "<", q.until.map(micros)),
    ] {
        if let Some(v) = value {
            filters.push((column, op, Bind::Int(v)));
        }
    }
    let conditions: Vec<String> = filters
        .iter()
        .enumerate()
        .map(|(i, (column, op, _))| format!("{column} {op} ${}", i + 1))
        .collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_log WHERE {} ORDER BY seq LIMIT ${}",
        conditions.join(" AND "),
        filters.len() + 1
    );
    let mut query = sqlx::query(&sql);
    for (_, _, bind) in &filters {
        query = match bind {
            Bind::Text(t) => query.bind(*t),
            Bind::Int(v) => query.bind(*v),
        };
    }
    query
        .bind(i64::from(q.limit))
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(record)
        .collect()
}

/// Records in chain order from `after`, for verification.
pub(crate) async fn chain(
    c: &mut AnyConnection,
    after: i64,
    limit: u32,
) -> StoreResult<Vec<AuditRecord>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
    ))
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(&mut *c)
    .await?
    .iter()
    .map(record)
    .collect()
}

fn record(r: &sqlx::any::AnyRow) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        seq: r.try_get("seq")?,
        entry: AuditEntry {
            at: instant(r.try_get("at")?),
            client_id: r.try_get("client_id")?,
            subject: r.try_get("subject")?,
            method: r.try_get("method")?,
            route: r.try_get("route")?,
            resource_id: r.try_get("resource_id")?,
            status: u16::try_from(r.try_get::<i64, _>("status")?).unwrap_or(0),
            request_id: r.try_get("request_id")?,
            idempotency_key: r.try_get("idempotency_key")?,
            body_sha256: r.try_get("body_sha256")?,
        },
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}
