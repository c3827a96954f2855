//! `supportdesk seed` run as an operator would, with its output going to a log.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Command;

use entity::prelude::{
    Role, Ticket, TicketMessage, TicketPriority, TicketQueueCount, TicketStatus, TicketTag,
    TicketTagCount,
};
use sea_orm::{Database, EntityTrait};

use crate::helpers::TestDatabase;

/// Runs `supportdesk seed` with `args` into the database at `url`; its log on failure.
fn run_seed(url: &str, args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_supportdesk"))
        .arg("seed")
        .args(args)
        .env_clear()
        .env("DATABASE_URL", url)
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn seeding_into_a_log_writes_plain_progress_lines_without_carriage_returns() {
    let directory = tempfile::tempdir().expect("a directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        directory.path().join("seeded.db").display()
    );
    let output = run_seed(&url, &["--tickets", "4500", "--users", "10"]);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(!log.contains('\r'), "{log:?}");
    assert!(
        log.lines()
            .any(|line| line.starts_with("4500/4500 tickets")),
        "{log}"
    );
}

#[tokio::test]
async fn a_small_seed_spreads_priorities_assignees_tags_and_response_times() {
    let database = TestDatabase::create().await;
    run_seed(&database.url, &["--tickets", "500", "--users", "20"]);
    let db = Database::connect(&database.url)
        .await
        .expect("the database");
    let tickets = Ticket::find().all(&db).await.expect("the tickets");
    let messages = TicketMessage::find().all(&db).await.expect("the messages");
    let tags = TicketTag::find().all(&db).await.expect("the tags");
    assert_eq!(tickets.len(), 500);

    let priorities: HashSet<TicketPriority> = tickets.iter().map(|t| t.priority).collect();
    assert_eq!(priorities.len(), 4, "{priorities:?}");
    let normal = tickets
        .iter()
        .filter(|t| t.priority == TicketPriority::Normal)
        .count();
    assert!(normal > tickets.len() / 2, "{normal} NORMAL of 500");

    let open: Vec<_> = tickets
        .iter()
        .filter(|t| t.status == TicketStatus::Open)
        .collect();
    assert!(open.iter().any(|t| t.assignee_id.is_none()));
    assert!(open.iter().any(|t| t.assignee_id.is_some()));
    let assignees: HashSet<&str> = tickets
        .iter()
        .filter_map(|t| t.assignee_id.as_deref())
        .collect();
    assert!(assignees.len() >= 20, "{} assignees", assignees.len());

    let mut tags_per_ticket: HashMap<_, usize> = HashMap::new();
    for tag in &tags {
        *tags_per_ticket.entry(tag.ticket_id).or_default() += 1;
    }
    assert!(
        tags_per_ticket.len() > tickets.len() / 2,
        "few tickets are tagged"
    );
    assert!(
        tags_per_ticket.len() < tickets.len(),
        "every ticket is tagged"
    );
    assert!(tags_per_ticket.values().all(|&count| count <= 4));
    let vocabulary: HashSet<&str> = tags.iter().map(|t| t.tag.as_str()).collect();
    assert!(vocabulary.len() >= 30, "{} distinct tags", vocabulary.len());

    let mut first_public_admin_message = BTreeMap::new();
    for message in &messages {
        if message.author_role == Role::Admin && !message.internal {
            first_public_admin_message
                .entry(message.ticket_id)
                .and_modify(|at| *at = message.created_at.min(*at))
                .or_insert(message.created_at);
        }
    }
    for ticket in &tickets {
        assert_eq!(
            ticket.first_responded_at,
            first_public_admin_message.get(&ticket.id).copied(),
            "{ticket:?}"
        );
        let done = matches!(ticket.status, TicketStatus::Resolved | TicketStatus::Closed);
        assert_eq!(
            ticket.resolved_at,
            done.then_some(ticket.updated_at),
            "{ticket:?}"
        );
    }
    assert!(tickets.iter().any(|t| t.first_responded_at.is_some()));
    assert!(tickets.iter().any(|t| t.first_responded_at.is_none()));
}

#[tokio::test]
async fn a_seed_keeps_the_queue_and_tag_counts_of_what_it_wrote() {
    let database = TestDatabase::create().await;
    run_seed(&database.url, &["--tickets", "300", "--users", "10"]);
    let db = Database::connect(&database.url)
        .await
        .expect("the database");
    let tickets = Ticket::find().all(&db).await.expect("the tickets");
    let tags = TicketTag::find().all(&db).await.expect("the tags");

    let mut queues: BTreeMap<(TicketStatus, TicketPriority, String), i64> = BTreeMap::new();
    for ticket in &tickets {
        let assignee = ticket.assignee_id.clone().unwrap_or_default();
        *queues
            .entry((ticket.status, ticket.priority, assignee))
            .or_default() += 1;
    }
    let status_of: HashMap<_, _> = tickets.iter().map(|t| (t.id, t.status)).collect();
    let mut tagged: BTreeMap<(String, TicketStatus), i64> = BTreeMap::new();
    for tag in &tags {
        *tagged
            .entry((tag.tag.clone(), status_of[&tag.ticket_id]))
            .or_default() += 1;
    }
    let kept_queues: BTreeMap<_, _> = TicketQueueCount::find()
        .all(&db)
        .await
        .expect("the queue counts")
        .into_iter()
        .map(|row| ((row.status, row.priority, row.assignee_id), row.count))
        .collect();
    let kept_tags: BTreeMap<_, _> = TicketTagCount::find()
        .all(&db)
        .await
        .expect("the tag counts")
        .into_iter()
        .map(|row| ((row.tag, row.status), row.count))
        .collect();

    assert!(
        queues.len() > 20 && tagged.len() > 20,
        "too few keys to compare"
    );
    assert_eq!(kept_queues, queues);
    assert_eq!(kept_tags, tagged);
}
