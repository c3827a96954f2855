//! The time budget of an operation, and the one exception to it: a write whose commit
//! has started is seen through, so that a client is never told TIMEOUT about a change
//! that happened.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::time::Instant;

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
