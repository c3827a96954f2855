//! Subscriptions: a ticket's events, and the feed of every ticket the viewer may see.
//!
//! A subscriber first reads its stream from the timeline after the event it starts after,
//! then keeps, of the events the instance reads once for all its subscribers (`notify`),
//! those its viewer may see and it has not delivered. One that falls behind what is
//! handed on reads its stream from the table again: a slow client costs reads, never an
//! event, and holds at most one page of events in memory, however far behind it is.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, ID, Result, ResultExt, Subscription};
use futures_util::Stream;
use futures_util::stream;
use sea_orm::DatabaseConnection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, watch};
use uuid::Uuid;

use super::context::Session;
use super::events::TicketEvent;
use super::guards::SignedIn;
use super::types::TicketStatus;
use crate::domain::EventLimit;
use crate::error::AppError;
use crate::events::{self, StreamRequest, VisibleStream};
use crate::metrics::{Held, Open};
use crate::notify::{EventNotifier, LiveEvent, ReaderStart};

/// How long a subscriber waits before reading again after the database failed it.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// The pool connections subscribers may use at once to start and to catch up: fewer than
/// the pool holds, so that a burst of subscriptions queues behind itself while other
/// requests still find a connection.
pub struct StreamReads(Arc<Semaphore>);

impl StreamReads {
    /// Half the pool, and at least one.
    pub fn for_pool(db: &DatabaseConnection) -> Self {
        let connections = (crate::db::pool_capacity(db) / 2).max(1);
        Self(Arc::new(Semaphore::new(connections)))
    }

    async fn turn(&self) -> Result<OwnedSemaphorePermit, AppError> {
        Arc::clone(&self.0)
            .acquire_owned()
            .await
            .map_err(|_| AppError::Internal("the stream reads were closed"))
    }
}

pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Events of one ticket the viewer may see. With `after`, every later event already recorded comes first, then live ones.
    #[graphql(guard = "SignedIn")]
    async fn ticket_events(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        after: Option<ID>,
    ) -> Result<impl Stream<Item = TicketEvent> + use<>> {
        follow(
            ctx,
            StreamRequest::Ticket(&ticket_id),
            after.as_ref().map(|id| id.as_str()),
        )
        .await
        .extend()
    }

    /// Admins: events of every ticket (with `status`: only tickets that have that status after the event). Customers: events of their own tickets.
    #[graphql(guard = "SignedIn")]
    async fn ticket_feed(
        &self,
        ctx: &Context<'_>,
        status: Option<TicketStatus>,
        after: Option<ID>,
    ) -> Result<impl Stream<Item = TicketEvent> + use<>> {
        let request = StreamRequest::Feed {
            user_id: None,
            status: status.map(Into::into),
        };
        follow(ctx, request, after.as_ref().map(|id| id.as_str()))
            .await
            .extend()
    }
}

/// Opens the stream, checks `after`, and follows the stream from there (or from now).
async fn follow(
    ctx: &Context<'_>,
    request: StreamRequest<'_>,
    after: Option<&str>,
) -> Result<impl Stream<Item = TicketEvent> + use<>, AppError> {
    let session = Session::from_context(ctx)?;
    let notifier = ctx
        .data_opt::<Arc<EventNotifier>>()
        .ok_or(AppError::Internal(
            "the schema was built without a notifier",
        ))?;
    let reads = ctx
        .data_opt::<Arc<StreamReads>>()
        .ok_or(AppError::Internal(
            "the schema was built without stream reads",
        ))?;
    let after = events::parse_after(after)?;
    let turn = reads.turn().await?;
    let stream = events::open_stream(session.db, session.viewer, request).await?;
    // Taken first: an event committed while the start is read is handed on after it.
    let live = notifier.live_events();
    let reader_start = notifier.reader_start();
    let cursor = match after {
        Some(after) => {
            events::ensure_in_stream(session.db, &stream, after).await?;
            Some(after)
        }
        None => events::latest_event_id(session.db, &stream).await?,
    };
    drop(turn);
    let follower = Follower {
        db: session.db.clone(),
        reads: Arc::clone(reads),
        stream,
        cursor,
        live,
        reader_start,
        catching_up: true,
        seen_through: None,
        unsent: VecDeque::new(),
        _counted: ctx
            .data_opt::<Arc<Open>>()
            .map(|open| open.subscriptions.hold()),
    };
    Ok(stream::unfold(follower, Follower::next))
}

/// One subscriber's place in its stream.
struct Follower {
    db: DatabaseConnection,
    /// Its turn to read the table, among every subscriber's.
    reads: Arc<StreamReads>,
    stream: VisibleStream,
    /// The last event delivered (or the one to start after).
    cursor: Option<Uuid>,
    /// The events the instance reads for all its subscribers.
    live: broadcast::Receiver<Arc<LiveEvent>>,
    /// Where the instance's reader started handing events on.
    reader_start: watch::Receiver<ReaderStart>,
    /// Reading its own stream from the table: at the start, and after falling behind.
    catching_up: bool,
    /// How far, among every event of every stream, this subscriber has seen all there
    /// is: an event handed on whose predecessor lies beyond it means a gap, filled from
    /// the table.
    seen_through: Option<Uuid>,
    /// Read, not yet delivered: at most one page.
    unsent: VecDeque<TicketEvent>,
    /// In the active subscriptions, for as long as the subscriber lives.
    _counted: Option<Held>,
}

impl Follower {
    async fn next(mut self) -> Option<(TicketEvent, Self)> {
        loop {
            if let Some(event) = self.unsent.pop_front() {
                self.cursor = Some(event.event_id());
                return Some((event, self));
            }
            if self.catching_up {
                self.catch_up().await;
                continue;
            }
            match self.live.recv().await {
                Ok(live) => {
                    let new = self.cursor.is_none_or(|cursor| live.event.id > cursor);
                    if new && self.stream.holds(&live.event) {
                        let event =
                            TicketEvent::with_message(live.event.clone(), live.message.clone());
                        self.unsent.push_back(event);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => self.catching_up = true,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Reads the next page of the stream from the table; once there is none, what the
    /// instance hands on is enough again.
    async fn catch_up(&mut self) {
        // Read first: every event up to it has committed (ids are in commit order), so an
        // empty page after it means all of the stream up to it has been delivered.
        let turn = self.reads.turn().await;
        let read = match events::latest_of_all(&self.db).await {
            Ok(latest) => events::read(&self.db, &self.stream, self.cursor, EventLimit::LARGEST)
                .await
                .map(|page| (latest, page)),
            Err(error) => Err(error),
        };
        drop(turn);
        match read {
            Ok((latest, page)) if page.is_empty() => {
                self.seen_through = latest;
                // Events after this point come from the reader only if it started no
                // later; one that started after would have skipped what lies between.
                let start = self.reader_start.wait_for(Option::is_some).await;
                let started_after = start.ok().and_then(|start| *start).flatten();
                self.catching_up = started_after > latest;
            }
            Ok((_, page)) => self.unsent.extend(page.into_iter().map(TicketEvent::from)),
            Err(error) => {
                tracing::warn!(?error, "a subscriber could not read its events; retrying");
                tokio::time::sleep(RETRY_AFTER_FAILURE).await;
            }
        }
    }
}
