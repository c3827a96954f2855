//! The `Idempotency-Key` setting: how long a key's answer is kept.

use std::time::Duration;

use super::{ConfigError, within};

/// Keys are kept from an hour to thirty days: none would be no promise, and past a month
/// the table holds mostly answers nobody will ask for again.
const TTL_HOURS: std::ops::RangeInclusive<u64> = 1..=720;

/// A running claim older than the request time budget plus this is taken as abandoned (its
/// instance died): the margin covers a commit seen through past the budget, the answer's
/// own write, and the clocks of two instances that differ a little.
pub const ABANDONED_CLAIM_MARGIN: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, clap::Args)]
pub struct IdempotencySettings {
    /// Hours a mutation's answer is kept for retries with the same `Idempotency-Key`.
    #[arg(long, env = "IDEMPOTENCY_KEY_TTL_HOURS", default_value_t = IdempotencyOptions::DEFAULT.key_ttl.as_secs() / 3600)]
    pub idempotency_key_ttl_hours: u64,
}

/// The checked form of [`IdempotencySettings`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdempotencyOptions {
    pub key_ttl: Duration,
}

impl IdempotencyOptions {
    pub const DEFAULT: Self = Self {
        key_ttl: Duration::from_secs(24 * 3600),
    };

    /// The TTL must outlast a request: a key that expired while its request still ran
    /// could be claimed again, and the mutation run twice.
    pub(super) fn checked(
        settings: &IdempotencySettings,
        request_timeout: Duration,
    ) -> Result<Self, ConfigError> {
        const SETTING: &str = "IDEMPOTENCY_KEY_TTL_HOURS";
        let hours = within(SETTING, settings.idempotency_key_ttl_hours, TTL_HOURS)?;
        let key_ttl = Duration::from_secs(hours * 3600);
        if key_ttl <= request_timeout + ABANDONED_CLAIM_MARGIN {
            return Err(ConfigError::invalid(
                SETTING,
                format!(
                    "{hours} h is not longer than REQUEST_TIMEOUT_SECONDS ({} s) and {} s: \
                     a key could expire while its request still runs",
                    request_timeout.as_secs_f64(),
                    ABANDONED_CLAIM_MARGIN.as_secs()
                ),
            ));
        }
        Ok(Self { key_ttl })
    }
}

impl Default for IdempotencyOptions {
    fn default() -> Self {
        Self::DEFAULT
    }
}
