//! Webhooks: receivers admins register, to which every timeline event is delivered,
//! signed as the Standard Webhooks specification says. `admin` is what admins do with them
//! through the API, `secret` makes and keeps their signing secrets, `address` says which
//! addresses they may be delivered to. Delivering them: `dispatch` fans the timeline out
//! into deliveries, `payload` builds an event's body, `worker` claims and attempts the
//! deliveries through `client`, which signs them with `signing`.

pub mod address;
pub mod admin;
pub mod client;
pub mod dispatch;
pub mod payload;
pub mod secret;
pub mod signing;
pub mod worker;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::WebhookOptions;
use dispatch::Dispatcher;
use secret::SecretVault;
use worker::Worker;

/// What the webhook API and the delivery worker share at run time.
pub struct Webhooks {
    pub options: WebhookOptions,
    pub vault: SecretVault,
}

impl Webhooks {
    pub fn new(options: WebhookOptions) -> Self {
        Self {
            vault: SecretVault::new(options.secret_key.clone()),
            options,
        }
    }
}

/// The delivery of webhooks in this instance: the fan-out of the timeline and the worker
/// that attempts the deliveries.
pub struct Delivery {
    dispatcher: JoinHandle<()>,
    worker: JoinHandle<()>,
    stop: watch::Sender<bool>,
}

impl Delivery {
    /// Starts fanning out after each of `wakeups` (new events), and attempting what is
    /// due. Once stopped, attempts in flight have `grace` to finish.
    pub fn start(
        db: &DatabaseConnection,
        webhooks: &Arc<Webhooks>,
        wakeups: watch::Receiver<u64>,
        grace: Duration,
    ) -> Result<Self, reqwest::Error> {
        let written = Arc::new(Notify::new());
        let worker = Worker::new(db.clone(), Arc::clone(webhooks), Arc::clone(&written))?;
        let retries = webhooks.options.delivery.retry_delays.len();
        let (stop, stopped) = watch::channel(false);
        Ok(Self {
            dispatcher: Dispatcher::new(db.clone(), retries, written).spawn(wakeups),
            worker: worker.spawn(stopped, grace),
            stop,
        })
    }

    /// Stops fanning out and claiming once `shutdown` completes: the server stops taking
    /// work then, and so does delivery.
    pub fn stop_on(&self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let stop = self.stop.clone();
        let dispatcher = self.dispatcher.abort_handle();
        tokio::spawn(async move {
            shutdown.await;
            dispatcher.abort();
            stop.send_replace(true);
        });
    }

    /// Resolves once delivery has stopped: the attempts in flight finished, or their
    /// claims were given back at the end of the grace period.
    pub async fn stopped(self) {
        self.dispatcher.abort();
        self.stop.send_replace(true);
        let _ = self.worker.await;
    }
}
