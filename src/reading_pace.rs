//! How fast one user's subscriptions together may read messages.
//!
//! Every event a subscription delivers runs its selection under a message budget of its
//! own, as an HTTP operation does. That bounds one delivery, not how many there are: a
//! user's subscriptions each deliver every event they follow, and a subscription started
//! `after` an old event delivers the whole timeline since. So each user has a bucket of
//! message rows: a delivery reserves a whole budget (and one row more) from it before it
//! runs and gives back what it did not read. The bucket holds two deliveries' worth and
//! refills at `WS_SUBSCRIPTION_MESSAGES_PER_SECOND`, so a user's subscriptions read at
//! most that on average, however many they hold and whatever they replay; a delivery
//! that finds the bucket empty waits, which slows only that user's own subscriptions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Past this many users, buckets that have refilled and are not in use are dropped.
const SWEEP_PAST: usize = 1024;

pub struct ReadingPace {
    /// Rows one delivery reserves: the message budget, and one more.
    per_delivery: f64,
    capacity: f64,
    per_second: f64,
    users: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    rows: f64,
    at: Instant,
    /// Deliveries holding a reservation.
    holding: usize,
    /// Woken when a reservation is given back.
    returned: Arc<Notify>,
}

impl ReadingPace {
    /// A pace of `per_second` messages for deliveries that each read at most
    /// `max_messages`.
    pub fn new(max_messages: u64, per_second: u64) -> Self {
        // Precision past 2^53 rows does not matter: no database holds them.
        #[allow(clippy::cast_precision_loss)]
        let (per_delivery, per_second) = (max_messages.saturating_add(1) as f64, per_second as f64);
        Self {
            per_delivery,
            capacity: 2.0 * per_delivery,
            per_second,
            users: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until `user` may run one more delivery, and reserves its rows.
    pub async fn reserve(self: &Arc<Self>, user: &str) -> PaceReservation {
        loop {
            let (returned, wait) = {
                let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
                let now = Instant::now();
                if users.len() > SWEEP_PAST {
                    users.retain(|_, bucket| !self.is_idle(bucket, now));
                }
                let bucket = users.entry(user.to_owned()).or_insert_with(|| Bucket {
                    rows: self.capacity,
                    at: now,
                    holding: 0,
                    returned: Arc::new(Notify::new()),
                });
                self.refill(bucket, now);
                if bucket.rows >= self.per_delivery {
                    bucket.rows -= self.per_delivery;
                    bucket.holding += 1;
                    return PaceReservation {
                        pace: Arc::clone(self),
                        user: user.to_owned(),
                        settled: false,
                    };
                }
                let missing = self.per_delivery - bucket.rows;
                let wait = Duration::from_secs_f64(missing / self.per_second);
                (Arc::clone(&bucket.returned), wait)
            };
            let returned = returned.notified();
            tokio::select! {
                () = returned => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.rows = (bucket.rows + elapsed * self.per_second).min(self.capacity);
        bucket.at = now;
    }

    fn is_idle(&self, bucket: &Bucket, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.holding == 0 && bucket.rows + elapsed * self.per_second >= self.capacity
    }

    /// Gives back what a delivery reserved and did not read.
    fn give_back(&self, user: &str, read: u64) {
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(bucket) = users.get_mut(user) else {
            return;
        };
        #[allow(clippy::cast_precision_loss)]
        let unread = (self.per_delivery - read as f64).max(0.0);
        let now = Instant::now();
        self.refill(bucket, now);
        bucket.rows = (bucket.rows + unread).min(self.capacity);
        bucket.holding = bucket.holding.saturating_sub(1);
        bucket.returned.notify_waiters();
        if self.is_idle(bucket, now) {
            users.remove(user);
        }
    }
}

/// One delivery's reserved rows: settled with what it read, or, dropped unsettled (the
/// subscription ended mid-delivery), counted as read in full.
pub struct PaceReservation {
    pace: Arc<ReadingPace>,
    user: String,
    settled: bool,
}

impl PaceReservation {
    pub fn settle(mut self, read: u64) {
        self.settled = true;
        self.pace.give_back(&self.user, read);
    }
}

impl Drop for PaceReservation {
    fn drop(&mut self) {
        if !self.settled {
            self.pace.give_back(&self.user, u64::MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn two_deliveries_run_at_once_and_a_third_waits_for_one_to_give_back() {
        let pace = Arc::new(ReadingPace::new(99, 100));
        let first = pace.reserve("alice").await;
        let _second = pace.reserve("alice").await;
        let third = tokio::spawn({
            let pace = Arc::clone(&pace);
            async move { pace.reserve("alice").await }
        });
        tokio::task::yield_now().await;
        assert!(!third.is_finished());

        first.settle(0);

        tokio::time::timeout(Duration::from_millis(1), third)
            .await
            .expect("woken by what the first gave back")
            .expect("joined");
    }

    /// A pace of 100 rows a second for deliveries of up to 100 rows, whose bucket
    /// alice's two deliveries of 100 rows have just emptied.
    async fn emptied_by_alice() -> Arc<ReadingPace> {
        let pace = Arc::new(ReadingPace::new(99, 100));
        pace.reserve("alice").await.settle(100);
        pace.reserve("alice").await.settle(100);
        pace
    }

    /// How long `user` waits for a delivery (which reads nothing) on a paused clock.
    async fn wait_of(pace: &Arc<ReadingPace>, user: &str) -> Duration {
        let started = Instant::now();
        pace.reserve(user).await.settle(0);
        started.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn rows_read_are_regained_at_the_pace() {
        let pace = emptied_by_alice().await;

        assert_eq!(wait_of(&pace, "alice").await, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn one_users_reading_does_not_slow_another() {
        let pace = emptied_by_alice().await;

        assert_eq!(wait_of(&pace, "bob").await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_delivery_dropped_unsettled_counts_as_read_in_full() {
        let pace = Arc::new(ReadingPace::new(99, 100));
        drop(pace.reserve("alice").await);
        drop(pace.reserve("alice").await);

        assert_eq!(wait_of(&pace, "alice").await, Duration::from_secs(1));
    }
}
