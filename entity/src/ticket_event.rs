use sea_orm::entity::prelude::*;

use crate::enums::{Role, TicketEventKind, TicketPriority, TicketStatus};

/// Something that happened to a ticket, recorded in the same transaction as the change.
/// Ids are UUID v7 in commit order, so a reader resumes a stream with `id > last seen`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub ticket_id: Uuid,
    /// The ticket's owner, copied here so that a customer's feed is one index scan.
    pub owner_id: String,
    pub kind: TicketEventKind,
    pub actor_id: String,
    pub actor_role: Role,
    pub created_at: DateTimeUtc,
    /// TICKET_CREATED: the first message; MESSAGE_ADDED: the message.
    pub message_id: Option<Uuid>,
    /// Staff-only, never shown to customers: a MESSAGE_ADDED of an internal note, or a
    /// TAGS_CHANGED.
    pub internal: bool,
    pub from_status: Option<TicketStatus>,
    pub to_status: Option<TicketStatus>,
    /// The ticket's status once this event happened, for feeds filtered by status.
    pub status_after: TicketStatus,
    pub from_priority: Option<TicketPriority>,
    pub to_priority: Option<TicketPriority>,
    /// ASSIGNEE_CHANGED: `None` for unassigned.
    pub from_assignee_id: Option<String>,
    pub to_assignee_id: Option<String>,
    /// TAGS_CHANGED: the tags added and removed, sorted, separated by spaces (a tag holds
    /// none).
    #[sea_orm(column_type = "Text", nullable)]
    pub added_tags: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub removed_tags: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::ticket::Entity",
        from = "Column::TicketId",
        to = "super::ticket::Column::Id",
        on_delete = "Cascade"
    )]
    Ticket,
    #[sea_orm(
        belongs_to = "super::ticket_message::Entity",
        from = "Column::MessageId",
        to = "super::ticket_message::Column::Id",
        on_delete = "Cascade"
    )]
    Message,
}

impl Related<super::ticket::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Ticket.def()
    }
}

impl Related<super::ticket_message::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Message.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
