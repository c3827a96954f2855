//! `ticketsConnection`: Relay's cursor paging over the same filters and orders as
//! `tickets`, by key rather than by offset, with cursors no client can forge or reuse
//! across lists.

use serde_json::{Value, json};

use crate::helpers::{TestApp, User, spawn_roomy_app};

const ORDERS: [&str; 4] = [
    "NEWEST_FIRST",
    "OLDEST_FIRST",
    "PRIORITY",
    "RECENTLY_UPDATED",
];
const PRIORITIES: [&str; 4] = ["LOW", "NORMAL", "HIGH", "URGENT"];

const CONNECTION: &str = "query($first: Int, $after: String, $last: Int, $before: String,
        $order: TicketOrder!, $status: TicketStatus, $userId: ID) {
    ticketsConnection(first: $first, after: $after, last: $last, before: $before,
                      order: $order, status: $status, userId: $userId) {
        edges { cursor node { id } }
        nodes { id }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        totalCount
    }
}";

/// `count` tickets of alice's, with priorities in turn and every third one touched again
/// (so that `RECENTLY_UPDATED` differs from `NEWEST_FIRST`).
async fn tickets_of_alice(app: &TestApp, root: &User, count: usize) -> Vec<String> {
    let alice = app.customer("alice");
    let mut ids = Vec::new();
    for index in 0..count {
        let id = app.open_ticket(&alice, &format!("Ticket {index}")).await;
        app.graphql(
            root,
            "mutation($id: ID!, $priority: TicketPriority!) {
                updateTicket(id: $id, input: { priority: $priority }) { id }
            }",
            json!({ "id": id, "priority": PRIORITIES[index % PRIORITIES.len()] }),
        )
        .await
        .expect_ok();
        ids.push(id);
    }
    for id in ids.iter().step_by(3) {
        app.add_message(&alice, id, "Any news?", false)
            .await
            .expect_ok();
    }
    ids
}

/// The ids of the whole list, as `tickets` (by page) gives them: the order to match.
async fn by_page(app: &TestApp, user: &User, order: &str) -> Vec<String> {
    let reply = app
        .graphql(
            user,
            "query($order: TicketOrder!) { tickets(limit: 100, order: $order) { items { id } } }",
            json!({ "order": order }),
        )
        .await
        .expect_ok();
    ids_of(&reply.data("tickets")["items"])
}

fn ids_of(nodes: &Value) -> Vec<String> {
    nodes
        .as_array()
        .expect("a list")
        .iter()
        .map(|node| node["id"].as_str().expect("an id").to_owned())
        .collect()
}

async fn window(app: &TestApp, user: &User, variables: Value) -> Value {
    let reply = app.graphql(user, CONNECTION, variables).await.expect_ok();
    reply.data("ticketsConnection").clone()
}

/// Every ticket, walking forward by `first: size` (or backward by `last: size`).
async fn walk(app: &TestApp, user: &User, order: &str, size: i32, backward: bool) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let variables = if backward {
            json!({ "last": size, "before": cursor, "order": order })
        } else {
            json!({ "first": size, "after": cursor, "order": order })
        };
        let page = window(app, user, variables).await;
        let mut ids = ids_of(&page["nodes"]);
        let edges: Vec<String> = page["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|edge| edge["node"]["id"].as_str().expect("an id").to_owned())
            .collect();
        assert_eq!(edges, ids, "edges and nodes hold the same tickets");
        let info = &page["pageInfo"];
        if backward {
            ids.extend(seen);
            seen = ids;
            if info["hasPreviousPage"] != true {
                return seen;
            }
            cursor = info["startCursor"].as_str().map(str::to_owned);
        } else {
            seen.extend(ids);
            if info["hasNextPage"] != true {
                return seen;
            }
            cursor = info["endCursor"].as_str().map(str::to_owned);
        }
    }
}

#[tokio::test]
async fn forward_and_backward_walks_give_the_lists_order_in_every_order() {
    let app = spawn_roomy_app().await;
    let root = app.admin("root");
    tickets_of_alice(&app, &root, 23).await;

    for order in ORDERS {
        let expected = by_page(&app, &root, order).await;
        assert_eq!(expected.len(), 23);

        assert_eq!(
            walk(&app, &root, order, 5, false).await,
            expected,
            "{order} forward"
        );
        assert_eq!(
            walk(&app, &root, order, 4, true).await,
            expected,
            "{order} backward"
        );
    }
}

#[tokio::test]
async fn without_first_or_last_a_window_holds_ten_and_counts_them_all() {
    let app = spawn_roomy_app().await;
    let root = app.admin("root");
    tickets_of_alice(&app, &root, 12).await;

    let page = window(&app, &root, json!({ "order": "NEWEST_FIRST" })).await;

    assert_eq!(page["nodes"].as_array().map(Vec::len), Some(10));
    assert_eq!(page["totalCount"], 12);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    assert_eq!(page["pageInfo"]["hasPreviousPage"], false);
}

#[tokio::test]
async fn a_ticket_created_mid_paging_shifts_nothing() {
    let app = spawn_roomy_app().await;
    let root = app.admin("root");
    tickets_of_alice(&app, &root, 9).await;
    let first = window(&app, &root, json!({ "first": 4, "order": "OLDEST_FIRST" })).await;
    let whole_before = by_page(&app, &root, "OLDEST_FIRST").await;

    // Newest first would put it on the first page: oldest first after the last.
    let newest = app.open_ticket(&app.customer("bob"), "Late arrival").await;
    let after = first["pageInfo"]["endCursor"].clone();
    let second = window(
        &app,
        &root,
        json!({ "first": 4, "after": after, "order": "OLDEST_FIRST" }),
    )
    .await;

    assert_eq!(ids_of(&second["nodes"]), whole_before[4..8].to_vec());
    assert_eq!(second["totalCount"], 10);
    let newest_first = window(&app, &root, json!({ "first": 3, "order": "NEWEST_FIRST" })).await;
    assert_eq!(ids_of(&newest_first["nodes"])[0], newest);
}

#[tokio::test]
async fn a_cursor_from_another_order_or_other_filters_is_refused() {
    let app = spawn_roomy_app().await;
    let root = app.admin("root");
    tickets_of_alice(&app, &root, 3).await;
    let page = window(&app, &root, json!({ "first": 1, "order": "NEWEST_FIRST" })).await;
    let cursor = page["pageInfo"]["endCursor"].clone();

    let other_order = app
        .graphql(
            &root,
            CONNECTION,
            json!({ "first": 1, "after": cursor, "order": "PRIORITY" }),
        )
        .await;
    let other_filter = app
        .graphql(
            &root,
            CONNECTION,
            json!({ "last": 1, "before": cursor, "order": "NEWEST_FIRST", "status": "OPEN" }),
        )
        .await;

    other_order.expect_bad_input("after");
    other_filter.expect_bad_input("before");
}

#[tokio::test]
async fn a_cursor_built_by_hand_or_tampered_with_is_refused() {
    let app = spawn_roomy_app().await;
    let root = app.admin("root");
    tickets_of_alice(&app, &root, 2).await;
    let page = window(&app, &root, json!({ "first": 1, "order": "NEWEST_FIRST" })).await;
    let cursor = page["pageInfo"]["endCursor"].as_str().expect("a cursor");
    let mut tampered: Vec<char> = cursor.chars().collect();
    tampered[20] = if tampered[20] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();

    for forged in [
        tampered.as_str(),
        "",
        "bm90IGEgY3Vyc29y",
        "%%%",
        &"A".repeat(80),
    ] {
        let reply = app
            .graphql(
                &root,
                CONNECTION,
                json!({ "first": 1, "after": forged, "order": "NEWEST_FIRST" }),
            )
            .await;

        reply.expect_bad_input("after");
    }
}

#[tokio::test]
async fn a_customers_cursor_never_reaches_another_customers_tickets() {
    let app = spawn_roomy_app().await;
    let root = app.admin("root");
    tickets_of_alice(&app, &root, 3).await;
    let bob = app.customer("bob");
    app.open_ticket(&bob, "Bob's").await;
    let admins = window(&app, &root, json!({ "first": 1, "order": "NEWEST_FIRST" })).await;

    let with_admins_cursor = app
        .graphql(
            &bob,
            CONNECTION,
            json!({ "first": 5, "after": admins["pageInfo"]["endCursor"], "order": "NEWEST_FIRST" }),
        )
        .await;
    let asking_for_alice = window(
        &app,
        &bob,
        json!({ "first": 5, "order": "NEWEST_FIRST", "userId": "alice" }),
    )
    .await;

    with_admins_cursor.expect_bad_input("after");
    assert_eq!(asking_for_alice["nodes"], json!([]));
    assert_eq!(asking_for_alice["totalCount"], 0);
}

#[tokio::test]
async fn first_and_last_outside_one_to_a_hundred_or_together_are_refused() {
    let app = spawn_roomy_app().await;
    let root = app.admin("root");
    let cases = [
        (json!({ "first": 0 }), "first"),
        (json!({ "first": 1000 }), "first"),
        (json!({ "last": 101 }), "last"),
        (json!({ "last": -1 }), "last"),
        (json!({ "first": 1, "last": 1 }), "last"),
    ];

    for (mut variables, field) in cases {
        variables["order"] = json!("NEWEST_FIRST");
        let reply = app.graphql(&root, CONNECTION, variables).await;

        reply.expect_bad_input(field);
    }
}
