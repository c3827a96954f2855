//! The use cases: each checks the caller, parses its input and applies the rules, in
//! the contract's order of errors (forbidden, then bad input, then not found, then
//! failed precondition). Each mutation records its events (`store::record_events`) as
//! the last write of its transaction, so the timeline holds exactly what committed.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, SubsecRound, Utc};
use entity::prelude::TicketStatus;
use entity::{ticket, ticket_message};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::budget::MessageBudget;
use crate::domain::{self, MessageBody, Patched, Subject, TicketPatch, Viewer};
use crate::error::AppError;
use crate::policy::{self, AdminWork};
use crate::store::{self, Change, NewEvent};

/// A valid request to open a ticket.
pub struct NewTicketRequest {
    subject: Subject,
    message: MessageBody,
}

impl NewTicketRequest {
    /// Checks `subject` before `message`, so that when both are wrong the error names `subject`.
    pub fn parse(subject: &str, message: &str) -> Result<Self, AppError> {
        Ok(Self {
            subject: Subject::parse(subject)?,
            message: MessageBody::parse(message, "message")?,
        })
    }
}

/// A ticket and, when they were loaded with it, its history and its tags.
pub struct TicketWithHistory {
    pub ticket: ticket::Model,
    pub messages: Option<Vec<ticket_message::Model>>,
    pub tags: Option<Vec<String>>,
}

/// The tags of a ticket the viewer may see, sorted: none for a customer, since tags are
/// staff-only.
pub async fn tags(
    db: &DatabaseConnection,
    viewer: &Viewer,
    ticket: &ticket::Model,
) -> Result<Vec<String>, AppError> {
    let mut tags = tags_of_tickets(db, viewer, &[ticket.id]).await?;
    Ok(tags.remove(&ticket.id).unwrap_or_default())
}

pub(crate) async fn tags_of_tickets(
    db: &DatabaseConnection,
    viewer: &Viewer,
    tickets: &[Uuid],
) -> Result<HashMap<Uuid, Vec<String>>, AppError> {
    if !policy::visibility(viewer).includes_staff_only() {
        return Ok(HashMap::new());
    }
    Ok(store::tags_of_tickets(db, tickets).await?)
}

pub(crate) fn group_by_ticket(
    messages: Vec<ticket_message::Model>,
) -> HashMap<Uuid, Vec<ticket_message::Model>> {
    let mut grouped: HashMap<Uuid, Vec<ticket_message::Model>> = HashMap::new();
    for message in messages {
        grouped.entry(message.ticket_id).or_default().push(message);
    }
    grouped
}

/// A ticket the viewer may see and, when `with_messages`, its history, read with it in
/// the same statement.
pub async fn get(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: &str,
    with_messages: Option<&MessageBudget>,
) -> Result<TicketWithHistory, AppError> {
    let id = domain::parse_ticket_id(id)?;
    let found = match with_messages {
        Some(budget) => {
            let visibility = policy::visibility(viewer);
            let reservation = budget.reserve().await?;
            let found =
                store::find_ticket_with_messages(db, id, visibility, reservation.rows()).await?;
            reservation.spend(found.as_ref().map_or(0, |(_, messages)| messages.len()))?;
            found.map(|(ticket, messages)| TicketWithHistory {
                ticket,
                messages: Some(messages),
                tags: None,
            })
        }
        None => store::find_ticket(db, id)
            .await?
            .map(|ticket| TicketWithHistory {
                ticket,
                messages: None,
                tags: None,
            }),
    };
    found
        .filter(|loaded| policy::can_see_ticket(viewer, &loaded.ticket))
        .ok_or_else(AppError::ticket_not_found)
}

/// The messages of a ticket the viewer may see, oldest first.
pub async fn history(
    db: &DatabaseConnection,
    viewer: &Viewer,
    ticket: &ticket::Model,
    budget: &MessageBudget,
) -> Result<Vec<ticket_message::Model>, AppError> {
    if !policy::can_see_ticket(viewer, ticket) {
        return Err(AppError::ticket_not_found());
    }
    read_histories(db, viewer, &[ticket.id], budget).await
}

/// The histories of `tickets` as `viewer` may see them, within what the operation may
/// still read.
pub(crate) async fn read_histories(
    db: &DatabaseConnection,
    viewer: &Viewer,
    tickets: &[Uuid],
    budget: &MessageBudget,
) -> Result<Vec<ticket_message::Model>, AppError> {
    let visibility = policy::visibility(viewer);
    let reservation = budget.reserve().await?;
    let messages = store::messages_of_tickets(db, tickets, visibility, reservation.rows()).await?;
    reservation.spend(messages.len())?;
    Ok(messages)
}

/// Opens a ticket owned by the viewer, with its first message, in one transaction.
pub async fn create(
    db: &DatabaseConnection,
    viewer: &Viewer,
    request: NewTicketRequest,
) -> Result<ticket::Model, AppError> {
    let at = now();
    let txn = store::begin_write(db).await?;
    let ticket = store::insert_ticket(
        &txn,
        store::NewTicket {
            id: Uuid::now_v7(),
            owner: viewer.id.clone(),
            subject: request.subject.into_inner(),
            at,
        },
    )
    .await?;
    let message = store::insert_message_with_events(
        &txn,
        store::NewMessage {
            ticket_id: ticket.id,
            author_id: viewer.id.clone(),
            author_role: viewer.role,
            body: request.message.into_inner(),
            internal: false,
            at,
        },
        |message| {
            let created = Change::Created {
                message: message.id,
            };
            vec![event(&ticket, viewer, at, created)]
        },
    )
    .await?;
    store::index_new_ticket(&txn, ticket.id, &ticket.subject, &message.body).await?;
    store::count_new_ticket(&txn, &ticket).await?;
    store::commit(txn).await?;
    Ok(ticket)
}

/// `updateTicketStatus`: [`update`] with the status alone.
pub async fn update_status(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: &str,
    status: TicketStatus,
) -> Result<ticket::Model, AppError> {
    policy::ensure_admin(viewer, AdminWork::ChangeStatus)?;
    let id = domain::parse_ticket_id(id)?;
    patch_ticket(db, viewer, id, &TicketPatch::status_only(status)).await
}

/// Applies a valid patch to one ticket, in one transaction: every change it makes, with
/// one event per field that really changed, or nothing. A repeat changes nothing more and
/// records no event: the ticket is answered as it is.
pub async fn update(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: &str,
    patch: &TicketPatch,
) -> Result<ticket::Model, AppError> {
    policy::ensure_admin(viewer, AdminWork::Triage)?;
    let id = domain::parse_ticket_id(id)?;
    patch_ticket(db, viewer, id, patch).await
}

/// The most ids one `updateTickets` takes.
pub const MAX_BULK_IDS: usize = 100;

/// Applies a valid patch to each ticket in a transaction of its own, in the order given:
/// one outcome per id. The ids are checked first (1 to 100, distinct): a list that is not
/// is refused whole and nothing is written.
pub async fn update_many(
    db: &DatabaseConnection,
    viewer: &Viewer,
    ids: &[&str],
    patch: &TicketPatch,
) -> Result<Vec<Result<ticket::Model, AppError>>, AppError> {
    policy::ensure_admin(viewer, AdminWork::Triage)?;
    ensure_bulk_ids(ids)?;
    let mut outcomes = Vec::with_capacity(ids.len());
    for id in ids {
        let outcome = match domain::parse_ticket_id(id) {
            Ok(id) => patch_ticket(db, viewer, id, patch).await,
            Err(error) => Err(error),
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// 1 to 100 ids, none twice (the same UUID in two spellings is the same id).
fn ensure_bulk_ids(ids: &[&str]) -> Result<(), AppError> {
    if ids.is_empty() || ids.len() > MAX_BULK_IDS {
        return Err(AppError::bad_input(
            "ids",
            format!("ids must hold 1 to {MAX_BULK_IDS} ticket ids"),
        ));
    }
    let mut seen = HashSet::with_capacity(ids.len());
    let distinct = ids.iter().all(|id| {
        let key = Uuid::parse_str(id).map_or_else(|_| (*id).to_owned(), |id| id.to_string());
        seen.insert(key)
    });
    if distinct {
        Ok(())
    } else {
        Err(AppError::bad_input("ids", "ids must not repeat an id"))
    }
}

async fn patch_ticket(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    patch: &TicketPatch,
) -> Result<ticket::Model, AppError> {
    let txn = store::begin_write(db).await?;
    let ticket = store::lock_ticket(&txn, id)
        .await?
        .ok_or_else(AppError::ticket_not_found)?;
    // A patch that names no tag (a status change, say) changes none: no read for it.
    let tags = if patch.touches_tags() {
        store::tags_of(&txn, id).await?
    } else {
        BTreeSet::new()
    };
    let at = now();
    let patched = patch.apply(&ticket, &tags, at)?;
    let events = patch_events(&ticket, viewer, &patched, at);
    let tags = store::TagChanges {
        added: &patched.added_tags,
        removed: &patched.removed_tags,
    };
    if !events.is_empty() {
        store::record_events(&txn, events).await?;
    }
    let updated = store::save_ticket(&txn, &ticket, patched.ticket, tags).await?;
    store::commit(txn).await?;
    Ok(updated)
}

/// One event per field that really changed, in the contract's order: status, priority,
/// assignee, tags.
fn patch_events(
    before: &ticket::Model,
    viewer: &Viewer,
    patched: &Patched,
    at: DateTime<Utc>,
) -> Vec<NewEvent> {
    let after = &patched.ticket;
    let mut changes = Vec::new();
    if after.status != before.status {
        changes.push(Change::StatusChanged {
            from: before.status,
            to: after.status,
        });
    }
    if after.priority != before.priority {
        changes.push(Change::PriorityChanged {
            from: before.priority,
            to: after.priority,
        });
    }
    if after.assignee_id != before.assignee_id {
        changes.push(Change::AssigneeChanged {
            from: before.assignee_id.clone(),
            to: after.assignee_id.clone(),
        });
    }
    if !patched.added_tags.is_empty() || !patched.removed_tags.is_empty() {
        changes.push(Change::TagsChanged {
            added: patched.added_tags.clone(),
            removed: patched.removed_tags.clone(),
        });
    }
    changes
        .into_iter()
        .map(|change| event(after, viewer, at, change))
        .collect()
}

/// Adds a message to a ticket. A public message bumps `updated_at` (and a customer's
/// reopens a resolved ticket); an internal note leaves the ticket untouched, so that a
/// customer cannot tell one was written.
pub async fn add_message(
    db: &DatabaseConnection,
    viewer: &Viewer,
    ticket_id: &str,
    body: &str,
    internal: bool,
) -> Result<ticket_message::Model, AppError> {
    policy::ensure_may_write(viewer, internal)?;
    let body = MessageBody::parse(body, "body")?;
    let ticket_id = domain::parse_ticket_id(ticket_id)?;
    let txn = store::begin_write(db).await?;
    let ticket = store::lock_ticket(&txn, ticket_id)
        .await?
        .filter(|ticket| policy::can_see_ticket(viewer, ticket))
        .ok_or_else(AppError::ticket_not_found)?;
    domain::ensure_open_for_messages(ticket.status)?;
    let at = now();
    let mut after = ticket.clone();
    if !internal {
        after.status = domain::status_after_message(ticket.status, viewer.role);
        after.resolved_at =
            domain::resolved_at_after(ticket.status, after.status, ticket.resolved_at, at);
        after.first_responded_at =
            domain::first_responded_at_after(ticket.first_responded_at, viewer.role, false, at);
        after.updated_at = at;
    }
    let status = after.status;
    let message = store::insert_message_with_events(
        &txn,
        store::NewMessage {
            ticket_id: ticket.id,
            author_id: viewer.id.clone(),
            author_role: viewer.role,
            body: body.into_inner(),
            internal,
            at,
        },
        |message| message_events(&ticket, viewer, message, status),
    )
    .await?;
    store::save_ticket_with_message(&txn, &ticket, after, &message).await?;
    store::commit(txn).await?;
    Ok(message)
}

/// The events of a new message: MESSAGE_ADDED, then, when it moved the ticket (a
/// customer reopening it), STATUS_CHANGED.
fn message_events(
    ticket: &ticket::Model,
    viewer: &Viewer,
    message: &ticket_message::Model,
    status: TicketStatus,
) -> Vec<NewEvent> {
    let added = Change::MessageAdded {
        message: message.id,
        internal: message.internal,
    };
    let mut events = vec![event(ticket, viewer, message.created_at, added)];
    if status != ticket.status {
        let changed = Change::StatusChanged {
            from: ticket.status,
            to: status,
        };
        let mut reopened = event(ticket, viewer, message.created_at, changed);
        reopened.status_after = status;
        events.push(reopened);
    }
    events
}

/// An event of `viewer` on `ticket` (as it is once the event happened).
fn event(ticket: &ticket::Model, viewer: &Viewer, at: DateTime<Utc>, change: Change) -> NewEvent {
    NewEvent {
        ticket_id: ticket.id,
        owner_id: ticket.user_id.clone(),
        actor_id: viewer.id.clone(),
        actor_role: viewer.role,
        at,
        status_after: ticket.status,
        change,
    }
}

/// The current time at the precision both databases keep (microseconds), so that
/// what a mutation returns is what a later read returns.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
