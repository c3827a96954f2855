//! One subscriber following its stream: it first reads the stream from the timeline after
//! the event it starts after, then keeps, of the events the instance reads once for all
//! its subscribers, those its viewer may see and it has not delivered. One that falls
//! behind what is handed on reads its stream from the table again: a slow client costs
//! reads, never an event, and holds at most one page of events in memory, however far
//! behind it is.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use entity::ticket_event;
use futures_util::Stream;
use futures_util::stream;
use sea_orm::DatabaseConnection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, watch};
use uuid::Uuid;

use super::{EventNotifier, LiveEvent, ReaderStart};
use crate::domain::{EventLimit, Viewer};
use crate::error::AppError;
use crate::events::{self, StreamRequest, VisibleStream};
use crate::metrics::Held;

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

/// An event a subscriber delivers: read from the table (its message read when asked for),
/// or handed on by the instance's reader with its message.
pub enum Followed {
    Read(Box<ticket_event::Model>),
    Live(Arc<LiveEvent>),
}

impl Followed {
    fn id(&self) -> Uuid {
        match self {
            Self::Read(event) => event.id,
            Self::Live(live) => live.event.id,
        }
    }
}

/// One subscriber's place in its stream.
pub struct Follower {
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
    /// Read, not yet delivered: at most one page.
    unsent: VecDeque<Followed>,
    /// In the active subscriptions, for as long as the subscriber lives.
    _counted: Option<Held>,
}

impl Follower {
    /// Opens the stream `request` names as `viewer` may see it, after event `after` (which
    /// must be in it) or from now. NOT_FOUND or BAD_USER_INPUT as the timeline answers.
    pub async fn start(
        db: &DatabaseConnection,
        reads: &Arc<StreamReads>,
        notifier: &EventNotifier,
        viewer: &Viewer,
        request: StreamRequest<'_>,
        after: Option<Uuid>,
        counted: Option<Held>,
    ) -> Result<Self, AppError> {
        let turn = reads.turn().await?;
        let stream = events::open_stream(db, viewer, request).await?;
        // Taken first: an event committed while the start is read is handed on after it.
        let live = notifier.live_events();
        let reader_start = notifier.reader_start();
        let cursor = match after {
            Some(after) => {
                events::ensure_in_stream(db, &stream, after).await?;
                Some(after)
            }
            None => events::latest_event_id(db, &stream).await?,
        };
        drop(turn);
        Ok(Self {
            db: db.clone(),
            reads: Arc::clone(reads),
            stream,
            cursor,
            live,
            reader_start,
            catching_up: true,
            unsent: VecDeque::new(),
            _counted: counted,
        })
    }

    /// The events it delivers, in id order, each once.
    pub fn events(self) -> impl Stream<Item = Followed> {
        stream::unfold(self, Self::next)
    }

    async fn next(mut self) -> Option<(Followed, Self)> {
        loop {
            if let Some(event) = self.unsent.pop_front() {
                self.cursor = Some(event.id());
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
                        self.unsent.push_back(Followed::Live(live));
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
        let read = match self.reads.turn().await {
            Ok(_turn) => match events::latest_of_all(&self.db).await {
                Ok(latest) => {
                    events::read(&self.db, &self.stream, self.cursor, EventLimit::LARGEST)
                        .await
                        .map(|page| (latest, page))
                }
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        match read {
            Ok((latest, page)) if page.is_empty() => {
                // Events after this point come from the reader only if it started no
                // later; one that started after would have skipped what lies between.
                let start = self.reader_start.wait_for(Option::is_some).await;
                let started_after = start.ok().and_then(|start| *start).flatten();
                self.catching_up = started_after > latest;
            }
            Ok((_, page)) => self.unsent.extend(
                page.into_iter()
                    .map(|event| Followed::Read(Box::new(event))),
            ),
            Err(error) => {
                tracing::warn!(?error, "a subscriber could not read its events; retrying");
                tokio::time::sleep(RETRY_AFTER_FAILURE).await;
            }
        }
    }
}
