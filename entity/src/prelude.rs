pub use super::enums::{Role, TicketEventKind, TicketPriority, TicketStatus};
pub use super::idempotency_key::Entity as IdempotencyKey;
pub use super::server_key::Entity as ServerKey;
pub use super::ticket::Entity as Ticket;
pub use super::ticket_count::Entity as TicketCount;
pub use super::ticket_event::Entity as TicketEvent;
pub use super::ticket_message::Entity as TicketMessage;
pub use super::ticket_tag::Entity as TicketTag;
