//! The ticket timeline: events recorded in the transaction of the change they tell of,
//! and read back as streams in id order.
//!
//! A reader that has seen event X and later reads `id > X` must miss nothing: no event
//! with a smaller id than X may become visible after X did. On SQLite one transaction
//! writes at a time, and each id is made greater than the newest. On PostgreSQL writers
//! commit side by side, so an id is made of the writing transaction's id (see
//! [`transaction_ordered_id`]) and readers read only below the oldest transaction of the
//! database still running ([`settled`]): every transaction that could still record an id
//! below it has ended, so what is below never changes again.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use entity::prelude::{
    Role, TicketEvent, TicketEventKind, TicketMessage, TicketPriority, TicketStatus,
};
use entity::{ticket_event, ticket_message};
use sea_orm::sea_query::InsertStatement;
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    IdenStatic, Iterable, QueryFilter, QueryOrder, QueryResult, QuerySelect, QueryTrait, Select,
    Statement, Value,
};
use uuid::Uuid;

use crate::policy::{self, Visibility};

/// The PostgreSQL channel that learns, after commits that recorded events, that there are
/// new ones: a notification with no payload (never their content). A listener re-reads
/// the events from the table.
pub const NOTIFY_CHANNEL: &str = "ticket_events";

/// On PostgreSQL, the oldest transaction of this database still running, as a statement
/// sees it: the lowest of the running transactions its snapshot lists (`xip`) that
/// belong to a session of this database, or the snapshot's `xmax` when none do. Any
/// transaction that gets an id later gets one no lower. Transactions of other databases
/// on the cluster never hold it back; if a session of this database is hidden from us
/// (another role, without `pg_read_all_stats`), the cluster's oldest (`xmin`) is taken
/// instead, which holds back more but never too little. With the newest event that had
/// committed for that snapshot.
const SETTLED_SQL: &str = "\
    SELECT CASE \
        WHEN EXISTS (SELECT 1 FROM pg_stat_activity \
                     WHERE datname = current_database() AND query = '<insufficient privilege>') \
        THEN pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
        ELSE coalesce( \
            (SELECT min(running::text::bigint) \
             FROM pg_snapshot_xip(pg_current_snapshot()) AS running \
             WHERE running::text::bigint & 4294967295 IN \
                (SELECT backend_xid::text::bigint FROM pg_stat_activity \
                 WHERE datname = current_database() AND backend_xid IS NOT NULL)), \
            pg_snapshot_xmax(pg_current_snapshot())::text::bigint) \
        END AS oldest_running, \
        (SELECT id FROM ticket_events ORDER BY id DESC LIMIT 1) AS newest";

/// The largest transaction id [`transaction_ordered_id`] can hold: 2^52, a million
/// wraparounds of PostgreSQL's 32-bit counter.
const MAX_TRANSACTION_ID: u64 = (1 << 52) - 1;

/// What happened, with what only that kind of event carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The ticket was opened with `message`.
    Created {
        message: Uuid,
    },
    MessageAdded {
        message: Uuid,
        internal: bool,
    },
    StatusChanged {
        from: TicketStatus,
        to: TicketStatus,
    },
    PriorityChanged {
        from: TicketPriority,
        to: TicketPriority,
    },
    /// `None`: unassigned.
    AssigneeChanged {
        from: Option<String>,
        to: Option<String>,
    },
    /// The tags really added and removed, sorted. Staff-only.
    TagsChanged {
        added: Vec<String>,
        removed: Vec<String>,
    },
}

/// An event to record.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub ticket_id: Uuid,
    /// The ticket's owner.
    pub owner_id: String,
    pub actor_id: String,
    pub actor_role: Role,
    pub at: DateTime<Utc>,
    /// The ticket's status once this event happened.
    pub status_after: TicketStatus,
    pub change: Change,
}

/// Records `events`, in this order, in the write `txn` (begun with `begin_write`).
///
/// On SQLite, `begin_write` holds the one write lock from `BEGIN` to `COMMIT`: each id is
/// made greater than the newest recorded (whatever the clocks of the servers that wrote
/// before say). On PostgreSQL the ids are made of this transaction's id, without waiting
/// for any other writer; readers wait for the transaction instead ([`settled`]).
pub async fn record_events(
    txn: &DatabaseTransaction,
    events: Vec<NewEvent>,
) -> Result<Vec<ticket_event::Model>, DbErr> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    if txn.get_database_backend() == DbBackend::Postgres {
        return record_in_transaction_order(txn, events).await;
    }
    let mut previous = latest_event_id(txn, &EventStream::everything()).await?;
    let models: Vec<ticket_event::Model> = events
        .into_iter()
        .map(|event| {
            let id = next_event_id(previous);
            previous = Some(id);
            event_model(id, event)
        })
        .collect();
    let backend = txn.get_database_backend();
    let (sql, values) = rows_insert(&models, EventIds::Given, backend, 0);
    txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(models)
}

/// [`record_events`], with `insert`: the INSERT of another row the same write makes (its
/// message). On PostgreSQL in one statement, `insert` in a `WITH`: a round trip and a
/// statement less per write, which were most of what its events cost it beside the rows.
/// Its callers do not need the events back, so none are returned (no `RETURNING`).
pub async fn record_events_with(
    txn: &DatabaseTransaction,
    insert: InsertStatement,
    events: Vec<NewEvent>,
) -> Result<(), DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres || events.is_empty() {
        txn.execute(&insert).await?;
        record_events(txn, events).await?;
        return Ok(());
    }
    let message = DbBackend::Postgres.build(&insert);
    let mut values = message.values.map(|values| values.0).unwrap_or_default();
    let models: Vec<ticket_event::Model> = unnumbered(events).collect();
    let (events_sql, event_values) =
        rows_insert(&models, EventIds::Made, DbBackend::Postgres, values.len());
    values.extend(event_values);
    let sql = format!("WITH \"written\" AS ({}) {events_sql}", message.sql);
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
    .await?;
    Ok(())
}

/// [`record_events`] on PostgreSQL.
async fn record_in_transaction_order(
    txn: &DatabaseTransaction,
    events: Vec<NewEvent>,
) -> Result<Vec<ticket_event::Model>, DbErr> {
    let models: Vec<ticket_event::Model> = unnumbered(events).collect();
    let (mut sql, values) = rows_insert(&models, EventIds::Made, DbBackend::Postgres, 0);
    sql.push_str(" RETURNING \"id\"");
    let returned = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?;
    with_returned_ids(models, returned)
}

/// Where the ids of the event rows an INSERT writes come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EventIds {
    /// The rows' own (SQLite).
    Given,
    /// The column's default (PostgreSQL): [`transaction_ordered_id`] of this transaction
    /// and the next `ticket_event_order` number, in SQL (migrations `lighten_event_writes`
    /// and `inline_event_ids`). One `INSERT … VALUES` makes its rows' defaults, and
    /// returns them (`RETURNING`), in the order of its rows.
    Made,
}

/// The INSERT of `models` and its values, its placeholders numbered after
/// `parameters_before` others of its statement. It names only the columns some row fills:
/// the others default to `NULL` (as every column but `id` does), so a write sends about
/// half the values, and rows of several kinds share the union of their columns.
///
/// Written here rather than built by SeaORM and sea-query: it is on the path of every
/// write, and building it through their models cost the server more than the rest of the
/// event did.
fn rows_insert(
    models: &[ticket_event::Model],
    ids: EventIds,
    backend: DbBackend,
    parameters_before: usize,
) -> (String, Vec<Value>) {
    let rows: Vec<Vec<Value>> = models
        .iter()
        .map(|model| {
            ticket_event::Column::iter()
                .map(|column| column_value(model, column))
                .collect()
        })
        .collect();
    let written: Vec<bool> = ticket_event::Column::iter()
        .enumerate()
        .map(|(index, column)| {
            (ids == EventIds::Given || !matches!(column, ticket_event::Column::Id))
                && rows.iter().any(|row| row[index] != row[index].as_null())
        })
        .collect();
    let columns = ticket_event::Column::iter().zip(&written);
    let mut sql = String::with_capacity(512);
    sql.push_str("INSERT INTO \"ticket_events\" (");
    for (index, (column, _)) in columns.filter(|(_, written)| **written).enumerate() {
        if index > 0 {
            sql.push_str(", ");
        }
        sql.push('"');
        sql.push_str(column.as_str());
        sql.push('"');
    }
    sql.push_str(") VALUES ");
    let mut values = Vec::with_capacity(rows.len() * ticket_event::Column::iter().len());
    for (number, row) in rows.into_iter().enumerate() {
        sql.push_str(if number == 0 { "(" } else { ", (" });
        let row_values = row
            .into_iter()
            .zip(&written)
            .filter(|(_, written)| **written);
        for (index, (value, _)) in row_values.enumerate() {
            if index > 0 {
                sql.push_str(", ");
            }
            values.push(value);
            match backend {
                DbBackend::Postgres => {
                    let _ = write!(sql, "${}", parameters_before + values.len());
                }
                _ => sql.push('?'),
            }
        }
        sql.push(')');
    }
    (sql, values)
}

/// The value of `column` in `model`, a typed `NULL` for an empty one. Matches every
/// column: one added to the table cannot be left out of [`rows_insert`].
fn column_value(model: &ticket_event::Model, column: ticket_event::Column) -> Value {
    use ticket_event::Column;
    match column {
        Column::Id => model.id.into(),
        Column::TicketId => model.ticket_id.into(),
        Column::OwnerId => model.owner_id.clone().into(),
        Column::Kind => model.kind.to_value().into(),
        Column::ActorId => model.actor_id.clone().into(),
        Column::ActorRole => model.actor_role.to_value().into(),
        Column::CreatedAt => model.created_at.into(),
        Column::MessageId => model.message_id.into(),
        Column::Internal => model.internal.into(),
        Column::FromStatus => model.from_status.map(|status| status.to_value()).into(),
        Column::ToStatus => model.to_status.map(|status| status.to_value()).into(),
        Column::StatusAfter => model.status_after.to_value().into(),
        Column::FromPriority => model.from_priority.map(|rank| rank.to_value()).into(),
        Column::ToPriority => model.to_priority.map(|rank| rank.to_value()).into(),
        Column::FromAssigneeId => model.from_assignee_id.clone().into(),
        Column::ToAssigneeId => model.to_assignee_id.clone().into(),
        Column::AddedTags => model.added_tags.clone().into(),
        Column::RemovedTags => model.removed_tags.clone().into(),
    }
}

/// The rows of `events`, their ids yet to be made.
fn unnumbered(events: Vec<NewEvent>) -> impl Iterator<Item = ticket_event::Model> {
    events
        .into_iter()
        .map(|event| event_model(Uuid::nil(), event))
}

/// `models` with the ids their INSERT returned, in order.
fn with_returned_ids(
    mut models: Vec<ticket_event::Model>,
    returned: Vec<QueryResult>,
) -> Result<Vec<ticket_event::Model>, DbErr> {
    if returned.len() != models.len() {
        return Err(DbErr::Custom(format!(
            "{} events recorded, {} ids returned",
            models.len(),
            returned.len()
        )));
    }
    for (model, row) in models.iter_mut().zip(returned) {
        model.id = row.try_get("", "id")?;
    }
    Ok(models)
}

/// The row of `event` under `id`: each kind with the columns only it fills.
pub fn event_model(id: Uuid, event: NewEvent) -> ticket_event::Model {
    let mut model = ticket_event::Model {
        id,
        ticket_id: event.ticket_id,
        owner_id: event.owner_id,
        kind: TicketEventKind::TicketCreated,
        actor_id: event.actor_id,
        actor_role: event.actor_role,
        created_at: event.at,
        message_id: None,
        internal: false,
        from_status: None,
        to_status: None,
        status_after: event.status_after,
        from_priority: None,
        to_priority: None,
        from_assignee_id: None,
        to_assignee_id: None,
        added_tags: None,
        removed_tags: None,
    };
    match event.change {
        Change::Created { message } => model.message_id = Some(message),
        Change::MessageAdded { message, internal } => {
            model.kind = TicketEventKind::MessageAdded;
            model.message_id = Some(message);
            model.internal = internal;
        }
        Change::StatusChanged { from, to } => {
            model.kind = TicketEventKind::StatusChanged;
            model.from_status = Some(from);
            model.to_status = Some(to);
        }
        Change::PriorityChanged { from, to } => {
            model.kind = TicketEventKind::PriorityChanged;
            model.from_priority = Some(from);
            model.to_priority = Some(to);
        }
        Change::AssigneeChanged { from, to } => {
            model.kind = TicketEventKind::AssigneeChanged;
            model.from_assignee_id = from;
            model.to_assignee_id = to;
        }
        Change::TagsChanged { added, removed } => {
            model.kind = TicketEventKind::TagsChanged;
            // Tags are staff-only: their events are read as internal notes' are.
            model.internal = true;
            model.added_tags = Some(added.join(" "));
            model.removed_tags = Some(removed.join(" "));
        }
    }
    model
}

/// Tells every instance's listener that events have committed: after their commits, in a
/// transaction of its own. Not in the writer's transaction: PostgreSQL makes the commits
/// of notifying transactions take turns (so that notifications queue in commit order),
/// which would make every writer wait for the others' disk flushes. This one's commit
/// does not wait for the disk: a notification lost in a crash costs a reader's poll.
pub async fn announce_committed(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, '')",
        [NOTIFY_CHANNEL.into()],
    ))
    .await?;
    Ok(())
}

/// The id of event `number` of PostgreSQL transaction `transaction`: a UUID (version 8,
/// "custom") that sorts by transaction, then by number, and after every UUID v7 (ids made
/// before, and by the backfill, up to the year 10,855): its first byte is `0xff`, then the transaction's 52 bits
/// around the version nibble, the variant, and the number's low 62 bits.
pub fn transaction_ordered_id(transaction: u64, number: u64) -> Result<Uuid, DbErr> {
    if transaction > MAX_TRANSACTION_ID {
        return Err(DbErr::Custom(format!(
            "transaction id {transaction} is past what an event id holds"
        )));
    }
    const NUMBER: u128 = (1 << 62) - 1;
    let transaction = u128::from(transaction);
    Ok(Uuid::from_u128(
        (0xff << 120)
            | ((transaction >> 12) << 80)
            | (0x8 << 76)
            | ((transaction & 0xfff) << 64)
            | (0b10 << 62)
            | (u128::from(number) & NUMBER),
    ))
}

/// A new UUID v7, greater than `previous`.
fn next_event_id(previous: Option<Uuid>) -> Uuid {
    let now = Uuid::now_v7();
    match previous {
        Some(previous) if previous >= now => successor(previous),
        _ => now,
    }
}

/// The next UUID v7 after `id`: its 74 counter and random bits (`rand_a`, `rand_b`)
/// counted up by one, carrying into the millisecond.
fn successor(id: Uuid) -> Uuid {
    const RAND_B: u128 = (1 << 62) - 1;
    const COUNTER: u128 = (1 << 74) - 1;
    const MILLIS: u128 = (1 << 48) - 1;
    let bits = id.as_u128();
    let millis = bits >> 80;
    let counter = (((bits >> 64) & 0xfff) << 62) | (bits & RAND_B);
    let (millis, counter) = if counter == COUNTER {
        ((millis + 1) & MILLIS, 0)
    } else {
        (millis, counter + 1)
    };
    let rand_a = counter >> 62;
    Uuid::from_u128(
        (millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | (counter & RAND_B),
    )
}

/// Which events a reader follows: one ticket's or all of them, narrowed by owner and by
/// the status the ticket had after the event, as its `visibility` allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventStream {
    pub ticket: Option<Uuid>,
    pub owner: Option<String>,
    pub status: Option<TicketStatus>,
    pub visibility: Visibility,
}

impl EventStream {
    /// Every event of every ticket, staff-only ones included: what the server's own
    /// readers read once for every viewer.
    pub fn everything() -> Self {
        Self {
            ticket: None,
            owner: None,
            status: None,
            visibility: policy::server_wide(),
        }
    }

    /// Whether `event` belongs to the stream: the same rules as its query, in memory, for
    /// an event read once for many readers.
    pub fn holds(&self, event: &ticket_event::Model) -> bool {
        self.ticket.is_none_or(|ticket| ticket == event.ticket_id)
            && self
                .owner
                .as_deref()
                .is_none_or(|owner| owner == event.owner_id)
            && self
                .status
                .is_none_or(|status| status == event.status_after)
            && (self.visibility.includes_staff_only() || !event.internal)
    }
}

fn select(stream: &EventStream) -> Select<TicketEvent> {
    TicketEvent::find()
        .apply_if(stream.ticket, |query, ticket| {
            query.filter(ticket_event::Column::TicketId.eq(ticket))
        })
        .apply_if(stream.owner.as_deref(), |query, owner| {
            query.filter(ticket_event::Column::OwnerId.eq(owner))
        })
        .apply_if(stream.status, |query, status| {
            query.filter(ticket_event::Column::StatusAfter.eq(status))
        })
        .apply_if(
            (!stream.visibility.includes_staff_only()).then_some(false),
            |query, internal| query.filter(ticket_event::Column::Internal.eq(internal)),
        )
}

/// Where the timeline is settled, as one statement saw it: events below it can no longer
/// appear. Read events in a later statement than this one: a transaction that ended
/// between this statement's snapshot and its look at the sessions is not waited for, and
/// only a later snapshot is sure to see what it committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settled {
    /// `None`: all of it (SQLite, whose writers commit in turn).
    below: Option<Uuid>,
    /// The newest event committed then.
    newest: Option<Uuid>,
}

impl Settled {
    /// Whether event `id` is in the settled part.
    pub fn holds(&self, id: Uuid) -> bool {
        self.below.is_none_or(|below| id < below)
    }

    /// Whether every event committed then is in the settled part.
    pub fn is_complete(&self) -> bool {
        self.covers(self)
    }

    /// Whether every event committed when `earlier` was seen is in the settled part.
    pub fn covers(&self, earlier: &Settled) -> bool {
        earlier.newest.is_none_or(|newest| self.holds(newest))
    }
}

/// Where the timeline is settled now (see [`Settled`]).
pub async fn settled(db: &impl ConnectionTrait) -> Result<Settled, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(Settled {
            below: None,
            newest: None,
        });
    }
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, SETTLED_SQL))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the settled bound answered no row".into()))?;
    let oldest_running: i64 = row.try_get("", "oldest_running")?;
    Ok(Settled {
        below: Some(transaction_ordered_id(oldest_running.unsigned_abs(), 0)?),
        newest: row.try_get("", "newest")?,
    })
}

/// `query` narrowed to the part of the timeline `settled` holds.
fn within(settled: &Settled, query: Select<TicketEvent>) -> Select<TicketEvent> {
    query.apply_if(settled.below, |query, below| {
        query.filter(ticket_event::Column::Id.lt(below))
    })
}

/// The settled events of `stream` after `after` (exclusive; from the first without it),
/// oldest first, at most `limit`.
pub async fn events_after(
    db: &impl ConnectionTrait,
    stream: &EventStream,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<ticket_event::Model>, DbErr> {
    let settled = settled(db).await?;
    events_within(db, &settled, stream, after, limit).await
}

/// [`events_after`], in the part of the timeline `settled` holds.
pub async fn events_within(
    db: &impl ConnectionTrait,
    settled: &Settled,
    stream: &EventStream,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<ticket_event::Model>, DbErr> {
    page_within(settled, stream, after, limit).all(db).await
}

/// [`events_within`], each with the message it tells of, in the same query: what the
/// instance's reader hands on to every subscriber, whose events of notes are staff-only.
pub async fn events_with_messages_within(
    db: &impl ConnectionTrait,
    settled: &Settled,
    stream: &EventStream,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<(ticket_event::Model, Option<ticket_message::Model>)>, DbErr> {
    page_within(settled, stream, after, limit)
        .find_also_related(TicketMessage)
        .all(db)
        .await
}

/// The first `limit` settled events of `stream` after `after`, oldest first.
fn page_within(
    settled: &Settled,
    stream: &EventStream,
    after: Option<Uuid>,
    limit: u64,
) -> Select<TicketEvent> {
    within(settled, select(stream))
        .apply_if(after, |query, after| {
            query.filter(ticket_event::Column::Id.gt(after))
        })
        .order_by_asc(ticket_event::Column::Id)
        .limit(limit)
}

/// The id of the newest settled event of `stream` now: where a reader that starts "live
/// from now" resumes from. `None` when the stream has none yet.
pub async fn latest_event_id(
    db: &impl ConnectionTrait,
    stream: &EventStream,
) -> Result<Option<Uuid>, DbErr> {
    let settled = settled(db).await?;
    latest_within(db, &settled, stream).await
}

/// [`latest_event_id`], in the part of the timeline `settled` holds.
pub async fn latest_within(
    db: &impl ConnectionTrait,
    settled: &Settled,
    stream: &EventStream,
) -> Result<Option<Uuid>, DbErr> {
    within(settled, select(stream))
        .select_only()
        .column(ticket_event::Column::Id)
        .order_by_desc(ticket_event::Column::Id)
        .limit(1)
        .into_tuple()
        .one(db)
        .await
}

/// Whether event `id` belongs to `stream`.
pub async fn event_in_stream(
    db: &impl ConnectionTrait,
    stream: &EventStream,
    id: Uuid,
) -> Result<bool, DbErr> {
    let found: Option<Uuid> = select(stream)
        .filter(ticket_event::Column::Id.eq(id))
        .select_only()
        .column(ticket_event::Column::Id)
        .into_tuple()
        .one(db)
        .await?;
    Ok(found.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_successor_is_a_greater_uuid_v7() {
        let id = Uuid::now_v7();
        let next = successor(id);
        assert!(next > id);
        assert_eq!(next.get_version_num(), 7);
        assert_eq!(next.get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn a_successor_carries_into_the_next_millisecond() {
        let full = uuid::Builder::from_unix_timestamp_millis(1_000, &[0xff; 10]).into_uuid();
        let next = successor(full);
        assert!(next > full);
        assert_eq!(
            next.get_timestamp().map(|ts| ts.to_unix()),
            Some((1, 1_000_000))
        );
    }

    #[test]
    fn transaction_ordered_ids_sort_by_transaction_then_number() {
        let id = |transaction, number| transaction_ordered_id(transaction, number).expect("an id");
        assert!(id(100, 7) < id(100, 8));
        assert!(id(100, u64::MAX >> 2) < id(101, 0));
        // Across the 12 bits of the transaction that sit past the version nibble.
        assert!(id(0xfff, 9) < id(0x1000, 0));
        assert!(id(MAX_TRANSACTION_ID - 1, 0) < id(MAX_TRANSACTION_ID, 0));
    }

    #[test]
    fn a_transaction_ordered_id_is_a_uuid_v8_after_every_uuid_v7_before_the_year_10000() {
        let id = transaction_ordered_id(1, 1).expect("an id");
        assert_eq!(id.get_version_num(), 8);
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        // The last millisecond whose UUID v7 does not start with 0xff: in the year 10,855.
        let far_future =
            uuid::Builder::from_unix_timestamp_millis((0xff << 40) - 1, &[0xff; 10]).into_uuid();
        assert!(id > far_future);
    }

    #[test]
    fn a_transaction_id_past_52_bits_is_refused() {
        assert!(transaction_ordered_id(MAX_TRANSACTION_ID + 1, 0).is_err());
    }

    #[test]
    fn a_new_id_comes_after_one_from_the_future() {
        let future =
            uuid::Builder::from_unix_timestamp_millis(u64::MAX >> 17, &[0; 10]).into_uuid();
        assert!(next_event_id(Some(future)) > future);
    }

    #[test]
    fn a_new_id_is_made_of_the_clock_when_it_is_ahead() {
        let past = uuid::Builder::from_unix_timestamp_millis(1, &[0; 10]).into_uuid();
        let next = next_event_id(Some(past));
        assert!(next > past);
        assert!(next > successor(past));
    }

    fn event(change: Change) -> ticket_event::Model {
        let event = NewEvent {
            ticket_id: Uuid::now_v7(),
            owner_id: "alice".to_owned(),
            actor_id: "root".to_owned(),
            actor_role: Role::Admin,
            at: Utc::now(),
            status_after: TicketStatus::Open,
            change,
        };
        event_model(Uuid::now_v7(), event)
    }

    fn columns_of(sql: &str) -> Vec<&str> {
        let (_, rest) = sql.split_once('(').expect("a column list");
        let (columns, _) = rest.split_once(')').expect("a column list");
        columns
            .split(", ")
            .map(|name| name.trim_matches('"'))
            .collect()
    }

    #[test]
    fn an_events_insert_names_only_the_columns_its_rows_fill() {
        let message = Change::MessageAdded {
            message: Uuid::now_v7(),
            internal: true,
        };

        let (sql, values) = rows_insert(&[event(message)], EventIds::Made, DbBackend::Postgres, 0);

        assert_eq!(
            columns_of(&sql),
            [
                "ticket_id",
                "owner_id",
                "kind",
                "actor_id",
                "actor_role",
                "created_at",
                "message_id",
                "internal",
                "status_after"
            ]
        );
        assert_eq!(values.len(), 9);
        assert!(
            sql.ends_with("VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
            "{sql}"
        );
    }

    #[test]
    fn rows_of_several_kinds_share_their_columns_with_typed_nulls_where_one_is_empty() {
        let rows = [
            event(Change::StatusChanged {
                from: TicketStatus::Open,
                to: TicketStatus::Resolved,
            }),
            event(Change::AssigneeChanged {
                from: None,
                to: Some("root".to_owned()),
            }),
        ];

        let (sql, values) = rows_insert(&rows, EventIds::Made, DbBackend::Postgres, 0);

        let columns = columns_of(&sql);
        for column in ["from_status", "to_status", "to_assignee_id"] {
            assert!(columns.contains(&column), "{column} in {sql}");
        }
        // Empty in both rows: left to its default.
        assert!(!columns.contains(&"from_assignee_id"), "{sql}");
        let to_status = columns
            .iter()
            .position(|c| *c == "to_status")
            .expect("to_status");
        let second_row = &values[columns.len()..];
        assert_eq!(second_row[to_status], Value::String(None));
        assert_eq!(values[to_status], Value::from("RESOLVED"));
    }

    #[test]
    fn an_events_placeholders_follow_those_of_the_statement_before_it() {
        let created = Change::Created {
            message: Uuid::now_v7(),
        };

        let (sql, _) = rows_insert(&[event(created)], EventIds::Made, DbBackend::Postgres, 7);

        assert!(sql.contains("VALUES ($8, $9,"), "{sql}");
    }

    #[test]
    fn on_sqlite_an_events_insert_writes_its_given_id_with_positional_placeholders() {
        let row = event(Change::PriorityChanged {
            from: TicketPriority::Normal,
            to: TicketPriority::Urgent,
        });

        let (sql, values) = rows_insert(
            std::slice::from_ref(&row),
            EventIds::Given,
            DbBackend::Sqlite,
            0,
        );

        assert_eq!(columns_of(&sql)[0], "id");
        assert_eq!(values[0], Value::from(row.id));
        assert!(sql.contains("VALUES (?, ?,"), "{sql}");
        assert!(!sql.contains('$'), "{sql}");
    }
}
