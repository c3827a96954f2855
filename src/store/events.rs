//! The ticket timeline: events recorded in the transaction of the change they tell of,
//! and read back as streams in id order.
//!
//! Ids are handed out in commit order, so that a reader that has seen event X and later
//! reads `id > X` misses nothing: an event with a smaller id than X committed before X.

use chrono::{DateTime, Utc};
use entity::prelude::{Role, TicketEvent, TicketEventKind, TicketPriority, TicketStatus};
use entity::ticket_event;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select, Statement,
};
use uuid::Uuid;

use crate::policy::{self, Visibility};

/// The PostgreSQL channel that learns, at each commit that recorded events, the id of
/// their ticket (never their content). A listener re-reads the events from the table.
pub const NOTIFY_CHANNEL: &str = "ticket_events";

/// The PostgreSQL advisory lock that writers of events take in turn ("suppevnt" in
/// ASCII), from just before they make their ids until they commit.
pub const EVENT_ORDER_LOCK_KEY: i64 = 0x7375_7070_6576_6e74;

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

/// Records `events`, in this order, as the last writes of `txn`: commit right after.
///
/// Ids must be given in commit order. On SQLite, `begin_write` already holds the one
/// write lock from `BEGIN` to `COMMIT`. On PostgreSQL, transactions commit side by side:
/// an advisory lock, held until commit, is taken before the ids are made, so that the
/// next writer makes its ids only once this one's events are visible (PostgreSQL releases
/// a transaction's locks after its commit is visible). It is taken as late as possible,
/// after every row lock of the transaction, so that it serializes only the commit and
/// cannot deadlock with them. Each id is also made greater than the newest one recorded,
/// so that servers whose clocks disagree (or events seeded with future times) cannot
/// break the order.
pub async fn record_events(
    txn: &DatabaseTransaction,
    events: Vec<NewEvent>,
) -> Result<Vec<ticket_event::Model>, DbErr> {
    let Some(first) = events.first() else {
        return Ok(Vec::new());
    };
    let ticket_id = first.ticket_id;
    let mut previous = if txn.get_database_backend() == DbBackend::Postgres {
        // Delivered at commit, so sent before the lock: every round trip made while
        // holding it is one more that every other writer waits for.
        notify(txn, ticket_id).await?;
        locked_newest_id(txn).await?
    } else {
        latest_event_id(txn, &EventStream::everything()).await?
    };
    let models: Vec<ticket_event::Model> = events
        .into_iter()
        .map(|event| {
            let id = next_event_id(previous);
            previous = Some(id);
            event_model(id, event)
        })
        .collect();
    TicketEvent::insert_many(models.iter().cloned().map(|m| m.into_active_model()))
        .exec_without_returning(txn)
        .await?;
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

/// Tells the listeners, at commit, that `ticket` has new events: its id only, so that no
/// text (of an internal note, say) ever travels outside the table.
async fn notify(txn: &DatabaseTransaction, ticket: Uuid) -> Result<(), DbErr> {
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [NOTIFY_CHANNEL.into(), ticket.to_string().into()],
    ))
    .await?;
    Ok(())
}

/// Takes the event-order lock, then reads the newest id in a statement of its own: under
/// READ COMMITTED a statement sees what had committed when it started, so only a read
/// that starts after the lock is granted sees what the previous holder committed.
/// A statement of SeaORM's rather than unprepared SQL: the wait for the lock, where
/// concurrent writers queue, then shows in traces as a statement span of its own.
async fn locked_newest_id(txn: &DatabaseTransaction) -> Result<Option<Uuid>, DbErr> {
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [EVENT_ORDER_LOCK_KEY.into()],
    ))
    .await?;
    latest_event_id(txn, &EventStream::everything()).await
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

/// The events of `stream` after `after` (exclusive; from the first without it), oldest
/// first, at most `limit`.
pub async fn events_after(
    db: &impl ConnectionTrait,
    stream: &EventStream,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<ticket_event::Model>, DbErr> {
    select(stream)
        .apply_if(after, |query, after| {
            query.filter(ticket_event::Column::Id.gt(after))
        })
        .order_by_asc(ticket_event::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// The id of the newest event of `stream` now: where a reader that starts "live from
/// now" resumes from. `None` when the stream has none yet.
pub async fn latest_event_id(
    db: &impl ConnectionTrait,
    stream: &EventStream,
) -> Result<Option<Uuid>, DbErr> {
    select(stream)
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
}
