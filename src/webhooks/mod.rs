//! Webhooks: receivers admins register, to which every timeline event is delivered,
//! signed as the Standard Webhooks specification says. `admin` is what admins do with them
//! through the API, `secret` makes and keeps their signing secrets, `address` says which
//! addresses they may be delivered to, `payload` builds the body of an event, `signing`
//! signs it and `client` makes the attempts.

pub mod address;
pub mod admin;
pub mod client;
pub mod payload;
pub mod secret;
pub mod signing;

use crate::config::WebhookOptions;
use secret::SecretVault;

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
