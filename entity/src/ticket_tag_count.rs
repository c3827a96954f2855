use sea_orm::entity::prelude::*;

use crate::enums::TicketStatus;

/// How many tickets in one status hold one tag, kept exactly with every write as
/// [`crate::ticket_count`] is: the total of "tagged billing and OPEN" is one row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket_tag_counts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tag: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub status: TicketStatus,
    pub count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
