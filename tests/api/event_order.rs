//! The timeline's order under concurrent writers: a reader that resumes after any event
//! it has read misses nothing, whichever transactions were still running when it read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use entity::prelude::TicketEvent;
use entity::prelude::{Role, TicketPriority, TicketStatus};
use entity::ticket_event;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use supportdesk::config::DatabaseConfig;
use supportdesk::store::events::transaction_ordered_id;
use supportdesk::store::{self, Change, EventStream, NewEvent};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::helpers::*;

const API_WRITERS_PER_INSTANCE: usize = 4;
const API_WRITES_EACH: usize = 12;
const SLOW_WRITERS: usize = 6;
const SLOW_TRANSACTIONS_EACH: usize = 12;
const READERS: usize = 4;
const READ_UNTIL: Duration = Duration::from_secs(90);

#[tokio::test]
async fn readers_resuming_anywhere_miss_no_event_of_concurrent_uneven_writers() {
    let first = spawn_roomy_app().await;
    let second = spawn_another_instance(&first, |config| {
        config.http.mutation_rate_limit.burst = 10_000;
        config.http.mutation_rate_limit.per_second = 1_000.0;
    })
    .await;
    let alice = first.customer("alice");
    let ticket = first.open_ticket(&alice, "Printer on fire").await;
    let ticket_id = Uuid::parse_str(&ticket).expect("a ticket id");
    let database_url = first.database_url.clone();
    let seed: u64 = rand::random();
    println!("seed {seed}");

    let writing = Arc::new(AtomicBool::new(true));
    let mut readers = JoinSet::new();
    for reader in 0..READERS {
        let db = pool(&database_url);
        let writing = Arc::clone(&writing);
        let rng = StdRng::seed_from_u64(seed.wrapping_add(reader as u64));
        readers.spawn(read_resuming_at_random(db, writing, rng));
    }

    let mut writers = JoinSet::new();
    // The first instance owns the database: it lives to the end of the test.
    let instances = [Arc::new(first), Arc::new(second)];
    for app in &instances {
        for _ in 0..API_WRITERS_PER_INSTANCE {
            let (app, user, ticket) = (Arc::clone(app), alice.clone(), ticket.clone());
            writers.spawn(async move {
                for n in 0..API_WRITES_EACH {
                    app.add_message(&user, &ticket, &format!("update {n}"), false)
                        .await
                        .expect_ok();
                }
            });
        }
    }
    // A third writer beside the two instances: transactions of uneven length, some of
    // them rolled back, that commit long after they made their events' ids.
    let slow_db = pool(&database_url);
    for writer in 0..SLOW_WRITERS {
        let db = slow_db.clone();
        let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(31).wrapping_add(writer as u64));
        writers.spawn(async move {
            for _ in 0..SLOW_TRANSACTIONS_EACH {
                slow_transaction(&db, ticket_id, &mut rng).await;
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.expect("a writer finished");
    }
    writing.store(false, Ordering::SeqCst);

    let table: Vec<Uuid> = TicketEvent::find()
        .select_only()
        .column(ticket_event::Column::Id)
        .order_by_asc(ticket_event::Column::Id)
        .into_tuple()
        .all(&slow_db)
        .await
        .expect("the final table");
    assert!(table.len() > 100, "only {} events written", table.len());
    while let Some(read) = readers.join_next().await {
        let read = read.expect("a reader finished");
        assert_eq!(
            read.len(),
            table.len(),
            "seed {seed}: a reader read another count"
        );
        assert_eq!(
            read, table,
            "seed {seed}: a reader skipped or repeated an event"
        );
    }
}

#[tokio::test]
#[ignore = "PostgreSQL only: TEST_DATABASE_URL=postgres://… cargo test --test api -- --include-ignored"]
async fn on_postgresql_the_database_makes_event_ids_as_the_server_reads_them() {
    required_postgres_server_url();
    let app = spawn_app().await;
    let db = pool(&app.database_url);
    let largest_transaction: i64 = (1 << 52) - 1;
    for (transaction, number) in [
        (0_i64, 0_i64),
        (1, 1),
        (4_095, 7),
        (4_096, (1 << 62) - 1),
        (987_654_321, 1 << 40),
        (largest_transaction, 123_456_789),
    ] {
        let made: Uuid = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT ticket_event_id($1, $2) AS id",
                [transaction.into(), number.into()],
            ))
            .await
            .expect("the id made")
            .expect("a row")
            .try_get("", "id")
            .expect("a uuid");
        let expected = transaction_ordered_id(transaction.unsigned_abs(), number.unsigned_abs())
            .expect("an id");
        assert_eq!(made, expected, "transaction {transaction}, number {number}");
    }
    let past = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT ticket_event_id($1, 1) AS id",
            [(largest_transaction + 1).into()],
        ))
        .await;
    assert!(past.is_err(), "{past:?}");
}

#[tokio::test]
#[ignore = "PostgreSQL only: TEST_DATABASE_URL=postgres://… cargo test --test api -- --include-ignored"]
async fn on_postgresql_the_event_id_function_is_inlined_into_the_statement() {
    required_postgres_server_url();
    let app = spawn_app().await;
    let db = pool(&app.database_url);
    let plan: String = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "EXPLAIN (VERBOSE, FORMAT JSON) \
             SELECT ticket_event_id(pg_current_xact_id()::text::bigint, nextval('ticket_event_order'))"
                .to_owned(),
        ))
        .await
        .expect("the plan")
        .expect("a row")
        .try_get_by_index::<serde_json::Value>(0)
        .expect("a JSON plan")
        .to_string();
    assert!(plan.contains("lpad"), "{plan}");
    assert!(!plan.contains("ticket_event_id("), "{plan}");
}

#[tokio::test]
#[ignore = "PostgreSQL only: TEST_DATABASE_URL=postgres://… cargo test --test api -- --include-ignored"]
async fn on_postgresql_a_transactions_events_carry_its_id_in_the_order_recorded() {
    required_postgres_server_url();
    let app = spawn_app().await;
    let ticket = app
        .open_ticket(&app.customer("alice"), "Printer on fire")
        .await;
    let ticket = Uuid::parse_str(&ticket).expect("a ticket id");
    let db = pool(&app.database_url);
    let txn = store::begin_write(&db).await.expect("a transaction");
    let changes = [
        (TicketPriority::Normal, TicketPriority::High),
        (TicketPriority::High, TicketPriority::Urgent),
        (TicketPriority::Urgent, TicketPriority::Low),
    ];
    let events = changes
        .iter()
        .map(|&(from, to)| priority_changed(ticket, from, to))
        .collect();
    let recorded = store::record_events(&txn, events).await.expect("recorded");
    let transaction: String = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_current_xact_id()::text AS transaction",
        ))
        .await
        .expect("the transaction id")
        .expect("a row")
        .try_get("", "transaction")
        .expect("text");
    txn.commit().await.expect("committed");

    let transaction: u64 = transaction.parse().expect("a number");
    let first_of_the_transaction = transaction_ordered_id(transaction, 0).expect("an id");
    let last_of_the_transaction = transaction_ordered_id(transaction + 1, 0).expect("an id");
    for event in &recorded {
        assert!(
            (first_of_the_transaction..last_of_the_transaction).contains(&event.id),
            "{} is not of transaction {transaction}",
            event.id
        );
    }
    assert!(recorded.windows(2).all(|pair| pair[0].id < pair[1].id));
    let recorded_changes: Vec<_> = recorded
        .iter()
        .map(|event| (event.from_priority, event.to_priority))
        .collect();
    let expected: Vec<_> = changes
        .iter()
        .map(|&(from, to)| (Some(from), Some(to)))
        .collect();
    assert_eq!(recorded_changes, expected);
    let stored: Vec<ticket_event::Model> = TicketEvent::find()
        .filter(ticket_event::Column::Id.gte(first_of_the_transaction))
        .order_by_asc(ticket_event::Column::Id)
        .all(&db)
        .await
        .expect("the stored events");
    assert_eq!(stored, recorded);
}

fn priority_changed(ticket: Uuid, from: TicketPriority, to: TicketPriority) -> NewEvent {
    NewEvent {
        ticket_id: ticket,
        owner_id: "alice".into(),
        actor_id: "root".into(),
        actor_role: Role::Admin,
        at: Utc::now().trunc_subsecs(6),
        status_after: TicketStatus::Open,
        change: Change::PriorityChanged { from, to },
    }
}

fn pool(url: &str) -> DatabaseConnection {
    supportdesk::db::connect(&DatabaseConfig::new(url.to_owned())).expect("a pool")
}

/// Records 1–3 events on `ticket`, then holds the transaction open for up to 40 ms and
/// commits it, or (one in four) rolls it back.
async fn slow_transaction(db: &DatabaseConnection, ticket: Uuid, rng: &mut StdRng) {
    let txn = store::begin_write(db).await.expect("a transaction");
    let events = (0..rng.gen_range(1..=3))
        .map(|_| priority_changed(ticket, TicketPriority::Normal, TicketPriority::High))
        .collect();
    store::record_events(&txn, events)
        .await
        .expect("events recorded");
    tokio::time::sleep(Duration::from_millis(rng.gen_range(0..40))).await;
    if rng.gen_bool(0.25) {
        txn.rollback().await.expect("rolled back");
    } else {
        txn.commit().await.expect("committed");
    }
}

/// Reads the whole timeline in pages of random sizes while it is written, and now and
/// then resumes after one of the last 50 events it read, as a client reconnecting with
/// an older cursor would; until the writers are done and it has read all there is.
/// Answers what it read, each resumption cutting what followed its point.
async fn read_resuming_at_random(
    db: DatabaseConnection,
    writing: Arc<AtomicBool>,
    mut rng: StdRng,
) -> Vec<Uuid> {
    let deadline = tokio::time::Instant::now() + READ_UNTIL;
    let mut read: Vec<Uuid> = Vec::new();
    loop {
        assert!(tokio::time::Instant::now() < deadline, "still reading");
        let writers_done = !writing.load(Ordering::SeqCst);
        let page = store::events::events_after(
            &db,
            &EventStream::everything(),
            read.last().copied(),
            rng.gen_range(1..=20),
        )
        .await
        .expect("a page");
        if page.is_empty() {
            let settled = store::events::settled(&db).await.expect("the settled part");
            if writers_done && settled.is_complete() {
                return read;
            }
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..5))).await;
            continue;
        }
        read.extend(page.into_iter().map(|event| event.id));
        if rng.gen_bool(0.1) {
            let back = rng.gen_range(0..read.len().min(50));
            read.truncate(read.len() - back);
        }
    }
}
