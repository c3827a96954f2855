use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions, ID, MergedObject, Object, Result, ResultExt};

use super::context::Session;
use super::guards::{AdminOnly, MayWrite, SignedIn};
use super::types::{
    CreateTicketInput, Ticket, TicketMessage, TicketPatchInput, TicketStatus, TicketUpdateError,
    TicketUpdateResult,
};
use super::webhooks::WebhookMutation;
use crate::notify::EventNotifier;
use crate::policy::AdminWork;
use crate::tickets::{self, NewTicketRequest};

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(TicketMutation, WebhookMutation);

#[derive(Default)]
pub struct TicketMutation;

#[Object]
impl TicketMutation {
    /// Opens a ticket owned by you, status OPEN, with `message` as its first message.
    #[graphql(guard = "SignedIn")]
    async fn create_ticket(
        &self,
        ctx: &Context<'_>,
        input: CreateTicketInput,
    ) -> Result<Option<Ticket>> {
        let session = Session::from_context(ctx).extend()?;
        let request = NewTicketRequest::parse(&input.subject, &input.message).extend()?;
        let ticket = tickets::create(session.db, session.viewer, request)
            .await
            .extend()?;
        wake_subscribers(ctx);
        Ok(Some(Ticket::from(ticket)))
    }

    /// Admins only: moves a ticket to `status`.
    #[graphql(guard = "AdminOnly(AdminWork::ChangeStatus)")]
    async fn update_ticket_status(
        &self,
        ctx: &Context<'_>,
        id: ID,
        status: TicketStatus,
    ) -> Result<Option<Ticket>> {
        let session = Session::from_context(ctx).extend()?;
        let ticket = tickets::update_status(session.db, session.viewer, &id, status.into())
            .await
            .extend()?;
        wake_subscribers(ctx);
        Ok(Some(Ticket::from(ticket)))
    }

    /// Admins only: applies `input` to one ticket, in one transaction; one event per field
    /// that really changed. A patch that changes nothing answers the ticket as it is.
    #[graphql(guard = "AdminOnly(AdminWork::Triage)")]
    async fn update_ticket(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: TicketPatchInput,
    ) -> Result<Option<Ticket>> {
        let session = Session::from_context(ctx).extend()?;
        let patch = input.parse().extend()?;
        let ticket = tickets::update(session.db, session.viewer, &id, &patch)
            .await
            .extend()?;
        wake_subscribers(ctx);
        Ok(Some(Ticket::from(ticket)))
    }

    /// Admins only: applies `input` to each of 1–100 distinct tickets, each in a
    /// transaction of its own; one result per id, in the order given. Counts as one
    /// mutation per 10 ids against the rate limit.
    #[graphql(
        guard = "AdminOnly(AdminWork::Triage)",
        complexity = "crate::graphql::schema::cost::per_id(ids.len(), child_complexity)"
    )]
    async fn update_tickets(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
        input: TicketPatchInput,
    ) -> Result<Vec<TicketUpdateResult>> {
        let session = Session::from_context(ctx).extend()?;
        let patch = input.parse().extend()?;
        let raw: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
        let outcomes = tickets::update_many(session.db, session.viewer, &raw, &patch)
            .await
            .extend()?;
        wake_subscribers(ctx);
        Ok(ids
            .into_iter()
            .zip(outcomes)
            .map(|(id, outcome)| match outcome {
                Ok(ticket) => TicketUpdateResult {
                    id,
                    ticket: Some(Ticket::from(ticket)),
                    error: None,
                },
                Err(error) => TicketUpdateResult {
                    id,
                    ticket: None,
                    error: Some(TicketUpdateError {
                        code: error.code().to_owned(),
                        message: error.extend().message,
                    }),
                },
            })
            .collect())
    }

    /// Replies on a ticket you own, or any ticket as an admin. Only admins may write
    /// `internal` notes; a CLOSED ticket takes no messages; a customer's reply reopens
    /// a RESOLVED ticket.
    #[graphql(guard = "MayWrite::new(internal)")]
    async fn add_ticket_message(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        body: String,
        #[graphql(default = false)] internal: bool,
    ) -> Result<Option<TicketMessage>> {
        let session = Session::from_context(ctx).extend()?;
        let message = tickets::add_message(session.db, session.viewer, &ticket_id, &body, internal)
            .await
            .extend()?;
        wake_subscribers(ctx);
        Ok(Some(TicketMessage(message)))
    }
}

/// A mutation committed its events: on SQLite this instance's subscribers read them now
/// (on PostgreSQL every instance's learn of them from `NOTIFY`).
fn wake_subscribers(ctx: &Context<'_>) {
    if let Some(notifier) = ctx.data_opt::<Arc<EventNotifier>>() {
        notifier.events_committed();
    }
}
