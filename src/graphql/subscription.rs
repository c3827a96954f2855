//! Subscriptions: a ticket's events, and the feed of every ticket the viewer may see.
//!
//! A subscriber reads the timeline after the last event it delivered, and when it has
//! read all there is, waits for a wake-up (`notify`) to read again. The timeline is the
//! source of truth: a wake-up lost, or a slow client, costs a read, never an event; and
//! a subscriber holds at most one page of events in memory, however far behind it is.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, ID, Result, ResultExt, Subscription};
use entity::ticket_event;
use futures_util::Stream;
use futures_util::stream;
use sea_orm::DatabaseConnection;
use tokio::sync::watch;
use uuid::Uuid;

use super::context::Session;
use super::events::TicketEvent;
use super::guards::SignedIn;
use super::types::TicketStatus;
use crate::domain::EventLimit;
use crate::error::AppError;
use crate::events::{self, StreamRequest, VisibleStream};
use crate::notify::EventNotifier;

/// How long a subscriber waits before reading again after the database failed it.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

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
    let after = events::parse_after(after)?;
    let stream = events::open_stream(session.db, session.viewer, request).await?;
    // Woken from here on: an event committed while the start is read is not missed.
    let wakeups = notifier.subscribe();
    let cursor = match after {
        Some(after) => {
            events::ensure_in_stream(session.db, &stream, after).await?;
            Some(after)
        }
        None => events::latest_event_id(session.db, &stream).await?,
    };
    let follower = Follower {
        db: session.db.clone(),
        stream,
        cursor,
        wakeups,
        unsent: VecDeque::new(),
    };
    Ok(stream::unfold(follower, Follower::next))
}

/// One subscriber's place in its stream.
struct Follower {
    db: DatabaseConnection,
    stream: VisibleStream,
    /// The last event delivered (or the one to start after).
    cursor: Option<Uuid>,
    wakeups: watch::Receiver<u64>,
    /// Read, not yet delivered: at most one page.
    unsent: VecDeque<ticket_event::Model>,
}

impl Follower {
    async fn next(mut self) -> Option<(TicketEvent, Self)> {
        loop {
            if let Some(event) = self.unsent.pop_front() {
                self.cursor = Some(event.id);
                return Some((TicketEvent::from(event), self));
            }
            // Seen before reading, so that a wake-up during the read is not lost.
            self.wakeups.borrow_and_update();
            match events::read(&self.db, &self.stream, self.cursor, EventLimit::LARGEST).await {
                Ok(page) if !page.is_empty() => self.unsent.extend(page),
                Ok(_) => self.wakeups.changed().await.ok()?,
                Err(error) => {
                    tracing::warn!(?error, "a subscriber could not read its events; retrying");
                    tokio::time::sleep(RETRY_AFTER_FAILURE).await;
                }
            }
        }
    }
}
