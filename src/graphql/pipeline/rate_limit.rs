//! A token bucket per user for mutations, in the memory of this instance: governor's GCRA,
//! which keeps a bucket as one timestamp per user.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::RateLimit;

/// Past this many users, those whose bucket is full again are forgotten: a new bucket
/// starts full, so forgetting one loses nothing.
const PRUNE_ABOVE_USERS: usize = 10_000;

/// governor counts time in u64 nanoseconds (584 years), and a user's timestamp may run a
/// whole burst, and one more, ahead of now: a rate of zero refills the burst in a quarter
/// of that instead of never.
const SLOWEST_REFILL_NANOS: u64 = u64::MAX / 4;

pub struct MutationRateLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    quota: Quota,
}

impl MutationRateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
        let slowest = Duration::from_nanos(SLOWEST_REFILL_NANOS / u64::from(burst.get()));
        // A rate of zero refills at the slowest; a rate too fast to count (which the
        // configuration refuses) at the fastest.
        let period = Duration::try_from_secs_f64(limit.per_second.recip())
            .map_or(slowest, |period| period.min(slowest));
        let quota = Quota::with_period(period)
            .unwrap_or(Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst);
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            quota,
        }
    }

    /// Takes `cost` tokens from `user`'s bucket, or tells how long until they are there.
    pub fn take(&self, user: &str, cost: u64) -> Result<(), Duration> {
        let Some(cells) = NonZeroU32::new(u32::try_from(cost).unwrap_or(u32::MAX)) else {
            return Ok(());
        };
        // A cost over the burst never passes; it is told the time a bucket takes to fill.
        // Checked before governor, which multiplies the cost by the period and could overflow.
        let full_refill = self.quota.burst_size_replenished_in();
        if cells > self.quota.burst_size() {
            return Err(full_refill);
        }
        let outcome = self.limiter.check_key_n(&user.to_owned(), cells);
        if self.limiter.len() > PRUNE_ABOVE_USERS {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        outcome
            .map_err(|_insufficient_capacity| full_refill)?
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_may_spend_the_burst_at_once_and_no_more() {
        let limiter = MutationRateLimiter::new(RateLimit {
            burst: 3,
            per_second: 0.001,
        });
        for _ in 0..3 {
            assert!(limiter.take("alice", 1).is_ok());
        }
        let wait = limiter.take("alice", 1).unwrap_err();
        assert!(wait > Duration::from_secs(900), "{wait:?}");
    }

    #[test]
    fn users_have_buckets_of_their_own() {
        let limiter = MutationRateLimiter::new(RateLimit {
            burst: 1,
            per_second: 0.001,
        });
        assert!(limiter.take("alice", 1).is_ok());
        assert!(limiter.take("bob", 1).is_ok());
        assert!(limiter.take("alice", 1).is_err());
    }

    #[test]
    fn the_bucket_refills_over_time() {
        let limiter = MutationRateLimiter::new(RateLimit {
            burst: 1,
            per_second: 1_000.0,
        });
        assert!(limiter.take("alice", 1).is_ok());
        std::thread::sleep(Duration::from_millis(5));
        assert!(limiter.take("alice", 1).is_ok());
    }

    #[test]
    fn a_request_costs_one_token_per_root_field() {
        let limiter = MutationRateLimiter::new(RateLimit {
            burst: 5,
            per_second: 0.001,
        });
        assert!(limiter.take("alice", 4).is_ok());
        assert!(limiter.take("alice", 2).is_err());
    }

    fn limiter(burst: u32, per_second: f64) -> MutationRateLimiter {
        MutationRateLimiter::new(RateLimit { burst, per_second })
    }

    #[test]
    fn the_users_kept_stay_bounded_while_their_buckets_refill() {
        let limiter = limiter(1, 1_000.0);
        for user in 0..3 * PRUNE_ABOVE_USERS {
            assert!(limiter.take(&user.to_string(), 1).is_ok());
        }
        assert!(limiter.limiter.len() <= PRUNE_ABOVE_USERS + 1);
    }

    #[test]
    fn past_the_bound_a_user_still_waiting_is_not_forgotten() {
        let limiter = limiter(1, 0.001);
        for user in 0..=PRUNE_ABOVE_USERS {
            assert!(limiter.take(&user.to_string(), 1).is_ok());
        }
        assert!(limiter.take("0", 1).is_err());
    }

    #[test]
    fn a_cost_over_the_burst_waits_for_a_full_bucket() {
        let limiter = limiter(2, 0.1);
        assert_eq!(limiter.take("alice", 3), Err(Duration::from_secs(20)));
    }

    #[test]
    fn a_rate_of_zero_gives_back_nothing_for_years() {
        let limiter = limiter(30, 0.0);
        assert!(limiter.take("alice", 30).is_ok());
        let wait = limiter.take("alice", 1).unwrap_err();
        assert!(wait > Duration::from_secs(365 * 86_400), "{wait:?}");
    }
}
