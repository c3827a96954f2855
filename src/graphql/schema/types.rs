use std::borrow::Cow;

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, ResultExt, SimpleObject};
use entity::{ticket, ticket_message};

use super::context::Session;
use super::events::{TicketEvent, timeline_of};
use super::scalars::DateTime;
use crate::domain::{self, ListOrder, PageSummary, PatchInput, TicketPatch};
use crate::error::AppError;
use crate::{events, tickets};

/// The role a user acts in.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "entity::prelude::Role")]
pub enum Role {
    /// Opens tickets and sees only their own.
    Customer,
    /// Support staff: sees every ticket, changes statuses, writes internal notes.
    Admin,
}

/// Where a ticket stands.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "entity::prelude::TicketStatus")]
pub enum TicketStatus {
    Open,
    InProgress,
    Resolved,
    Closed,
}

/// How urgent a ticket is.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "entity::prelude::TicketPriority")]
pub enum TicketPriority {
    Low,
    Normal,
    High,
    Urgent,
}

/// The order of a ticket list.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "crate::domain::ListOrder")]
pub enum TicketOrder {
    /// Most recently created first; ties broken by id, descending.
    NewestFirst,
    /// The exact reverse of `NEWEST_FIRST`.
    OldestFirst,
    /// URGENT, HIGH, NORMAL, LOW; within a priority the oldest first; ties by id ascending.
    Priority,
    /// `updatedAt` descending; ties by id descending.
    RecentlyUpdated,
    /// The best match first (only with `search`, and on `tickets` only); ties newest first.
    Relevance,
}

impl Default for TicketOrder {
    fn default() -> Self {
        ListOrder::NewestFirst.into()
    }
}

/// The signed-in user, as their token says.
pub struct Viewer(pub domain::Viewer);

#[Object(name = "Viewer")]
impl Viewer {
    /// The user id: the token's `sub`.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn role(&self) -> Role {
        self.0.role.into()
    }
}

/// A customer's support request and its conversation.
#[derive(Clone)]
pub struct Ticket {
    model: ticket::Model,
    /// The history, when it was loaded with the ticket (a page's in one query for the whole
    /// page, a single ticket's in the ticket's own statement).
    messages: Option<Vec<TicketMessage>>,
    /// The tags, when they were loaded with a page.
    tags: Option<Vec<String>>,
}

impl From<ticket::Model> for Ticket {
    fn from(model: ticket::Model) -> Self {
        Self {
            model,
            messages: None,
            tags: None,
        }
    }
}

impl From<tickets::TicketWithHistory> for Ticket {
    fn from(loaded: tickets::TicketWithHistory) -> Self {
        Self {
            model: loaded.ticket,
            messages: loaded
                .messages
                .map(|messages| messages.into_iter().map(TicketMessage).collect()),
            tags: loaded.tags,
        }
    }
}

#[Object]
impl Ticket {
    /// A UUID (v7), lower-case and hyphenated.
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }

    /// The owner: the user id of the customer who opened the ticket.
    async fn user_id(&self) -> ID {
        ID(self.model.user_id.clone())
    }

    async fn subject(&self) -> &str {
        &self.model.subject
    }

    async fn status(&self) -> TicketStatus {
        self.model.status.into()
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.model.created_at)
    }

    /// Changes with every change but a tag's, and with every public message.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.model.updated_at)
    }

    /// NORMAL for a new ticket.
    async fn priority(&self) -> TicketPriority {
        self.model.priority.into()
    }

    /// The user id (token `sub`) of the admin who owns the ticket, or null.
    async fn assignee_id(&self) -> Option<ID> {
        self.model.assignee_id.clone().map(ID)
    }

    /// Staff-only labels, sorted; customers always get none.
    async fn tags(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        if let Some(loaded) = &self.tags {
            return Ok(loaded.clone());
        }
        let session = Session::from_context(ctx).extend()?;
        tickets::tags(session.db, session.viewer, &self.model)
            .await
            .extend()
    }

    /// The first public message by an admin; null until then.
    async fn first_responded_at(&self) -> Option<DateTime> {
        self.model.first_responded_at.map(DateTime)
    }

    /// When it last became RESOLVED or CLOSED; null while OPEN or IN_PROGRESS.
    async fn resolved_at(&self) -> Option<DateTime> {
        self.model.resolved_at.map(DateTime)
    }

    /// The whole history, oldest first; the first is the message the ticket was opened
    /// with. Customers do not see internal notes.
    #[graphql(complexity = "crate::graphql::schema::cost::history(child_complexity)")]
    async fn messages(&self, ctx: &Context<'_>) -> Result<Cow<'_, Vec<TicketMessage>>> {
        if let Some(loaded) = &self.messages {
            return Ok(Cow::Borrowed(loaded));
        }
        let session = Session::from_context(ctx).extend()?;
        let messages = tickets::history(session.db, session.viewer, &self.model, session.messages)
            .await
            .extend()?;
        Ok(Cow::Owned(
            messages.into_iter().map(TicketMessage).collect(),
        ))
    }

    /// The timeline, oldest first: events after `after` (exclusive), at most `limit` (1–100).
    #[graphql(complexity = "crate::graphql::schema::cost::page(limit, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        after: Option<ID>,
        #[graphql(default = 50)] limit: i32,
    ) -> Result<Vec<TicketEvent>> {
        let session = Session::from_context(ctx).extend()?;
        let after = after.as_ref().map(|id| id.as_str());
        let timeline = events::timeline(session.db, session.viewer, &self.model, after, limit)
            .await
            .extend()?;
        // Messages asked for are loaded for the whole timeline in one query.
        let messages = if ctx.look_ahead().field("message").exists() {
            let loaded =
                events::messages_of(session.db, session.viewer, &timeline, session.messages)
                    .await
                    .extend()?;
            Some(loaded)
        } else {
            None
        };
        Ok(timeline_of(&self.model, timeline, messages))
    }
}

/// One message in a ticket's conversation.
#[derive(Clone)]
pub struct TicketMessage(pub ticket_message::Model);

#[Object]
impl TicketMessage {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn ticket_id(&self) -> ID {
        ID(self.0.ticket_id.to_string())
    }

    async fn author_id(&self) -> ID {
        ID(self.0.author_id.clone())
    }

    async fn author_role(&self) -> Role {
        self.0.author_role.into()
    }

    async fn body(&self) -> &str {
        &self.0.body
    }

    /// An admin-only note, never shown to customers.
    async fn internal(&self) -> bool {
        self.0.internal
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
}

/// Where a page lies within all matching items.
#[derive(SimpleObject)]
pub struct Pagination {
    /// How many items match, over all pages.
    total: i32,
    /// The page asked for, from 1.
    page: i32,
    /// The largest number of items on a page.
    limit: i32,
    /// `ceil(total / limit)`; 0 when nothing matches.
    total_pages: i32,
    has_next_page: bool,
    has_previous_page: bool,
}

impl From<PageSummary> for Pagination {
    fn from(summary: PageSummary) -> Self {
        let int = |value: u64| i32::try_from(value).unwrap_or(i32::MAX);
        Self {
            total: int(summary.total),
            page: int(summary.page),
            limit: int(summary.limit),
            total_pages: int(summary.total_pages),
            has_next_page: summary.has_next_page(),
            has_previous_page: summary.has_previous_page(),
        }
    }
}

/// One page of tickets.
#[derive(SimpleObject)]
pub struct TicketPage {
    pub items: Vec<Ticket>,
    pub pagination: Pagination,
}

/// Changes to a ticket: each field given is applied, all in one transaction, or none.
#[derive(InputObject)]
#[graphql(name = "TicketPatch")]
pub struct TicketPatchInput {
    pub status: Option<TicketStatus>,
    pub priority: Option<TicketPriority>,
    /// The admin who owns the ticket: any user id, trimmed, 1–255 characters.
    pub assignee_id: Option<ID>,
    /// Clears the assignee; not with `assigneeId`.
    #[graphql(default = false)]
    pub unassign: bool,
    /// Each trimmed, lower-cased, then `^[a-z0-9][a-z0-9_:-]{0,39}$`; a ticket holds at
    /// most 20.
    pub add_tags: Option<Vec<String>>,
    pub remove_tags: Option<Vec<String>>,
}

impl TicketPatchInput {
    pub fn parse(&self) -> Result<TicketPatch, AppError> {
        TicketPatch::parse(PatchInput {
            status: self.status.map(Into::into),
            priority: self.priority.map(Into::into),
            assignee_id: self.assignee_id.as_ref().map(|id| id.as_str()),
            unassign: self.unassign,
            add_tags: self.add_tags.as_deref(),
            remove_tags: self.remove_tags.as_deref(),
        })
    }
}

/// Why one ticket of a bulk update was not updated.
#[derive(SimpleObject)]
pub struct TicketUpdateError {
    /// NOT_FOUND (unknown or malformed id), BAD_USER_INPUT (it would hold more than 20
    /// tags) or INTERNAL_SERVER_ERROR.
    pub code: String,
    pub message: String,
}

/// The outcome of a bulk update for one id: `ticket` or `error`.
#[derive(SimpleObject)]
pub struct TicketUpdateResult {
    /// The id as it was sent.
    pub id: ID,
    pub ticket: Option<Ticket>,
    pub error: Option<TicketUpdateError>,
}

/// A new ticket. Both texts are trimmed; `subject` must then hold 1–255 characters and
/// `message` 1–10,000.
#[derive(InputObject)]
pub struct CreateTicketInput {
    pub subject: String,
    /// The first message of the conversation.
    pub message: String,
}
