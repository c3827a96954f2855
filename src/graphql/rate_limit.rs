//! A token bucket per user for mutations, in the memory of this instance.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimit;

/// Forgetting a full bucket loses nothing: a new one starts full.
const PRUNE_ABOVE_USERS: usize = 10_000;

pub struct MutationRateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

impl MutationRateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `cost` tokens from `user`'s bucket, or tells how long until they are there.
    pub fn take(&self, user: &str, cost: u64) -> Result<(), Duration> {
        let now = Instant::now();
        let burst = f64::from(self.limit.burst);
        let cost = cost as f64;
        // A poisoned lock only means another request panicked mid-update; the counts
        // are still usable.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > PRUNE_ABOVE_USERS {
            buckets.retain(|_, bucket| self.refilled(bucket, now) < burst);
        }
        let bucket = buckets.entry(user.to_owned()).or_insert(Bucket {
            tokens: burst,
            refilled_at: now,
        });
        bucket.tokens = self.refilled(bucket, now);
        bucket.refilled_at = now;
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            return Ok(());
        }
        let missing = cost.min(burst) - bucket.tokens;
        // A rate of zero, or one so slow the wait overflows a `Duration`: wait forever.
        Err(Duration::try_from_secs_f64(missing / self.limit.per_second).unwrap_or(Duration::MAX))
    }

    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.duration_since(bucket.refilled_at).as_secs_f64();
        (bucket.tokens + elapsed * self.limit.per_second).min(f64::from(self.limit.burst))
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
}
