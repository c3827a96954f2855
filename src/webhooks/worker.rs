//! The delivery worker: claims due deliveries, makes their attempts, and records each
//! attempt with what became of the delivery.
//!
//! A claim is a lease in the database (the attempt's time and a margin): an instance
//! that dies mid-attempt leaves the delivery to be claimed again, by any instance, once
//! the lease has run out. Claims are taken per webhook, at most [`PER_WEBHOOK`] attempts
//! in flight for one webhook and `WEBHOOK_CONCURRENCY` for all, so that a slow or dead
//! receiver holds its own few places and never another's. The worker holds only what is
//! in flight: a backlog stays in the table, read a few rows at a time.
//!
//! A 2xx is a success. Anything else is retried after the next delay of
//! `WEBHOOK_RETRY_DELAYS`, with ±20 % jitter, until the schedule runs out: the delivery
//! has then FAILED. A 410, or a failure while the webhook has failed for five days and
//! more with no success, disables the webhook, saying why.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use entity::{webhook, webhook_delivery};
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;
use tracing::field::Empty;
use uuid::Uuid;

use super::Webhooks;
use super::client::{Answer, Attempt, DeliveryClient};
use crate::config::DeliveryOptions;
use crate::store::webhook_deliveries::{self as store, AttemptMade, Settled};
use crate::tickets::now;

/// Attempts in flight at once for one webhook, on one instance.
pub const PER_WEBHOOK: usize = 4;

/// How long a claim outlasts the attempt's own limit: the time to record it.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// How often the worker looks for due deliveries without being told of new ones: for
/// retries coming due, and for what other instances fanned out.
const POLL: Duration = Duration::from_secs(1);

/// A retry's delay is its schedule's, give or take this share.
const JITTER: f64 = 0.2;

/// A webhook that fails for this long without a success is disabled at its next failure.
const FAILING_FOR: TimeDelta = TimeDelta::days(5);

pub const DISABLED_GONE: &str = "The receiver answered 410 Gone";
pub const DISABLED_FAILING: &str = "Every delivery failed for 5 days";

pub struct Worker {
    db: DatabaseConnection,
    webhooks: Arc<Webhooks>,
    client: DeliveryClient,
    options: DeliveryOptions,
    /// Told when deliveries may have come due: written by the fan-out, say.
    due: Arc<Notify>,
}

/// An attempt in flight: whose, and which delivery.
struct InFlight {
    webhook: Uuid,
    delivery: Uuid,
}

impl Worker {
    pub fn new(
        db: DatabaseConnection,
        webhooks: Arc<Webhooks>,
        due: Arc<Notify>,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: DeliveryClient::new(&webhooks.options)?,
            options: webhooks.options.delivery.clone(),
            db,
            webhooks,
            due,
        })
    }

    /// Claims and attempts deliveries until `stop` is raised. Then it claims no more, lets
    /// the attempts in flight finish for at most `grace`, and gives the claims of those
    /// still running back (due at once, for another instance).
    pub fn spawn(self, stop: watch::Receiver<bool>, grace: Duration) -> JoinHandle<()> {
        tokio::spawn(Arc::new(self).run(stop, grace))
    }

    async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>, grace: Duration) {
        let mut flights = Flights::default();
        let mut ticks = tokio::time::interval(POLL);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut webhooks: Vec<Arc<webhook::Model>> = Vec::new();
        let mut reread = true;
        loop {
            if reread {
                match store::enabled_webhooks(&self.db).await {
                    Ok(read) => {
                        webhooks = read.into_iter().map(Arc::new).collect();
                        flights.drained.clear();
                        reread = false;
                    }
                    Err(error) => tracing::debug!(%error, "cannot read the webhooks yet"),
                }
            }
            if let Err(error) = self.claim_round(&webhooks, &mut flights).await {
                tracing::warn!(%error, "cannot claim webhook deliveries; retrying");
            }
            tokio::select! {
                biased;
                _ = stop.wait_for(|stopped| *stopped) => break,
                Some(done) = flights.running.join_next_with_id() => {
                    let id = done.map_or_else(|error| error.id(), |(id, ())| id);
                    flights.landed(id);
                }
                () = self.due.notified() => reread = true,
                _ = ticks.tick() => reread = true,
            }
        }
        self.land_or_release(flights, grace).await;
    }

    /// Claims what there is room for, webhook by webhook, starting with another each
    /// round so that none always comes first for the global places.
    async fn claim_round(
        self: &Arc<Self>,
        webhooks: &[Arc<webhook::Model>],
        flights: &mut Flights,
    ) -> Result<(), DbErr> {
        let count = webhooks.len();
        flights.turn = flights.turn.wrapping_add(1);
        let first = flights.turn;
        for webhook in (0..count).map(|i| &webhooks[first.wrapping_add(i) % count]) {
            let free = self
                .options
                .concurrency
                .saturating_sub(flights.in_flight.len());
            if free == 0 {
                break;
            }
            let room = PER_WEBHOOK.saturating_sub(flights.of_webhook(webhook.id));
            if room == 0 || flights.drained.contains(&webhook.id) {
                continue;
            }
            let wanted = room.min(free);
            let at = now();
            // At the precision both databases keep: it is compared when the claim ends.
            let lease = (at + self.options.timeout + LEASE_MARGIN).trunc_subsecs(6);
            let claimed = store::claim(&self.db, webhook.id, wanted as u64, at, lease).await?;
            if claimed.len() < wanted {
                flights.drained.insert(webhook.id);
            }
            let events: Vec<Uuid> = claimed.iter().map(|delivery| delivery.event_id).collect();
            let mut bodies = store::payload_bodies(&self.db, &events).await?;
            for delivery in claimed {
                let in_flight = InFlight {
                    webhook: webhook.id,
                    delivery: delivery.id,
                };
                let body = bodies.remove(&delivery.event_id);
                let attempt = Arc::clone(self).attempt(Arc::clone(webhook), delivery, body, lease);
                let task = flights.running.spawn(attempt);
                flights.took_off(task.id(), in_flight);
            }
        }
        Ok(())
    }

    /// Waits up to `grace` for the attempts in flight; gives back the claims of the rest.
    async fn land_or_release(&self, mut flights: Flights, grace: Duration) {
        let landed = tokio::time::timeout(grace, async {
            while let Some(done) = flights.running.join_next_with_id().await {
                let id = done.map_or_else(|error| error.id(), |(id, ())| id);
                flights.landed(id);
            }
        })
        .await;
        if landed.is_ok() {
            return;
        }
        flights.running.abort_all();
        while let Some(done) = flights.running.join_next_with_id().await {
            if let Ok((id, ())) = done {
                flights.landed(id);
            }
        }
        let cut_short: Vec<Uuid> = flights.in_flight.values().map(|f| f.delivery).collect();
        tracing::warn!(
            attempts = cut_short.len(),
            "webhook attempts were still running at the end of the grace period; their deliveries are due again"
        );
        if let Err(error) = store::release_claims(&self.db, &cut_short, now()).await {
            tracing::warn!(%error, "cannot give back the claims of the attempts cut short; they are due again when their leases run out");
        }
    }

    /// One attempt of `delivery`, recorded with its outcome.
    async fn attempt(
        self: Arc<Self>,
        webhook: Arc<webhook::Model>,
        delivery: webhook_delivery::Model,
        body: Option<String>,
        lease: DateTime<Utc>,
    ) {
        let span = tracing::info_span!(
            "webhook attempt",
            otel.name = "POST",
            otel.kind = "client",
            url.full = %without_query(&webhook.url),
            webhook.id = %webhook.id,
            webhook.delivery.id = %delivery.id,
            webhook.event.id = %delivery.event_id,
            http.response.status_code = Empty,
            outcome = Empty,
        );
        async move {
            let at = now();
            let started = Instant::now();
            let answer = self.send(&webhook, &delivery, body.as_deref()).await;
            let duration = started.elapsed();
            let span = tracing::Span::current();
            if let Some(status) = answer.status {
                span.record("http.response.status_code", status);
            }
            let settled = settle(&answer, &delivery, &self.options.retry_delays, at, jitter());
            let outcome = match settled {
                Settled::Succeeded => "succeeded",
                Settled::RetryAt(_) => "retried",
                Settled::Failed => "failed",
            };
            span.record("outcome", outcome);
            crate::metrics::record_webhook_attempt(outcome, duration);
            if let Some(error) = &answer.error {
                tracing::debug!(error = %error.escape_debug(), "the webhook attempt failed");
            }
            if settled == Settled::Failed {
                tracing::warn!("a webhook delivery failed: its retries have run out");
            }
            let made = AttemptMade {
                delivery: delivery.id,
                at,
                response_status: answer.status.map(i32::from),
                error: answer.error.clone(),
                duration_ms: i32::try_from(duration.as_millis()).unwrap_or(i32::MAX),
            };
            if let Err(error) = self.record(&webhook, &delivery, lease, &answer, made, settled).await
            {
                tracing::warn!(%error, "cannot record a webhook attempt; it is made again when its lease runs out");
            }
        }
        .instrument(span)
        .await;
    }

    /// Makes the attempt of `body` (`None`: the event's body is missing).
    async fn send(
        &self,
        webhook: &webhook::Model,
        delivery: &webhook_delivery::Model,
        body: Option<&str>,
    ) -> Answer {
        let Some(body) = body else {
            return Answer::failed("the event's body is missing");
        };
        let vault = &self.webhooks.vault;
        let current = match vault.open(&self.db, webhook.id, &webhook.secret).await {
            Ok(secret) => secret,
            Err(_) => {
                return Answer::failed(
                    "the webhook's secret cannot be decrypted with this server's key \
                     (WEBHOOK_SECRET_KEY changed?): rotate the secret",
                );
            }
        };
        let previous = match (&webhook.previous_secret, webhook.previous_secret_expires_at) {
            (Some(sealed), Some(expires)) if expires > Utc::now() => {
                vault.open(&self.db, webhook.id, sealed).await.ok()
            }
            _ => None,
        };
        let mut keys = vec![current.key()];
        keys.extend(previous.as_ref().map(|secret| secret.key()));
        let message_id = delivery.event_id.to_string();
        self.client
            .attempt(Attempt {
                url: &webhook.url,
                message_id: &message_id,
                body,
                keys,
            })
            .await
    }

    /// Records the attempt and what became of the delivery and its webhook, in one
    /// transaction. The webhook's row is written before the delivery's, in the order
    /// `deleteWebhook` locks them, so that the two never wait for each other.
    async fn record(
        &self,
        webhook: &webhook::Model,
        delivery: &webhook_delivery::Model,
        lease: DateTime<Utc>,
        answer: &Answer,
        made: AttemptMade,
        settled: Settled,
    ) -> Result<(), DbErr> {
        let at = made.at;
        let txn = store::begin_attempt_record(&self.db).await?;
        let disabled = if answer.succeeded() {
            store::webhook_succeeded(&txn, webhook.id).await?;
            None
        } else {
            store::webhook_failed(&txn, webhook.id, at).await?;
            let (reason, failing_before) = if answer.status == Some(410) {
                (DISABLED_GONE, None)
            } else {
                (DISABLED_FAILING, Some(at - FAILING_FOR))
            };
            store::disable_webhook(&txn, webhook.id, reason, failing_before, at)
                .await?
                .then_some(reason)
        };
        let ours = store::settle_delivery(&txn, delivery.id, lease, settled).await?;
        // Its lease ran out and another instance took it over, or the webhook was deleted
        // meanwhile: the attempt was made all the same, if there is still a delivery.
        if ours || store::delivery_exists(&txn, delivery.id).await? {
            store::insert_attempt(&txn, made).await?;
        }
        txn.commit().await?;
        if let Some(reason) = disabled {
            tracing::warn!(webhook.id = %webhook.id, reason, "a webhook was disabled");
        }
        Ok(())
    }
}

/// What a worker has in flight.
#[derive(Default)]
struct Flights {
    running: JoinSet<()>,
    in_flight: HashMap<tokio::task::Id, InFlight>,
    /// Webhooks whose last claim found less than it asked for: not claimed again until
    /// something may have come due.
    drained: HashSet<Uuid>,
    per_webhook: HashMap<Uuid, usize>,
    turn: usize,
}

impl Flights {
    fn took_off(&mut self, task: tokio::task::Id, flight: InFlight) {
        *self.per_webhook.entry(flight.webhook).or_default() += 1;
        self.in_flight.insert(task, flight);
    }

    fn landed(&mut self, task: tokio::task::Id) {
        let Some(flight) = self.in_flight.remove(&task) else {
            return;
        };
        if let Some(count) = self.per_webhook.get_mut(&flight.webhook) {
            *count -= 1;
            if *count == 0 {
                self.per_webhook.remove(&flight.webhook);
            }
        }
    }

    fn of_webhook(&self, webhook: Uuid) -> usize {
        self.per_webhook.get(&webhook).copied().unwrap_or(0)
    }
}

/// What becomes of `delivery` after an attempt answered `answer` at `at`: a success; a
/// retry after the schedule's next delay, stretched by `jitter` (from -1 to 1) times
/// [`JITTER`]; or, with no attempt left, a failure.
fn settle(
    answer: &Answer,
    delivery: &webhook_delivery::Model,
    delays: &[Duration],
    at: DateTime<Utc>,
    jitter: f64,
) -> Settled {
    if answer.succeeded() {
        return Settled::Succeeded;
    }
    let scheduled = usize::try_from(delivery.attempt_count)
        .ok()
        .and_then(|made| delays.get(made).or(delays.last()));
    match scheduled {
        Some(delay) if delivery.attempts_left > 1 => {
            let stretched = delay.mul_f64(1.0 + JITTER * jitter.clamp(-1.0, 1.0));
            let delay = TimeDelta::from_std(stretched).unwrap_or(TimeDelta::MAX);
            Settled::RetryAt((at + delay).trunc_subsecs(6))
        }
        _ => Settled::Failed,
    }
}

/// From -1 to 1, evenly; 0 (no jitter) if the system has no randomness to give.
fn jitter() -> f64 {
    getrandom::u32().map_or(0.0, |random| {
        f64::from(random) / f64::from(u32::MAX) * 2.0 - 1.0
    })
}

/// The URL for spans and logs: its query may hold a receiver's token.
fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use entity::prelude::{TicketEventKind, WebhookDeliveryStatus};

    use super::*;

    fn delivery(attempt_count: i32, attempts_left: i32) -> webhook_delivery::Model {
        webhook_delivery::Model {
            id: Uuid::now_v7(),
            webhook_id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            event_kind: TicketEventKind::TicketCreated,
            status: WebhookDeliveryStatus::Pending,
            attempts_left,
            attempt_count,
            next_attempt_at: None,
            lease_until: None,
            created_at: DateTime::UNIX_EPOCH,
        }
    }

    fn answer(status: Option<u16>) -> Answer {
        Answer {
            status,
            error: None,
        }
    }

    const SCHEDULE: [Duration; 3] = [
        Duration::from_secs(5),
        Duration::from_secs(300),
        Duration::from_secs(1800),
    ];

    fn retry_after(settled: Settled, at: DateTime<Utc>) -> Option<Duration> {
        match settled {
            Settled::RetryAt(retry) => (retry - at).to_std().ok(),
            _ => None,
        }
    }

    #[test]
    fn a_2xx_succeeds_whatever_the_schedule_says() {
        let at = DateTime::UNIX_EPOCH;
        assert_eq!(
            settle(&answer(Some(204)), &delivery(3, 1), &SCHEDULE, at, 0.0),
            Settled::Succeeded
        );
    }

    #[test]
    fn each_failure_waits_the_schedule_s_next_delay() {
        let at = DateTime::UNIX_EPOCH;
        for (made, delay) in SCHEDULE.iter().enumerate() {
            let made = i32::try_from(made).expect("small");
            let settled = settle(
                &answer(Some(500)),
                &delivery(made, 4 - made),
                &SCHEDULE,
                at,
                0.0,
            );
            assert_eq!(retry_after(settled, at), Some(*delay));
        }
    }

    #[test]
    fn the_last_attempt_allowed_fails_the_delivery() {
        let at = DateTime::UNIX_EPOCH;
        assert_eq!(
            settle(&answer(None), &delivery(3, 1), &SCHEDULE, at, 0.0),
            Settled::Failed
        );
    }

    #[test]
    fn one_more_attempt_queued_after_the_schedule_is_the_last() {
        let at = DateTime::UNIX_EPOCH;
        assert_eq!(
            settle(&answer(Some(500)), &delivery(9, 1), &SCHEDULE, at, 0.0),
            Settled::Failed
        );
    }

    #[test]
    fn jitter_stretches_a_delay_by_at_most_a_fifth() {
        let at = DateTime::UNIX_EPOCH;
        let retry = |jitter| {
            let settled = settle(&answer(Some(503)), &delivery(1, 5), &SCHEDULE, at, jitter);
            retry_after(settled, at).expect("a retry")
        };
        assert_eq!(retry(-1.0), Duration::from_secs(240));
        assert_eq!(retry(1.0), Duration::from_secs(360));
        assert_eq!(retry(7.0), Duration::from_secs(360));
        for _ in 0..100 {
            let delay = retry(jitter());
            assert!((240..=360).contains(&delay.as_secs()), "{delay:?}");
        }
    }

    #[test]
    fn a_span_s_url_has_no_query_or_fragment() {
        assert_eq!(
            without_query("https://example.com/hooks?token=s3cret#x"),
            "https://example.com/hooks"
        );
        assert_eq!(
            without_query("https://example.com/"),
            "https://example.com/"
        );
    }
}
