//! The mutation rate limit: a token bucket per user, kept by GCRA, which holds a bucket as
//! one timestamp (its theoretical arrival time). Every transport asks [`MutationRateLimiter`]
//! from the one place (the pipeline's `prepare_request`), which answers from one of two
//! stores of the same buckets:
//!
//! - this instance's memory ([`local`], governor), the default;
//! - with `RATE_LIMIT_REDIS_URL`, Redis ([`shared`]), so that the instances of a fleet
//!   share each user's bucket, with the memory standing in while Redis cannot be reached.

mod local;
mod shared;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::Quota;

use crate::config::{RateLimit, SharedRateLimit};
use crate::metrics::RateLimitBackend;

use self::local::LocalBuckets;
use self::shared::SharedBuckets;

/// governor counts time in u64 nanoseconds (584 years), and a user's timestamp may run a
/// whole burst, and one more, ahead of now: a rate of zero refills the burst in a quarter
/// of that instead of never.
const SLOWEST_REFILL_NANOS: u64 = u64::MAX / 4;

pub struct MutationRateLimiter {
    quota: Quota,
    local: LocalBuckets,
    shared: Option<SharedBuckets>,
}

impl MutationRateLimiter {
    /// With `shared`, the buckets are in that Redis, reached in the background (this needs
    /// a tokio runtime); `backend` tells the metrics which store decides.
    pub fn new(
        limit: RateLimit,
        shared: Option<&SharedRateLimit>,
        backend: Arc<RateLimitBackend>,
    ) -> Self {
        let quota = quota(limit);
        Self {
            quota,
            local: LocalBuckets::new(quota),
            shared: shared.and_then(|shared| SharedBuckets::start(shared, quota, backend)),
        }
    }

    /// Takes `cost` tokens from `user`'s bucket, or tells how long until they are there.
    /// With Redis, it waits at most `RATE_LIMIT_REDIS_TIMEOUT_MS` for its answer, and
    /// without one asks this instance's bucket.
    pub async fn take(&self, user: &str, cost: u64) -> Result<(), Duration> {
        let Some(cells) = NonZeroU32::new(u32::try_from(cost).unwrap_or(u32::MAX)) else {
            return Ok(());
        };
        // A cost over the burst never passes; it is told the time a bucket takes to fill.
        // Checked before either store, so neither multiplies the period by a cost that
        // could overflow.
        if cells > self.quota.burst_size() {
            return Err(self.quota.burst_size_replenished_in());
        }
        if let Some(shared) = &self.shared
            && let Some(answer) = shared.take(user, cells).await
        {
            return answer;
        }
        self.local.take(user, cells)
    }
}

/// The quota both stores compute with: `burst` at once, one more every `1 / per_second`.
fn quota(limit: RateLimit) -> Quota {
    let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
    let slowest = Duration::from_nanos(SLOWEST_REFILL_NANOS / u64::from(burst.get()));
    // A rate of zero refills at the slowest; a rate too fast to count (which the
    // configuration refuses) at the fastest.
    let period = Duration::try_from_secs_f64(limit.per_second.recip())
        .map_or(slowest, |period| period.min(slowest));
    Quota::with_period(period)
        .unwrap_or(Quota::per_second(NonZeroU32::MAX))
        .allow_burst(burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(burst: u32, per_second: f64) -> MutationRateLimiter {
        MutationRateLimiter::new(
            RateLimit { burst, per_second },
            None,
            Arc::new(RateLimitBackend::default()),
        )
    }

    #[tokio::test]
    async fn a_user_may_spend_the_burst_at_once_and_no_more() {
        let limiter = limiter(3, 0.001);
        for _ in 0..3 {
            assert!(limiter.take("alice", 1).await.is_ok());
        }
        let wait = limiter.take("alice", 1).await.unwrap_err();
        assert!(wait > Duration::from_secs(900), "{wait:?}");
    }

    #[tokio::test]
    async fn users_have_buckets_of_their_own() {
        let limiter = limiter(1, 0.001);
        assert!(limiter.take("alice", 1).await.is_ok());
        assert!(limiter.take("bob", 1).await.is_ok());
        assert!(limiter.take("alice", 1).await.is_err());
    }

    #[tokio::test]
    async fn the_bucket_refills_over_time() {
        let limiter = limiter(1, 1_000.0);
        assert!(limiter.take("alice", 1).await.is_ok());
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(limiter.take("alice", 1).await.is_ok());
    }

    #[tokio::test]
    async fn a_request_costs_one_token_per_root_field() {
        let limiter = limiter(5, 0.001);
        assert!(limiter.take("alice", 4).await.is_ok());
        assert!(limiter.take("alice", 2).await.is_err());
    }

    #[tokio::test]
    async fn a_cost_of_nothing_is_always_taken() {
        let limiter = limiter(1, 0.001);
        assert!(limiter.take("alice", 1).await.is_ok());
        assert_eq!(limiter.take("alice", 0).await, Ok(()));
    }

    #[tokio::test]
    async fn a_cost_over_the_burst_waits_for_a_full_bucket() {
        let limiter = limiter(2, 0.1);
        assert_eq!(limiter.take("alice", 3).await, Err(Duration::from_secs(20)));
        assert_eq!(
            limiter.take("alice", u64::MAX).await,
            Err(Duration::from_secs(20))
        );
    }

    #[tokio::test]
    async fn a_rate_of_zero_gives_back_nothing_for_years() {
        let limiter = limiter(30, 0.0);
        assert!(limiter.take("alice", 30).await.is_ok());
        let wait = limiter.take("alice", 1).await.unwrap_err();
        assert!(wait > Duration::from_secs(365 * 86_400), "{wait:?}");
    }
}
