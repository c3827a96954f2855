//! The buckets in this instance's memory: governor's GCRA, which keeps a bucket as one
//! timestamp per user.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// Past this many users, those whose bucket is full again are forgotten: a new bucket
/// starts full, so forgetting one loses nothing.
const PRUNE_ABOVE_USERS: usize = 10_000;

/// Generic over the clock so that a test can set the time.
pub(super) struct LocalBuckets<C: Clock = DefaultClock> {
    limiter: RateLimiter<String, DefaultKeyedStateStore<String>, C, NoOpMiddleware<C::Instant>>,
    quota: Quota,
}

impl LocalBuckets {
    pub(super) fn new(quota: Quota) -> Self {
        Self::with_clock(quota, DefaultClock::default())
    }
}

impl<C: Clock> LocalBuckets<C> {
    pub(super) fn with_clock(quota: Quota, clock: C) -> Self {
        Self {
            limiter: RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock),
            quota,
        }
    }

    /// Takes `cells` tokens from `user`'s bucket, or tells how long until they are there.
    pub(super) fn take(&self, user: &str, cells: NonZeroU32) -> Result<(), Duration> {
        let outcome = self.limiter.check_key_n(&user.to_owned(), cells);
        if self.limiter.len() > PRUNE_ABOVE_USERS {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        // More cells than the burst: the caller refuses those before asking.
        outcome
            .map_err(|_insufficient_capacity| self.quota.burst_size_replenished_in())?
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RateLimit;

    fn buckets(burst: u32, per_second: f64) -> LocalBuckets {
        LocalBuckets::new(super::super::quota(RateLimit { burst, per_second }))
    }

    #[test]
    fn the_users_kept_stay_bounded_while_their_buckets_refill() {
        let buckets = buckets(1, 1_000.0);
        for user in 0..3 * PRUNE_ABOVE_USERS {
            assert!(buckets.take(&user.to_string(), NonZeroU32::MIN).is_ok());
        }
        assert!(buckets.limiter.len() <= PRUNE_ABOVE_USERS + 1);
    }

    #[test]
    fn past_the_bound_a_user_still_waiting_is_not_forgotten() {
        let buckets = buckets(1, 0.001);
        for user in 0..=PRUNE_ABOVE_USERS {
            assert!(buckets.take(&user.to_string(), NonZeroU32::MIN).is_ok());
        }
        assert!(buckets.take("0", NonZeroU32::MIN).is_err());
    }
}
