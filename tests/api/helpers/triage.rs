//! Triage requests: patches of one ticket or many, and what an admin or a customer reads
//! of a ticket's triage fields and timeline afterwards.

use serde_json::{Value, json};

use super::{Reply, TestApp, User, spawn_app};

/// What the triage tests read of a ticket.
pub const TRIAGE_FIELDS: &str =
    "id status priority assigneeId tags firstRespondedAt resolvedAt updatedAt";

/// What the triage tests read of an event.
pub const EVENT_FIELDS: &str = "id kind fromStatus toStatus fromPriority toPriority \
     fromAssigneeId toAssigneeId addedTags removedTags";

impl TestApp {
    /// `updateTicket(id, input)` as `user`, answering the triage fields.
    pub async fn patch(&self, user: &User, id: &str, input: Value) -> Reply {
        let query = format!(
            "mutation($id: ID!, $input: TicketPatch!) {{
                updateTicket(id: $id, input: $input) {{ {TRIAGE_FIELDS} }}
            }}"
        );
        self.graphql(user, &query, json!({ "id": id, "input": input }))
            .await
    }

    /// `updateTickets(ids, input)` as `user`: each result's id, ticket (the triage
    /// fields) and error.
    pub async fn patch_many(&self, user: &User, ids: &[&str], input: Value) -> Reply {
        let query = format!(
            "mutation($ids: [ID!]!, $input: TicketPatch!) {{
                updateTickets(ids: $ids, input: $input) {{
                    id ticket {{ {TRIAGE_FIELDS} }} error {{ code message }}
                }}
            }}"
        );
        self.graphql(user, &query, json!({ "ids": ids, "input": input }))
            .await
    }

    /// Ticket `id` as `user` sees it: the triage fields and the whole timeline.
    pub async fn triage_view(&self, user: &User, id: &str) -> Value {
        let query = format!(
            "query($id: ID!) {{
                ticket(id: $id) {{ {TRIAGE_FIELDS} events(limit: 100) {{ {EVENT_FIELDS} }} }}
            }}"
        );
        self.graphql(user, &query, json!({ "id": id }))
            .await
            .expect_ok()
            .data("ticket")
            .clone()
    }

    /// Ticket `id` and its timeline as an admin sees them: to compare before and after
    /// a request that must write nothing.
    pub async fn staff_view(&self, id: &str) -> Value {
        self.triage_view(&self.admin("auditor"), id).await
    }

    /// The timeline of ticket `id` as `user` sees it.
    pub async fn events(&self, user: &User, id: &str) -> Vec<Value> {
        self.triage_view(user, id).await["events"]
            .as_array()
            .expect("events")
            .clone()
    }
}

/// The kinds of `events`, in order.
pub fn kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event["kind"].as_str().expect("kind"))
        .collect()
}

/// A ticket id that no ticket has.
pub const MISSING_TICKET_ID: &str = "01890a5d-ac96-774b-bcce-b302099a8057";

/// A server, its admin "root", and a ticket the customer alice opened.
pub async fn spawn_app_with_ticket() -> (TestApp, User, String) {
    let app = spawn_app().await;
    let root = app.admin("root");
    let id = app
        .open_ticket(&app.customer("alice"), "Printer on fire")
        .await;
    (app, root, id)
}

/// `count` distinct valid tags, `tag-00`, `tag-01`, …, sorted.
pub fn numbered_tags(count: usize) -> Vec<String> {
    (0..count).map(|n| format!("tag-{n:02}")).collect()
}
