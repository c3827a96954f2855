use sea_orm::entity::prelude::*;

use crate::enums::{TicketPriority, TicketStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tickets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The JWT `sub` of the customer who opened the ticket.
    pub user_id: String,
    pub subject: String,
    pub status: TicketStatus,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub priority: TicketPriority,
    /// The user id (token `sub`) of the admin who owns the ticket.
    pub assignee_id: Option<String>,
    /// The first public message by an admin.
    pub first_responded_at: Option<DateTimeUtc>,
    /// When it last became RESOLVED or CLOSED; `None` while OPEN or IN_PROGRESS.
    pub resolved_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::ticket_message::Entity")]
    Messages,
    #[sea_orm(has_many = "super::ticket_tag::Entity")]
    Tags,
}

impl Related<super::ticket_message::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Messages.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
