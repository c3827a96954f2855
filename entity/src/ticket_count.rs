use sea_orm::entity::prelude::*;

use crate::enums::TicketStatus;

/// How many tickets one owner has in one status, kept exactly with every write so that
/// a list's total never needs a `COUNT(*)` over millions of rows. The owner `""` stands
/// for all owners.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket_counts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub status: TicketStatus,
    pub count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
