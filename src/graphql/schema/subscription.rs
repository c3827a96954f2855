//! Subscriptions: a ticket's events, and the feed of every ticket the viewer may see. How
//! a subscriber follows its stream is `notify::Follower`'s; here its rows become events.

use std::sync::Arc;

use async_graphql::{Context, ID, Result, ResultExt, Subscription};
use futures_util::{Stream, StreamExt};

use super::context::Session;
use super::events::TicketEvent;
use super::guards::SignedIn;
use super::types::TicketStatus;
use crate::error::AppError;
use crate::events::{self, StreamRequest};
use crate::metrics::Open;
use crate::notify::{EventNotifier, Followed, Follower, StreamReads};

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
    let counted = ctx
        .data_opt::<Arc<Open>>()
        .map(|open| open.subscriptions.hold());
    let follower = Follower::start(
        session.db,
        reads,
        notifier,
        session.viewer,
        request,
        after,
        counted,
    )
    .await?;
    Ok(follower.events().map(|followed| match followed {
        Followed::Read(event) => TicketEvent::from(*event),
        Followed::Live(live) => TicketEvent::with_message(live.event.clone(), live.message.clone()),
    }))
}
