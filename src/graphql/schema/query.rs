use std::sync::Arc;

use async_graphql::{Context, ID, MergedObject, Object, Result, ResultExt};

use super::connection::TicketConnection;
use super::context::Session;
use super::guards::SignedIn;
use super::types::{Ticket, TicketOrder, TicketPage, TicketPriority, TicketStatus, Viewer};
use super::webhooks::WebhookQuery;
use crate::domain::FilterInput;
use crate::error::AppError;
use crate::listing::{self, CursorKeys, Details, ListRequest, WindowInput};
use crate::tickets;

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(ViewerQuery, TicketQuery, WebhookQuery);

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
    /// admins only), `search` (1–200 characters: every word, stemmed, in the subject or a
    /// message the viewer may see; `"phrases"`, `-word`, `or`). `page` ≥ 1,
    /// 1 ≤ `limit` ≤ 100.
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
        search: Option<String>,
        #[graphql(default = 1)] page: i32,
        #[graphql(default = 10)] limit: i32,
        #[graphql(default)] order: TicketOrder,
    ) -> Result<Option<TicketPage>> {
        let session = Session::from_context(ctx).extend()?;
        let filters = ListFilterArguments {
            status,
            priority,
            assignee_id,
            unassigned,
            tags,
            search,
        };
        let request = list_request(&user_id, &filters, order);
        let items = ctx.look_ahead().field("items");
        // Histories and tags asked for are loaded for the whole page in one query each.
        let details = Details {
            messages: items.field("messages").exists().then_some(session.messages),
            tags: items.field("tags").exists(),
        };
        let (items, summary) =
            listing::page(session.db, session.viewer, request, page, limit, details)
                .await
                .extend()?;
        Ok(Some(TicketPage {
            items: items.into_iter().map(Ticket::from).collect(),
            pagination: summary.into(),
        }))
    }

    /// The tickets of `tickets`, by cursor as the Relay connection specification pages:
    /// `first` (1–100) after `after`, or `last` (1–100) before `before`; neither is
    /// `first: 10`. Cursors are made for one order and one set of filters, and refused
    /// (BAD_USER_INPUT) with any other.
    #[graphql(
        guard = "SignedIn",
        complexity = "crate::graphql::schema::cost::page(first.or(last).unwrap_or(10), child_complexity)"
    )]
    // Each one is an argument of the contract's `ticketsConnection` field.
    #[allow(clippy::too_many_arguments)]
    async fn tickets_connection(
        &self,
        ctx: &Context<'_>,
        status: Option<TicketStatus>,
        user_id: Option<ID>,
        priority: Option<TicketPriority>,
        assignee_id: Option<ID>,
        unassigned: Option<bool>,
        tags: Option<Vec<String>>,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        #[graphql(default)] order: TicketOrder,
    ) -> Result<Option<TicketConnection>> {
        let session = Session::from_context(ctx).extend()?;
        let cursors = ctx
            .data_opt::<Arc<CursorKeys>>()
            .ok_or(AppError::Internal(
                "the schema was built without cursor keys",
            ))
            .extend()?;
        let filters = ListFilterArguments {
            status,
            priority,
            assignee_id,
            unassigned,
            tags,
            search,
        };
        let request = list_request(&user_id, &filters, order);
        let look_ahead = ctx.look_ahead();
        let nodes = [
            look_ahead.field("nodes"),
            look_ahead.field("edges").field("node"),
        ];
        let details = Details {
            messages: nodes
                .iter()
                .any(|node| node.field("messages").exists())
                .then_some(session.messages),
            tags: nodes.iter().any(|node| node.field("tags").exists()),
        };
        let input = WindowInput {
            first,
            after: after.as_deref(),
            last,
            before: before.as_deref(),
        };
        let window = listing::window(session.db, cursors, session.viewer, request, input, details)
            .await
            .extend()?;
        Ok(Some(TicketConnection::from(window)))
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

/// The filters `tickets` and `ticketsConnection` share, as the client sent them.
struct ListFilterArguments {
    status: Option<TicketStatus>,
    priority: Option<TicketPriority>,
    assignee_id: Option<ID>,
    unassigned: Option<bool>,
    tags: Option<Vec<String>>,
    search: Option<String>,
}

fn list_request<'a>(
    user_id: &'a Option<ID>,
    filters: &'a ListFilterArguments,
    order: TicketOrder,
) -> ListRequest<'a> {
    ListRequest {
        user_id: user_id.as_ref().map(|id| id.as_str()),
        filters: FilterInput {
            status: filters.status.map(Into::into),
            priority: filters.priority.map(Into::into),
            assignee_id: filters.assignee_id.as_ref().map(|id| id.as_str()),
            unassigned: filters.unassigned,
            tags: filters.tags.as_deref(),
            search: filters.search.as_deref(),
        },
        order: order.into(),
    }
}
