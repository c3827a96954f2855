//! Who may see and do what. Every use case asks these rules; none decides on its own.

use entity::ticket;

use crate::domain::Viewer;
use crate::error::AppError;

/// Status changes are triage work: admins only.
pub fn ensure_may_change_status(viewer: &Viewer) -> Result<(), AppError> {
    if viewer.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "Only admins may change a ticket's status",
        ))
    }
}

/// Internal notes are written by admins only.
pub fn ensure_may_write(viewer: &Viewer, internal: bool) -> Result<(), AppError> {
    if internal && !viewer.is_admin() {
        Err(AppError::Forbidden("Only admins may write internal notes"))
    } else {
        Ok(())
    }
}

/// A customer sees only their own tickets; an admin sees every ticket.
pub fn can_see_ticket(viewer: &Viewer, ticket: &ticket::Model) -> bool {
    viewer.is_admin() || ticket.user_id == viewer.id
}

/// The owner a ticket list is confined to: the customer themself, or nobody for an admin.
pub fn ticket_owner_scope(viewer: &Viewer) -> Option<&str> {
    (!viewer.is_admin()).then_some(viewer.id.as_str())
}

/// Customers never see internal notes, in any form.
pub fn sees_internal_notes(viewer: &Viewer) -> bool {
    viewer.is_admin()
}

#[cfg(test)]
mod tests {
    use entity::prelude::{Role, TicketStatus};

    use super::*;

    fn viewer(id: &str, role: Role) -> Viewer {
        Viewer {
            id: id.into(),
            role,
        }
    }

    fn ticket_of(owner: &str) -> ticket::Model {
        let now = chrono::Utc::now();
        ticket::Model {
            id: uuid::Uuid::now_v7(),
            user_id: owner.into(),
            subject: "Subject".into(),
            status: TicketStatus::Open,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_customer_sees_their_own_ticket_only() {
        let alice = viewer("alice", Role::Customer);
        assert!(can_see_ticket(&alice, &ticket_of("alice")));
        assert!(!can_see_ticket(&alice, &ticket_of("bob")));
    }

    #[test]
    fn an_admin_sees_every_ticket() {
        assert!(can_see_ticket(
            &viewer("root", Role::Admin),
            &ticket_of("bob")
        ));
    }

    #[test]
    fn a_customers_list_is_confined_to_themself() {
        assert_eq!(
            ticket_owner_scope(&viewer("alice", Role::Customer)),
            Some("alice")
        );
        assert_eq!(ticket_owner_scope(&viewer("root", Role::Admin)), None);
    }

    #[test]
    fn only_admins_change_status_or_write_internal_notes() {
        let alice = viewer("alice", Role::Customer);
        assert_eq!(
            ensure_may_change_status(&alice).unwrap_err().code(),
            "FORBIDDEN"
        );
        assert_eq!(
            ensure_may_write(&alice, true).unwrap_err().code(),
            "FORBIDDEN"
        );
        assert!(ensure_may_write(&alice, false).is_ok());
        assert!(ensure_may_write(&viewer("root", Role::Admin), true).is_ok());
    }
}
