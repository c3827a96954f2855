//! Live events for the subscribers of this instance.
//!
//! A wake-up says only that events may have been written: on PostgreSQL every instance
//! listens on one connection of its own for the `NOTIFY` an instance sends after its
//! writes commit (one for a burst of them), whichever instance wrote; on SQLite (one
//! process) the writer wakes this instance itself. The reader also looks every second
//! unwoken, for a notification lost with its sender. On each wake-up one reader reads the
//! new events of the timeline, with their messages, once for all subscribers, and hands
//! them on; each subscriber keeps those its viewer may see. The timeline stays the source of truth: a subscriber that
//! falls behind what is handed on, or that resumes, reads its own stream from the table.
//! So a lost or duplicated wake-up costs a read at most, never an event. How one
//! subscriber follows its stream, from the table and from what is handed on, is
//! `follower`'s.

mod follower;

pub use follower::{Followed, Follower, StreamReads};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use entity::{ticket_event, ticket_message};
use sea_orm::sqlx::Executor;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::store::events::{EventStream, NOTIFY_CHANNEL, Settled};
use crate::store::{self};

/// Events handed on and not yet taken by the slowest subscriber; one that falls further
/// behind reads its stream from the table instead.
const HANDED_ON: usize = 1024;

/// Events read at once by the instance's reader.
const READ_PAGE: u64 = 500;

/// How long the instance's reader waits, first and at most, before looking again at
/// events that have committed but not settled (a transaction older than them is still
/// running), unless woken sooner.
const FIRST_UNSETTLED_PAUSE: Duration = Duration::from_millis(1);
const UNSETTLED_PAUSE: Duration = Duration::from_millis(20);

/// The shortest time between two announcements of this instance's writes: the writes
/// committed meanwhile share the next one. Under constant writing this bounds the
/// notifications (and every instance's reads after them) to 200 a second per instance,
/// at up to this much latency for a write that follows another closely.
const ANNOUNCEMENT_GAP: Duration = Duration::from_millis(5);

/// While no one subscribes, how often at most the instance's reader moves where it
/// starts on: each move costs two reads, and writes would otherwise pay them for every
/// notification. A subscriber that comes ends the wait, and its instance's reader then
/// reads at most this much of the timeline again.
const UNHEARD_PASS_GAP: Duration = Duration::from_millis(100);

/// How long the instance's reader waits for a wake-up before it looks anyway.
const UNWOKEN_LOOK: Duration = Duration::from_secs(1);

/// How long the instance's reader waits before reading again after the database failed it.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// An event as read once for every subscriber of the instance, with its message.
#[derive(Debug)]
pub struct LiveEvent {
    pub event: ticket_event::Model,
    pub message: Option<ticket_message::Model>,
}

/// The first and the longest pause before listening again after the connection was lost.
const RECONNECT_PAUSES: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// How long the listening connection may stay silent before it is checked: a connection
/// cut without a reset would otherwise wait forever, and every event meanwhile would
/// wait with it.
const SILENCE_CHECK: Duration = Duration::from_secs(5);

/// Where the instance's reader last (re)started: `None` until it has, then the event it
/// hands on the events after (`Some(None)`: from the first).
pub type ReaderStart = Option<Option<Uuid>>;

/// Wake-ups, and the events read after them.
pub struct EventNotifier {
    wakeups: watch::Sender<u64>,
    /// Fed by PostgreSQL's `NOTIFY`, which reaches this instance too: a write here need
    /// not wake it again.
    listening: AtomicBool,
    live: broadcast::Sender<Arc<LiveEvent>>,
    reader_start: watch::Sender<ReaderStart>,
    /// Writes committed and not yet announced to the other instances: a burst of them
    /// makes one announcement.
    unannounced: Notify,
    /// A subscriber came: the reader, if it passes events by, reads them again at once.
    subscribed: Notify,
}

/// What the instance's reader did with the events after its cursor.
enum Handed {
    /// Handed a full page on: there may be more at once.
    FullPage,
    /// Handed on every settled event; where the timeline was settled.
    UpTo(Settled),
    /// Passed them by unread, no one subscribing; where the timeline was settled.
    PassedBy(Settled),
}

impl EventNotifier {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            wakeups: watch::Sender::new(0),
            listening: AtomicBool::new(false),
            live: broadcast::Sender::new(HANDED_ON),
            reader_start: watch::Sender::new(None),
            unannounced: Notify::new(),
            subscribed: Notify::new(),
        })
    }

    /// Each wake-up of this instance: events may have been written. The webhooks' fan-out
    /// reads the timeline after each, as the subscribers' reader does.
    pub fn wakeups(&self) -> watch::Receiver<u64> {
        self.wakeups.subscribe()
    }

    /// Where the instance's reader (re)started handing events on: at its start, and after
    /// it passed events by while no one subscribed. A subscriber whose table reads stopped
    /// short of it must read the table again: what lies between was never handed on.
    pub fn reader_start(&self) -> watch::Receiver<ReaderStart> {
        self.reader_start.subscribe()
    }

    /// The events read from now on. Take it before reading where to start, so that no
    /// event falls between the two. A reader passing events by for want of a subscriber
    /// reads them again from now.
    pub fn live_events(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        let live = self.live.subscribe();
        self.subscribed.notify_one();
        live
    }

    /// Reads the new events after every wake-up, once for all the subscribers of this
    /// instance, until the process ends.
    pub fn read_for_subscribers(self: &Arc<Self>, db: DatabaseConnection) -> JoinHandle<()> {
        let notifier = Arc::clone(self);
        tokio::spawn(async move {
            let mut wakeups = notifier.wakeups.subscribe();
            // Until the migrations have run there is no timeline to start from.
            let mut cursor = loop {
                match store::events::latest_event_id(&db, &EventStream::everything()).await {
                    Ok(cursor) => {
                        notifier.reader_start.send_replace(Some(cursor));
                        break cursor;
                    }
                    Err(_) => tokio::time::sleep(RETRY_AFTER_FAILURE).await,
                }
            };
            let mut unsettled_pause = FIRST_UNSETTLED_PAUSE;
            loop {
                wakeups.borrow_and_update();
                let settled = match notifier.hand_on_next(&db, &mut cursor).await {
                    Ok(Handed::UpTo(settled)) => settled,
                    Ok(Handed::FullPage) => continue,
                    Ok(Handed::PassedBy(settled)) => {
                        tokio::select! {
                            () = tokio::time::sleep(UNHEARD_PASS_GAP) => {}
                            () = notifier.subscribed.notified() => {}
                        }
                        settled
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot read the new ticket events; retrying");
                        tokio::time::sleep(RETRY_AFTER_FAILURE).await;
                        continue;
                    }
                };
                // Until the next wake-up, but look again soon while some events have
                // committed and not settled: the transaction they wait for may end with no
                // notification (one that recorded no events, or rolled back). The pause
                // grows under constant writing, whose notifications wake the reader anyway.
                let look_anyway = if settled.is_complete() {
                    unsettled_pause = FIRST_UNSETTLED_PAUSE;
                    UNWOKEN_LOOK
                } else {
                    let pause = unsettled_pause;
                    unsettled_pause = (unsettled_pause * 2).min(UNSETTLED_PAUSE);
                    pause
                };
                let woken = tokio::time::timeout(look_anyway, wakeups.changed()).await;
                if matches!(woken, Ok(Err(_))) {
                    return;
                }
            }
        })
    }

    /// Hands the next page of events after `cursor` on, or passes them by while this
    /// instance has no subscriber.
    async fn hand_on_next(
        &self,
        db: &DatabaseConnection,
        cursor: &mut Option<Uuid>,
    ) -> Result<Handed, DbErr> {
        if self.live.receiver_count() == 0
            && let Some(settled) = self.pass_unheard(db, cursor).await?
        {
            return Ok(Handed::PassedBy(settled));
        }
        let (page, settled) = read_page(db, *cursor).await?;
        let full = page.len() == READ_PAGE as usize;
        for event in page {
            *cursor = Some(event.event.id);
            // A subscriber that left meanwhile is no loss: one that comes reads the table.
            let _ = self.live.send(Arc::new(event));
        }
        Ok(if full {
            Handed::FullPage
        } else {
            Handed::UpTo(settled)
        })
    }

    /// Moves `cursor` to the newest settled event without reading the events, if still
    /// no subscriber listens: reading them for nobody would cost every write. `None` when
    /// one came meanwhile, and the events must be read after all.
    async fn pass_unheard(
        &self,
        db: &DatabaseConnection,
        cursor: &mut Option<Uuid>,
    ) -> Result<Option<Settled>, DbErr> {
        let settled = store::events::settled(db).await?;
        let newest = store::events::latest_within(db, &settled, &EventStream::everything()).await?;
        if newest <= *cursor {
            return Ok(Some(settled));
        }
        if !self.restart_if_unheard(newest) {
            return Ok(None);
        }
        *cursor = newest;
        Ok(Some(settled))
    }

    /// Makes the reader hand on the events after `newest` from now, if no subscriber
    /// listens; whether it did.
    ///
    /// The check and the move are one step under `reader_start`'s lock, and a subscriber
    /// takes the live events before it looks at `reader_start`: so one that came before
    /// the check stops the move, and one that came after it sees the new start and reads
    /// the table at least that far before it relies on what is handed on.
    fn restart_if_unheard(&self, newest: Option<Uuid>) -> bool {
        self.reader_start.send_if_modified(|start| {
            let unheard = self.live.receiver_count() == 0;
            if unheard {
                *start = Some(newest);
            }
            unheard
        })
    }

    /// A write of this instance has committed its events.
    pub fn events_committed(&self) {
        if self.listening.load(Ordering::Relaxed) {
            self.unannounced.notify_one();
        } else {
            self.wake();
        }
    }

    /// Wakes every subscriber of this instance.
    fn wake(&self) {
        self.wakeups
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// Listens on PostgreSQL at `url` until the process ends, waking the subscribers at
    /// every notification, and also whenever it (re)connects: what was committed while
    /// it was not listening is then read from the table. Announces this instance's
    /// writes through `db` meanwhile.
    pub fn listen_to_postgres(
        self: &Arc<Self>,
        url: String,
        db: DatabaseConnection,
    ) -> JoinHandle<()> {
        self.listening.store(true, Ordering::Relaxed);
        let notifier = Arc::clone(self);
        tokio::spawn(async move {
            tokio::join!(notifier.listen(&url), notifier.announce(&db));
        })
    }

    async fn listen(&self, url: &str) {
        let mut pause = RECONNECT_PAUSES.0;
        loop {
            match self.listen_once(url).await {
                Ok(()) => pause = RECONNECT_PAUSES.0,
                Err(error) => tracing::warn!(%error, "not listening for ticket events"),
            }
            self.wake();
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RECONNECT_PAUSES.1);
        }
    }

    /// Sends one notification for the writes committed since the last one, until the
    /// process ends. One that fails is not sent again: the readers look every second.
    async fn announce(&self, db: &DatabaseConnection) {
        loop {
            self.unannounced.notified().await;
            if let Err(error) = store::events::announce_committed(db).await {
                tracing::warn!(%error, "cannot announce new ticket events");
            }
            tokio::time::sleep(ANNOUNCEMENT_GAP).await;
        }
    }

    /// One listening connection, until it is lost.
    async fn listen_once(&self, url: &str) -> Result<(), sea_orm::sqlx::Error> {
        let mut listener = PgListener::connect(url).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        tracing::info!("listening for ticket events");
        self.wake();
        loop {
            match tokio::time::timeout(SILENCE_CHECK, listener.try_recv()).await {
                Ok(Ok(Some(_))) => self.wake(),
                Ok(Ok(None)) => return Ok(()),
                Ok(Err(error)) => return Err(error),
                Err(_) => {
                    let check =
                        tokio::time::timeout(SILENCE_CHECK, (&mut listener).execute("SELECT 1"));
                    match check.await {
                        Ok(Ok(_)) => {}
                        Ok(Err(error)) => return Err(error),
                        Err(_) => return Ok(()),
                    }
                }
            }
        }
    }
}

/// The next settled events after `cursor`, each with its message, and where the timeline
/// was settled when they were read.
async fn read_page(
    db: &DatabaseConnection,
    cursor: Option<Uuid>,
) -> Result<(Vec<LiveEvent>, Settled), DbErr> {
    let settled = store::events::settled(db).await?;
    let page = store::events::events_with_messages_within(
        db,
        &settled,
        &EventStream::everything(),
        cursor,
        READ_PAGE,
    )
    .await?
    .into_iter()
    .map(|(event, message)| LiveEvent { event, message })
    .collect();
    Ok((page, settled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_restarts_further_on_while_no_one_subscribes() {
        let notifier = EventNotifier::new();
        let newest = Some(Uuid::now_v7());

        assert!(notifier.restart_if_unheard(newest));
        assert_eq!(*notifier.reader_start().borrow(), Some(newest));
    }

    #[test]
    fn a_subscriber_that_came_first_keeps_the_reader_where_it_was() {
        let notifier = EventNotifier::new();
        let started = Some(Uuid::now_v7());
        assert!(notifier.restart_if_unheard(started));
        let _subscriber = notifier.live_events();

        assert!(!notifier.restart_if_unheard(Some(Uuid::now_v7())));
        assert_eq!(*notifier.reader_start().borrow(), Some(started));
    }

    #[test]
    fn a_subscriber_that_left_no_longer_holds_the_reader_back() {
        let notifier = EventNotifier::new();
        drop(notifier.live_events());
        let newest = Some(Uuid::now_v7());

        assert!(notifier.restart_if_unheard(newest));
        assert_eq!(*notifier.reader_start().borrow(), Some(newest));
    }
}
