//! List totals are kept in tables of counts (per owner and status, per queue, per tag and
//! status); they must equal a real count after any mix of concurrent writes.

use futures_util::future::join_all;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, User, spawn_app, spawn_roomy_app};

const STATUSES: [&str; 4] = ["OPEN", "IN_PROGRESS", "RESOLVED", "CLOSED"];

async fn api_total(
    app: &TestApp,
    viewer: &User,
    status: Option<&str>,
    user_id: Option<&str>,
) -> i64 {
    app.graphql(
        viewer,
        "query($status: TicketStatus, $userId: ID) {
            tickets(status: $status, userId: $userId) { pagination { total } }
        }",
        json!({ "status": status, "userId": user_id }),
    )
    .await
    .expect_ok()
    .data("tickets")["pagination"]["total"]
        .as_i64()
        .expect("a total")
}

async fn real_count(db: &DatabaseConnection, status: Option<&str>, user_id: Option<&str>) -> i64 {
    let mut conditions = Vec::new();
    if let Some(status) = status {
        conditions.push(format!("t.status = '{status}'"));
    }
    if let Some(user_id) = user_id {
        conditions.push(format!("t.user_id = '{user_id}'"));
    }
    count_where(db, false, &conditions).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totals_stay_exact_under_concurrent_writes() {
    let app = spawn_app().await;
    let customers: Vec<User> = (0..6)
        .map(|n| app.customer(&format!("customer-{n}")))
        .collect();
    let created = join_all((0..24).map(|n| {
        let (app, owner) = (&app, &customers[n % customers.len()]);
        async move { app.create_ticket(owner, &format!("Ticket {n}")).await }
    }))
    .await;
    let ids: Vec<String> = created
        .iter()
        .map(|ticket| ticket["id"].as_str().expect("id").to_owned())
        .collect();

    // Status changes by several admins, and customer replies that reopen resolved tickets,
    // all at once.
    let changes = ids.iter().enumerate().map(|(n, id)| {
        let app = &app;
        let admin = app.admin(&format!("admin-{n}"));
        async move {
            app.set_status(&admin, id, STATUSES[n % 4])
                .await
                .expect_ok();
            app.set_status(&admin, id, STATUSES[(n + 2) % 4])
                .await
                .expect_ok();
        }
    });
    let replies = ids.iter().enumerate().map(|(n, id)| {
        let (app, owner) = (&app, &customers[n % customers.len()]);
        async move {
            // A reply may land on a CLOSED ticket and be refused; that is fine here.
            app.add_message(owner, id, "still there?", false).await;
        }
    });
    futures_util::future::join(join_all(changes), join_all(replies)).await;

    let db = Database::connect(&app.database_url)
        .await
        .expect("database");
    let root = app.admin("root");
    let mut shapes: Vec<(Option<&str>, Option<&str>)> = vec![(None, None)];
    shapes.extend(STATUSES.iter().map(|status| (Some(*status), None)));
    for customer in &customers {
        shapes.push((None, Some(customer.id.as_str())));
        shapes.extend(
            STATUSES
                .iter()
                .map(|status| (Some(*status), Some(customer.id.as_str()))),
        );
    }
    for (status, user_id) in shapes {
        assert_eq!(
            api_total(&app, &root, status, user_id).await,
            real_count(&db, status, user_id).await,
            "status {status:?}, user {user_id:?}"
        );
    }
    let own = api_total(&app, &customers[0], None, None).await;
    assert_eq!(own, real_count(&db, None, Some("customer-0")).await);
    assert_eq!(own, 4);
}

const PRIORITIES: [&str; 4] = ["LOW", "NORMAL", "HIGH", "URGENT"];
const AGENTS: [&str; 3] = ["agent-1", "agent-2", "agent-3"];
const TAGS: [&str; 3] = ["billing", "refund", "vip"];

/// `total` and `totalCount` of the lists `filters` ask for, as an admin reads them.
async fn filtered_totals(app: &TestApp, filters: &Value) -> (i64, i64) {
    let reply = app
        .graphql(
            &app.admin("root"),
            "query($status: TicketStatus, $priority: TicketPriority, $assigneeId: ID,
                    $unassigned: Boolean, $tags: [String!]) {
                tickets(status: $status, priority: $priority, assigneeId: $assigneeId,
                        unassigned: $unassigned, tags: $tags) { pagination { total } }
                ticketsConnection(status: $status, priority: $priority, assigneeId: $assigneeId,
                        unassigned: $unassigned, tags: $tags) { totalCount }
            }",
            filters.clone(),
        )
        .await
        .expect_ok();
    let total = reply.data("tickets")["pagination"]["total"].as_i64();
    let total_count = reply.data("ticketsConnection")["totalCount"].as_i64();
    (total.expect("a total"), total_count.expect("a totalCount"))
}

/// `COUNT(*)` of `tickets t` (joined to its tags as `g` when `join_tags`) under `conditions`.
async fn count_where(db: &DatabaseConnection, join_tags: bool, conditions: &[String]) -> i64 {
    let mut sql = "SELECT COUNT(*) AS n FROM tickets t".to_owned();
    if join_tags {
        sql.push_str(" JOIN ticket_tags g ON g.ticket_id = t.id");
    }
    sql.push_str(" WHERE 1 = 1");
    for condition in conditions {
        sql.push_str(&format!(" AND {condition}"));
    }
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("count")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("a number")
}

/// `patch` to each of `ids` by one `updateTickets`, each ticket patched without error.
async fn patch_all(app: &TestApp, admin: &User, ids: &[&str], patch: Value) {
    let reply = app.patch_many(admin, ids, patch).await.expect_ok();
    for result in reply.data("updateTickets").as_array().expect("results") {
        assert!(result["error"].is_null(), "{result}");
    }
}

/// Tickets of four customers, then all at once: more of them opened; each one's status
/// changed by `updateTicketStatus`, then its priority, assignee and tags by `updateTicket`,
/// then its status, assignee and tags again; two `updateTickets` over all of them in
/// opposite orders; customers' replies reopening resolved ones. Every ticket's id.
async fn triage_concurrently(app: &TestApp) -> Vec<String> {
    let customers: Vec<User> = (0..4)
        .map(|n| app.customer(&format!("customer-{n}")))
        .collect();
    let customers = &customers;
    let opened = join_all((0..16).map(|n| {
        let owner = &customers[n % customers.len()];
        async move { app.open_ticket(owner, &format!("Ticket {n}")).await }
    }))
    .await;
    let ids: Vec<&str> = opened.iter().map(String::as_str).collect();

    let more = join_all((16..24).map(|n| {
        let owner = &customers[n % customers.len()];
        async move { app.open_ticket(owner, &format!("Ticket {n}")).await }
    }));
    let one_by_one = join_all(ids.iter().enumerate().map(|(n, id)| async move {
        let admin = app.admin(&format!("admin-{n}"));
        app.set_status(&admin, id, STATUSES[n % 4])
            .await
            .expect_ok();
        let triage = json!({
            "priority": PRIORITIES[n % 4],
            "assigneeId": AGENTS[n % 3],
            "addTags": [TAGS[n % 3], TAGS[(n + 1) % 3]],
        });
        app.patch(&admin, id, triage).await.expect_ok();
        let mut again = json!({
            "status": STATUSES[(n + 1) % 4],
            "removeTags": [TAGS[n % 3]],
        });
        if n % 2 == 0 {
            again["unassign"] = json!(true);
        } else {
            again["assigneeId"] = json!(AGENTS[(n + 1) % 3]);
        }
        app.patch(&admin, id, again).await.expect_ok();
    }));
    let reversed: Vec<&str> = ids.iter().rev().copied().collect();
    let (bulk, other_bulk) = (app.admin("bulk"), app.admin("other-bulk"));
    let bulks = futures_util::future::join(
        patch_all(
            app,
            &bulk,
            &ids,
            json!({ "status": "IN_PROGRESS", "addTags": ["billing"] }),
        ),
        patch_all(
            app,
            &other_bulk,
            &reversed,
            json!({ "priority": "URGENT", "addTags": ["vip"], "removeTags": ["refund"] }),
        ),
    );
    let replies = join_all(ids.iter().enumerate().map(|(n, id)| async move {
        // A reply may land on a CLOSED ticket and be refused; that is fine here.
        let owner = &customers[n % customers.len()];
        app.add_message(owner, id, "still there?", false).await;
    }));
    let (more, ..) = futures_util::future::join4(more, one_by_one, bulks, replies).await;
    opened.into_iter().chain(more).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_and_tag_totals_stay_exact_under_concurrent_triage() {
    let app = spawn_roomy_app().await;
    let ids = triage_concurrently(&app).await;
    assert_eq!(ids.len(), 24);
    let db = Database::connect(&app.database_url)
        .await
        .expect("database");
    let statuses = std::iter::once(None).chain(STATUSES.map(Some));
    let mut nonzero = 0;

    for status in statuses.clone() {
        for priority in std::iter::once(None).chain(PRIORITIES.map(Some)) {
            let assignees = std::iter::once(json!({}))
                .chain(AGENTS.map(|agent| json!({ "assigneeId": agent })))
                .chain([json!({ "unassigned": true })]);
            for mut filters in assignees {
                filters["status"] = json!(status);
                filters["priority"] = json!(priority);
                let mut conditions = Vec::new();
                if let Some(status) = status {
                    conditions.push(format!("t.status = '{status}'"));
                }
                if let Some(priority) = priority {
                    let rank = PRIORITIES.iter().position(|p| *p == priority);
                    conditions.push(format!("t.priority = {}", rank.expect("a priority")));
                }
                if let Some(agent) = filters["assigneeId"].as_str() {
                    conditions.push(format!("t.assignee_id = '{agent}'"));
                }
                if filters["unassigned"] == true {
                    conditions.push("t.assignee_id IS NULL".to_owned());
                }
                let expected = count_where(&db, false, &conditions).await;

                assert_eq!(
                    filtered_totals(&app, &filters).await,
                    (expected, expected),
                    "{filters}"
                );
                nonzero += usize::from(expected > 0);
            }
        }
    }
    for tag in TAGS {
        for status in statuses.clone() {
            let filters = json!({ "tags": [tag], "status": status });
            let mut conditions = vec![format!("g.tag = '{tag}'")];
            if let Some(status) = status {
                conditions.push(format!("t.status = '{status}'"));
            }
            let expected = count_where(&db, true, &conditions).await;

            assert_eq!(
                filtered_totals(&app, &filters).await,
                (expected, expected),
                "{filters}"
            );
            nonzero += usize::from(expected > 0);
        }
    }
    // The writes must leave the comparisons something to compare. How the concurrent
    // writes interleave decides how the 24 tickets spread (32 to 50 of these 140 totals
    // above zero, seen here); had no triage write landed, every ticket would be OPEN,
    // NORMAL, unassigned and untagged: 8 totals above zero.
    assert!(nonzero >= 16, "{nonzero} totals above zero");
}
