//! What an admin registers a webhook with, checked: where it is delivered (no SSRF), which
//! events it wants, how it is described.

use std::net::IpAddr;
use std::time::Duration;

use entity::prelude::TicketEventKind;
use reqwest::Url;
use sea_orm::ActiveEnum;
use uuid::Uuid;

use super::text::trimmed_text;
use crate::config::WebhookOptions;
use crate::error::AppError;
use crate::webhooks::address;

/// A webhook's id as the client sent it: anything that is not a UUID names no webhook.
pub fn parse_webhook_id(raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw).map_err(|_| AppError::NotFound("Webhook"))
}

/// A delivery's id as the client sent it, likewise.
pub fn parse_delivery_id(raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw).map_err(|_| AppError::NotFound("Webhook delivery"))
}

/// Where a webhook is delivered: an absolute `https://` URL (`http://` only with
/// `WEBHOOK_ALLOW_HTTP`), without credentials or fragment, whose host is a public address
/// or a name that resolves only to public addresses (unless
/// `WEBHOOK_ALLOW_PRIVATE_NETWORKS`). The delivery client checks the address again at each
/// attempt: a name may resolve elsewhere later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub const MAX_CHARS: usize = 2_000;
    /// How long the host's name may take to resolve.
    const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

    pub async fn parse(raw: &str, options: &WebhookOptions) -> Result<Self, AppError> {
        let url = parse_url(raw, options.allow_http)?;
        if !options.allow_private_networks {
            ensure_public_host(&url).await?;
        }
        Ok(Self(url.into()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

fn bad_url(message: impl Into<String>) -> AppError {
    AppError::bad_input("url", message)
}

/// The URL's form, before its host is looked at.
fn parse_url(raw: &str, allow_http: bool) -> Result<Url, AppError> {
    let raw = raw.trim();
    if raw.chars().count() > WebhookUrl::MAX_CHARS {
        return Err(bad_url(format!(
            "url must be at most {} characters",
            WebhookUrl::MAX_CHARS
        )));
    }
    let url = Url::parse(raw)
        .map_err(|_| bad_url("url must be an absolute URL, such as https://example.com/hooks"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(bad_url(
                "url must start with https:// (plain http:// is accepted only when the \
                 server sets WEBHOOK_ALLOW_HTTP=true)",
            ));
        }
        _ => return Err(bad_url("url must start with https://")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad_url(
            "url must not hold credentials (user:password@): receivers verify the signature",
        ));
    }
    if url.fragment().is_some() {
        return Err(bad_url(
            "url must not have a fragment (#…): it is never sent",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad_url("url must name a host"));
    }
    Ok(url)
}

/// Refuses a host that is, or resolves to, any address that is not public: one such
/// address among several would be enough to reach the inside.
async fn ensure_public_host(url: &Url) -> Result<(), AppError> {
    let refused = |address: IpAddr| {
        bad_url(format!(
            "url must point to a public address: {address} is loopback, private, link-local \
             or otherwise internal"
        ))
    };
    let host = url.host_str().unwrap_or_default();
    // The parser wrote an address in its canonical form (`0x7f.1` as 127.0.0.1), an IPv6
    // one in brackets; anything else is a name.
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(address) = literal.parse::<IpAddr>() {
        return if address::is_public(address) {
            Ok(())
        } else {
            Err(refused(address))
        };
    }
    let name = host;
    let port = url.port_or_known_default().unwrap_or(443);
    let unresolved = || bad_url(format!("url's host {name} could not be resolved"));
    let addresses = tokio::time::timeout(
        WebhookUrl::RESOLVE_TIMEOUT,
        tokio::net::lookup_host((name, port)),
    )
    .await
    .map_err(|_| unresolved())?
    .map_err(|_| unresolved())?;
    let mut any = false;
    for address in addresses {
        any = true;
        if !address::is_public(address.ip()) {
            return Err(bad_url(format!(
                "url's host {name} resolves to {}, which is not a public address",
                address.ip()
            )));
        }
    }
    if any { Ok(()) } else { Err(unresolved()) }
}

/// The event kinds a webhook wants, each once, in the order first given; none means all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebhookEvents(Vec<TicketEventKind>);

impl WebhookEvents {
    pub fn new(kinds: impl IntoIterator<Item = TicketEventKind>) -> Self {
        let mut unique = Vec::new();
        for kind in kinds {
            if !unique.contains(&kind) {
                unique.push(kind);
            }
        }
        Self(unique)
    }

    /// As `webhooks.events` keeps them: the kinds' stored names, separated by spaces.
    /// A name this server does not know (written by a newer one) is skipped.
    pub fn from_column(column: &str) -> Self {
        Self::new(
            column
                .split_whitespace()
                .filter_map(|name| TicketEventKind::try_from_value(&name.to_owned()).ok()),
        )
    }

    pub fn to_column(&self) -> String {
        let names: Vec<String> = self.0.iter().map(ActiveEnum::to_value).collect();
        names.join(" ")
    }

    pub fn kinds(&self) -> &[TicketEventKind] {
        &self.0
    }

    /// Whether an event of `kind` is delivered: every kind when none is listed.
    pub fn wants(&self, kind: TicketEventKind) -> bool {
        self.0.is_empty() || self.0.contains(&kind)
    }
}

/// What a webhook is for, as the admin describes it: trimmed, at most 500 characters;
/// nothing but whitespace is no description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookDescription(String);

impl WebhookDescription {
    pub const MAX_CHARS: usize = 500;

    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, AppError> {
        match raw.map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => trimmed_text(text, "description", Self::MAX_CHARS).map(|t| Some(Self(t))),
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A webhook as the client sent it to `createWebhook` or `updateWebhook`.
pub struct WebhookInput<'a> {
    pub url: &'a str,
    pub events: Vec<TicketEventKind>,
    pub description: Option<&'a str>,
    pub enabled: bool,
}

/// A webhook as `createWebhook` and `updateWebhook` set it, every part checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookDefinition {
    pub url: WebhookUrl,
    pub events: WebhookEvents,
    pub description: Option<WebhookDescription>,
    pub enabled: bool,
}

impl WebhookDefinition {
    /// Checks the URL, then the description: when both are wrong, the error names `url`.
    pub async fn parse(
        input: WebhookInput<'_>,
        options: &WebhookOptions,
    ) -> Result<Self, AppError> {
        Ok(Self {
            url: WebhookUrl::parse(input.url, options).await?,
            events: WebhookEvents::new(input.events),
            description: WebhookDescription::parse(input.description)?,
            enabled: input.enabled,
        })
    }
}

/// How many deliveries one read of `webhookDeliveries` returns: 1 to 100.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryLimit(u64);

impl DeliveryLimit {
    pub const MAX: i32 = 100;

    pub fn parse(first: i32) -> Result<Self, AppError> {
        u64::try_from(first)
            .ok()
            .filter(|first| (1..=Self::MAX.unsigned_abs().into()).contains(first))
            .map(Self)
            .ok_or_else(|| {
                AppError::bad_input(
                    "first",
                    format!("first must be between 1 and {}", Self::MAX),
                )
            })
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(raw: &str, allow_http: bool) -> String {
        let error = parse_url(raw, allow_http).expect_err("refused");
        assert_eq!(error.field(), Some("url"), "{raw}");
        error.to_string()
    }

    async fn public_only(raw: &str) -> Result<WebhookUrl, AppError> {
        WebhookUrl::parse(raw, &WebhookOptions::default()).await
    }

    #[test]
    fn an_https_url_is_accepted_as_written() {
        let url = parse_url(" https://hooks.example.com/in?team=7 ", false).expect("accepted");
        assert_eq!(url.as_str(), "https://hooks.example.com/in?team=7");
    }

    #[test]
    fn plain_http_is_refused_unless_allowed() {
        assert!(refusal("http://hooks.example.com/", false).contains("WEBHOOK_ALLOW_HTTP"));
        assert!(parse_url("http://hooks.example.com/", true).is_ok());
    }

    #[test]
    fn other_schemes_and_relative_urls_are_refused() {
        for raw in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "gopher://example.com",
            "/hooks",
            "example.com/hooks",
            "",
        ] {
            refusal(raw, true);
        }
    }

    #[test]
    fn credentials_in_the_url_are_refused() {
        for raw in [
            "https://user:pass@example.com/",
            "https://user@example.com/",
            "https://:pass@example.com/",
        ] {
            assert!(refusal(raw, false).contains("credentials"), "{raw}");
        }
    }

    #[test]
    fn a_fragment_is_refused() {
        refusal("https://example.com/hooks#part", false);
    }

    #[test]
    fn a_url_longer_than_the_limit_is_refused() {
        let long = format!("https://example.com/{}", "a".repeat(WebhookUrl::MAX_CHARS));
        assert!(refusal(&long, false).contains("at most"));
    }

    #[tokio::test]
    async fn internal_ip_literals_are_refused() {
        for raw in [
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://10.1.2.3/",
            "https://169.254.169.254/latest/meta-data/",
            "https://0.0.0.0/",
            "https://[::ffff:127.0.0.1]/",
            // Spellings the URL parser turns into 127.0.0.1.
            "https://2130706433/",
            "https://0x7f.1/",
        ] {
            let error = public_only(raw).await.expect_err(raw);
            assert_eq!(error.field(), Some("url"), "{raw}");
        }
    }

    #[tokio::test]
    async fn a_public_ip_literal_is_accepted_without_a_lookup() {
        let url = public_only("https://93.184.215.14:8443/hooks").await;
        assert_eq!(
            url.expect("accepted").into_inner(),
            "https://93.184.215.14:8443/hooks"
        );
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused() {
        let error = public_only("https://localhost/hooks")
            .await
            .expect_err("refused");
        assert_eq!(error.field(), Some("url"));
    }

    #[tokio::test]
    async fn internal_addresses_are_accepted_when_private_networks_are_allowed() {
        let options = WebhookOptions {
            allow_http: true,
            allow_private_networks: true,
            ..WebhookOptions::default()
        };
        assert!(
            WebhookUrl::parse("http://127.0.0.1:9000/", &options)
                .await
                .is_ok()
        );
    }

    #[test]
    fn events_are_kept_once_each_in_the_order_given() {
        let events = WebhookEvents::new([
            TicketEventKind::StatusChanged,
            TicketEventKind::TicketCreated,
            TicketEventKind::StatusChanged,
        ]);
        assert_eq!(
            events.kinds(),
            [
                TicketEventKind::StatusChanged,
                TicketEventKind::TicketCreated
            ]
        );
    }

    #[test]
    fn events_read_back_as_written() {
        let events =
            WebhookEvents::new([TicketEventKind::TagsChanged, TicketEventKind::MessageAdded]);
        assert_eq!(events.to_column(), "TAGS_CHANGED MESSAGE_ADDED");
        assert_eq!(WebhookEvents::from_column(&events.to_column()), events);
        assert_eq!(WebhookEvents::from_column(""), WebhookEvents::default());
    }

    #[test]
    fn no_events_means_every_kind() {
        assert!(WebhookEvents::default().wants(TicketEventKind::TagsChanged));
        let some = WebhookEvents::new([TicketEventKind::TicketCreated]);
        assert!(some.wants(TicketEventKind::TicketCreated));
        assert!(!some.wants(TicketEventKind::TagsChanged));
    }

    #[test]
    fn a_description_is_trimmed_and_blank_is_none() {
        let description = WebhookDescription::parse(Some("  Slack #support \n"));
        assert_eq!(
            description
                .expect("accepted")
                .map(WebhookDescription::into_inner),
            Some("Slack #support".to_owned())
        );
        assert_eq!(
            WebhookDescription::parse(Some(" \t")).expect("accepted"),
            None
        );
        assert_eq!(WebhookDescription::parse(None).expect("accepted"), None);
    }

    #[test]
    fn a_description_of_more_than_500_characters_is_refused() {
        assert!(WebhookDescription::parse(Some(&"é".repeat(500))).is_ok());
        let error = WebhookDescription::parse(Some(&"é".repeat(501))).expect_err("refused");
        assert_eq!(error.field(), Some("description"));
    }

    #[test]
    fn first_is_between_1_and_100() {
        assert_eq!(DeliveryLimit::parse(100).expect("accepted").get(), 100);
        for first in [0, -1, 101, i32::MIN] {
            let error = DeliveryLimit::parse(first).expect_err("refused");
            assert_eq!(error.field(), Some("first"), "{first}");
        }
    }

    #[test]
    fn a_malformed_id_is_not_found() {
        assert_eq!(
            parse_webhook_id("nope").expect_err("refused").code(),
            "NOT_FOUND"
        );
        assert_eq!(
            parse_delivery_id("").expect_err("refused").code(),
            "NOT_FOUND"
        );
    }
}
