//! The buckets in Redis, shared by every instance of a fleet. The same GCRA as governor's
//! runs on the Redis server as a Lua script (`gcra.lua`): reading a user's bucket,
//! deciding and writing it back are one atomic step and one round trip (EVALSHA; the
//! script is loaded on connecting, and `redis::Script` loads it again after a NOSCRIPT).
//! The script reads the time from Redis (`TIME`), so instances whose clocks disagree
//! still share one timeline, and a key expires when its bucket would be full again.
//!
//! **Fail open.** The rate limit protects the service from a client that writes too fast;
//! no data depends on it. Refusing every mutation while Redis is unreachable would turn a
//! Redis outage into a write outage of the whole fleet, so instead each instance decides
//! with its own in-memory buckets (a user then gets one bucket per instance, as without
//! Redis), says so once per outage in the log (a warning when it starts, an info when it
//! ends), counts each failed call (`supportdesk_rate_limit_redis_failures_total`), shows
//! where it decides (`supportdesk_rate_limit_backend`), and goes back to Redis when it
//! answers again.
//!
//! A mutation waits for Redis at most `RATE_LIMIT_REDIS_TIMEOUT_MS`, and only while Redis
//! is believed up: the first failure marks it down, and from then on mutations do not
//! touch it. A background task reconnects, at once after a loss (a restarted Redis or a
//! dropped connection comes back quickly), then after 250 ms, doubling to 2 s between
//! attempts, without holding up any mutation; a link that fails again within 10 s of
//! coming back keeps the longer pause, so that a Redis that accepts connections but fails
//! every call is not retried, and logged, at full speed.

use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

use governor::Quota;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisError, Script, ScriptInvocation};
use tokio::sync::watch;
use tokio::time::{Instant, timeout, timeout_at};

use crate::config::SharedRateLimit;
use crate::metrics::RateLimitBackend;

const SCRIPT: &str = include_str!("gcra.lua");

const FIRST_RETRY: Duration = Duration::from_millis(250);
const LAST_RETRY: Duration = Duration::from_secs(2);
/// A link that lived this long before failing was no flap: the back-off starts over.
const STABLE: Duration = Duration::from_secs(10);
/// Connecting takes a few round trips (TCP, the handshake, loading the script), and no
/// mutation waits for it past the start: it may take longer than one call.
const CONNECT_WITHIN: Duration = Duration::from_secs(1);

pub(super) struct SharedBuckets {
    redis: Arc<Redis>,
    key_prefix: String,
    gcra: Gcra,
}

/// The quota in governor's terms, as the script takes it.
#[derive(Clone, Copy)]
struct Gcra {
    /// Nanoseconds per token.
    t_nanos: u64,
    /// `t × (burst − 1)`: how far ahead of now a bucket's time may run.
    tau_nanos: u64,
}

impl Gcra {
    fn of(quota: Quota) -> Self {
        let t = quota.replenish_interval();
        let nanos = |duration: Duration| u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        Self {
            t_nanos: nanos(t),
            tau_nanos: nanos(t.saturating_mul(quota.burst_size().get() - 1)),
        }
    }

    /// The script's call for `cells` tokens from `key`.
    fn invocation<'s>(self, script: &'s Script, key: &str, cells: u32) -> ScriptInvocation<'s> {
        let mut invocation = script.prepare_invoke();
        invocation
            .key(key)
            .arg(self.t_nanos)
            .arg(self.tau_nanos)
            .arg(cells);
        invocation
    }
}

/// What the mutations and the reconnecting task share. The task holds it weakly: once the
/// limiter is dropped, the task ends.
struct Redis {
    client: redis::Client,
    script: Script,
    timeout: Duration,
    link: watch::Sender<Link>,
    backend: Arc<RateLimitBackend>,
    /// For the log: the URL without its password.
    url: String,
}

#[derive(Clone)]
enum Link {
    /// The first connection is being made; a mutation waits for it, within its timeout.
    Connecting,
    /// Each new connection has a generation of its own, so that the failures of calls on
    /// one that is already replaced do not mark its successor down.
    Up {
        connection: MultiplexedConnection,
        generation: u64,
    },
    /// Unreachable: this instance's buckets decide until the task reconnects.
    Down,
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error("no answer within {0:?}")]
    NoAnswer(Duration),
}

impl SharedBuckets {
    /// Starts connecting to Redis in the background; `None` (logged) if that cannot be
    /// done here: the configuration checked the URL, and the server runs on tokio.
    pub(super) fn start(
        settings: &SharedRateLimit,
        quota: Quota,
        backend: Arc<RateLimitBackend>,
    ) -> Option<Self> {
        let url = crate::db::redacted_url(&settings.url).into_owned();
        let client = match redis::Client::open(settings.url.as_str()) {
            Ok(client) => client,
            // Its message may quote the URL, password included.
            Err(_) => {
                tracing::error!(
                    redis = url,
                    "not a Redis URL: the rate limit stays per instance"
                );
                return None;
            }
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!("no tokio runtime to reach Redis: the rate limit stays per instance");
            return None;
        };
        let redis = Arc::new(Redis {
            client,
            script: Script::new(SCRIPT),
            timeout: settings.timeout,
            link: watch::Sender::new(Link::Connecting),
            backend,
            url,
        });
        runtime.spawn(keep_connected(
            Arc::downgrade(&redis),
            redis.link.subscribe(),
        ));
        Some(Self {
            redis,
            key_prefix: settings.key_prefix.clone(),
            gcra: Gcra::of(quota),
        })
    }

    /// Takes `cells` tokens from `user`'s bucket in Redis, or tells how long until they
    /// are there; `None` when Redis did not answer within the timeout (or is known down),
    /// for this instance's bucket to decide.
    pub(super) async fn take(&self, user: &str, cells: NonZeroU32) -> Option<Result<(), Duration>> {
        let deadline = Instant::now() + self.redis.timeout;
        let (mut connection, generation) = self.redis.connection(deadline).await?;
        let key = format!("{}{user}", self.key_prefix);
        let invocation = self.gcra.invocation(&self.redis.script, &key, cells.get());
        let answer = timeout_at(deadline, invocation.invoke_async::<u64>(&mut connection)).await;
        match answer {
            Ok(Ok(0)) => Some(Ok(())),
            Ok(Ok(wait)) => Some(Err(Duration::from_nanos(wait))),
            Ok(Err(error)) => {
                self.redis.lost(generation, &Failure::Redis(error));
                None
            }
            Err(_elapsed) => {
                self.redis
                    .lost(generation, &Failure::NoAnswer(self.redis.timeout));
                None
            }
        }
    }
}

impl Redis {
    /// The connection to use, if Redis is up; at start, once the first attempt to connect
    /// has ended, if it ends before `deadline`.
    async fn connection(&self, deadline: Instant) -> Option<(MultiplexedConnection, u64)> {
        let up = |link: &Link| match link {
            Link::Up {
                connection,
                generation,
            } => Some((connection.clone(), *generation)),
            Link::Connecting | Link::Down => None,
        };
        {
            let link = self.link.borrow();
            if !matches!(*link, Link::Connecting) {
                return up(&link);
            }
        }
        let mut link = self.link.subscribe();
        let settled = timeout_at(
            deadline,
            link.wait_for(|link| !matches!(link, Link::Connecting)),
        )
        .await;
        match settled {
            Ok(Ok(link)) => up(&link),
            _ => None,
        }
    }

    /// A call on the connection of `generation` failed: the first such failure marks
    /// Redis down, and is the one logged.
    fn lost(&self, generation: u64, failure: &Failure) {
        crate::metrics::record_rate_limit_redis_failure();
        let lost = self.link.send_if_modified(|link| match link {
            Link::Up {
                generation: current,
                ..
            } if *current == generation => {
                *link = Link::Down;
                true
            }
            _ => false,
        });
        if lost {
            self.backend.set_shared(false);
            tracing::warn!(
                error = %failure,
                redis = self.url,
                "the rate limit's Redis cannot be reached: this instance decides with its own buckets until it answers again"
            );
        }
    }

    /// A new connection, with the script loaded, that answers a PING within a mutation's
    /// timeout: a Redis slower than that is no use to the mutations.
    async fn connect(&self) -> Result<MultiplexedConnection, Failure> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_WITHIN))
            // The mutations and the probe below hold their calls to their own deadlines.
            .set_response_timeout(None);
        let attempt = async {
            let mut connection = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            self.script.load_async(&mut connection).await?;
            Ok::<_, Failure>(connection)
        };
        let mut connection = timeout(CONNECT_WITHIN, attempt)
            .await
            .map_err(|_elapsed| Failure::NoAnswer(CONNECT_WITHIN))??;
        timeout(
            self.timeout,
            redis::cmd("PING").query_async::<()>(&mut connection),
        )
        .await
        .map_err(|_elapsed| Failure::NoAnswer(self.timeout))??;
        Ok(connection)
    }

    fn up(&self, connection: MultiplexedConnection, generation: u64) {
        let before = self.link.send_replace(Link::Up {
            connection,
            generation,
        });
        self.backend.set_shared(true);
        if matches!(before, Link::Down) {
            tracing::info!(
                redis = self.url,
                "the rate limit's Redis answers again: the buckets are shared again"
            );
        } else {
            tracing::info!(
                redis = self.url,
                "the mutation buckets are shared through Redis"
            );
        }
    }

    /// An attempt to connect failed: logged only when it is the first, at start (a loss
    /// was logged when it happened).
    fn unreachable(&self, failure: &Failure) {
        crate::metrics::record_rate_limit_redis_failure();
        let before = self.link.send_replace(Link::Down);
        if matches!(before, Link::Connecting) {
            tracing::warn!(
                error = %failure,
                redis = self.url,
                "the rate limit's Redis cannot be reached: this instance decides with its own buckets until it answers"
            );
        } else {
            tracing::debug!(error = %failure, "the rate limit's Redis still cannot be reached");
        }
    }
}

/// Connects, and reconnects whenever a mutation finds the link down, until the limiter is
/// dropped.
async fn keep_connected(redis: Weak<Redis>, mut link: watch::Receiver<Link>) {
    let mut generation = 0;
    let mut retry = FIRST_RETRY;
    let mut up_since: Option<Instant> = None;
    loop {
        if link
            .wait_for(|link| !matches!(link, Link::Up { .. }))
            .await
            .is_err()
        {
            return;
        }
        // A link that had been up a while reconnects at once; one that flaps, after the
        // pause it had reached.
        if let Some(since) = up_since.take() {
            if since.elapsed() >= STABLE {
                retry = FIRST_RETRY;
            } else {
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(LAST_RETRY);
            }
        }
        let Some(shared) = redis.upgrade() else {
            return;
        };
        match shared.connect().await {
            Ok(connection) => {
                generation += 1;
                shared.up(connection, generation);
                up_since = Some(Instant::now());
            }
            Err(failure) => {
                shared.unreachable(&failure);
                drop(shared);
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(LAST_RETRY);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The script against the real Redis (127.0.0.1:6379), under keys of its own.

    use governor::clock::FakeRelativeClock;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::super::local::LocalBuckets;
    use super::*;
    use crate::config::RateLimit;

    const REDIS_URL: &str = "redis://127.0.0.1:6379";
    /// Where the test's timeline starts, in seconds since the epoch (2027).
    const EPOCH_SECONDS: u64 = 1_800_000_000;

    async fn connection() -> MultiplexedConnection {
        redis::Client::open(REDIS_URL)
            .expect("a Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("Redis at 127.0.0.1:6379")
    }

    fn key() -> String {
        format!("supportdesk:test:gcra:{}", uuid::Uuid::now_v7())
    }

    /// What the script answers for `cells` from `key` under `limit`, at `at` past the
    /// test's epoch (whole microseconds, as Redis's TIME has them), or at Redis's time.
    async fn script(
        connection: &mut MultiplexedConnection,
        key: &str,
        limit: RateLimit,
        cells: u32,
        at: Option<Duration>,
    ) -> Result<(), Duration> {
        let script = Script::new(SCRIPT);
        let mut invocation = Gcra::of(super::super::quota(limit)).invocation(&script, key, cells);
        if let Some(at) = at {
            invocation
                .arg(EPOCH_SECONDS + at.as_secs())
                .arg(at.subsec_micros());
        }
        match invocation
            .invoke_async::<u64>(connection)
            .await
            .expect("the script runs")
        {
            0 => Ok(()),
            wait => Err(Duration::from_nanos(wait)),
        }
    }

    /// Random costs at random times, the same to both: the same answers, waits included.
    /// The rates keep a bucket's key alive at least 300 ms of real time, far longer than
    /// the steps between two calls take, though the test's clock runs faster.
    #[tokio::test]
    async fn the_script_answers_what_governor_answers_to_the_nanosecond() {
        let mut connection = connection().await;
        let mut random = StdRng::seed_from_u64(17);
        for (burst, per_second) in [(1, 1.0), (3, 0.1), (30, 1.0), (5, 3.0), (7, 0.3), (2, 2.0)] {
            let limit = RateLimit { burst, per_second };
            let clock = FakeRelativeClock::default();
            let local = LocalBuckets::with_clock(super::super::quota(limit), clock.clone());
            let key = key();
            let period_micros = (1e6 / per_second) as u64;
            let mut at = Duration::ZERO;
            let mut refused = 0;
            for step in 0..200 {
                let pause = Duration::from_micros(random.gen_range(0..=period_micros * 2));
                clock.advance(pause);
                at += pause;
                let cells = random.gen_range(1..=burst);
                let expected = local.take("user", NonZeroU32::new(cells).expect("not zero"));
                let answered = script(&mut connection, &key, limit, cells, Some(at)).await;
                assert_eq!(
                    answered, expected,
                    "burst {burst}, {per_second}/s, step {step}: {cells} at {at:?}"
                );
                refused += usize::from(expected.is_err());
            }
            assert!(
                refused > 10,
                "burst {burst}, {per_second}/s: {refused} refused"
            );
        }
    }

    #[tokio::test]
    async fn on_redis_time_a_spent_bucket_waits_one_period() {
        let mut connection = connection().await;
        let limit = RateLimit {
            burst: 2,
            per_second: 0.1,
        };
        let key = key();

        assert_eq!(script(&mut connection, &key, limit, 2, None).await, Ok(()));
        let wait = script(&mut connection, &key, limit, 1, None)
            .await
            .expect_err("spent");

        assert!(
            wait > Duration::from_secs(9) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
    }

    #[tokio::test]
    async fn a_bucket_expires_when_it_would_be_full_again() {
        let mut connection = connection().await;
        let limit = RateLimit {
            burst: 5,
            per_second: 0.5,
        };
        let key = key();

        assert_eq!(script(&mut connection, &key, limit, 3, None).await, Ok(()));
        let expires_in: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .expect("PTTL");

        assert!((5_900..=6_000).contains(&expires_in), "{expires_in} ms");
    }

    #[tokio::test]
    async fn a_bucket_that_is_not_a_time_is_a_full_one() {
        let mut connection = connection().await;
        let limit = RateLimit {
            burst: 1,
            per_second: 0.1,
        };
        let key = key();
        let () = redis::cmd("SET")
            .arg(&key)
            .arg("garbage")
            .arg("PX")
            .arg(60_000)
            .query_async(&mut connection)
            .await
            .expect("SET");

        assert_eq!(script(&mut connection, &key, limit, 1, None).await, Ok(()));
        assert!(script(&mut connection, &key, limit, 1, None).await.is_err());
    }
}
