//! Where a fleet keeps its mutation buckets: a Redis every instance shares, so that N
//! instances behind a load balancer give each user one bucket, not N.

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use super::{ConfigError, within};

pub const DEFAULT_KEY_PREFIX: &str = "supportdesk:rate:";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);
/// A Redis that takes longer than a second is down as far as a mutation is concerned; at
/// least a millisecond, or no round trip could ever finish.
const TIMEOUT_MS: RangeInclusive<u64> = 1..=1_000;
/// Keys are binary-safe, but a prefix is written by an operator: printable ASCII, short.
const MAX_KEY_PREFIX_BYTES: usize = 100;

#[derive(Clone, Debug, clap::Args)]
pub struct SharedRateLimitSettings {
    /// Redis that keeps every user's mutation bucket for the whole fleet
    /// (`redis://[:PASSWORD@]HOST[:PORT][/DB]`); unset, each instance keeps its own. If it
    /// cannot be reached, each instance keeps its own until it answers again.
    // Its value may hold a password: `--help` must not show it.
    #[arg(long, env = "RATE_LIMIT_REDIS_URL", hide_env_values = true)]
    pub rate_limit_redis_url: Option<String>,
    /// Prefix of the buckets' Redis keys (the user id follows it).
    #[arg(long, env = "RATE_LIMIT_REDIS_KEY_PREFIX", default_value = DEFAULT_KEY_PREFIX)]
    pub rate_limit_redis_key_prefix: String,
    /// Milliseconds a mutation waits for Redis before this instance's own bucket decides.
    #[arg(long, env = "RATE_LIMIT_REDIS_TIMEOUT_MS", default_value_t = DEFAULT_TIMEOUT.as_millis() as u64)]
    pub rate_limit_redis_timeout_ms: u64,
}

/// The checked form of [`SharedRateLimitSettings`], when `RATE_LIMIT_REDIS_URL` is set.
#[derive(Clone, PartialEq)]
pub struct SharedRateLimit {
    /// A URL the Redis client parses; it is reached only once the server runs.
    pub url: String,
    pub key_prefix: String,
    /// The longest a mutation waits for Redis's answer.
    pub timeout: Duration,
}

impl SharedRateLimit {
    /// `url` with the default key prefix and timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// The URL's password stays out of logs and error messages that print a `Config`.
impl fmt::Debug for SharedRateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRateLimit")
            .field("url", &crate::db::redacted_url(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl TryFrom<SharedRateLimitSettings> for Option<SharedRateLimit> {
    type Error = ConfigError;

    /// Every setting is checked, set to use or not. An unset or empty URL is no shared
    /// limit. A URL that does not parse is refused here, at start; one that parses but
    /// cannot be reached is not: the server serves with its own buckets until Redis answers.
    fn try_from(settings: SharedRateLimitSettings) -> Result<Self, ConfigError> {
        let key_prefix = settings.rate_limit_redis_key_prefix;
        let printable = key_prefix.bytes().all(|byte| byte.is_ascii_graphic());
        if key_prefix.is_empty() || key_prefix.len() > MAX_KEY_PREFIX_BYTES || !printable {
            return Err(ConfigError::invalid(
                "RATE_LIMIT_REDIS_KEY_PREFIX",
                format!(
                    "must be 1 to {MAX_KEY_PREFIX_BYTES} printable ASCII characters \
                     without spaces, like {DEFAULT_KEY_PREFIX}"
                ),
            ));
        }
        let timeout_ms = within(
            "RATE_LIMIT_REDIS_TIMEOUT_MS",
            settings.rate_limit_redis_timeout_ms,
            TIMEOUT_MS,
        )?;
        let Some(url) = settings
            .rate_limit_redis_url
            .filter(|url| !url.trim().is_empty())
        else {
            return Ok(None);
        };
        // The client's message would quote the URL, password included: it is not repeated.
        if redis::Client::open(url.as_str()).is_err() {
            return Err(ConfigError::invalid(
                "RATE_LIMIT_REDIS_URL",
                "not a Redis URL: write redis://[:PASSWORD@]HOST[:PORT][/DB] \
                 (or unix:///PATH/redis.sock)",
            ));
        }
        Ok(Some(SharedRateLimit {
            url,
            key_prefix,
            timeout: Duration::from_millis(timeout_ms),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: Option<&str>) -> SharedRateLimitSettings {
        SharedRateLimitSettings {
            rate_limit_redis_url: url.map(str::to_owned),
            rate_limit_redis_key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            rate_limit_redis_timeout_ms: DEFAULT_TIMEOUT.as_millis() as u64,
        }
    }

    fn checked(settings: SharedRateLimitSettings) -> Result<Option<SharedRateLimit>, String> {
        Option::<SharedRateLimit>::try_from(settings).map_err(|error| error.to_string())
    }

    #[test]
    fn without_a_url_each_instance_keeps_its_own_buckets() {
        assert_eq!(checked(settings(None)), Ok(None));
        assert_eq!(checked(settings(Some(" "))), Ok(None));
    }

    #[test]
    fn a_url_that_parses_is_taken_whether_or_not_redis_answers() {
        let shared = checked(settings(Some("redis://127.0.0.1:1/3"))).expect("accepted");
        assert_eq!(
            shared,
            Some(SharedRateLimit::new("redis://127.0.0.1:1/3".to_owned()))
        );
    }

    #[test]
    fn a_url_that_does_not_parse_is_refused_without_showing_it() {
        for url in [
            "127.0.0.1:6379",
            "http://:hunter2@127.0.0.1:6379",
            "redis://:hunter2@127.0.0.1:notaport",
        ] {
            let error = checked(settings(Some(url))).expect_err(url);
            assert!(error.starts_with("RATE_LIMIT_REDIS_URL:"), "{url}: {error}");
            assert!(!error.contains("hunter2"), "{url}: {error}");
        }
    }

    #[test]
    fn a_timeout_of_zero_or_over_a_second_is_refused() {
        for timeout_ms in [0, 1_001, u64::MAX] {
            let mut settings = settings(Some("redis://127.0.0.1:6379"));
            settings.rate_limit_redis_timeout_ms = timeout_ms;
            let error = checked(settings).expect_err("refused");
            assert!(error.contains("RATE_LIMIT_REDIS_TIMEOUT_MS"), "{error}");
        }
    }

    #[test]
    fn an_empty_or_spaced_key_prefix_is_refused() {
        for prefix in ["", "rate limit:", "x".repeat(101).as_str(), "débit:"] {
            let mut settings = settings(Some("redis://127.0.0.1:6379"));
            settings.rate_limit_redis_key_prefix = prefix.to_owned();
            let error = checked(settings).expect_err(prefix);
            assert!(error.contains("RATE_LIMIT_REDIS_KEY_PREFIX"), "{error}");
        }
    }

    #[test]
    fn the_password_stays_out_of_the_debug_form() {
        let shared = SharedRateLimit::new("redis://:hunter2@127.0.0.1:6379");
        let printed = format!("{shared:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
    }
}
