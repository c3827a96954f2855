//! The queues of a support team: `tickets` narrowed by priority, assignee and tags, in
//! every order, checked against the answer computed here from every ticket's fields.

use std::cmp::Reverse;

use serde_json::{Value, json};

use crate::helpers::{TestApp, User, spawn_roomy_app};

const PRIORITIES: [&str; 4] = ["LOW", "NORMAL", "HIGH", "URGENT"];
const STATUSES: [&str; 3] = ["OPEN", "IN_PROGRESS", "RESOLVED"];
const AGENTS: [&str; 3] = ["agent-1", "agent-2", "agent-3"];
const TAGS: [&str; 4] = ["billing", "refund", "printer", "vip"];
const ORDERS: [&str; 4] = [
    "NEWEST_FIRST",
    "OLDEST_FIRST",
    "PRIORITY",
    "RECENTLY_UPDATED",
];

const FIELDS: &str = "id userId status priority assigneeId tags createdAt updatedAt";

/// A small deterministic generator: the same fixtures at every run.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % sides as u64) as usize
    }
}

/// `count` tickets of three customers, with statuses, priorities, assignees and tags
/// spread by `dice`; returns every ticket as an admin reads it.
async fn seed_queue(app: &TestApp, admin: &User, count: usize) -> Vec<Value> {
    let customers = [
        app.customer("alice"),
        app.customer("bob"),
        app.customer("carol"),
    ];
    let mut dice = Dice(7);
    for index in 0..count {
        let owner = &customers[dice.roll(customers.len())];
        let id = app.open_ticket(owner, &format!("Ticket {index}")).await;
        let mut patch = json!({
            "status": STATUSES[dice.roll(STATUSES.len())],
            "priority": PRIORITIES[dice.roll(PRIORITIES.len())],
        });
        if dice.roll(3) > 0 {
            patch["assigneeId"] = json!(AGENTS[dice.roll(AGENTS.len())]);
        }
        let tags: Vec<&str> = TAGS.iter().copied().filter(|_| dice.roll(3) == 0).collect();
        if !tags.is_empty() {
            patch["addTags"] = json!(tags);
        }
        app.graphql(
            admin,
            "mutation($id: ID!, $input: TicketPatch!) { updateTicket(id: $id, input: $input) { id } }",
            json!({ "id": id, "input": patch }),
        )
        .await
        .expect_ok();
    }
    all_tickets(app, admin).await
}

async fn all_tickets(app: &TestApp, admin: &User) -> Vec<Value> {
    let query = format!("{{ tickets(limit: 100) {{ items {{ {FIELDS} }} }} }}");
    let reply = app.graphql(admin, &query, json!({})).await.expect_ok();
    reply.data("tickets")["items"]
        .as_array()
        .expect("items")
        .clone()
}

/// Every page of the list `arguments` asks for, as ids, and the `total` it reports.
async fn listed(app: &TestApp, user: &User, arguments: &Value) -> (Vec<String>, u64) {
    const QUERY: &str = "query($status: TicketStatus, $priority: TicketPriority, $assigneeId: ID,
                $unassigned: Boolean, $tags: [String!], $order: TicketOrder!, $page: Int!) {
            tickets(status: $status, priority: $priority, assigneeId: $assigneeId,
                    unassigned: $unassigned, tags: $tags, order: $order, page: $page, limit: 7) {
                items { id } pagination { total hasNextPage }
            }
        }";
    let mut ids = Vec::new();
    let mut total = 0;
    for page in 1.. {
        let mut variables = arguments.clone();
        variables["page"] = json!(page);
        let reply = app.graphql(user, QUERY, variables).await.expect_ok();
        let tickets = reply.data("tickets");
        total = tickets["pagination"]["total"].as_u64().expect("total");
        for item in tickets["items"].as_array().expect("items") {
            ids.push(item["id"].as_str().expect("id").to_owned());
        }
        if tickets["pagination"]["hasNextPage"] != true {
            break;
        }
    }
    (ids, total)
}

fn text<'a>(ticket: &'a Value, field: &str) -> &'a str {
    ticket[field].as_str().unwrap_or_default()
}

fn rank(priority: &str) -> usize {
    PRIORITIES
        .iter()
        .position(|p| *p == priority)
        .expect("a priority")
}

/// The brute force: the tickets `arguments` select, in the order it asks for.
fn expected(tickets: &[Value], arguments: &Value) -> Vec<String> {
    let mut selected: Vec<&Value> = tickets
        .iter()
        .filter(|ticket| {
            let equals = |field: &str, argument: &str| {
                arguments[argument].is_null() || ticket[field] == arguments[argument]
            };
            let tags_held = arguments["tags"].as_array().is_none_or(|wanted| {
                wanted
                    .iter()
                    .all(|tag| ticket["tags"].as_array().expect("tags").contains(tag))
            });
            equals("status", "status")
                && equals("priority", "priority")
                && equals("assigneeId", "assigneeId")
                && (arguments["unassigned"] != true || ticket["assigneeId"].is_null())
                && tags_held
        })
        .collect();
    match arguments["order"].as_str().expect("an order") {
        "NEWEST_FIRST" => {
            selected.sort_by_key(|t| Reverse((text(t, "createdAt"), text(t, "id"))));
        }
        "OLDEST_FIRST" => selected.sort_by_key(|t| (text(t, "createdAt"), text(t, "id"))),
        "PRIORITY" => selected.sort_by_key(|t| {
            (
                Reverse(rank(text(t, "priority"))),
                text(t, "createdAt"),
                text(t, "id"),
            )
        }),
        "RECENTLY_UPDATED" => {
            selected.sort_by_key(|t| Reverse((text(t, "updatedAt"), text(t, "id"))));
        }
        other => panic!("no brute force for {other}"),
    }
    selected
        .into_iter()
        .map(|ticket| text(ticket, "id").to_owned())
        .collect()
}

/// The filter combinations an admin's queue view uses, each tried in every order.
fn admin_queries() -> Vec<Value> {
    vec![
        json!({}),
        json!({ "status": "OPEN" }),
        json!({ "priority": "URGENT" }),
        json!({ "status": "OPEN", "assigneeId": "agent-1" }),
        json!({ "status": "OPEN", "unassigned": true }),
        json!({ "unassigned": false, "priority": "HIGH" }),
        json!({ "tags": ["billing"] }),
        json!({ "tags": ["BILLING", " vip"], "status": "IN_PROGRESS" }),
        // The same tag twice once normalized: asked for once.
        json!({ "tags": ["vip", "VIP ", "billing"] }),
        json!({ "tags": ["refund"], "assigneeId": "agent-2", "priority": "LOW" }),
    ]
}

#[tokio::test]
async fn every_filter_and_order_lists_what_the_brute_force_finds_with_its_total() {
    let app = spawn_roomy_app().await;
    let root = app.admin("root");
    let tickets = seed_queue(&app, &root, 60).await;
    let mut empty_answers = 0;

    for filters in admin_queries() {
        for order in ORDERS {
            let mut arguments = filters.clone();
            arguments["order"] = json!(order);
            let mut normalized = arguments.clone();
            if let Some(tags) = arguments["tags"].as_array() {
                let tags: Vec<String> = tags
                    .iter()
                    .map(|tag| tag.as_str().expect("tag").trim().to_lowercase())
                    .collect();
                normalized["tags"] = json!(tags);
            }
            let want = expected(&tickets, &normalized);

            let (ids, total) = listed(&app, &root, &arguments).await;

            assert_eq!(ids, want, "{arguments}");
            assert_eq!(total, want.len() as u64, "{arguments}");
            empty_answers += usize::from(want.is_empty());
        }
    }
    // The fixtures must give the comparisons something to compare.
    assert!(
        empty_answers <= ORDERS.len(),
        "{empty_answers} empty answers"
    );
}

#[tokio::test]
async fn a_customers_filtered_queue_holds_their_own_tickets_only() {
    let app = spawn_roomy_app().await;
    let root = app.admin("root");
    let tickets = seed_queue(&app, &root, 30).await;
    let alice = app.customer("alice");
    let own: Vec<Value> = tickets
        .into_iter()
        .filter(|ticket| ticket["userId"] == "alice")
        .collect();

    for filters in [json!({ "priority": "HIGH" }), json!({ "unassigned": true })] {
        let mut arguments = filters.clone();
        arguments["order"] = json!("PRIORITY");

        let (ids, total) = listed(&app, &alice, &arguments).await;

        assert_eq!(ids, expected(&own, &arguments), "{arguments}");
        assert_eq!(total, ids.len() as u64);
    }
}

#[tokio::test]
async fn a_customer_filtering_by_tags_is_forbidden_however_it_is_written() {
    let app = spawn_roomy_app().await;
    let alice = app.customer("alice");
    app.open_ticket(&alice, "Refund please").await;
    let attempts = [
        (
            r#"{ tickets(tags: ["refund"]) { items { id } } }"#,
            json!({}),
            None,
        ),
        (
            r#"{ mine: tickets(tags: []) { pagination { total } } }"#,
            json!({}),
            None,
        ),
        (
            r#"query { ...Q } fragment Q on Query { tickets(tags: ["refund"]) { items { id } } }"#,
            json!({}),
            None,
        ),
        (
            r#"query($t: [String!]) { tickets(tags: $t) { pagination { total } } }"#,
            json!({ "t": ["refund"] }),
            None,
        ),
        (
            r#"query A { me { id } } query B { tickets(tags: ["refund"]) { items { id } } }"#,
            json!({}),
            Some("B"),
        ),
    ];

    for (query, variables, operation) in attempts {
        let mut body = json!({ "query": query, "variables": variables });
        if let Some(name) = operation {
            body["operationName"] = json!(name);
        }
        let authorization = format!("Bearer {}", alice.token);
        let headers = [
            ("content-type", "application/json"),
            ("authorization", authorization.as_str()),
        ];
        let reply = app.post_raw(&headers, body.to_string()).await;

        assert_eq!(reply.error_code().as_deref(), Some("FORBIDDEN"), "{query}");
        let data = &reply.body["data"];
        let answered = data
            .as_object()
            .into_iter()
            .flatten()
            .any(|(_, v)| !v.is_null());
        assert!(!answered, "{query}: {data}");
    }
}

#[tokio::test]
async fn unassigned_with_an_assignee_is_refused_naming_unassigned() {
    let app = spawn_roomy_app().await;

    let reply = app
        .graphql(
            &app.admin("root"),
            r#"{ tickets(assigneeId: "agent-1", unassigned: true) { items { id } } }"#,
            json!({}),
        )
        .await;

    reply.expect_bad_input("unassigned");
}

#[tokio::test]
async fn more_than_five_tags_or_none_are_refused_naming_tags() {
    let app = spawn_roomy_app().await;
    let root = app.admin("root");
    for tags in [
        json!([]),
        json!(["a", "b", "c", "d", "e", "f"]),
        json!(["Ｂilling"]),
    ] {
        let reply = app
            .graphql(
                &root,
                "query($tags: [String!]) { tickets(tags: $tags) { items { id } } }",
                json!({ "tags": tags }),
            )
            .await;

        reply.expect_bad_input("tags");
    }
}
