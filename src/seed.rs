//! `supportdesk seed`: fills a database with realistic tickets for benchmarks and demos.
//!
//! Deterministic (a fixed pseudo-random sequence), so two runs with the same arguments
//! hold the same data. Tickets are spread over three years, in every status; a few
//! heavy users own a large share; each ticket has its messages, some internal notes, and
//! the timeline the migration would backfill for them (a creation, then each later
//! message; no status change is invented).

use std::time::Instant;

use chrono::{DateTime, Utc};
use entity::prelude::{Role, TicketEventKind, TicketPriority, TicketStatus};
use entity::{ticket, ticket_event, ticket_message};
use sea_orm::{DatabaseConnection, DbBackend, DbErr};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::store::{self, bulk};

mod progress;

use self::progress::Progress;

/// What to seed.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct SeedArgs {
    /// Tickets to create.
    #[arg(long, default_value_t = 10_000)]
    pub tickets: u64,
    /// Distinct customers owning them (`customer-0` … `customer-{N-1}`).
    #[arg(long, default_value_t = 1_000)]
    pub users: u64,
    /// Messages on each ticket, the first being the customer's opening message.
    #[arg(long, default_value_t = 3)]
    pub messages_per_ticket: u64,
}

/// Tickets per batch: a few multi-row statements each, within both databases' limits on
/// bound parameters (tickets 6 columns, messages 7, events 12).
const TICKETS_PER_BATCH: u64 = 2_000;
/// Batches written at once on PostgreSQL; SQLite has one writer.
const POSTGRES_WRITERS: usize = 4;
const THREE_YEARS_SECONDS: i64 = 3 * 365 * 24 * 3600;

pub async fn seed(db: &DatabaseConnection, args: SeedArgs) -> Result<(), DbErr> {
    let started = Instant::now();
    let users = args.users.max(1);
    let first_created = Utc::now() - chrono::Duration::seconds(THREE_YEARS_SECONDS);
    let writers = match db.get_database_backend() {
        DbBackend::Postgres => POSTGRES_WRITERS,
        _ => 1,
    };
    let mut progress = Progress::on_stderr(args.tickets);
    let mut in_flight = JoinSet::new();
    let mut first = 0;
    while first < args.tickets {
        let count = TICKETS_PER_BATCH.min(args.tickets - first);
        let Batch {
            tickets,
            messages,
            events,
        } = batch(first, count, args, users, first_created);
        let db = db.clone();
        in_flight.spawn(async move {
            bulk::insert_tickets(&db, tickets).await?;
            bulk::insert_messages(&db, messages).await?;
            bulk::insert_events(&db, events).await?;
            Ok::<u64, DbErr>(count)
        });
        first += count;
        while in_flight.len() >= writers {
            progress.advance(joined(in_flight.join_next().await)?);
        }
    }
    while let Some(done) = in_flight.join_next().await {
        progress.advance(joined(Some(done))?);
    }
    progress.finish();
    eprintln!("counting and analyzing …");
    store::rebuild_counts(db).await?;
    bulk::analyze(db).await?;
    eprintln!(
        "seeded {} tickets, {} messages, {} users in {:.1} s",
        args.tickets,
        args.tickets * args.messages_per_ticket,
        users,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn joined(
    result: Option<Result<Result<u64, DbErr>, tokio::task::JoinError>>,
) -> Result<u64, DbErr> {
    match result {
        Some(Ok(inserted)) => inserted,
        Some(Err(join_error)) => Err(DbErr::Custom(format!(
            "a seeding task failed: {join_error}"
        ))),
        None => Ok(0),
    }
}

/// Rows written together, in this order.
struct Batch {
    tickets: Vec<ticket::Model>,
    messages: Vec<ticket_message::Model>,
    events: Vec<ticket_event::Model>,
}

/// Tickets `first .. first + count`, their messages and their events.
fn batch(
    first: u64,
    count: u64,
    args: SeedArgs,
    users: u64,
    first_created: DateTime<Utc>,
) -> Batch {
    let mut tickets = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    let mut messages = Vec::new();
    let mut events = Vec::new();
    for index in first..first + count {
        let mut random = SplitMix64(index);
        let offset = spread(index, args.tickets, THREE_YEARS_SECONDS * 1_000);
        let created_at = first_created + chrono::Duration::milliseconds(offset);
        let id = uuid_at(created_at, &mut random);
        let owner = format!("customer-{}", owner_of(&mut random, users));
        let status = status_of(&mut random);
        let mut updated_at = created_at;
        for position in 0..args.messages_per_ticket {
            let at =
                created_at + chrono::Duration::minutes(i64::try_from(position * 37).unwrap_or(0));
            let from_customer = position % 2 == 0;
            let internal = !from_customer && random.next().is_multiple_of(5);
            if !internal {
                updated_at = at;
            }
            let message = ticket_message::Model {
                id: uuid_at(at, &mut random),
                ticket_id: id,
                author_id: if from_customer {
                    owner.clone()
                } else {
                    format!("admin-{}", random.next() % 20)
                },
                author_role: if from_customer {
                    Role::Customer
                } else {
                    Role::Admin
                },
                body: format!(
                    "Message {position} on ticket {index}: {}",
                    LOREM[position as usize % LOREM.len()]
                ),
                internal,
                created_at: at,
            };
            events.push(event_of(&message, &owner, status, position));
            messages.push(message);
        }
        tickets.push(ticket::Model {
            id,
            user_id: owner,
            subject: format!(
                "{} (#{index})",
                SUBJECTS[(random.next() % SUBJECTS.len() as u64) as usize]
            ),
            status,
            created_at,
            updated_at,
            priority: TicketPriority::Normal,
            assignee_id: None,
            first_responded_at: None,
            resolved_at: None,
        });
    }
    Batch {
        tickets,
        messages,
        events,
    }
}

/// The event that message `position` of a ticket stands for: the ticket's creation for
/// the first (by its owner), then MESSAGE_ADDED; ids as the migration's backfill makes them.
fn event_of(
    message: &ticket_message::Model,
    owner: &str,
    status: TicketStatus,
    position: u64,
) -> ticket_event::Model {
    let (kind, actor_id, source) = if position == 0 {
        (
            TicketEventKind::TicketCreated,
            owner.to_owned(),
            message.ticket_id,
        )
    } else {
        (
            TicketEventKind::MessageAdded,
            message.author_id.clone(),
            message.id,
        )
    };
    let position = u16::try_from(position).unwrap_or(u16::MAX);
    ticket_event::Model {
        id: migration::historical_event_id(message.created_at, position, source),
        ticket_id: message.ticket_id,
        owner_id: owner.to_owned(),
        kind,
        actor_id,
        actor_role: message.author_role,
        created_at: message.created_at,
        message_id: Some(message.id),
        internal: message.internal,
        from_status: None,
        to_status: None,
        status_after: status,
        from_priority: None,
        to_priority: None,
        from_assignee_id: None,
        to_assignee_id: None,
        added_tags: None,
        removed_tags: None,
    }
}

/// Evenly spread `index` of `total` over `span` milliseconds.
fn spread(index: u64, total: u64, span: i64) -> i64 {
    let fraction = index as f64 / total.max(1) as f64;
    (fraction * span as f64) as i64
}

/// One user in a hundred is a heavy user; together they own about a fifth of the tickets.
fn owner_of(random: &mut SplitMix64, users: u64) -> u64 {
    let heavy_users = (users / 100).max(1);
    if random.next().is_multiple_of(5) {
        random.next() % heavy_users
    } else {
        random.next() % users
    }
}

/// About half closed, a fifth resolved, a fifth open, a tenth in progress.
fn status_of(random: &mut SplitMix64) -> TicketStatus {
    match random.next() % 10 {
        0..=4 => TicketStatus::Closed,
        5 | 6 => TicketStatus::Resolved,
        7 | 8 => TicketStatus::Open,
        _ => TicketStatus::InProgress,
    }
}

/// A UUID v7 for the instant `at`, so ids sort like creation times, as live ones do.
fn uuid_at(at: DateTime<Utc>, random: &mut SplitMix64) -> Uuid {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    let mut bits = [0u8; 10];
    bits[..8].copy_from_slice(&random.next().to_be_bytes());
    bits[8..].copy_from_slice(&random.next().to_be_bytes()[..2]);
    uuid::Builder::from_unix_timestamp_millis(millis, &bits).into_uuid()
}

/// A small, fast, deterministic generator: plenty for made-up data.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

const SUBJECTS: [&str; 8] = [
    "Cannot log in",
    "Invoice is wrong",
    "Export fails with an error",
    "Feature request: dark mode",
    "Password reset email never arrives",
    "App crashes on start",
    "Refund request",
    "Slow dashboard",
];

const LOREM: [&str; 4] = [
    "Steps to reproduce are attached; it started after the last update.",
    "Thanks for the details, we are looking into it and will get back to you.",
    "It still happens on my side, even after clearing the cache.",
    "We shipped a fix; please confirm it works for you now.",
];

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn args(tickets: u64) -> SeedArgs {
        SeedArgs {
            tickets,
            users: 50,
            messages_per_ticket: 3,
        }
    }

    #[test]
    fn a_batch_is_the_same_every_time() {
        let start = Utc
            .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
            .single()
            .expect("instant");
        let first = batch(0, 10, args(100), 50, start);
        let again = batch(0, 10, args(100), 50, start);
        assert_eq!(first.tickets, again.tickets);
        assert_eq!(first.events, again.events);
    }

    #[test]
    fn tickets_are_created_in_id_order_with_their_messages_after_them() {
        let start = Utc
            .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
            .single()
            .expect("instant");
        let Batch {
            tickets, messages, ..
        } = batch(0, 100, args(100), 50, start);
        assert!(
            tickets
                .windows(2)
                .all(|pair| pair[0].created_at <= pair[1].created_at)
        );
        assert!(tickets.windows(2).all(|pair| pair[0].id < pair[1].id));
        assert_eq!(messages.len(), 300);
        assert!(
            messages
                .iter()
                .all(|message| message.id.get_version_num() == 7)
        );
    }

    #[test]
    fn each_ticket_has_a_creation_then_an_event_per_later_message() {
        let start = Utc
            .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
            .single()
            .expect("instant");
        let Batch {
            tickets,
            messages,
            events,
        } = batch(0, 10, args(10), 50, start);
        assert_eq!(events.len(), messages.len());
        for ticket in &tickets {
            let timeline: Vec<&ticket_event::Model> = events
                .iter()
                .filter(|event| event.ticket_id == ticket.id)
                .collect();
            assert_eq!(timeline[0].kind, TicketEventKind::TicketCreated);
            assert_eq!(timeline[0].actor_id, ticket.user_id);
            assert!(
                timeline[1..]
                    .iter()
                    .all(|event| event.kind == TicketEventKind::MessageAdded)
            );
            assert!(timeline.windows(2).all(|pair| pair[0].id < pair[1].id));
            assert!(
                timeline
                    .iter()
                    .all(|event| event.status_after == ticket.status)
            );
        }
    }

    #[test]
    fn every_status_occurs() {
        let start = Utc
            .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
            .single()
            .expect("instant");
        let tickets = batch(0, 1_000, args(1_000), 50, start).tickets;
        for status in [
            TicketStatus::Open,
            TicketStatus::InProgress,
            TicketStatus::Resolved,
            TicketStatus::Closed,
        ] {
            assert!(
                tickets.iter().any(|ticket| ticket.status == status),
                "{status:?}"
            );
        }
    }
}
