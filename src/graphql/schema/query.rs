use async_graphql::{Context, ID, MergedObject, Object, Result, ResultExt};

use super::context::Session;
use super::guards::SignedIn;
use super::types::{Ticket, TicketOrder, TicketPage, TicketPriority, TicketStatus, Viewer};
use crate::domain::FilterInput;
use crate::tickets::{self, ListRequest};

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(ViewerQuery, TicketQuery);

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// Who the token says you are.
    #[graphql(guard = "SignedIn")]
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<Viewer>> {
        let session = Session::from_context(ctx).extend()?;
        Ok(Some(Viewer(session.viewer.clone())))
    }
}

#[derive(Default)]
pub struct TicketQuery;

#[Object]
impl TicketQuery {
    /// A page of tickets. Customers see only their own, whatever `userId` says; admins
    /// see all and may filter by owner. Filters combine with AND: `assigneeId` (assigned to
    /// that id) or `unassigned: true` (no assignee), `tags` (every one of them, 1–5;
    /// admins only). `page` ≥ 1, 1 ≤ `limit` ≤ 100.
    #[graphql(
        guard = "SignedIn",
        complexity = "crate::graphql::schema::cost::page(limit, child_complexity)"
    )]
    // Each one is an argument of the contract's `tickets` field.
    #[allow(clippy::too_many_arguments)]
    async fn tickets(
        &self,
        ctx: &Context<'_>,
        status: Option<TicketStatus>,
        user_id: Option<ID>,
        priority: Option<TicketPriority>,
        assignee_id: Option<ID>,
        unassigned: Option<bool>,
        tags: Option<Vec<String>>,
        #[graphql(default = 1)] page: i32,
        #[graphql(default = 10)] limit: i32,
        #[graphql(default)] order: TicketOrder,
    ) -> Result<Option<TicketPage>> {
        let session = Session::from_context(ctx).extend()?;
        let request = ListRequest {
            user_id: user_id.as_ref().map(|id| id.as_str()),
            filters: FilterInput {
                status: status.map(Into::into),
                priority: priority.map(Into::into),
                assignee_id: assignee_id.as_ref().map(|id| id.as_str()),
                unassigned,
                tags: tags.as_deref(),
            },
            page,
            limit,
            order: order.into(),
        };
        // Histories asked for are loaded for the whole page in one query, not per ticket.
        let with_messages = ctx
            .look_ahead()
            .field("items")
            .field("messages")
            .exists()
            .then_some(session.messages);
        let with_tags = ctx.look_ahead().field("items").field("tags").exists();
        let (items, summary) = tickets::list(
            session.db,
            session.viewer,
            request,
            with_messages,
            with_tags,
        )
        .await
        .extend()?;
        Ok(Some(TicketPage {
            items: items.into_iter().map(Ticket::from).collect(),
            pagination: summary.into(),
        }))
    }

    /// One ticket with its message history. NOT_FOUND when it does not exist or is
    /// not yours.
    #[graphql(guard = "SignedIn")]
    async fn ticket(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Ticket>> {
        let session = Session::from_context(ctx).extend()?;
        // A history asked for is read with the ticket, in the same statement.
        let with_messages = ctx
            .look_ahead()
            .field("messages")
            .exists()
            .then_some(session.messages);
        let ticket = tickets::get(session.db, session.viewer, &id, with_messages)
            .await
            .extend()?;
        Ok(Some(Ticket::from(ticket)))
    }
}
