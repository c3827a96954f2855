//! What one operation may spend: time, and messages read from the database.
//!
//! The time budget has one exception: a write whose commit has started is seen through,
//! so that a client is never told TIMEOUT about a change that happened.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Mutex, MutexGuard};
use tokio::time::Instant;

use crate::error::AppError;

/// How many more messages an operation may read. A history's length is unknown until it
/// is read, so a read asks for at most one more than what is left, and one that gets more
/// refuses the field. The reads of one operation take turns: each reserves what is left
/// before it reads, so that items of a list resolved in parallel cannot all read "what is
/// left" at once. The rows read never pass the budget plus one, and once a read has been
/// refused the next ones are refused without reading. Clones share what is spent, so
/// that the operations of one HTTP batch share one budget.
#[derive(Clone, Debug)]
pub struct MessageBudget(Arc<Spending>);

#[derive(Debug)]
struct Spending {
    limit: u64,
    /// Messages read so far; past `limit` once a read has been refused.
    spent: Mutex<u64>,
}

impl MessageBudget {
    pub fn new(limit: u64) -> Self {
        Self(Arc::new(Spending {
            limit,
            spent: Mutex::new(0),
        }))
    }

    /// Waits for the operation's other reads, then reserves all that is left: the caller
    /// reads at most [`Reservation::rows`] and counts them with [`Reservation::spend`].
    pub async fn reserve(&self) -> Result<Reservation<'_>, AppError> {
        let spent = self.0.spent.lock().await;
        if *spent > self.0.limit {
            return Err(self.exceeded());
        }
        Ok(Reservation {
            budget: self,
            spent,
        })
    }

    /// The messages read so far.
    pub async fn spent(&self) -> u64 {
        *self.0.spent.lock().await
    }

    fn exceeded(&self) -> AppError {
        AppError::TooManyMessages {
            limit: self.0.limit,
        }
    }
}

/// The right to read what is left of a [`MessageBudget`], held while the read runs.
pub struct Reservation<'a> {
    budget: &'a MessageBudget,
    spent: MutexGuard<'a, u64>,
}

impl Reservation<'_> {
    /// The most rows the read should fetch: what is left, and one to tell that a history
    /// goes past it.
    pub fn rows(&self) -> u64 {
        self.budget
            .0
            .limit
            .saturating_sub(*self.spent)
            .saturating_add(1)
            // SQL's LIMIT is a signed 64-bit integer.
            .min(i64::MAX.unsigned_abs())
    }

    /// Counts `read` messages against the budget; past it, the read is refused.
    pub fn spend(mut self, read: usize) -> Result<(), AppError> {
        let read = u64::try_from(read).unwrap_or(u64::MAX);
        crate::metrics::record_messages_read(read);
        *self.spent = self.spent.saturating_add(read);
        if *self.spent > self.budget.0.limit {
            return Err(self.budget.exceeded());
        }
        Ok(())
    }
}

tokio::task_local! {
    /// Set while an operation runs under a budget; `store::commit` raises it.
    static COMMIT_STARTED: Arc<AtomicBool>;
}

/// When the operation (for HTTP: the whole request, batch included) must be done.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(pub Instant);

/// Marks the running operation as committing: from here on its budget no longer cuts it
/// short. Outside a budget (migrations, seeding) it does nothing.
pub fn note_commit_started() {
    let _ = COMMIT_STARTED.try_with(|started| started.store(true, Ordering::SeqCst));
}

/// Runs `operation` until `deadline`. Past it, the operation is dropped (which rolls
/// back what it was writing) and `None` is returned — unless it has started to commit,
/// in which case it runs to the end and its answer is returned.
pub async fn run_until<T>(deadline: Instant, operation: impl Future<Output = T>) -> Option<T> {
    let started = Arc::new(AtomicBool::new(false));
    let operation = COMMIT_STARTED.scope(Arc::clone(&started), operation);
    tokio::pin!(operation);
    tokio::select! {
        answer = &mut operation => Some(answer),
        () = tokio::time::sleep_until(deadline) => {
            if started.load(Ordering::SeqCst) {
                tracing::warn!("an operation past its time budget had committed; answering it");
                Some(operation.await)
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn reads_within_the_budget_are_counted() {
        let budget = MessageBudget::new(10);
        let first = budget.reserve().await.expect("within");
        assert_eq!(first.rows(), 11);
        first.spend(4).expect("within");
        let second = budget.reserve().await.expect("within");
        assert_eq!(second.rows(), 7);
        second.spend(6).expect("exactly the budget");
    }

    #[tokio::test]
    async fn an_unbounded_budget_still_reads_within_what_sql_can_limit() {
        let budget = MessageBudget::new(u64::MAX);
        let reservation = budget.reserve().await.expect("within");
        assert_eq!(reservation.rows(), i64::MAX.unsigned_abs());
    }

    #[tokio::test]
    async fn a_read_past_the_budget_is_refused() {
        let budget = MessageBudget::new(10);
        budget
            .reserve()
            .await
            .expect("within")
            .spend(8)
            .expect("within");
        let past = budget.reserve().await.expect("not yet past");
        assert!(matches!(
            past.spend(3),
            Err(AppError::TooManyMessages { .. })
        ));
    }

    #[tokio::test]
    async fn once_a_read_is_refused_the_next_is_refused_before_reading() {
        let budget = MessageBudget::new(10);
        let _ = budget.reserve().await.expect("within").spend(11);
        assert!(matches!(
            budget.reserve().await,
            Err(AppError::TooManyMessages { .. })
        ));
    }

    #[tokio::test]
    async fn a_read_waits_for_the_one_reserving_before_it() {
        let budget = MessageBudget::new(10);
        let first = budget.reserve().await.expect("within");
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve().await.map(|second| second.rows()) }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        first.spend(7).expect("within");
        assert_eq!(waiting.await.expect("joined").expect("within"), 4);
    }

    #[tokio::test]
    async fn an_operation_within_its_budget_answers() {
        let deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(run_until(deadline, async { 7 }).await, Some(7));
    }

    #[tokio::test]
    async fn an_operation_past_its_budget_is_dropped() {
        let deadline = Instant::now() + Duration::from_millis(20);
        let answer = run_until(deadline, async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            7
        })
        .await;
        assert_eq!(answer, None);
    }

    #[tokio::test]
    async fn an_operation_that_started_to_commit_is_answered_past_its_budget() {
        let deadline = Instant::now() + Duration::from_millis(20);
        let answer = run_until(deadline, async {
            note_commit_started();
            tokio::time::sleep(Duration::from_millis(100)).await;
            7
        })
        .await;
        assert_eq!(answer, Some(7));
    }
}
