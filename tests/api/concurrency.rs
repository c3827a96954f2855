use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::spawn_app;

const WRITERS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_ticket_creations_all_succeed() {
    let app = spawn_app().await;
    // One writer per customer, so that no one reaches the per-user rate limit.
    let customers: Vec<_> = (0..WRITERS)
        .map(|n| app.customer(&format!("customer-{n}")))
        .collect();

    let replies = join_all(customers.iter().enumerate().map(|(n, customer)| {
        let app = &app;
        async move {
            app.graphql(
                customer,
                "mutation($input: CreateTicketInput!) { createTicket(input: $input) { id } }",
                json!({ "input": { "subject": format!("Ticket {n}"), "message": "Hi" } }),
            )
            .await
        }
    }))
    .await;

    for reply in replies {
        reply.expect_ok();
    }
    let list = app
        .graphql(
            &app.admin("root"),
            "{ tickets { pagination { total } } }",
            json!({}),
        )
        .await
        .expect_ok();
    assert_eq!(list.data("tickets")["pagination"]["total"], WRITERS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_replies_to_one_ticket_all_succeed() {
    let app = spawn_app().await;
    let (alice, admin) = (app.customer("alice"), app.admin("root"));
    let id = app.open_ticket(&alice, "Busy").await;

    // Admins, one per reply, so that no one reaches the per-user rate limit; every other
    // one writes an internal note.
    let admins: Vec<_> = (0..WRITERS)
        .map(|n| app.admin(&format!("admin-{n}")))
        .collect();

    let replies = join_all(admins.iter().enumerate().map(|(n, author)| {
        let (app, id) = (&app, &id);
        async move {
            app.add_message(author, id, &format!("Reply {n}"), n % 2 == 1)
                .await
        }
    }))
    .await;

    for reply in replies {
        reply.expect_ok();
    }
    let ticket = app.ticket(&admin, &id).await.expect_ok();
    let messages = ticket.data("ticket")["messages"]
        .as_array()
        .expect("messages")
        .len();
    assert_eq!(messages, WRITERS + 1);
}
