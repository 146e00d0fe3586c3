//! Idempotency records. A mutation claims its key as the first statement of its own
//! transaction and stores its response as the last, so the effect and the record commit
//! together: a crash can lose both, never one of them.

use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{Dialect, micros};
use crate::store::{IdempotencyScope, KeyState, StoreResult, StoredResponse};

/// A read outside any transaction, to answer a replay without taking the write lock.
pub(crate) async fn lookup(
    c: &mut AnyConnection,
    client_id: &str,
    key: &str,
    fingerprint: &str,
    now: OffsetDateTime,
) -> StoreResult<Option<KeyState>> {
    let row = sqlx::query(
        "SELECT fingerprint, status, body, location FROM idempotency_keys \
         WHERE client_id = $1 AND key = $2 AND expires_at >= $3 AND status > 0",
    )
    .bind(client_id)
    .bind(key)
    .bind(micros(now))
    .fetch_optional(&mut *c)
    .await?;
    row.map(|r| state(&r, fingerprint)).transpose()
}

/// Claims the key for this transaction. `None` means the caller owns it; otherwise the key
/// is already taken and the state says how to answer. On PostgreSQL a concurrent claim of
/// the same key waits here until the first transaction ends, then sees its result.
pub(crate) async fn claim<T>(
    c: &mut AnyConnection,
    dialect: Dialect,
    scope: &IdempotencyScope<'_, T>,
    now: OffsetDateTime,
) -> StoreResult<Option<KeyState>> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (client_id, key, fingerprint, status, body, location, \
         created_at, expires_at) VALUES ($1, $2, $3, 0, '', NULL, $4, $5) \
         ON CONFLICT (client_id, key) DO NOTHING",
    )
    .bind(scope.client_id)
    .bind(scope.key)
    .bind(scope.fingerprint)
    .bind(micros(now))
    .bind(micros(scope.expires_at))
    .execute(&mut *c)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(None);
    }
    let sql = format!(
        "SELECT fingerprint, status, body, location, expires_at FROM idempotency_keys \
         WHERE client_id = $1 AND key = $2{}",
        dialect.for_update()
    );
    let row = sqlx::query(&sql)
        .bind(scope.client_id)
        .bind(scope.key)
        .fetch_one(&mut *c)
        .await?;
    if row.try_get::<i64, _>("expires_at")? < micros(now) {
        // Past its retention: the key is free again.
        sqlx::query(
            "UPDATE idempotency_keys SET fingerprint = $3, status = 0, body = '', location = NULL, \
             created_at = $4, expires_at = $5 WHERE client_id = $1 AND key = $2",
        )
        .bind(scope.client_id)
        .bind(scope.key)
        .bind(scope.fingerprint)
        .bind(micros(now))
        .bind(micros(scope.expires_at))
        .execute(&mut *c)
        .await?;
        return Ok(None);
    }
    state(&row, scope.fingerprint).map(Some)
}

/// Stores the response under the claimed key.
pub(crate) async fn complete<T>(
    c: &mut AnyConnection,
    scope: &IdempotencyScope<'_, T>,
    result: &T,
) -> StoreResult<()> {
    let StoredResponse {
        status,
        body,
        location,
    } = (scope.render)(result);
    sqlx::query(
        "UPDATE idempotency_keys SET status = $3, body = $4, location = $5 \
         WHERE client_id = $1 AND key = $2",
    )
    .bind(scope.client_id)
    .bind(scope.key)
    .bind(i64::from(status))
    .bind(body)
    .bind(location)
    .execute(&mut *c)
    .await?;
    Ok(())
}

fn state(r: &sqlx::any::AnyRow, fingerprint: &str) -> StoreResult<KeyState> {
    if r.try_get::<String, _>("fingerprint")? != fingerprint {
        return Ok(KeyState::Mismatch);
    }
    Ok(KeyState::Replay(StoredResponse {
        status: u16::try_from(r.try_get::<i64, _>("status")?).unwrap_or(500),
        body: r.try_get("body")?,
        location: r.try_get("location")?,
    }))
}
