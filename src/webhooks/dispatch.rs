//! The fan-out: the timeline turned into deliveries. One task per instance reads the
//! events after the fan-out's cursor (`webhook_dispatch`) through the store's ordered
//! reader, and for each page, in one transaction, writes each event's body once (so that
//! every attempt signs the same bytes), one PENDING delivery per enabled webhook that
//! wants the event's kind and was created before it, and moves the cursor past the page.
//!
//! On PostgreSQL an advisory lock, tried for each page, makes one instance fan out at a
//! time; the others skip their turn rather than wait. (Not a lock on the cursor's row,
//! `FOR UPDATE SKIP LOCKED`: that would give the transaction an id for the whole page,
//! and readers of the timeline stop below the oldest running transaction.) On SQLite
//! there is one fan-out in the process. Deliveries are unique per webhook and
//! event, so a page fanned out twice (an instance that died before its commit, a cursor
//! kept in memory) writes nothing twice.
//!
//! A page that owes no delivery moves the cursor in memory only, written every few
//! seconds: with no webhook registered, the fan-out costs a read per wake-up, not a write.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use entity::{ticket_event, ticket_message, webhook};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbBackend, DbErr};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use super::payload::{self, TicketAfter, TicketNow};
use crate::domain::WebhookEvents;
use crate::policy;
use crate::store::events::{EventStream, events_within, latest_within, settled};
use crate::store::webhook_deliveries::{self as store, NewDelivery};

/// Events fanned out in one transaction.
const PAGE: u64 = 200;

/// How often the fan-out looks without being woken: for events held back when it was
/// (a transaction older than theirs was still running), for another instance's turn
/// that ended, for a wake-up lost with a connection.
const POLL: Duration = Duration::from_secs(1);

/// The first and the longest pause before looking again at events held back.
const HELD_PAUSES: (Duration, Duration) = (Duration::from_millis(1), Duration::from_millis(20));

/// How long the cursor may stay in memory only, ahead of the row.
const CURSOR_KEPT_EVERY: Duration = Duration::from_secs(5);

/// The pause after the database failed the fan-out, or before the migrations have run.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// What one look at the timeline did.
enum Look {
    /// A whole page: more may follow at once.
    Page,
    /// Up to the end of what can be read now, but events have committed past it, held
    /// back behind a transaction still running: look again soon.
    Held,
    /// Up to the end of the timeline.
    Done,
    /// No webhook is enabled: nothing is owed until one is, so the next look waits for
    /// the next poll rather than for every write's wake-up. (A webhook gets only events
    /// from after its creation: the wait loses it none.)
    Idle,
    /// Another instance is fanning out.
    NotOurTurn,
}

/// Where the fan-out stands in memory, ahead of the row, and since when.
struct Ahead {
    cursor: Option<Uuid>,
    since: Instant,
}

pub struct Dispatcher {
    db: DatabaseConnection,
    /// Every attempt a delivery's schedule allows, the first included.
    attempts: i32,
    /// Told whenever deliveries were written: the worker claims them at once.
    written: Arc<Notify>,
}

impl Dispatcher {
    pub fn new(db: DatabaseConnection, retries: usize, written: Arc<Notify>) -> Self {
        Self {
            db,
            attempts: i32::try_from(retries).map_or(i32::MAX, |retries| retries + 1),
            written,
        }
    }

    /// Fans out until the task is aborted: after each wake-up of `wakeups`, and every
    /// [`POLL`].
    pub fn spawn(self, mut wakeups: watch::Receiver<u64>) -> JoinHandle<()> {
        tokio::spawn(async move {
            // The table is there once the migrations have run.
            while let Err(error) = store::create_dispatch_cursor(&self.db).await {
                tracing::debug!(%error, "the webhooks' fan-out waits for its table");
                tokio::time::sleep(RETRY_AFTER_FAILURE).await;
            }
            let mut ahead = None;
            let mut held_pause = HELD_PAUSES.0;
            loop {
                wakeups.borrow_and_update();
                let look = self.look(&mut ahead).await;
                if !matches!(look, Ok(Look::Held)) {
                    held_pause = HELD_PAUSES.0;
                }
                match look {
                    Ok(Look::Page) => {}
                    Ok(Look::Held) => {
                        tokio::time::sleep(held_pause).await;
                        held_pause = (held_pause * 2).min(HELD_PAUSES.1);
                    }
                    Ok(Look::Done | Look::NotOurTurn) => {
                        let _ = tokio::time::timeout(POLL, wakeups.changed()).await;
                    }
                    Ok(Look::Idle) => tokio::time::sleep(POLL).await,
                    Err(error) => {
                        tracing::warn!(%error, "cannot fan the timeline out to webhooks; retrying");
                        tokio::time::sleep(RETRY_AFTER_FAILURE).await;
                    }
                }
            }
        })
    }

    /// Fans out one page after the cursor, if it is this instance's turn.
    async fn look(&self, ahead: &mut Option<Ahead>) -> Result<Look, DbErr> {
        let Some(txn) = store::take_dispatch_turn(&self.db).await? else {
            return Ok(Look::NotOurTurn);
        };
        let stored = store::dispatch_cursor(&txn).await?;
        // Another instance may have moved the row past what this one holds in memory.
        let cursor = match ahead.as_ref() {
            Some(ahead) if ahead.cursor > stored => ahead.cursor,
            _ => stored,
        };
        let webhooks = store::enabled_webhooks(&txn).await?;
        let settled = settled(&txn).await?;
        let everything = EventStream::everything();
        let (events, end) = if webhooks.is_empty() {
            // No webhook wants anything: nothing to read but where the timeline ends.
            let end = latest_within(&txn, &settled, &everything).await?;
            (Vec::new(), end.max(cursor))
        } else {
            let events = events_within(&txn, &settled, &everything, cursor, PAGE).await?;
            let end = events.last().map(|event| event.id).or(cursor);
            (events, end)
        };
        let look = if webhooks.is_empty() {
            Look::Idle
        } else if events.len() as u64 == PAGE {
            Look::Page
        } else if !settled.is_complete() {
            Look::Held
        } else {
            Look::Done
        };
        let owed = owed(&events, &webhooks);
        if owed.is_empty() {
            // Nothing to write but the cursor: kept in memory until it has been ahead of
            // the row for a while.
            let since = ahead
                .as_ref()
                .map_or_else(Instant::now, |ahead| ahead.since);
            if end == stored || since.elapsed() < CURSOR_KEPT_EVERY {
                *ahead = (end != stored).then_some(Ahead { cursor: end, since });
                txn.commit().await?;
                return Ok(look);
            }
        }
        let bodies = self.bodies(&txn, &owed).await?;
        let deliveries = self.deliveries(&owed, &bodies);
        let written = !deliveries.is_empty();
        commit_page(&self.db, txn, bodies.into_iter().collect(), deliveries, end).await?;
        *ahead = None;
        if written {
            self.written.notify_one();
        }
        Ok(look)
    }

    /// The body of each owed event, built from one snapshot: on SQLite the turn's own
    /// (a deferred transaction reads one; and an in-memory database has one connection),
    /// on PostgreSQL a repeatable read of its own (the turn reads each statement afresh).
    async fn bodies(
        &self,
        turn: &DatabaseTransaction,
        owed: &[Owed<'_>],
    ) -> Result<BTreeMap<Uuid, String>, DbErr> {
        if owed.is_empty() {
            return Ok(BTreeMap::new());
        }
        let events: Vec<&ticket_event::Model> = owed.iter().map(|owed| owed.event).collect();
        if self.db.get_database_backend() != DbBackend::Postgres {
            return build_bodies(turn, &events).await;
        }
        let snapshot = store::begin_snapshot(&self.db).await?;
        let bodies = build_bodies(&snapshot, &events).await?;
        snapshot.commit().await?;
        Ok(bodies)
    }

    fn deliveries(&self, owed: &[Owed<'_>], bodies: &BTreeMap<Uuid, String>) -> Vec<NewDelivery> {
        let at = Utc::now();
        owed.iter()
            // An event whose ticket is gone has no body: nothing to deliver.
            .filter(|owed| bodies.contains_key(&owed.event.id))
            .flat_map(|owed| {
                owed.webhooks.iter().map(move |webhook| NewDelivery {
                    webhook_id: *webhook,
                    event_id: owed.event.id,
                    event_kind: owed.event.kind,
                    attempts: self.attempts,
                    at,
                })
            })
            .collect()
    }
}

/// An event and the webhooks that are owed it.
struct Owed<'a> {
    event: &'a ticket_event::Model,
    webhooks: Vec<Uuid>,
}

/// The events of `events` that some webhook wants, each with those webhooks: enabled
/// (they all are), wanting the event's kind, and created at or before the event.
fn owed<'a>(events: &'a [ticket_event::Model], webhooks: &[webhook::Model]) -> Vec<Owed<'a>> {
    let wanted: Vec<(&webhook::Model, WebhookEvents)> = webhooks
        .iter()
        .map(|webhook| (webhook, WebhookEvents::from_column(&webhook.events)))
        .collect();
    events
        .iter()
        .filter_map(|event| {
            let webhooks: Vec<Uuid> = wanted
                .iter()
                .filter(|(webhook, kinds)| {
                    webhook.created_at <= event.created_at && kinds.wants(event.kind)
                })
                .map(|(webhook, _)| webhook.id)
                .collect();
            (!webhooks.is_empty()).then_some(Owed { event, webhooks })
        })
        .collect()
}

/// Each event's body, its ticket rewound from the snapshot's: its tickets, their tags and
/// their events from the first of these on are read once for all.
async fn build_bodies(
    txn: &DatabaseTransaction,
    events: &[&ticket_event::Model],
) -> Result<BTreeMap<Uuid, String>, DbErr> {
    let mut first_of_ticket: BTreeMap<Uuid, Uuid> = BTreeMap::new();
    for event in events {
        first_of_ticket
            .entry(event.ticket_id)
            .and_modify(|first| *first = (*first).min(event.id))
            .or_insert(event.id);
    }
    let ticket_ids: Vec<Uuid> = first_of_ticket.keys().copied().collect();
    let tickets = crate::store::find_tickets(txn, &ticket_ids).await?;
    let mut tags = crate::store::tags_of_tickets(txn, &ticket_ids).await?;
    // One read for all: from the first event of any of them, each ticket's kept from its own.
    let from = first_of_ticket.values().min().copied().unwrap_or_default();
    let mut histories: HashMap<Uuid, Vec<ticket_event::Model>> = HashMap::new();
    for event in store::events_of_tickets_from(txn, &ticket_ids, from).await? {
        let wanted = first_of_ticket
            .get(&event.ticket_id)
            .is_some_and(|first| event.id >= *first);
        if wanted {
            histories.entry(event.ticket_id).or_default().push(event);
        }
    }
    let mut after: HashMap<Uuid, TicketAfter> = HashMap::new();
    for ticket in &tickets {
        let Some(&first) = first_of_ticket.get(&ticket.id) else {
            continue;
        };
        let history = histories.remove(&ticket.id).unwrap_or_default();
        let updated_before = if payload::needs_update_before(&history) {
            store::last_update_before(txn, ticket.id, first).await?
        } else {
            None
        };
        let now = TicketNow {
            ticket: ticket.clone(),
            tags: tags
                .remove(&ticket.id)
                .unwrap_or_default()
                .into_iter()
                .collect(),
        };
        let states = payload::rewind(&now, &history, updated_before);
        after.extend(history.iter().map(|event| event.id).zip(states));
    }
    let message_ids: Vec<Uuid> = events.iter().filter_map(|event| event.message_id).collect();
    // Webhooks are staff integrations: internal notes are delivered too.
    let messages: HashMap<Uuid, ticket_message::Model> = crate::store::messages_by_ids(
        txn,
        &message_ids,
        policy::server_wide(),
        message_ids.len() as u64,
    )
    .await?
    .into_iter()
    .map(|message| (message.id, message))
    .collect();
    let tickets: HashMap<Uuid, _> = tickets
        .into_iter()
        .map(|ticket| (ticket.id, ticket))
        .collect();
    Ok(events
        .iter()
        .filter_map(|event| {
            let ticket = tickets.get(&event.ticket_id)?;
            let state = after.get(&event.id)?;
            let message = event.message_id.and_then(|id| messages.get(&id));
            Some((event.id, payload::body(event, ticket, state, message)))
        })
        .collect())
}

/// Writes a page's bodies, deliveries and cursor. On PostgreSQL in the transaction that
/// holds the turn; on SQLite in a write transaction of its own, after the one that read
/// (a deferred transaction that read cannot always become a writer).
async fn commit_page(
    db: &DatabaseConnection,
    txn: DatabaseTransaction,
    bodies: Vec<(Uuid, String)>,
    deliveries: Vec<NewDelivery>,
    cursor: Option<Uuid>,
) -> Result<(), DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        store::write_fan_out(&txn, bodies, deliveries, cursor).await?;
        return txn.commit().await;
    }
    txn.commit().await?;
    let txn = crate::store::begin_write(db).await?;
    store::write_fan_out(&txn, bodies, deliveries, cursor).await?;
    txn.commit().await
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeDelta};
    use entity::prelude::{Role, TicketEventKind, TicketStatus};

    use super::*;
    use crate::store::{Change, NewEvent, event_model};

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::minutes(minute)
    }

    fn webhook(created: i64, events: &str) -> webhook::Model {
        webhook::Model {
            id: Uuid::now_v7(),
            url: "https://example.com/hooks".into(),
            events: events.into(),
            description: None,
            enabled: true,
            created_at: at(created),
            updated_at: at(created),
            disabled_reason: None,
            failing_since: None,
            secret: Vec::new(),
            previous_secret: None,
            previous_secret_expires_at: None,
        }
    }

    fn event(minute: i64, change: Change) -> ticket_event::Model {
        event_model(
            Uuid::now_v7(),
            NewEvent {
                ticket_id: Uuid::now_v7(),
                owner_id: "carol".into(),
                actor_id: "carol".into(),
                actor_role: Role::Customer,
                at: at(minute),
                status_after: TicketStatus::Open,
                change,
            },
        )
    }

    #[test]
    fn an_event_is_owed_to_the_webhooks_created_before_it_that_want_its_kind() {
        let all = webhook(0, "");
        let statuses = webhook(0, "STATUS_CHANGED");
        let later = webhook(5, "");
        let created = event(
            1,
            Change::Created {
                message: Uuid::now_v7(),
            },
        );
        let changed = event(
            6,
            Change::StatusChanged {
                from: TicketStatus::Open,
                to: TicketStatus::Closed,
            },
        );
        let events = [created, changed];
        let webhooks = [all.clone(), statuses.clone(), later.clone()];
        let owed = owed(&events, &webhooks);
        assert_eq!(owed.len(), 2);
        assert_eq!(owed[0].event.kind, TicketEventKind::TicketCreated);
        assert_eq!(owed[0].webhooks, [all.id]);
        assert_eq!(owed[1].webhooks, [all.id, statuses.id, later.id]);
    }

    #[test]
    fn an_event_no_webhook_wants_is_owed_to_none() {
        let events = [event(
            1,
            Change::Created {
                message: Uuid::now_v7(),
            },
        )];
        let webhooks = [webhook(0, "TAGS_CHANGED"), webhook(2, "")];
        assert!(owed(&events, &webhooks).is_empty());
    }
}
