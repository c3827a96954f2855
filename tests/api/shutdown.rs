//! Stopping the server: on SIGTERM or SIGINT it stops accepting, lets the requests in
//! flight finish within the grace period, closes its pool and exits 0.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;

use crate::helpers::{Reply, TestApp, TicketLock, User, lock_ticket};
use crate::server_process::{ServerProcess, spawn_server};
use crate::socket::Socket;

/// Long enough for a request sent to reach the server and block on the lock.
const TO_REACH_THE_SERVER: Duration = Duration::from_millis(300);

/// Sends a message on the ticket in a task of its own; it blocks while the ticket is locked.
fn reply_in_flight(
    app: &Arc<TestApp>,
    user: &User,
    ticket_id: &str,
) -> JoinHandle<reqwest::Result<Reply>> {
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

/// A server (started with `settings`) with a reply in flight, blocked on a ticket the
/// test holds locked.
struct Stalled {
    _app: Arc<TestApp>,
    server: ServerProcess,
    lock: TicketLock,
    in_flight: JoinHandle<reqwest::Result<Reply>>,
}

async fn stall_a_reply(settings: &[(&str, &str)]) -> Stalled {
    let (app, server) = spawn_server(settings).await;
    let app = Arc::new(app);
    let alice = app.customer("alice");
    let ticket_id = app.open_ticket(&alice, "Shutting down").await;
    let lock = lock_ticket(&app.database_url, &ticket_id).await;
    let in_flight = reply_in_flight(&app, &alice, &ticket_id);
    tokio::time::sleep(TO_REACH_THE_SERVER).await;
    assert!(
        !in_flight.is_finished(),
        "the request did not wait for the lock"
    );
    Stalled {
        _app: app,
        server,
        lock,
        in_flight,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigterm_requests_in_flight_finish_new_connections_are_refused_and_it_exits_0() {
    let Stalled {
        mut server,
        lock,
        in_flight,
        ..
    } = stall_a_reply(&[]).await;

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
    server.assert_exits_0_within(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigint_a_request_still_running_after_the_grace_period_does_not_delay_the_exit() {
    let Stalled {
        mut server,
        lock,
        in_flight,
        ..
    } = stall_a_reply(&[("SHUTDOWN_GRACE_SECONDS", "1")]).await;

    server.signal("INT");

    // The lock is held for longer than the grace period (SQLite's busy timeout is 10 s).
    server.assert_exits_0_within(Duration::from_secs(4)).await;
    assert!(
        in_flight.await.expect("the request task").is_err(),
        "the abandoned request got an answer"
    );
    drop(lock);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigterm_open_sockets_are_closed_with_1001_and_it_exits_0() {
    let (app, mut server) = spawn_server(&[]).await;
    let mut socket = Socket::signed_in(&app, Some(&app.customer("alice").token)).await;

    server.signal("TERM");

    assert_eq!(socket.close_code().await, Some(1001));
    server.assert_exits_0_within(Duration::from_secs(10)).await;
}
