pub use super::enums::{Role, TicketEventKind, TicketStatus};
pub use super::ticket::Entity as Ticket;
pub use super::ticket_count::Entity as TicketCount;
pub use super::ticket_event::Entity as TicketEvent;
pub use super::ticket_message::Entity as TicketMessage;
