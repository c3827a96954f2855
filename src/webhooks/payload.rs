//! The body of a delivery: `{"type", "timestamp", "data": {"event", "ticket", "message"}}`,
//! the event with the fields the API's `TicketEvent` has, the ticket as it stood right
//! after the event, and, for an event of a message (`TICKET_CREATED`, `MESSAGE_ADDED`),
//! the message. Webhooks are staff integrations: internal notes and tags are in it.
//!
//! The ticket after an event is the ticket now with every later event of it undone: each
//! event carries what it changed from, so the first later event that touched a field
//! tells what the field held after this one. `updatedAt` carries no such record: it is
//! the time of the last event at or before this one that moved it (every event but an
//! internal note or a tag change does).

use std::collections::BTreeSet;

use chrono::{DateTime, SecondsFormat, Utc};
use entity::prelude::{TicketEventKind, TicketPriority, TicketStatus};
use entity::{ticket, ticket_event, ticket_message};
use sea_orm::ActiveEnum;
use serde::Serialize;

/// A ticket as it is now: the row and its tags.
#[derive(Clone, Debug)]
pub struct TicketNow {
    pub ticket: ticket::Model,
    pub tags: BTreeSet<String>,
}

/// What the fields an event can change held right after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketAfter {
    pub status: TicketStatus,
    pub priority: TicketPriority,
    pub assignee_id: Option<String>,
    pub tags: BTreeSet<String>,
    pub updated_at: DateTime<Utc>,
}

/// Whether `event` moved its ticket's `updatedAt` to its own time: every change does,
/// but an internal note and a tag change, which customers must not be able to detect.
fn moves_updated_at(event: &ticket_event::Model) -> bool {
    !event.internal
}

/// Whether [`rewind`] needs to know when `updatedAt` last moved before the first of
/// `events`: only when one of them moved it, after one that did not.
pub fn needs_update_before(events: &[ticket_event::Model]) -> bool {
    events
        .first()
        .is_some_and(|first| !moves_updated_at(first) && events.iter().any(moves_updated_at))
}

/// The ticket right after each of `events`, in their order: `events` are every event of
/// the ticket from the first one asked about to the newest, oldest first, and `now` the
/// ticket as it stands after all of them. `updated_before` is when its `updatedAt` last
/// moved before the first of them (see [`needs_update_before`]; the ticket's creation
/// when unknown).
pub fn rewind(
    now: &TicketNow,
    events: &[ticket_event::Model],
    updated_before: Option<DateTime<Utc>>,
) -> Vec<TicketAfter> {
    let mut state = TicketAfter {
        status: now.ticket.status,
        priority: now.ticket.priority,
        assignee_id: now.ticket.assignee_id.clone(),
        tags: now.tags.clone(),
        updated_at: now.ticket.updated_at,
    };
    // Newest first: the state after an event is the state after the next one, undone.
    let mut after: Vec<TicketAfter> = events
        .iter()
        .rev()
        .map(|event| {
            let this = state.clone();
            undo(&mut state, event);
            this
        })
        .collect();
    after.reverse();
    // `updatedAt` forward: after the last event that moved it, it is what the row holds.
    if let Some(last_move) = events.iter().rposition(moves_updated_at) {
        let mut moved_at = updated_before.unwrap_or(now.ticket.created_at);
        for (event, state) in events.iter().zip(after.iter_mut()).take(last_move + 1) {
            if moves_updated_at(event) {
                moved_at = event.created_at;
            }
            state.updated_at = moved_at;
        }
    }
    after
}

/// `state` as it was before `event`.
fn undo(state: &mut TicketAfter, event: &ticket_event::Model) {
    match event.kind {
        TicketEventKind::StatusChanged => {
            if let Some(from) = event.from_status {
                state.status = from;
            }
        }
        TicketEventKind::PriorityChanged => {
            if let Some(from) = event.from_priority {
                state.priority = from;
            }
        }
        TicketEventKind::AssigneeChanged => state.assignee_id = event.from_assignee_id.clone(),
        TicketEventKind::TagsChanged => {
            for added in tag_list(event.added_tags.as_deref()) {
                state.tags.remove(added);
            }
            for removed in tag_list(event.removed_tags.as_deref()) {
                state.tags.insert(removed.to_owned());
            }
        }
        TicketEventKind::TicketCreated | TicketEventKind::MessageAdded => {}
    }
}

/// Tags as a TAGS_CHANGED event keeps them: separated by spaces, which no tag holds.
fn tag_list(stored: Option<&str>) -> impl Iterator<Item = &str> {
    stored.into_iter().flat_map(str::split_whitespace)
}

/// The `type` of an event's body.
pub fn type_name(kind: TicketEventKind) -> &'static str {
    match kind {
        TicketEventKind::TicketCreated => "ticket.created",
        TicketEventKind::MessageAdded => "ticket.message_added",
        TicketEventKind::StatusChanged => "ticket.status_changed",
        TicketEventKind::PriorityChanged => "ticket.priority_changed",
        TicketEventKind::AssigneeChanged => "ticket.assignee_changed",
        TicketEventKind::TagsChanged => "ticket.tags_changed",
    }
}

/// The JSON body of `event`'s deliveries: `ticket` is its ticket (for what no event
/// changes), `after` the fields as they stood after the event, `message` its message.
pub fn body(
    event: &ticket_event::Model,
    ticket: &ticket::Model,
    after: &TicketAfter,
    message: Option<&ticket_message::Model>,
) -> String {
    let body = Body {
        kind: type_name(event.kind),
        timestamp: timestamp(event.created_at),
        data: Data {
            event: Event {
                id: event.id.to_string(),
                kind: event.kind.to_value(),
                ticket_id: event.ticket_id.to_string(),
                actor_id: &event.actor_id,
                actor_role: event.actor_role.to_value(),
                created_at: timestamp(event.created_at),
                from_status: event.from_status.map(|status| status.to_value()),
                to_status: event.to_status.map(|status| status.to_value()),
                from_priority: event.from_priority.map(priority_name),
                to_priority: event.to_priority.map(priority_name),
                from_assignee_id: event.from_assignee_id.as_deref(),
                to_assignee_id: event.to_assignee_id.as_deref(),
                added_tags: (event.kind == TicketEventKind::TagsChanged)
                    .then(|| tag_list(event.added_tags.as_deref()).collect()),
                removed_tags: (event.kind == TicketEventKind::TagsChanged)
                    .then(|| tag_list(event.removed_tags.as_deref()).collect()),
            },
            ticket: Ticket {
                id: ticket.id.to_string(),
                user_id: &ticket.user_id,
                subject: &ticket.subject,
                status: after.status.to_value(),
                priority: priority_name(after.priority),
                assignee_id: after.assignee_id.as_deref(),
                tags: after.tags.iter().map(String::as_str).collect(),
                created_at: timestamp(ticket.created_at),
                updated_at: timestamp(after.updated_at),
            },
            message: message.map(|message| Message {
                id: message.id.to_string(),
                ticket_id: message.ticket_id.to_string(),
                author_id: &message.author_id,
                author_role: message.author_role.to_value(),
                body: &message.body,
                internal: message.internal,
                created_at: timestamp(message.created_at),
            }),
        },
    };
    // A struct of strings, numbers and lists cannot fail to serialize.
    serde_json::to_string(&body).unwrap_or_else(|_| unreachable!())
}

/// As the API writes a `DateTime`: RFC 3339 in UTC with microseconds.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The API's name of a priority (the column holds its rank).
fn priority_name(priority: TicketPriority) -> &'static str {
    match priority {
        TicketPriority::Low => "LOW",
        TicketPriority::Normal => "NORMAL",
        TicketPriority::High => "HIGH",
        TicketPriority::Urgent => "URGENT",
    }
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: String,
    data: Data<'a>,
}

#[derive(Serialize)]
struct Data<'a> {
    event: Event<'a>,
    ticket: Ticket<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Message<'a>>,
}

/// The fields of the API's `TicketEvent` but `message` and `ticket`, which are beside it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    id: String,
    kind: String,
    ticket_id: String,
    actor_id: &'a str,
    actor_role: String,
    created_at: String,
    from_status: Option<String>,
    to_status: Option<String>,
    from_priority: Option<&'static str>,
    to_priority: Option<&'static str>,
    from_assignee_id: Option<&'a str>,
    to_assignee_id: Option<&'a str>,
    added_tags: Option<Vec<&'a str>>,
    removed_tags: Option<Vec<&'a str>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Ticket<'a> {
    id: String,
    user_id: &'a str,
    subject: &'a str,
    status: String,
    priority: &'static str,
    assignee_id: Option<&'a str>,
    tags: Vec<&'a str>,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Message<'a> {
    id: String,
    ticket_id: String,
    author_id: &'a str,
    author_role: String,
    body: &'a str,
    internal: bool,
    created_at: String,
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use entity::prelude::Role;
    use uuid::Uuid;

    use super::*;
    use crate::store::{Change, NewEvent, event_model};

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::minutes(minute)
    }

    fn ticket() -> ticket::Model {
        ticket::Model {
            id: Uuid::now_v7(),
            user_id: "carol".into(),
            subject: "Printer on fire".into(),
            status: TicketStatus::Open,
            created_at: at(0),
            updated_at: at(0),
            priority: TicketPriority::Normal,
            assignee_id: None,
            first_responded_at: None,
            resolved_at: None,
        }
    }

    fn event(ticket: &ticket::Model, minute: i64, change: Change) -> ticket_event::Model {
        event_model(
            Uuid::now_v7(),
            NewEvent {
                ticket_id: ticket.id,
                owner_id: ticket.user_id.clone(),
                actor_id: "alice".into(),
                actor_role: Role::Admin,
                at: at(minute),
                status_after: TicketStatus::Open,
                change,
            },
        )
    }

    fn message(internal: bool) -> Change {
        Change::MessageAdded {
            message: Uuid::now_v7(),
            internal,
        }
    }

    fn tags(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|tag| (*tag).to_owned()).collect()
    }

    /// A ticket's whole life: created, a note, assigned and tagged, escalated and
    /// re-tagged, resolved; and the ticket as it ends up.
    fn history() -> (TicketNow, Vec<ticket_event::Model>) {
        let mut now = ticket();
        let created = Change::Created {
            message: Uuid::now_v7(),
        };
        let events = vec![
            event(&now, 0, created),
            event(&now, 1, message(true)),
            event(
                &now,
                2,
                Change::AssigneeChanged {
                    from: None,
                    to: Some("alice".into()),
                },
            ),
            event(
                &now,
                2,
                Change::TagsChanged {
                    added: vec!["billing".into(), "vip".into()],
                    removed: vec![],
                },
            ),
            event(
                &now,
                3,
                Change::PriorityChanged {
                    from: TicketPriority::Normal,
                    to: TicketPriority::Urgent,
                },
            ),
            event(
                &now,
                4,
                Change::TagsChanged {
                    added: vec!["outage".into()],
                    removed: vec!["billing".into()],
                },
            ),
            event(
                &now,
                5,
                Change::StatusChanged {
                    from: TicketStatus::Open,
                    to: TicketStatus::Resolved,
                },
            ),
            event(&now, 6, message(true)),
        ];
        now.status = TicketStatus::Resolved;
        now.priority = TicketPriority::Urgent;
        now.assignee_id = Some("alice".into());
        now.updated_at = at(5);
        (
            TicketNow {
                ticket: now,
                tags: tags(&["outage", "vip"]),
            },
            events,
        )
    }

    fn state(
        status: TicketStatus,
        priority: TicketPriority,
        assignee: Option<&str>,
        tag_list: &[&str],
        updated_at: i64,
    ) -> TicketAfter {
        TicketAfter {
            status,
            priority,
            assignee_id: assignee.map(str::to_owned),
            tags: tags(tag_list),
            updated_at: at(updated_at),
        }
    }

    #[test]
    fn a_rewind_undoes_every_later_event_field_by_field() {
        use TicketPriority::{Normal, Urgent};
        use TicketStatus::{Open, Resolved};
        let (now, events) = history();
        let alice = Some("alice");
        assert_eq!(
            rewind(&now, &events, None),
            vec![
                state(Open, Normal, None, &[], 0),
                state(Open, Normal, None, &[], 0),
                state(Open, Normal, alice, &[], 2),
                state(Open, Normal, alice, &["billing", "vip"], 2),
                state(Open, Urgent, alice, &["billing", "vip"], 3),
                state(Open, Urgent, alice, &["outage", "vip"], 3),
                state(Resolved, Urgent, alice, &["outage", "vip"], 5),
                state(Resolved, Urgent, alice, &["outage", "vip"], 5),
            ]
        );
    }

    #[test]
    fn a_rewind_from_a_later_event_gives_the_same_states() {
        let (now, events) = history();
        let whole = rewind(&now, &events, None);
        for first in 1..events.len() {
            let part = &events[first..];
            let updated_before = needs_update_before(part).then(|| {
                let earlier = events[..first].iter().rev().find(|e| moves_updated_at(e));
                earlier.map_or(at(0), |event| event.created_at)
            });
            assert_eq!(
                rewind(&now, part, updated_before),
                whole[first..],
                "{first}"
            );
        }
    }

    #[test]
    fn updated_at_before_is_needed_only_when_a_quiet_event_precedes_one_that_moves_it() {
        let (_, events) = history();
        assert!(!needs_update_before(&events[..1]));
        assert!(needs_update_before(&events[1..]));
        assert!(!needs_update_before(&events[2..]));
        assert!(needs_update_before(&events[3..]));
        assert!(!needs_update_before(&events[7..]));
    }

    #[test]
    fn the_last_event_leaves_the_ticket_as_it_is_now() {
        let (now, events) = history();
        let after = rewind(&now, &events[7..], None);
        assert_eq!(
            after,
            vec![state(
                TicketStatus::Resolved,
                TicketPriority::Urgent,
                Some("alice"),
                &["outage", "vip"],
                5
            )]
        );
    }

    #[test]
    fn a_body_holds_the_event_the_ticket_after_it_and_its_message() {
        let (now, events) = history();
        let after = rewind(&now, &events, None);
        let note = ticket_message::Model {
            id: events[1].message_id.expect("a message"),
            ticket_id: now.ticket.id,
            author_id: "alice".into(),
            author_role: Role::Admin,
            body: "Customer is a VIP".into(),
            internal: true,
            created_at: at(1),
        };
        let body: serde_json::Value =
            serde_json::from_str(&body(&events[1], &now.ticket, &after[1], Some(&note)))
                .expect("JSON");
        assert_eq!(body["type"], "ticket.message_added");
        assert_eq!(body["timestamp"], "1970-01-01T00:01:00.000000Z");
        assert_eq!(body["data"]["event"]["kind"], "MESSAGE_ADDED");
        assert_eq!(body["data"]["event"]["actorRole"], "ADMIN");
        assert_eq!(body["data"]["event"]["fromStatus"], serde_json::Value::Null);
        assert_eq!(body["data"]["ticket"]["status"], "OPEN");
        assert_eq!(body["data"]["ticket"]["priority"], "NORMAL");
        assert_eq!(body["data"]["ticket"]["tags"], serde_json::json!([]));
        assert_eq!(body["data"]["message"]["internal"], true);
        assert_eq!(body["data"]["message"]["body"], "Customer is a VIP");
    }

    #[test]
    fn a_tag_change_lists_its_tags_and_has_no_message() {
        let (now, events) = history();
        let after = rewind(&now, &events, None);
        let body: serde_json::Value =
            serde_json::from_str(&body(&events[5], &now.ticket, &after[5], None)).expect("JSON");
        assert_eq!(body["type"], "ticket.tags_changed");
        assert_eq!(
            body["data"]["event"]["addedTags"],
            serde_json::json!(["outage"])
        );
        assert_eq!(
            body["data"]["event"]["removedTags"],
            serde_json::json!(["billing"])
        );
        assert_eq!(
            body["data"]["ticket"]["tags"],
            serde_json::json!(["outage", "vip"])
        );
        assert_eq!(body["data"]["ticket"]["priority"], "URGENT");
        assert!(body["data"].get("message").is_none());
    }
}
