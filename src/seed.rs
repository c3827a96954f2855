//! `supportdesk seed`: fills a database with realistic tickets for benchmarks and demos.
//!
//! Deterministic (a fixed pseudo-random sequence), so two runs with the same arguments
//! hold the same data. Tickets are spread over three years, in every status; a few
//! heavy users own a large share; each ticket has its messages, some internal notes, and
//! the timeline the migration would backfill for them (a creation, then each later
//! message; no status change is invented).
//!
//! Triage is spread as a support team's would be: most tickets NORMAL; a few dozen agents
//! (`agent-01` … `agent-36`) own them, an OPEN ticket often nobody; 0–4 tags from a
//! vocabulary of 50, some far more common than others. Response times follow the
//! messages: `first_responded_at` is the first public admin message, `resolved_at` the
//! last change of a RESOLVED or CLOSED ticket (its `updated_at`). The admin messages of
//! an assigned ticket are its assignee's.

use std::time::Instant;

use chrono::{DateTime, Utc};
use entity::prelude::{Role, TicketPriority, TicketStatus};
use entity::{ticket, ticket_event, ticket_message, ticket_tag};
use sea_orm::{DatabaseConnection, DbBackend, DbErr};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::store::{self, Change, NewEvent, bulk};

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

/// Tickets per batch: a few multi-row statements each, each within both databases' limits
/// on bound parameters (see [`bulk`]).
const TICKETS_PER_BATCH: u64 = 2_000;
/// Batches written at once on PostgreSQL; SQLite has one writer.
const POSTGRES_WRITERS: usize = 4;
const THREE_YEARS_SECONDS: i64 = 3 * 365 * 24 * 3600;
/// The agents who answer and own tickets: `agent-01` … `agent-36`.
const AGENTS: u64 = 36;
/// Mixed into a ticket's index to seed the generator of its triage, a sequence of its own,
/// so that the rest of the ticket stays as the seed wrote it before triage existed.
const TRIAGE_STREAM: u64 = 0x7472_6961_6765_0000;
/// The most tags the seed gives one ticket.
const MAX_TAGS: usize = 4;

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
            tags,
        } = batch(first, count, args, users, first_created);
        let db = db.clone();
        in_flight.spawn(async move {
            bulk::insert_tickets(&db, tickets).await?;
            bulk::insert_messages(&db, messages).await?;
            bulk::insert_events(&db, events).await?;
            bulk::insert_tags(&db, tags).await?;
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
    store::rebuild_search(db).await?;
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
    tags: Vec<ticket_tag::Model>,
}

/// Tickets `first .. first + count`, their messages, events and tags.
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
    let mut tags = Vec::new();
    for index in first..first + count {
        let mut random = SplitMix64(index);
        let offset = spread(index, args.tickets, THREE_YEARS_SECONDS * 1_000);
        let created_at = first_created + chrono::Duration::milliseconds(offset);
        let id = uuid_at(created_at, &mut random);
        let owner = format!("customer-{}", owner_of(&mut random, users));
        let status = status_of(&mut random);
        let mut triage = SplitMix64(index ^ TRIAGE_STREAM);
        let assignee_id = assignee_of(&mut triage, status);
        let mut updated_at = created_at;
        let mut first_responded_at = None;
        for position in 0..args.messages_per_ticket {
            let at =
                created_at + chrono::Duration::minutes(i64::try_from(position * 37).unwrap_or(0));
            let from_customer = position % 2 == 0;
            let internal = !from_customer && random.next().is_multiple_of(5);
            if !internal {
                updated_at = at;
                if !from_customer {
                    first_responded_at.get_or_insert(at);
                }
            }
            // Drawn for every admin message, so that the sequence stays as it was.
            let agent = random.next() % AGENTS;
            let message = ticket_message::Model {
                id: uuid_at(at, &mut random),
                ticket_id: id,
                author_id: if from_customer {
                    owner.clone()
                } else {
                    assignee_id.clone().unwrap_or_else(|| agent_name(agent))
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
            priority: priority_of(&mut triage),
            assignee_id,
            first_responded_at,
            resolved_at: matches!(status, TicketStatus::Resolved | TicketStatus::Closed)
                .then_some(updated_at),
        });
        tags.extend(
            tags_of(&mut triage)
                .into_iter()
                .map(|tag| ticket_tag::Model {
                    ticket_id: id,
                    tag: tag.to_owned(),
                }),
        );
    }
    Batch {
        tickets,
        messages,
        events,
        tags,
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
    let (change, actor_id, source) = if position == 0 {
        let created = Change::Created {
            message: message.id,
        };
        (created, owner.to_owned(), message.ticket_id)
    } else {
        let added = Change::MessageAdded {
            message: message.id,
            internal: message.internal,
        };
        (added, message.author_id.clone(), message.id)
    };
    let position = u16::try_from(position).unwrap_or(u16::MAX);
    let id = migration::historical_event_id(message.created_at, position, source);
    store::event_model(
        id,
        NewEvent {
            ticket_id: message.ticket_id,
            owner_id: owner.to_owned(),
            actor_id,
            actor_role: message.author_role,
            at: message.created_at,
            status_after: status,
            change,
        },
    )
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

/// About a tenth LOW, two thirds NORMAL, a fifth HIGH, one in twenty URGENT.
fn priority_of(random: &mut SplitMix64) -> TicketPriority {
    match random.next() % 100 {
        0..=9 => TicketPriority::Low,
        10..=74 => TicketPriority::Normal,
        75..=94 => TicketPriority::High,
        _ => TicketPriority::Urgent,
    }
}

/// Six OPEN tickets in ten wait for someone to take them; nearly every ticket further
/// along has an owner (a few RESOLVED or CLOSED ones were answered by whoever was there).
fn assignee_of(random: &mut SplitMix64, status: TicketStatus) -> Option<String> {
    let unassigned_in_ten = match status {
        TicketStatus::Open => 6,
        TicketStatus::InProgress => 0,
        TicketStatus::Resolved | TicketStatus::Closed => 1,
    };
    let unassigned = random.next() % 10 < unassigned_in_ten;
    let agent = random.next() % AGENTS;
    (!unassigned).then(|| agent_name(agent))
}

fn agent_name(agent: u64) -> String {
    format!("agent-{:02}", agent + 1)
}

/// 0–4 distinct tags: three tickets in ten have none, one in ten has four. The earlier a
/// tag stands in [`TAGS`], the more tickets have it (the lower of two draws).
fn tags_of(random: &mut SplitMix64) -> Vec<&'static str> {
    let wanted = match random.next() % 10 {
        0..=2 => 0,
        3..=5 => 1,
        6 | 7 => 2,
        8 => 3,
        _ => MAX_TAGS,
    };
    let vocabulary = TAGS.len() as u64;
    let mut chosen: Vec<&'static str> = Vec::with_capacity(wanted);
    while chosen.len() < wanted {
        let index = (random.next() % vocabulary).min(random.next() % vocabulary);
        let tag = TAGS[index as usize];
        if !chosen.contains(&tag) {
            chosen.push(tag);
        }
    }
    chosen.sort_unstable();
    chosen
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

/// The tag vocabulary, most common first.
const TAGS: [&str; 50] = [
    "billing",
    "login",
    "bug",
    "how-to",
    "refund",
    "password",
    "invoice",
    "mobile",
    "export",
    "performance",
    "vip",
    "feature-request",
    "email",
    "sso",
    "api",
    "android",
    "ios",
    "dashboard",
    "notifications",
    "subscription",
    "upgrade",
    "downgrade",
    "cancellation",
    "payment-failed",
    "2fa",
    "permissions",
    "integration:slack",
    "integration:jira",
    "webhooks",
    "import",
    "reports",
    "search",
    "printer",
    "data-loss",
    "security",
    "gdpr",
    "onboarding",
    "trial",
    "enterprise",
    "translation",
    "accessibility",
    "outage",
    "regression",
    "duplicate",
    "spam",
    "legal",
    "hardware",
    "shipping",
    "escalated",
    "needs-info",
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
    use entity::prelude::TicketEventKind;

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
            ..
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

    #[test]
    fn a_ticket_has_at_most_four_distinct_sorted_tags_and_some_have_none() {
        let mut counts = [0; MAX_TAGS + 1];
        for index in 0..1_000 {
            let tags = tags_of(&mut SplitMix64(index));
            assert!(tags.windows(2).all(|pair| pair[0] < pair[1]), "{tags:?}");
            counts[tags.len()] += 1;
        }
        assert!(counts.iter().all(|&count| count > 0), "{counts:?}");
    }

    #[test]
    fn open_tickets_wait_for_an_owner_more_often_than_others() {
        let unassigned = |status| {
            (0..1_000)
                .filter(|&index| assignee_of(&mut SplitMix64(index), status).is_none())
                .count()
        };
        assert!((500..700).contains(&unassigned(TicketStatus::Open)));
        assert_eq!(unassigned(TicketStatus::InProgress), 0);
        assert!(unassigned(TicketStatus::Closed) < 200);
    }
}
