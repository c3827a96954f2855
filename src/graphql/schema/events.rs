//! The ticket timeline's types: what `Ticket.events` answers and subscriptions deliver.

use std::collections::HashMap;

use async_graphql::{Context, Enum, ID, Object, Result, ResultExt};
use entity::{ticket, ticket_event};
use uuid::Uuid;

use super::context::Session;
use super::scalars::DateTime;
use super::types::{Role, Ticket, TicketMessage, TicketPriority, TicketStatus};
use crate::events;

#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "entity::prelude::TicketEventKind")]
pub enum TicketEventKind {
    TicketCreated,
    MessageAdded,
    StatusChanged,
    PriorityChanged,
    AssigneeChanged,
    /// Staff-only: never in a customer's timeline or subscriptions.
    TagsChanged,
}

/// One event with what was loaded with it.
pub struct TicketEvent {
    event: ticket_event::Model,
    /// Its message, when it was loaded with the timeline (`None` inside when there is
    /// none the viewer may see).
    message: Option<Option<TicketMessage>>,
    /// The ticket, when the timeline was read from it.
    ticket: Option<ticket::Model>,
}

impl From<ticket_event::Model> for TicketEvent {
    /// An event on its own (as a subscription delivers it): its message and ticket are
    /// read when asked for.
    fn from(event: ticket_event::Model) -> Self {
        Self {
            event,
            message: None,
            ticket: None,
        }
    }
}

impl TicketEvent {
    /// An event read once for many subscribers, with its message: one its viewer may see,
    /// since the event is in their stream.
    pub fn with_message(
        event: ticket_event::Model,
        message: Option<entity::ticket_message::Model>,
    ) -> Self {
        Self {
            event,
            message: Some(message.map(TicketMessage)),
            ticket: None,
        }
    }
}

/// A timeline read from `ticket`: each event carries it, and, when they were loaded in
/// one query for the whole timeline, its message.
pub fn timeline_of(
    ticket: &ticket::Model,
    events: Vec<ticket_event::Model>,
    mut messages: Option<HashMap<Uuid, entity::ticket_message::Model>>,
) -> Vec<TicketEvent> {
    events
        .into_iter()
        .map(|event| {
            let message = messages.as_mut().map(|loaded| {
                event
                    .message_id
                    .and_then(|id| loaded.get(&id).cloned())
                    .map(TicketMessage)
            });
            TicketEvent {
                event,
                message,
                ticket: Some(ticket.clone()),
            }
        })
        .collect()
}

/// Tags as a TAGS_CHANGED event keeps them: separated by spaces, which no tag holds.
fn tag_list(stored: Option<&str>) -> Option<Vec<String>> {
    stored.map(|tags| tags.split_whitespace().map(str::to_owned).collect())
}

/// Something that happened to a ticket. The ticket's timeline, and what subscriptions deliver.
#[Object]
impl TicketEvent {
    /// UUID v7; a later event of the same server has a greater id.
    async fn id(&self) -> ID {
        ID(self.event.id.to_string())
    }

    async fn kind(&self) -> TicketEventKind {
        self.event.kind.into()
    }

    async fn ticket_id(&self) -> ID {
        ID(self.event.ticket_id.to_string())
    }

    async fn actor_id(&self) -> ID {
        ID(self.event.actor_id.clone())
    }

    async fn actor_role(&self) -> Role {
        self.event.actor_role.into()
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.event.created_at)
    }

    /// TICKET_CREATED: the first message. MESSAGE_ADDED: the message.
    async fn message(&self, ctx: &Context<'_>) -> Result<Option<TicketMessage>> {
        if let Some(loaded) = &self.message {
            return Ok(loaded.clone());
        }
        if self.event.message_id.is_none() {
            return Ok(None);
        }
        let session = Session::from_context(ctx).extend()?;
        let mut messages = events::messages_of(
            session.db,
            session.viewer,
            std::slice::from_ref(&self.event),
            session.messages,
        )
        .await
        .extend()?;
        Ok(self
            .event
            .message_id
            .and_then(|id| messages.remove(&id))
            .map(TicketMessage))
    }

    /// STATUS_CHANGED only.
    async fn from_status(&self) -> Option<TicketStatus> {
        self.event.from_status.map(Into::into)
    }

    async fn to_status(&self) -> Option<TicketStatus> {
        self.event.to_status.map(Into::into)
    }

    /// PRIORITY_CHANGED only.
    async fn from_priority(&self) -> Option<TicketPriority> {
        self.event.from_priority.map(Into::into)
    }

    async fn to_priority(&self) -> Option<TicketPriority> {
        self.event.to_priority.map(Into::into)
    }

    /// ASSIGNEE_CHANGED only; null: was unassigned.
    async fn from_assignee_id(&self) -> Option<ID> {
        self.event.from_assignee_id.clone().map(ID)
    }

    /// ASSIGNEE_CHANGED only; null: is now unassigned.
    async fn to_assignee_id(&self) -> Option<ID> {
        self.event.to_assignee_id.clone().map(ID)
    }

    /// TAGS_CHANGED only, sorted.
    async fn added_tags(&self) -> Option<Vec<String>> {
        tag_list(self.event.added_tags.as_deref())
    }

    async fn removed_tags(&self) -> Option<Vec<String>> {
        tag_list(self.event.removed_tags.as_deref())
    }

    /// The ticket as it is now, as the viewer may see it.
    async fn ticket(&self, ctx: &Context<'_>) -> Result<Ticket> {
        if let Some(ticket) = &self.ticket {
            return Ok(Ticket::from(ticket.clone()));
        }
        let session = Session::from_context(ctx).extend()?;
        let ticket = events::ticket_of(session.db, session.viewer, &self.event)
            .await
            .extend()?;
        Ok(Ticket::from(ticket))
    }
}
