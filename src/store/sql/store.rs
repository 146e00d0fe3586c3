//! The `Store` trait over [`SqlStore`]: each method is one read, or one write transaction
//! retried on conflicts.

use async_trait::async_trait;
use sqlx::Executor;
use time::OffsetDateTime;

use super::{
    Dialect, SqlStore, audit, events, idempotency, instant, ledger, micros, orders, outbox,
    projection, returns, timeline, write_tx,
};
use crate::domain::audit::{AuditEntry, AuditRecord};
use crate::domain::events::Event;
use crate::domain::order::Order;
use crate::domain::shipment::Shipment;
use crate::store::*;

#[async_trait]
impl Store for SqlStore {
    async fn sync_locations(&self, locations: &[LocationDef]) -> StoreResult<()> {
        write_tx!(
            self,
            |tx| async {
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
                Ok::<_, StoreError>(())
            }
            .await,
            |_: &_| true
        )
    }

    async fn try_lease(
        &self,
        job: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<bool> {
        // One statement decides: two instances taking a lapsed lease at once conflict on
        // the row, and the second finds it no longer lapsed.
        let taken = sqlx::query(
            "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
             WHERE leases.until <= $4 OR leases.holder = excluded.holder",
        )
        .bind(job)
        .bind(holder)
        .bind(micros(until))
        .bind(micros(now))
        .execute(&self.write)
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    async fn round_done(&self, job: &str, began: OffsetDateTime) -> StoreResult<()> {
        sqlx::query(
            "UPDATE leases SET done_at = $1 WHERE name = $2 AND (done_at IS NULL OR done_at < $1)",
        )
        .bind(micros(began))
        .bind(job)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn last_round(&self, job: &str) -> StoreResult<Option<OffsetDateTime>> {
        let row: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT done_at FROM leases WHERE name = $1")
                .bind(job)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.and_then(|(t,)| t).map(instant))
    }

    async fn catalog_is_empty(&self) -> StoreResult<bool> {
        let row: Option<(String,)> = sqlx::query_as("SELECT sku FROM skus LIMIT 1")
            .fetch_optional(&self.read)
            .await?;
        Ok(row.is_none())
    }

    async fn upsert_skus(&self, skus: &[SkuDef]) -> StoreResult<()> {
        let now = micros(OffsetDateTime::now_utc());
        write_tx!(
            self,
            |tx| async {
                for s in skus {
                    ledger::upsert_sku(&mut tx, s, now).await?;
                }
                Ok::<_, StoreError>(())
            }
            .await,
            |_: &_| true
        )
    }

    async fn import_stock(
        &self,
        rows: &[StockRow],
        source: &str,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> StoreResult<ImportSummary> {
        let summary = write_tx!(
            self,
            |tx| ledger::import(&mut tx, self.dialect, rows, source, progress).await,
            |_: &_| true
        )?;
        if self.dialect == Dialect::Sqlite {
            // A large import leaves the write-ahead log as big as the data it wrote; fold
            // it into the database now rather than on the first requests that follow.
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.write)
                .await?;
        }
        Ok(summary)
    }

    async fn skus(&self, skus: &[String]) -> StoreResult<Vec<SkuInfo>> {
        let mut conn = self.read.acquire().await?;
        ledger::skus(&mut conn, skus).await
    }

    async fn catalog_page(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<String>> {
        let mut conn = self.read.acquire().await?;
        projection::catalog_page(&mut conn, after, limit).await
    }

    async fn apply_projection(
        &self,
        snapshot: &ProjectionSnapshot<'_>,
    ) -> StoreResult<ProjectionOutcome> {
        let now = micros(OffsetDateTime::now_utc());
        write_tx!(
            self,
            |tx| projection::apply(&mut tx, self.dialect, snapshot, now).await,
            |_: &_| true
        )
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

    #[tracing::instrument(name = "store accept order", level = "debug", skip_all)]
    async fn accept_order(&self, cmd: AcceptOrder<'_>) -> StoreResult<AcceptOutcome> {
        write_tx!(
            self,
            |tx| orders::accept(&mut tx, self.dialect, &cmd).await,
            |o: &AcceptOutcome| matches!(o, AcceptOutcome::Accepted(_))
        )
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

    async fn cancel_order(
        &self,
        id: &str,
        now: OffsetDateTime,
        traceparent: Option<&str>,
    ) -> StoreResult<CancelOutcome> {
        write_tx!(
            self,
            |tx| orders::cancel(&mut tx, self.dialect, id, now, traceparent).await,
            |o: &CancelOutcome| matches!(o, CancelOutcome::Cancelled(_))
        )
    }

    async fn set_erp_states(&self, updates: &[ErpUpdate]) -> StoreResult<()> {
        let at = micros(OffsetDateTime::now_utc());
        write_tx!(
            self,
            |tx| orders::set_erp_states(&mut tx, updates, at).await,
            |_: &_| true
        )
    }

    async fn shipments(&self, order_id: &str) -> StoreResult<Vec<Shipment>> {
        let mut conn = self.read.acquire().await?;
        orders::shipments(&mut conn, order_id).await
    }

    async fn order_history(&self, order_id: &str) -> StoreResult<OrderHistory> {
        let mut conn = self.read.acquire().await?;
        timeline::order_history(&mut conn, order_id).await
    }

    async fn authorize_return(&self, cmd: AuthorizeReturn<'_>) -> StoreResult<AuthorizeOutcome> {
        write_tx!(
            self,
            |tx| returns::authorize(&mut tx, self.dialect, &cmd).await,
            |o: &AuthorizeOutcome| matches!(o, AuthorizeOutcome::Authorized(_))
        )
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

    #[tracing::instrument(name = "store apply event", level = "debug", skip_all,
        fields(event.kind = event.body.kind()))]
    async fn apply_event(&self, event: &Event, ctx: &EventContext) -> StoreResult<EventOutcome> {
        write_tx!(
            self,
            |tx| events::apply(&mut tx, self.dialect, event, ctx).await,
            |o: &EventOutcome| matches!(o, EventOutcome::Applied(_))
        )
    }

    async fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()> {
        write_tx!(
            self,
            |tx| audit::append(&mut tx, self.dialect, entries).await,
            |_: &_| true
        )
    }

    async fn audit_page(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let mut conn = self.read.acquire().await?;
        audit::page(&mut conn, query).await
    }

    async fn audit_chain(&self, after: i64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        let mut conn = self.read.acquire().await?;
        audit::chain(&mut conn, after, limit).await
    }

    async fn fan_out(
        &self,
        routes: &std::collections::HashMap<String, Vec<String>>,
        limit: u32,
    ) -> StoreResult<u64> {
        write_tx!(
            self,
            |tx| outbox::fan_out(&mut tx, self.dialect, routes, limit).await,
            |_: &_| true
        )
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        lease: std::time::Duration,
        limit: u32,
        paused: &[String],
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        write_tx!(
            self,
            |tx| outbox::claim(&mut tx, self.dialect, owner, lease, limit, paused).await,
            |_: &_| true
        )
    }

    async fn deliveries_sent(&self, ids: &[String], owner: &str) -> StoreResult<()> {
        write_tx!(
            self,
            |tx| outbox::sent(&mut tx, ids, owner).await,
            |_: &_| true
        )
    }

    async fn delivery_failed(
        &self,
        id: &str,
        owner: &str,
        error: &str,
        failure: Failure,
    ) -> StoreResult<()> {
        write_tx!(
            self,
            |tx| outbox::failed(&mut tx, id, owner, error, &failure).await,
            |_: &_| true
        )
    }

    async fn dead_letters(&self, query: &DeadLetterQuery) -> StoreResult<Vec<DeadLetter>> {
        let mut conn = self.read.acquire().await?;
        outbox::dead_letters(&mut conn, query).await
    }

    async fn dead_letter(&self, id: &str) -> StoreResult<Option<DeadLetterDetail>> {
        let mut conn = self.read.acquire().await?;
        outbox::dead_letter(&mut conn, id).await
    }

    async fn replay_dead_letters(
        &self,
        query: &DeadLetterQuery,
        ids: Option<&[String]>,
    ) -> StoreResult<u64> {
        write_tx!(
            self,
            |tx| outbox::replay(&mut tx, query, ids).await,
            |_: &_| true
        )
    }

    async fn discard_dead_letter(&self, id: &str, reason: &str) -> StoreResult<bool> {
        write_tx!(
            self,
            |tx| outbox::discard(&mut tx, id, reason).await,
            |_: &_| true
        )
    }

    async fn outbox_stats(&self) -> StoreResult<OutboxStats> {
        let mut conn = self.read.acquire().await?;
        outbox::stats(&mut conn).await
    }

    async fn record_inbound_dead_letter(&self, letter: &InboundDeadLetter) -> StoreResult<()> {
        write_tx!(
            self,
            |tx| outbox::record_inbound(&mut tx, letter).await,
            |_: &_| true
        )
    }

    async fn inbound_payload(&self, id: &str) -> StoreResult<Option<String>> {
        let mut conn = self.read.acquire().await?;
        outbox::inbound_payload(&mut conn, id).await
    }

    async fn set_inbound_state(
        &self,
        id: &str,
        state: DeliveryState,
        reason: Option<&str>,
    ) -> StoreResult<bool> {
        write_tx!(
            self,
            |tx| outbox::set_inbound_state(&mut tx, id, &state, reason).await,
            |_: &_| true
        )
    }

    async fn purge_delivered(&self, before: OffsetDateTime) -> StoreResult<u64> {
        write_tx!(self, |tx| outbox::purge(&mut tx, before).await, |_: &_| {
            true
        })
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
