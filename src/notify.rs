//! Waking subscribers when events may have been written. A wake-up carries nothing: the
//! timeline in the database is the source of truth, and each subscriber re-reads from it
//! what its viewer may see after the last event it delivered. So a lost or duplicated
//! wake-up costs a read at most, never an event.
//!
//! On PostgreSQL every instance listens on one connection of its own for the `NOTIFY`
//! the writing transaction sends at commit, whichever instance wrote; on SQLite (one
//! process) the writer wakes the subscribers itself.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::Executor;
use sea_orm::sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::events::NOTIFY_CHANNEL;

/// The first and the longest pause before listening again after the connection was lost.
const RECONNECT_PAUSES: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// How long the listening connection may stay silent before it is checked: a connection
/// cut without a reset would otherwise wait forever, and every event meanwhile would
/// wait with it.
const SILENCE_CHECK: Duration = Duration::from_secs(5);

/// Counts wake-ups; a subscriber waits for the count to change.
pub struct EventNotifier {
    wakeups: watch::Sender<u64>,
}

impl EventNotifier {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            wakeups: watch::Sender::new(0),
        })
    }

    /// Wakes every subscriber of this instance.
    pub fn wake(&self) {
        self.wakeups
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.wakeups.subscribe()
    }

    /// Listens on PostgreSQL at `url` until the process ends, waking the subscribers at
    /// every notification, and also whenever it (re)connects: what was committed while
    /// it was not listening is then read from the table.
    pub fn listen_to_postgres(self: &Arc<Self>, url: String) -> JoinHandle<()> {
        let notifier = Arc::clone(self);
        tokio::spawn(async move {
            let mut pause = RECONNECT_PAUSES.0;
            loop {
                match notifier.listen_once(&url).await {
                    Ok(()) => pause = RECONNECT_PAUSES.0,
                    Err(error) => tracing::warn!(%error, "not listening for ticket events"),
                }
                notifier.wake();
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RECONNECT_PAUSES.1);
            }
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_up_reaches_every_subscriber() {
        let notifier = EventNotifier::new();
        let mut first = notifier.subscribe();
        let mut second = notifier.subscribe();

        notifier.wake();

        assert!(first.has_changed().expect("open"));
        assert!(second.has_changed().expect("open"));
        first.changed().await.expect("woken");
        second.changed().await.expect("woken");
    }
}
