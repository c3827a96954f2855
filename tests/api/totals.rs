//! List totals are kept in a table of counts; they must equal a real count after any
//! mix of concurrent writes.

use futures_util::future::join_all;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::json;

use crate::helpers::{TestApp, User, spawn_app};

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
    let mut sql = "SELECT COUNT(*) AS n FROM tickets WHERE 1 = 1".to_owned();
    if let Some(status) = status {
        sql.push_str(&format!(" AND status = '{status}'"));
    }
    if let Some(user_id) = user_id {
        sql.push_str(&format!(" AND user_id = '{user_id}'"));
    }
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("count")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("a number")
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
