//! The ticket timeline as a viewer may see it: one ticket's events, or a feed of the
//! events of every ticket they may see, read after an event they have seen. Errors come
//! in the contract's order: bad input, then not found.
//!
//! A customer's streams never hold an event of an internal note; what is left out leaves
//! only gaps in the ids, which tell nothing.

use std::collections::HashMap;
use std::time::Duration;

use entity::prelude::TicketStatus;
use entity::{ticket, ticket_event, ticket_message};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::budget::MessageBudget;
use crate::domain::{self, EventLimit, Viewer};
use crate::error::AppError;
use crate::policy;
use crate::store::events::Settled;
use crate::store::{self, EventStream};

/// How long a read of the timeline waits, at most, for the events committed before it to
/// settle (on PostgreSQL, for the transactions older than them to end): a client then
/// finds its own write in what it reads right after. Past it, the read answers what has
/// settled, which is complete up to where it stops.
const SETTLE_WITHIN: Duration = Duration::from_secs(1);
/// The longest pause between two looks at whether they have settled.
const SETTLE_PAUSE: Duration = Duration::from_millis(20);

/// Which events a reader asks to follow.
#[derive(Clone, Copy, Debug)]
pub enum StreamRequest<'a> {
    /// One ticket's, by its id as the client sent it.
    Ticket(&'a str),
    /// Those of every ticket the viewer may see, narrowed by the status the ticket had
    /// after the event.
    Feed { status: Option<TicketStatus> },
}

/// A stream as its viewer may see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VisibleStream(Option<EventStream>);

impl VisibleStream {
    /// What the store reads, or `None` when nothing can ever match (a customer asking
    /// for another owner's events).
    pub fn filter(&self) -> Option<&EventStream> {
        self.0.as_ref()
    }

    /// Whether `event` belongs to this stream as its viewer sees it.
    pub fn holds(&self, event: &ticket_event::Model) -> bool {
        self.0.as_ref().is_some_and(|stream| stream.holds(event))
    }
}

/// The stream `request` names, as `viewer` may see it. NOT_FOUND for a ticket that does
/// not exist or is not theirs, as `ticket(id)` answers.
pub async fn open_stream(
    db: &DatabaseConnection,
    viewer: &Viewer,
    request: StreamRequest<'_>,
) -> Result<VisibleStream, AppError> {
    match request {
        StreamRequest::Ticket(id) => {
            let id = domain::parse_ticket_id(id)?;
            let ticket = store::find_ticket(db, id)
                .await?
                .ok_or_else(AppError::ticket_not_found)?;
            ticket_stream(viewer, &ticket)
        }
        StreamRequest::Feed { status } => Ok(feed_stream(viewer, status)),
    }
}

/// The events of `ticket` that `viewer` may see.
pub fn ticket_stream(viewer: &Viewer, ticket: &ticket::Model) -> Result<VisibleStream, AppError> {
    if !policy::can_see_ticket(viewer, ticket) {
        return Err(AppError::ticket_not_found());
    }
    Ok(VisibleStream(Some(EventStream {
        ticket: Some(ticket.id),
        owner: None,
        status: None,
        visibility: policy::visibility(viewer),
    })))
}

fn feed_stream(viewer: &Viewer, status: Option<TicketStatus>) -> VisibleStream {
    VisibleStream(policy::owner_scope(viewer, None).map(|scope| EventStream {
        ticket: None,
        owner: scope.owner().map(str::to_owned),
        status,
        visibility: policy::visibility(viewer),
    }))
}

/// `after` as the client sent it: an event id, or BAD_USER_INPUT naming `after`.
pub fn parse_after(after: Option<&str>) -> Result<Option<Uuid>, AppError> {
    after
        .map(|raw| Uuid::parse_str(raw).map_err(|_| unknown_after()))
        .transpose()
}

fn unknown_after() -> AppError {
    AppError::bad_input("after", "after must be the id of an event of this stream")
}

/// BAD_USER_INPUT naming `after` unless event `after` is in the stream as its viewer
/// sees it: an event hidden from them answers as one that does not exist.
pub async fn ensure_in_stream(
    db: &DatabaseConnection,
    stream: &VisibleStream,
    after: Uuid,
) -> Result<(), AppError> {
    let found = match stream.filter() {
        Some(filter) => store::events::event_in_stream(db, filter, after).await?,
        None => false,
    };
    if found { Ok(()) } else { Err(unknown_after()) }
}

/// The newest event of the stream now, where a reader "live from now" starts after;
/// `None` when it has none yet.
pub async fn latest_event_id(
    db: &DatabaseConnection,
    stream: &VisibleStream,
) -> Result<Option<Uuid>, AppError> {
    match stream.filter() {
        Some(filter) => {
            let settled = settled_for_reading(db).await?;
            Ok(store::events::latest_within(db, &settled, filter).await?)
        }
        None => Ok(None),
    }
}

/// The newest event of any stream now: how far a reader of the table has seen all
/// there is.
pub async fn latest_of_all(db: &DatabaseConnection) -> Result<Option<Uuid>, AppError> {
    Ok(store::events::latest_event_id(db, &EventStream::everything()).await?)
}

/// The events of the stream after `after` (from its first without it), oldest first.
pub async fn read(
    db: &DatabaseConnection,
    stream: &VisibleStream,
    after: Option<Uuid>,
    limit: EventLimit,
) -> Result<Vec<ticket_event::Model>, AppError> {
    match stream.filter() {
        Some(filter) => {
            let settled = settled_for_reading(db).await?;
            Ok(store::events::events_within(db, &settled, filter, after, limit.get()).await?)
        }
        None => Ok(Vec::new()),
    }
}

/// Where the timeline is settled once every event committed now is, waiting for it at
/// most [`SETTLE_WITHIN`].
async fn settled_for_reading(db: &DatabaseConnection) -> Result<Settled, AppError> {
    let now = store::events::settled(db).await?;
    let deadline = tokio::time::Instant::now() + SETTLE_WITHIN;
    let mut settled = now;
    let mut pause = Duration::from_millis(1);
    while !settled.covers(&now) && tokio::time::Instant::now() + pause < deadline {
        tokio::time::sleep(pause).await;
        settled = store::events::settled(db).await?;
        pause = (pause * 2).min(SETTLE_PAUSE);
    }
    Ok(settled)
}

/// A ticket's timeline, oldest first: the events after `after` (exclusive), at most
/// `limit` (1–100).
pub async fn timeline(
    db: &DatabaseConnection,
    viewer: &Viewer,
    ticket: &ticket::Model,
    after: Option<&str>,
    limit: i32,
) -> Result<Vec<ticket_event::Model>, AppError> {
    let after = parse_after(after)?;
    let limit = EventLimit::parse(limit)?;
    let stream = ticket_stream(viewer, ticket)?;
    if let Some(after) = after {
        ensure_in_stream(db, &stream, after).await?;
    }
    read(db, &stream, after, limit).await
}

/// The messages the events tell of, by id, within what the operation may still read.
/// A customer's never include an internal note.
pub async fn messages_of(
    db: &DatabaseConnection,
    viewer: &Viewer,
    events: &[ticket_event::Model],
    budget: &MessageBudget,
) -> Result<HashMap<Uuid, ticket_message::Model>, AppError> {
    let mut ids: Vec<Uuid> = events.iter().filter_map(|event| event.message_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let reservation = budget.reserve().await?;
    let messages =
        store::messages_by_ids(db, &ids, policy::visibility(viewer), reservation.rows()).await?;
    reservation.spend(messages.len())?;
    Ok(messages
        .into_iter()
        .map(|message| (message.id, message))
        .collect())
}

/// The ticket an event is about, as it is now. NOT_FOUND when the viewer may not see it.
pub async fn ticket_of(
    db: &DatabaseConnection,
    viewer: &Viewer,
    event: &ticket_event::Model,
) -> Result<ticket::Model, AppError> {
    store::find_ticket(db, event.ticket_id)
        .await?
        .filter(|ticket| policy::can_see_ticket(viewer, ticket))
        .ok_or_else(AppError::ticket_not_found)
}
