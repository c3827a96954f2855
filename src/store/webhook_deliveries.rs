//! The delivery side of webhooks: where the fan-out of the timeline stands, the bodies and
//! deliveries it writes, what a worker claims, and each attempt's record.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::prelude::{
    TicketEvent, TicketEventKind, Webhook, WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus,
    WebhookDispatch, WebhookPayload,
};
use entity::{
    ticket_event, webhook, webhook_attempt, webhook_delivery, webhook_dispatch, webhook_payload,
};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    DbBackend, DbErr, EntityTrait, IsolationLevel, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Statement, TransactionTrait,
};
use uuid::Uuid;

use super::events::{EventStream, latest_event_id};

/// The row of `webhook_dispatch` that says where the fan-out of the timeline stands.
const TIMELINE: &str = "timeline";

/// The PostgreSQL advisory lock one fan-out holds at a time ("supphook" in ASCII).
pub const DISPATCH_LOCK_KEY: i64 = 0x7375_7070_686f_6f6b;

/// Rows per INSERT: far below the bound parameters either database takes in one statement.
const INSERT_CHUNK: usize = 500;

/// Makes the fan-out's cursor, once per database. With no webhook yet, it starts at the
/// timeline's end: events before the first webhook are no webhook's. With webhooks
/// already (a database that lost the row), at the start: the fan-out then reads what it
/// must, and webhooks take only events from after their creation. On PostgreSQL the
/// webhooks table is locked meanwhile, so that none is created between the look and the
/// cursor.
pub async fn create_dispatch_cursor(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = super::begin_write(db).await?;
    if WebhookDispatch::find_by_id(TIMELINE)
        .one(&txn)
        .await?
        .is_some()
    {
        return txn.commit().await;
    }
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared("LOCK TABLE webhooks IN SHARE MODE")
            .await?;
    }
    let start = if Webhook::find().count(&txn).await? == 0 {
        latest_event_id(&txn, &EventStream::everything()).await?
    } else {
        None
    };
    WebhookDispatch::insert(webhook_dispatch::ActiveModel {
        name: Set(TIMELINE.to_owned()),
        last_event_id: Set(start),
    })
    .on_conflict_do_nothing_on([webhook_dispatch::Column::Name])
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await
}

/// A PostgreSQL transaction whose reads all see one snapshot (repeatable read): a ticket
/// and its events agree in it. It writes nothing, so it never holds back where the
/// timeline is settled.
pub async fn begin_snapshot(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_config(Some(IsolationLevel::RepeatableRead), None)
        .await
}

/// The fan-out's turn: a transaction that holds, on PostgreSQL, the fan-out's advisory
/// lock until it ends; `None` when another instance holds it. Not a lock on the cursor's
/// row: a row lock would give the transaction an id for the whole page, and every reader
/// of the timeline would wait behind it (readers stop below the oldest running
/// transaction). SQLite: one fan-out per process, no lock.
pub async fn take_dispatch_turn(
    db: &DatabaseConnection,
) -> Result<Option<DatabaseTransaction>, DbErr> {
    let txn = db.begin().await?;
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(Some(txn));
    }
    let taken: bool = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_try_advisory_xact_lock($1) AS taken",
            [DISPATCH_LOCK_KEY.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("pg_try_advisory_xact_lock answered no row".into()))?
        .try_get("", "taken")?;
    if taken {
        Ok(Some(txn))
    } else {
        txn.rollback().await?;
        Ok(None)
    }
}

/// Where the fan-out stands.
pub async fn dispatch_cursor(db: &impl ConnectionTrait) -> Result<Option<Uuid>, DbErr> {
    WebhookDispatch::find_by_id(TIMELINE)
        .one(db)
        .await?
        .map(|row| row.last_event_id)
        .ok_or_else(|| DbErr::RecordNotFound("the webhooks' fan-out cursor".into()))
}

pub async fn enabled_webhooks(db: &impl ConnectionTrait) -> Result<Vec<webhook::Model>, DbErr> {
    Webhook::find()
        .filter(webhook::Column::Enabled.eq(true))
        .order_by_asc(webhook::Column::Id)
        .all(db)
        .await
}

/// Every event of `tickets` from event `from` on (included), oldest first: all that the
/// snapshot holds, settled or not, since a body's ticket is rewound from the ticket row
/// of the same snapshot, which reflects them all.
pub async fn events_of_tickets_from(
    db: &impl ConnectionTrait,
    tickets: &[Uuid],
    from: Uuid,
) -> Result<Vec<ticket_event::Model>, DbErr> {
    TicketEvent::find()
        .filter(ticket_event::Column::TicketId.is_in(tickets.iter().copied()))
        .filter(ticket_event::Column::Id.gte(from))
        .order_by_asc(ticket_event::Column::Id)
        .all(db)
        .await
}

/// When `ticket`'s `updatedAt` last moved before event `before`: the time of its last
/// earlier event that is not staff-only (internal notes and tag changes leave it).
pub async fn last_update_before(
    db: &impl ConnectionTrait,
    ticket: Uuid,
    before: Uuid,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    TicketEvent::find()
        .select_only()
        .column(ticket_event::Column::CreatedAt)
        .filter(ticket_event::Column::TicketId.eq(ticket))
        .filter(ticket_event::Column::Id.lt(before))
        .filter(ticket_event::Column::Internal.eq(false))
        .order_by_desc(ticket_event::Column::Id)
        .limit(1)
        .into_tuple()
        .one(db)
        .await
}

/// A delivery the fan-out owes a webhook.
pub struct NewDelivery {
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    pub event_kind: TicketEventKind,
    /// Every attempt its schedule allows, the first included.
    pub attempts: i32,
    pub at: DateTime<Utc>,
}

/// Writes what one page of the timeline owes (each event's body once, one PENDING
/// delivery per webhook and event, due now) and moves the cursor past the page. Written
/// again (another instance, a retry), nothing is written twice.
pub async fn write_fan_out(
    txn: &DatabaseTransaction,
    bodies: Vec<(Uuid, String)>,
    deliveries: Vec<NewDelivery>,
    cursor: Option<Uuid>,
) -> Result<(), DbErr> {
    let mut bodies = bodies.into_iter().peekable();
    while bodies.peek().is_some() {
        let chunk = bodies.by_ref().take(INSERT_CHUNK).map(|(event_id, body)| {
            webhook_payload::ActiveModel {
                event_id: Set(event_id),
                body: Set(body),
            }
        });
        WebhookPayload::insert_many(chunk)
            .on_conflict_do_nothing_on([webhook_payload::Column::EventId])
            .exec_without_returning(txn)
            .await?;
    }
    let mut deliveries = deliveries.into_iter().peekable();
    while deliveries.peek().is_some() {
        let chunk =
            deliveries
                .by_ref()
                .take(INSERT_CHUNK)
                .map(|new| webhook_delivery::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    webhook_id: Set(new.webhook_id),
                    event_id: Set(new.event_id),
                    event_kind: Set(new.event_kind),
                    status: Set(WebhookDeliveryStatus::Pending),
                    attempts_left: Set(new.attempts),
                    attempt_count: Set(0),
                    next_attempt_at: Set(Some(new.at)),
                    lease_until: Set(None),
                    created_at: Set(new.at),
                });
        WebhookDelivery::insert_many(chunk)
            .on_conflict_do_nothing_on([
                webhook_delivery::Column::WebhookId,
                webhook_delivery::Column::EventId,
            ])
            .exec_without_returning(txn)
            .await?;
    }
    WebhookDispatch::insert(webhook_dispatch::ActiveModel {
        name: Set(TIMELINE.to_owned()),
        last_event_id: Set(cursor),
    })
    .on_conflict(
        OnConflict::column(webhook_dispatch::Column::Name)
            .update_column(webhook_dispatch::Column::LastEventId)
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// Claims up to `limit` of `webhook`'s due deliveries, the longest due first, until
/// `lease_until`: their next attempt is put off to then, so that no worker claims them
/// again unless this one has not settled them by that time (it died). On PostgreSQL,
/// rows another worker is claiming at the same moment are skipped, not waited for.
pub async fn claim(
    db: &impl ConnectionTrait,
    webhook: Uuid,
    limit: u64,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Vec<webhook_delivery::Model>, DbErr> {
    let due = WebhookDelivery::find()
        .select_only()
        .column(webhook_delivery::Column::Id)
        .filter(webhook_delivery::Column::WebhookId.eq(webhook))
        .filter(webhook_delivery::Column::Status.eq(WebhookDeliveryStatus::Pending))
        .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
        .order_by_asc(webhook_delivery::Column::NextAttemptAt)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_query();
    WebhookDelivery::update_many()
        .col_expr(
            webhook_delivery::Column::LeaseUntil,
            Expr::value(lease_until),
        )
        .col_expr(
            webhook_delivery::Column::NextAttemptAt,
            Expr::value(lease_until),
        )
        .filter(webhook_delivery::Column::Id.in_subquery(due))
        .exec_with_returning(db)
        .await
}

/// The bodies of `events` that have one, by event.
pub async fn payload_bodies(
    db: &impl ConnectionTrait,
    events: &[Uuid],
) -> Result<HashMap<Uuid, String>, DbErr> {
    if events.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(WebhookPayload::find()
        .filter(webhook_payload::Column::EventId.is_in(events.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|payload| (payload.event_id, payload.body))
        .collect())
}

/// The transaction that records an attempt. On PostgreSQL its commit does not wait for
/// the disk: a record lost in a crash costs one attempt made again (the delivery itself
/// was written durably by the fan-out), which at-least-once delivery allows, and each
/// attempt no longer waits for a flush.
pub async fn begin_attempt_record(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let txn = super::begin_write(db).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared("SET LOCAL synchronous_commit = off")
            .await?;
    }
    Ok(txn)
}

/// What became of a delivery after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    Succeeded,
    RetryAt(DateTime<Utc>),
    Failed,
}

/// An attempt made, to record.
pub struct AttemptMade {
    pub delivery: Uuid,
    pub at: DateTime<Utc>,
    pub response_status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

pub async fn insert_attempt(txn: &DatabaseTransaction, attempt: AttemptMade) -> Result<(), DbErr> {
    WebhookAttempt::insert(webhook_attempt::ActiveModel {
        id: Set(Uuid::now_v7()),
        delivery_id: Set(attempt.delivery),
        at: Set(attempt.at),
        response_status: Set(attempt.response_status),
        error: Set(attempt.error),
        duration_ms: Set(attempt.duration_ms),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// Settles a claimed delivery after one more attempt, and ends the claim: only while it
/// is still this worker's (`lease` is the one it claimed with). Whether it was.
pub async fn settle_delivery(
    txn: &DatabaseTransaction,
    delivery: Uuid,
    lease: DateTime<Utc>,
    settled: Settled,
) -> Result<bool, DbErr> {
    let (status, next_attempt_at) = match settled {
        Settled::Succeeded => (WebhookDeliveryStatus::Succeeded, None),
        Settled::RetryAt(at) => (WebhookDeliveryStatus::Pending, Some(at)),
        Settled::Failed => (WebhookDeliveryStatus::Failed, None),
    };
    let updated = WebhookDelivery::update_many()
        .col_expr(webhook_delivery::Column::Status, Expr::value(status))
        .col_expr(
            webhook_delivery::Column::NextAttemptAt,
            Expr::value(next_attempt_at),
        )
        .col_expr(
            webhook_delivery::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            webhook_delivery::Column::AttemptCount,
            Expr::col(webhook_delivery::Column::AttemptCount).add(1),
        )
        .col_expr(
            webhook_delivery::Column::AttemptsLeft,
            Expr::col(webhook_delivery::Column::AttemptsLeft).sub(1),
        )
        .filter(webhook_delivery::Column::Id.eq(delivery))
        .filter(webhook_delivery::Column::Status.eq(WebhookDeliveryStatus::Pending))
        .filter(webhook_delivery::Column::LeaseUntil.eq(lease))
        .exec(txn)
        .await?;
    Ok(updated.rows_affected > 0)
}

/// A delivery to the webhook succeeded: it is failing no more.
pub async fn webhook_succeeded(txn: &DatabaseTransaction, webhook: Uuid) -> Result<(), DbErr> {
    Webhook::update_many()
        .col_expr(
            webhook::Column::FailingSince,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(webhook::Column::Id.eq(webhook))
        .filter(webhook::Column::FailingSince.is_not_null())
        .exec(txn)
        .await?;
    Ok(())
}

/// An attempt to the webhook failed `at`: it has been failing since then, unless since
/// earlier.
pub async fn webhook_failed(
    txn: &DatabaseTransaction,
    webhook: Uuid,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    Webhook::update_many()
        .col_expr(webhook::Column::FailingSince, Expr::value(at))
        .filter(webhook::Column::Id.eq(webhook))
        .filter(webhook::Column::FailingSince.is_null())
        .exec(txn)
        .await?;
    Ok(())
}

/// Disables the webhook for `reason`: at once, or (with `failing_before`) only if it has
/// been failing since then or earlier. Whether this disabled it.
pub async fn disable_webhook(
    txn: &DatabaseTransaction,
    webhook: Uuid,
    reason: &str,
    failing_before: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let disabled = Webhook::update_many()
        .col_expr(webhook::Column::Enabled, Expr::value(false))
        .col_expr(webhook::Column::DisabledReason, Expr::value(reason))
        .col_expr(webhook::Column::UpdatedAt, Expr::value(at))
        .filter(webhook::Column::Id.eq(webhook))
        .filter(webhook::Column::Enabled.eq(true))
        .apply_if(failing_before, |query, before| {
            query.filter(webhook::Column::FailingSince.lte(before))
        })
        .exec(txn)
        .await?;
    Ok(disabled.rows_affected > 0)
}

/// Ends the claims of `deliveries` (whose attempts were cut short) and makes them due
/// now, for whichever worker comes first.
pub async fn release_claims(
    db: &impl ConnectionTrait,
    deliveries: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if deliveries.is_empty() {
        return Ok(());
    }
    WebhookDelivery::update_many()
        .col_expr(
            webhook_delivery::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(now))
        .filter(webhook_delivery::Column::Id.is_in(deliveries.iter().copied()))
        .filter(webhook_delivery::Column::Status.eq(WebhookDeliveryStatus::Pending))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn delivery_exists(db: &impl ConnectionTrait, delivery: Uuid) -> Result<bool, DbErr> {
    Ok(WebhookDelivery::find_by_id(delivery)
        .one(db)
        .await?
        .is_some())
}

/// Deliveries waiting for an attempt (or in one), over every webhook.
pub async fn count_pending(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    WebhookDelivery::find()
        .filter(webhook_delivery::Column::Status.eq(WebhookDeliveryStatus::Pending))
        .count(db)
        .await
}
