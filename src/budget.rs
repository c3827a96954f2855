//! What one operation may spend: time, and messages read from the database.
//!
//! The time budget has one exception: a write whose commit has started is seen through,
//! so that a client is never told TIMEOUT about a change that happened.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::time::Instant;

use crate::error::AppError;

/// How many more messages a request may read. A history's length is unknown until it is
/// read, so every read asks for at most one more than what is left, and one that gets
/// more refuses the field: memory stays bounded whatever the data holds. Clones share
/// what is spent, so that the operations of one HTTP batch share one budget.
#[derive(Clone, Debug)]
pub struct MessageBudget(Arc<Spending>);

#[derive(Debug)]
struct Spending {
    limit: u64,
    spent: AtomicU64,
}

impl MessageBudget {
    pub fn new(limit: u64) -> Self {
        Self(Arc::new(Spending {
            limit,
            spent: AtomicU64::new(0),
        }))
    }

    /// The most rows the next read should fetch: what is left, and one to tell that a
    /// history goes past it.
    pub fn rows_to_read(&self) -> u64 {
        self.0
            .limit
            .saturating_sub(self.0.spent.load(Ordering::SeqCst))
            .saturating_add(1)
            // SQL's LIMIT is a signed 64-bit integer.
            .min(i64::MAX.unsigned_abs())
    }

    /// Counts `read` messages against the budget; past it, the read is refused.
    pub fn spend(&self, read: usize) -> Result<(), AppError> {
        let read = u64::try_from(read).unwrap_or(u64::MAX);
        let before = self.0.spent.fetch_add(read, Ordering::SeqCst);
        if before.saturating_add(read) > self.0.limit {
            return Err(AppError::QueryTooComplex(format!(
                "The operation would read more than {} messages; ask for fewer tickets",
                self.0.limit
            )));
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

    #[test]
    fn reads_within_the_budget_are_counted() {
        let budget = MessageBudget::new(10);
        assert_eq!(budget.rows_to_read(), 11);
        budget.spend(4).expect("within");
        assert_eq!(budget.rows_to_read(), 7);
        budget.spend(6).expect("exactly the budget");
    }

    #[test]
    fn an_unbounded_budget_still_reads_within_what_sql_can_limit() {
        assert_eq!(
            MessageBudget::new(u64::MAX).rows_to_read(),
            i64::MAX.unsigned_abs()
        );
    }

    #[test]
    fn a_read_past_the_budget_is_refused() {
        let budget = MessageBudget::new(10);
        budget.spend(8).expect("within");
        assert!(matches!(budget.spend(3), Err(AppError::QueryTooComplex(_))));
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
