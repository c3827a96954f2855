use entity::prelude::{Role, TicketStatus};

use uuid::Uuid;

use crate::error::AppError;

/// A ticket id as a client sent it. One that is not a UUID names no ticket: NOT_FOUND,
/// like any other unknown id.
pub fn parse_ticket_id(raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw).map_err(|_| AppError::ticket_not_found())
}

/// A closed ticket takes no more messages.
pub fn ensure_open_for_messages(status: TicketStatus) -> Result<(), AppError> {
    if status == TicketStatus::Closed {
        return Err(AppError::FailedPrecondition("Ticket is closed"));
    }
    Ok(())
}

/// The status a ticket moves to when a message is added: a customer writing on a
/// resolved ticket reopens it; nothing else changes the status.
pub fn status_after_message(current: TicketStatus, author: Role) -> TicketStatus {
    match (current, author) {
        (TicketStatus::Resolved, Role::Customer) => TicketStatus::Open,
        _ => current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_ticket_refuses_messages() {
        let error = ensure_open_for_messages(TicketStatus::Closed).unwrap_err();
        assert_eq!(error.code(), "FAILED_PRECONDITION");
    }

    #[test]
    fn every_other_status_takes_messages() {
        for status in [
            TicketStatus::Open,
            TicketStatus::InProgress,
            TicketStatus::Resolved,
        ] {
            assert!(ensure_open_for_messages(status).is_ok());
        }
    }

    #[test]
    fn a_customer_reply_reopens_a_resolved_ticket() {
        assert_eq!(
            status_after_message(TicketStatus::Resolved, Role::Customer),
            TicketStatus::Open
        );
    }

    #[test]
    fn an_admin_reply_leaves_a_resolved_ticket_resolved() {
        assert_eq!(
            status_after_message(TicketStatus::Resolved, Role::Admin),
            TicketStatus::Resolved
        );
    }

    #[test]
    fn a_customer_reply_leaves_an_in_progress_ticket_alone() {
        assert_eq!(
            status_after_message(TicketStatus::InProgress, Role::Customer),
            TicketStatus::InProgress
        );
    }
}
