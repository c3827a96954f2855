//! The webhook settings: which URLs a webhook may have, and the key its secrets are
//! encrypted with.

use super::ConfigError;
use super::webhook_delivery::{DeliveryOptions, WebhookDeliverySettings};
use crate::webhooks::secret::SecretKey;

#[derive(Clone, Debug, clap::Args)]
pub struct WebhookSettings {
    /// Whether webhook URLs may be plain `http://`; otherwise `https://` only.
    #[arg(long, env = "WEBHOOK_ALLOW_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_http: bool,
    /// Whether webhooks may be delivered to loopback, private, link-local and other
    /// non-public addresses (a receiver on the same host or network).
    #[arg(long, env = "WEBHOOK_ALLOW_PRIVATE_NETWORKS", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private_networks: bool,
    /// The key webhook secrets, and the answers kept for `Idempotency-Key`, are encrypted
    /// with in the database: the base64 of 32 bytes.
    /// Unset, a key is kept in the database itself.
    // A secret: `--help` must not show it.
    #[arg(long, env = "WEBHOOK_SECRET_KEY", hide_env_values = true)]
    pub webhook_secret_key: Option<String>,
    #[command(flatten)]
    pub delivery: WebhookDeliverySettings,
}

/// The checked form of [`WebhookSettings`].
#[derive(Clone, Debug, Default)]
pub struct WebhookOptions {
    pub allow_http: bool,
    pub allow_private_networks: bool,
    /// `None`: the key kept in `server_keys`.
    pub secret_key: Option<SecretKey>,
    pub delivery: DeliveryOptions,
}

impl TryFrom<WebhookSettings> for WebhookOptions {
    type Error = ConfigError;

    fn try_from(settings: WebhookSettings) -> Result<Self, ConfigError> {
        Ok(Self {
            allow_http: settings.webhook_allow_http,
            allow_private_networks: settings.webhook_allow_private_networks,
            secret_key: settings
                .webhook_secret_key
                .as_deref()
                .map(SecretKey::parse)
                .transpose()
                .map_err(|reason| ConfigError::invalid("WEBHOOK_SECRET_KEY", reason))?,
            delivery: settings.delivery.try_into()?,
        })
    }
}
