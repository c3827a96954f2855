//! Domain values that can only hold valid data, who acts, and the rules of a ticket's
//! life.

mod cursor;
mod listing;
mod pagination;
mod search;
mod text;
mod ticket;
mod triage;
mod viewer;
mod webhook;

pub use cursor::{CursorSigner, ListKey, Position};
pub use listing::{AssigneeFilter, FilterInput, ListFilters};
pub use pagination::{EventLimit, ListOrder, PageRequest, PageSummary, WindowRequest};
pub use search::SearchQuery;
pub use text::{MessageBody, Subject};
pub use ticket::{ensure_open_for_messages, parse_ticket_id, status_after_message};
pub use triage::{
    PatchInput, Patched, Tag, TicketPatch, first_responded_at_after, resolved_at_after,
};
pub use viewer::Viewer;
pub use webhook::{
    DeliveryLimit, WebhookDefinition, WebhookDescription, WebhookEvents, WebhookInput, WebhookUrl,
    parse_delivery_id, parse_webhook_id,
};
