use sea_orm::entity::prelude::*;

/// Where a ticket stands in its life; stored as its upper-case name.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum TicketStatus {
    #[sea_orm(string_value = "OPEN")]
    Open,
    #[sea_orm(string_value = "IN_PROGRESS")]
    InProgress,
    #[sea_orm(string_value = "RESOLVED")]
    Resolved,
    #[sea_orm(string_value = "CLOSED")]
    Closed,
}

/// The role a user acts in; stored with each message as its author's role.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Role {
    #[sea_orm(string_value = "CUSTOMER")]
    Customer,
    #[sea_orm(string_value = "ADMIN")]
    Admin,
}

/// What happened to a ticket, in its timeline; stored as its upper-case name.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum TicketEventKind {
    #[sea_orm(string_value = "TICKET_CREATED")]
    TicketCreated,
    #[sea_orm(string_value = "MESSAGE_ADDED")]
    MessageAdded,
    #[sea_orm(string_value = "STATUS_CHANGED")]
    StatusChanged,
    #[sea_orm(string_value = "PRIORITY_CHANGED")]
    PriorityChanged,
    #[sea_orm(string_value = "ASSIGNEE_CHANGED")]
    AssigneeChanged,
    #[sea_orm(string_value = "TAGS_CHANGED")]
    TagsChanged,
}

/// How urgent a ticket is; stored as its rank, so that the most urgent sort first in
/// one index.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "i16", db_type = "SmallInteger")]
pub enum TicketPriority {
    #[sea_orm(num_value = 0)]
    Low,
    #[sea_orm(num_value = 1)]
    Normal,
    #[sea_orm(num_value = 2)]
    High,
    #[sea_orm(num_value = 3)]
    Urgent,
}

/// Where a webhook delivery stands; stored as its upper-case name.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum WebhookDeliveryStatus {
    /// Waiting for its next attempt (or in one).
    #[sea_orm(string_value = "PENDING")]
    Pending,
    #[sea_orm(string_value = "SUCCEEDED")]
    Succeeded,
    /// Its retry schedule ran out without a success.
    #[sea_orm(string_value = "FAILED")]
    Failed,
}
