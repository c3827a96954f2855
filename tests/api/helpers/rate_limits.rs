//! The two stores of the mutation rate limit's buckets, for the tests that run against
//! each: this instance's memory, and the machine's Redis (127.0.0.1:6379), under a key
//! prefix of the test's own so that tests running at once never share a bucket. Nothing
//! here empties Redis: keys expire with their buckets.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use supportdesk::config::{Config, RateLimit, SharedRateLimit};

use super::{Reply, User};

pub const REDIS_ADDRESS: &str = "127.0.0.1:6379";

/// Where a test server keeps its buckets.
#[derive(Clone, Debug)]
pub enum BucketStore {
    InProcess,
    Redis(SharedRateLimit),
}

impl BucketStore {
    /// The machine's Redis, under a prefix of this store's own.
    pub fn redis() -> Self {
        Self::Redis(shared_in(&format!("redis://{REDIS_ADDRESS}")))
    }

    /// A configuration step: `burst` mutations at once, `per_second` more, in this store.
    pub fn limit(&self, burst: u32, per_second: f64) -> impl FnOnce(&mut Config) + use<> {
        let shared = match self {
            Self::InProcess => None,
            Self::Redis(shared) => Some(shared.clone()),
        };
        move |config| {
            config.http.mutation_rate_limit = RateLimit { burst, per_second };
            config.http.shared_rate_limit = shared;
        }
    }

    /// In Redis, `user`'s bucket is there: the store really decided. In memory there is
    /// nothing to look at from outside.
    pub async fn assert_holds_bucket_of(&self, user: &User) {
        if let Self::Redis(shared) = self {
            let key = format!("{}{}", shared.key_prefix, user.id);
            let exists: bool = redis::cmd("EXISTS")
                .arg(&key)
                .query_async(&mut redis_connection().await)
                .await
                .expect("EXISTS");
            assert!(exists, "no bucket at {key}");
        }
    }
}

/// A 429 `RATE_LIMITED` with a retry hint of at least a second, in the error and in the
/// `Retry-After` header alike; the hint, for the caller to bound.
pub fn assert_rate_limited(reply: &Reply) -> u64 {
    assert_eq!(reply.status, 429, "{:#}", reply.body);
    assert_eq!(reply.error_code().as_deref(), Some("RATE_LIMITED"));
    let retry_after = reply.errors()[0]["extensions"]["retryAfter"]
        .as_u64()
        .expect("a retry hint");
    assert!(retry_after >= 1, "{retry_after}");
    assert_eq!(
        reply.headers["retry-after"],
        retry_after.to_string().as_str()
    );
    retry_after
}

/// Shared buckets in the Redis at `url` under a key prefix no other test uses, waiting up
/// to a second for it: a loaded test machine must not make a test fall back to its own
/// buckets unless the test means it to.
pub fn shared_in(url: &str) -> SharedRateLimit {
    SharedRateLimit {
        key_prefix: format!("supportdesk:test:{}:", uuid::Uuid::now_v7().simple()),
        timeout: Duration::from_secs(1),
        ..SharedRateLimit::new(url)
    }
}

pub async fn redis_connection() -> MultiplexedConnection {
    redis::Client::open(format!("redis://{REDIS_ADDRESS}"))
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis at 127.0.0.1:6379")
}

/// `async fn name(store: BucketStore) { … }` as two tests, `name::in_process` and
/// `name::in_redis`: the same behaviour from either store.
macro_rules! on_both_stores {
    ($(#[$attribute:meta])* async fn $name:ident($store:ident: $kind:ty $(,)?) $body:block) => {
        $(#[$attribute])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($store: $kind) $body

            #[tokio::test]
            async fn in_process() {
                run($crate::helpers::BucketStore::InProcess).await;
            }

            #[tokio::test]
            async fn in_redis() {
                run($crate::helpers::BucketStore::redis()).await;
            }
        }
    };
}
pub(crate) use on_both_stores;
