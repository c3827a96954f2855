//! Stopping the server: on SIGTERM or SIGINT it stops accepting, lets the requests in
//! flight finish within the grace period, closes its pool and exits 0.

use std::sync::Arc;
use std::time::Duration;

use entity::prelude::Ticket;
use sea_orm::{
    Database, DatabaseConnection, DatabaseTransaction, EntityTrait, QuerySelect,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use serde_json::json;

use crate::helpers::{TestApp, User};
use crate::server_process::spawn_server;

/// Long enough for a request sent to reach the server and block on the lock.
const TO_REACH_THE_SERVER: Duration = Duration::from_millis(300);

/// The lock a new message on a ticket waits for while the test holds it: SQLite's write
/// lock, or, on PostgreSQL, the lock on the ticket's row.
struct TicketLock {
    _db: DatabaseConnection,
    txn: DatabaseTransaction,
}

async fn lock_ticket(database_url: &str, ticket_id: &str) -> TicketLock {
    let db = Database::connect(database_url).await.expect("the database");
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await
        .expect("a transaction");
    Ticket::find_by_id(ticket_id.parse::<uuid::Uuid>().expect("a UUID"))
        .lock_exclusive()
        .one(&txn)
        .await
        .expect("the ticket is locked")
        .expect("the ticket exists");
    TicketLock { _db: db, txn }
}

async fn open_ticket(app: &TestApp, user: &User) -> String {
    app.create_ticket(user, "Shutting down").await["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

/// Sends a message on the ticket in a task of its own; it blocks while the ticket is locked.
fn reply_in_flight(
    app: &Arc<TestApp>,
    user: &User,
    ticket_id: &str,
) -> tokio::task::JoinHandle<reqwest::Result<crate::helpers::Reply>> {
    let (app, user, ticket_id) = (Arc::clone(app), user.clone(), ticket_id.to_owned());
    tokio::spawn(async move {
        app.try_graphql(
            &user,
            "mutation($id: ID!) { addTicketMessage(ticketId: $id, body: \"Still there?\") { body } }",
            json!({ "id": ticket_id }),
        )
        .await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigterm_requests_in_flight_finish_new_connections_are_refused_and_it_exits_0() {
    let (app, mut server) = spawn_server(&[]).await;
    let app = Arc::new(app);
    let alice = app.customer("alice");
    let ticket_id = open_ticket(&app, &alice).await;
    let lock = lock_ticket(&app.database_url, &ticket_id).await;
    let in_flight = reply_in_flight(&app, &alice, &ticket_id);
    tokio::time::sleep(TO_REACH_THE_SERVER).await;
    assert!(
        !in_flight.is_finished(),
        "the request did not wait for the lock"
    );

    server.signal("TERM");

    assert!(
        server
            .refuses_connections_within(Duration::from_secs(5))
            .await,
        "still accepting after SIGTERM:\n{}",
        server.log()
    );
    assert!(
        !in_flight.is_finished(),
        "the request ended before the lock was released"
    );
    lock.txn.commit().await.expect("the lock is released");
    let reply = in_flight
        .await
        .expect("the request task")
        .expect("the request in flight is answered")
        .expect_ok();
    assert_eq!(reply.data("addTicketMessage")["body"], "Still there?");
    let status = server.exit_within(Duration::from_secs(10)).await;
    assert_eq!(
        status.and_then(|status| status.code()),
        Some(0),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigint_a_request_still_running_after_the_grace_period_does_not_delay_the_exit() {
    let (app, mut server) = spawn_server(&[("SHUTDOWN_GRACE_SECONDS", "1")]).await;
    let app = Arc::new(app);
    let alice = app.customer("alice");
    let ticket_id = open_ticket(&app, &alice).await;
    let lock = lock_ticket(&app.database_url, &ticket_id).await;
    let in_flight = reply_in_flight(&app, &alice, &ticket_id);
    tokio::time::sleep(TO_REACH_THE_SERVER).await;
    assert!(
        !in_flight.is_finished(),
        "the request did not wait for the lock"
    );

    server.signal("INT");

    // The lock is held for longer than the grace period (SQLite's busy timeout is 10 s).
    let status = server.exit_within(Duration::from_secs(4)).await;
    assert_eq!(
        status.and_then(|status| status.code()),
        Some(0),
        "{}",
        server.log()
    );
    assert!(
        in_flight.await.expect("the request task").is_err(),
        "the abandoned request got an answer"
    );
    drop(lock);
}
