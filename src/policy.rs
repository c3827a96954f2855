//! Who may see and do what. Every use case asks these rules; none decides on its own.

use entity::ticket;

use crate::domain::{FilterInput, Viewer};
use crate::error::AppError;

/// The work only admins do, each named in the refusal of a customer who tries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminWork {
    /// `updateTicketStatus`.
    ChangeStatus,
    /// `updateTicket`, `updateTickets`: status, priority, assignee and tags.
    Triage,
    /// Every webhook field: `webhooks`, `webhookDeliveries` and their mutations.
    Webhooks,
}

impl AdminWork {
    fn refusal(self) -> &'static str {
        match self {
            Self::ChangeStatus => "Only admins may change a ticket's status",
            Self::Triage => "Only admins may update tickets",
            Self::Webhooks => "Only admins may manage webhooks",
        }
    }
}

/// Triage is admin work.
pub fn ensure_admin(viewer: &Viewer, work: AdminWork) -> Result<(), AppError> {
    if viewer.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden(work.refusal()))
    }
}

/// Tags are staff-only: a customer may not even filter by them, since an answer (an empty
/// one too) would tell them something.
pub fn ensure_may_filter(viewer: &Viewer, filters: &FilterInput<'_>) -> Result<(), AppError> {
    if filters.tags.is_some() && !viewer.is_admin() {
        Err(AppError::Forbidden("Only admins may filter by tags"))
    } else {
        Ok(())
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

/// How much of the tickets they may see a viewer sees: with the staff-only data (internal
/// notes and their events) or without. Only this module makes one, so that a read of the
/// store is never wider than a rule here allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Visibility {
    staff_only: bool,
}

impl Visibility {
    /// Whether staff-only data is included.
    pub fn includes_staff_only(self) -> bool {
        self.staff_only
    }
}

/// Customers never see staff-only data, in any form.
pub fn visibility(viewer: &Viewer) -> Visibility {
    Visibility {
        staff_only: viewer.is_admin(),
    }
}

/// The server's own readers, which read every event once and hand each on only to the
/// viewers whose streams hold it.
pub fn server_wide() -> Visibility {
    Visibility { staff_only: true }
}

/// Whose tickets a list or a feed holds: one owner's, or every owner's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerScope(Option<String>);

impl OwnerScope {
    /// The one owner, or `None` for every owner.
    pub fn owner(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// The owners a viewer's list or feed holds, when they asked for `asked`'s (or anyone's):
/// a customer is confined to themself, an admin may narrow to anyone. `None` when nothing
/// can match: a customer asking for another owner's tickets.
pub fn owner_scope(viewer: &Viewer, asked: Option<&str>) -> Option<OwnerScope> {
    if viewer.is_admin() {
        return Some(OwnerScope(asked.map(str::to_owned)));
    }
    match asked {
        Some(other) if other != viewer.id => None,
        _ => Some(OwnerScope(Some(viewer.id.clone()))),
    }
}

#[cfg(test)]
mod tests {
    use entity::prelude::{Role, TicketPriority, TicketStatus};

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
            priority: TicketPriority::Normal,
            assignee_id: None,
            first_responded_at: None,
            resolved_at: None,
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
        let alice = viewer("alice", Role::Customer);
        let scope = owner_scope(&alice, None).expect("a scope");
        assert_eq!(scope.owner(), Some("alice"));
        let scope = owner_scope(&alice, Some("alice")).expect("a scope");
        assert_eq!(scope.owner(), Some("alice"));
    }

    #[test]
    fn a_customer_asking_for_another_owners_tickets_can_match_nothing() {
        assert_eq!(
            owner_scope(&viewer("alice", Role::Customer), Some("bob")),
            None
        );
    }

    #[test]
    fn an_admin_lists_everyone_or_narrows_to_one_owner() {
        let root = viewer("root", Role::Admin);
        assert_eq!(owner_scope(&root, None).expect("a scope").owner(), None);
        assert_eq!(
            owner_scope(&root, Some("bob")).expect("a scope").owner(),
            Some("bob")
        );
    }

    #[test]
    fn only_admins_see_staff_only_data() {
        assert!(!visibility(&viewer("alice", Role::Customer)).includes_staff_only());
        assert!(visibility(&viewer("root", Role::Admin)).includes_staff_only());
    }

    #[test]
    fn only_admins_change_status_or_write_internal_notes() {
        let alice = viewer("alice", Role::Customer);
        assert_eq!(
            ensure_admin(&alice, AdminWork::ChangeStatus)
                .unwrap_err()
                .code(),
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
