//! How webhook deliveries are attempted: the retry schedule, how many attempts run at
//! once, how long one may take.

use std::time::Duration;

use super::{ConfigError, MAX_SECONDS, within};

/// The schedule of retries after a failed attempt, as the issue writes it: about 5 s,
/// 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (a day and a half in all), each with ±20 %
/// jitter; after the last, the delivery has FAILED.
const DEFAULT_RETRY_DELAYS: &str = "5s,5m,30m,2h,5h,10h,10h";

/// A schedule longer than this is a typo: the 5-day rule disables a webhook first.
const MAX_RETRIES: usize = 30;

#[derive(Clone, Debug, clap::Args)]
pub struct WebhookDeliverySettings {
    /// The delays before each retry of a failed delivery, comma-separated, each a number
    /// and a unit (`ms`, `s`, `m`, `h`); each is applied with ±20 % jitter. After the
    /// last retry fails, the delivery has FAILED.
    #[arg(long, env = "WEBHOOK_RETRY_DELAYS", default_value = DEFAULT_RETRY_DELAYS)]
    pub webhook_retry_delays: String,
    /// Delivery attempts in flight at once on this instance, over every webhook.
    #[arg(long, env = "WEBHOOK_CONCURRENCY", default_value_t = DeliveryOptions::DEFAULT_CONCURRENCY)]
    pub webhook_concurrency: usize,
    /// Seconds one attempt may take, from connecting to the receiver's answer; past it,
    /// the attempt has failed.
    #[arg(long, env = "WEBHOOK_TIMEOUT_SECONDS", default_value_t = DeliveryOptions::DEFAULT_TIMEOUT.as_secs_f64())]
    pub webhook_timeout_seconds: f64,
}

#[cfg(test)]
impl WebhookDeliverySettings {
    /// The settings as the flags' defaults give them.
    pub fn defaults() -> Self {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            delivery: WebhookDeliverySettings,
        }
        <Flags as clap::Parser>::parse_from(["supportdesk"]).delivery
    }
}

/// The checked form of [`WebhookDeliverySettings`].
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryOptions {
    /// The delay before each retry; its length is the number of retries.
    pub retry_delays: Vec<Duration>,
    pub concurrency: usize,
    /// One attempt's limit, from connecting to the receiver's answer.
    pub timeout: Duration,
}

impl DeliveryOptions {
    pub const DEFAULT_CONCURRENCY: usize = 32;
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Far past what one process should hold open at once.
    const MAX_CONCURRENCY: usize = 10_000;
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            retry_delays: parse_delays(DEFAULT_RETRY_DELAYS)
                .unwrap_or_else(|_| unreachable!("the default schedule parses")),
            concurrency: Self::DEFAULT_CONCURRENCY,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }
}

impl TryFrom<WebhookDeliverySettings> for DeliveryOptions {
    type Error = ConfigError;

    fn try_from(settings: WebhookDeliverySettings) -> Result<Self, ConfigError> {
        Ok(Self {
            retry_delays: parse_delays(&settings.webhook_retry_delays)
                .map_err(|reason| ConfigError::invalid("WEBHOOK_RETRY_DELAYS", reason))?,
            concurrency: within(
                "WEBHOOK_CONCURRENCY",
                settings.webhook_concurrency,
                1..=Self::MAX_CONCURRENCY,
            )?,
            // Within the receiver's recommended 15 to 30 s at most; a minute is generous.
            timeout: within(
                "WEBHOOK_TIMEOUT_SECONDS",
                settings.webhook_timeout_seconds,
                0.001..=60.0,
            )
            .map(Duration::from_secs_f64)?,
        })
    }
}

/// `5s,5m,30m,2h`: each delay a whole number and a unit, from a millisecond to a day.
fn parse_delays(text: &str) -> Result<Vec<Duration>, String> {
    let delays = text
        .split(',')
        .map(|delay| parse_delay(delay.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    if delays.len() > MAX_RETRIES {
        return Err(format!(
            "at most {MAX_RETRIES} delays, not {}",
            delays.len()
        ));
    }
    Ok(delays)
}

fn parse_delay(delay: &str) -> Result<Duration, String> {
    let not_a_delay = || {
        format!("`{delay}` is not a delay: write a whole number and a unit, ms, s, m or h (30m)")
    };
    let digits = delay
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(delay.len());
    let (number, unit) = delay.split_at(digits);
    let number: u64 = number.parse().map_err(|_| not_a_delay())?;
    let millis = match unit {
        "ms" => Some(number),
        "s" => number.checked_mul(1_000),
        "m" => number.checked_mul(60_000),
        "h" => number.checked_mul(3_600_000),
        _ => return Err(not_a_delay()),
    };
    match millis {
        Some(millis @ 1..) if millis <= MAX_SECONDS * 1_000 => Ok(Duration::from_millis(millis)),
        _ => Err(format!("`{delay}` must be from 1ms to 24h")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_defaults_check_into_the_default_options() {
        let checked = DeliveryOptions::try_from(WebhookDeliverySettings::defaults());
        assert_eq!(checked.ok(), Some(DeliveryOptions::default()));
    }

    #[test]
    fn the_default_schedule_is_the_issue_s() {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        assert_eq!(
            DeliveryOptions::default().retry_delays,
            [
                Duration::from_secs(5),
                minutes(5),
                minutes(30),
                minutes(120),
                minutes(300),
                minutes(600),
                minutes(600)
            ]
        );
    }

    #[test]
    fn delays_take_milliseconds_seconds_minutes_and_hours() {
        assert_eq!(
            parse_delays(" 250ms, 2s ,1m,1h"),
            Ok(vec![
                Duration::from_millis(250),
                Duration::from_secs(2),
                Duration::from_secs(60),
                Duration::from_secs(3600)
            ])
        );
    }

    #[test]
    fn a_delay_without_a_unit_zero_or_past_a_day_is_refused() {
        for delays in ["5", "5x", "s", "0s", "25h", "-5s", "5s,", "1.5s", ""] {
            assert!(parse_delays(delays).is_err(), "{delays}");
        }
    }

    #[test]
    fn more_than_thirty_retries_are_refused() {
        assert!(parse_delays(&vec!["1s"; 31].join(",")).is_err());
        assert!(parse_delays(&vec!["1s"; 30].join(",")).is_ok());
    }
}
