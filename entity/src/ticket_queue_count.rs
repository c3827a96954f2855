use sea_orm::entity::prelude::*;

use crate::enums::{TicketPriority, TicketStatus};

/// How many tickets are in one status, at one priority, with one assignee, kept exactly
/// with every write as [`crate::ticket_count`] is: the total of a queue ("OPEN and
/// unassigned") is a sum of a few rows. The assignee `""` stands for nobody (not NULL: a
/// key column must be comparable, and no assignee id is empty).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket_queue_counts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub status: TicketStatus,
    #[sea_orm(primary_key, auto_increment = false)]
    pub priority: TicketPriority,
    #[sea_orm(primary_key, auto_increment = false)]
    pub assignee_id: String,
    pub count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
