//! The HTTP client that makes delivery attempts: one POST, signed, within the attempt's
//! time, to a public address only.
//!
//! A webhook's URL was checked when it was saved, but a name may resolve elsewhere by
//! the time of an attempt (DNS rebinding): the client's own resolver refuses a name any
//! of whose addresses is not public, an address written in the URL is checked before
//! anything is sent, and the address the answer came from is checked again. Nothing
//! goes through a proxy (which would connect for us, wherever it likes) and redirects
//! are not followed (a receiver could send the request inside). The answer's body is
//! read up to 1 KiB, for the attempt's record: a receiver that streams forever costs
//! that much and no more.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::CONTENT_TYPE;
use reqwest::redirect::Policy;
use reqwest::{Response, Url};

use super::address;
use super::signing::signature_header;
use crate::config::WebhookOptions;

/// How long connecting may take, within the attempt's time.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How much of an answer's body is read, for the attempt's record.
pub const BODY_READ_BYTES: usize = 1024;

/// One attempt to make: the event's body, signed with each of the webhook's keys.
pub struct Attempt<'a> {
    pub url: &'a str,
    /// The event's id: the `webhook-id` header, the same on every attempt.
    pub message_id: &'a str,
    pub body: &'a str,
    /// The HMAC keys of the webhook's secrets, the current one first.
    pub keys: Vec<&'a [u8]>,
}

/// How an attempt went: the receiver's status if it answered, and what went wrong if
/// anything did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: Option<u16>,
    pub error: Option<String>,
}

impl Answer {
    /// Any 2xx, with nothing else wrong.
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
            && self
                .status
                .is_some_and(|status| (200..300).contains(&status))
    }

    /// An attempt that got no answer: it failed for `error`.
    pub fn failed(error: impl Into<String>) -> Self {
        Self {
            status: None,
            error: Some(error.into()),
        }
    }
}

pub struct DeliveryClient {
    http: reqwest::Client,
    allow_private_networks: bool,
    timeout: Duration,
}

impl DeliveryClient {
    pub fn new(options: &WebhookOptions) -> Result<Self, reqwest::Error> {
        let timeout = options.delivery.timeout;
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(Policy::none())
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .user_agent(concat!("supportdesk-webhooks/", env!("CARGO_PKG_VERSION")));
        if !options.allow_private_networks {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self {
            http: builder.build()?,
            allow_private_networks: options.allow_private_networks,
            timeout,
        })
    }

    /// Makes the attempt: POSTs the body with the Standard Webhooks headers, stamped
    /// and signed now.
    pub async fn attempt(&self, attempt: Attempt<'_>) -> Answer {
        let url = match Url::parse(attempt.url) {
            Ok(url) => url,
            Err(_) => return Answer::failed("the webhook's URL does not parse"),
        };
        if let Some(refused) = self.refused_literal(&url) {
            return Answer::failed(refused);
        }
        let timestamp = chrono::Utc::now().timestamp();
        let signature = signature_header(attempt.message_id, timestamp, attempt.body, attempt.keys);
        let sent = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", attempt.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(attempt.body.to_owned())
            .send()
            .await;
        match sent {
            Ok(response) => self.answer(response).await,
            Err(error) => Answer::failed(self.describe(&error)),
        }
    }

    /// Why an address written in the URL must not be called: the resolver never sees it.
    fn refused_literal(&self, url: &Url) -> Option<String> {
        if self.allow_private_networks {
            return None;
        }
        let address = match url.host()? {
            url::Host::Ipv4(address) => IpAddr::V4(address),
            url::Host::Ipv6(address) => IpAddr::V6(address),
            url::Host::Domain(_) => return None,
        };
        (!address::is_public(address)).then(|| not_public(address))
    }

    async fn answer(&self, mut response: Response) -> Answer {
        let status = response.status();
        // Resolved or written, the address was checked before connecting: this is the
        // last guard, for whatever path led elsewhere.
        if !self.allow_private_networks
            && let Some(peer) = response.remote_addr()
            && !address::is_public(peer.ip())
        {
            return Answer::failed(format!("connected to {}: {}", peer.ip(), NOT_PUBLIC));
        }
        let body = read_at_most(&mut response, BODY_READ_BYTES).await;
        let error = if status.is_success() {
            None
        } else if status.is_redirection() {
            Some("the receiver redirected the request: redirects are not followed".to_owned())
        } else {
            Some(String::from_utf8_lossy(&body).into_owned()).filter(|text| !text.is_empty())
        };
        Answer {
            status: Some(status.as_u16()),
            error,
        }
    }

    /// What went wrong, without the URL (its query may hold a receiver's token).
    fn describe(&self, error: &reqwest::Error) -> String {
        if let Some(refused) = find_source::<Refused>(error) {
            return refused.to_string();
        }
        if error.is_timeout() {
            return format!("no answer within {} s", self.timeout.as_secs_f64());
        }
        // The innermost cause says it best ("Connection refused (os error 111)").
        let mut cause: &dyn std::error::Error = error;
        while let Some(source) = cause.source() {
            cause = source;
        }
        if error.is_connect() {
            format!("could not connect: {cause}")
        } else {
            cause.to_string()
        }
    }
}

/// Up to `limit` bytes of the body, read chunk by chunk: what is past it is never read.
async fn read_at_most(response: &mut Response, limit: usize) -> Vec<u8> {
    let mut read = Vec::new();
    while read.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - read.len();
                read.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            // The end, or a body cut short: what came is what the record gets.
            Ok(None) | Err(_) => break,
        }
    }
    read
}

fn find_source<'a, E: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if let Some(found) = current.downcast_ref::<E>() {
            return Some(found);
        }
        cause = current.source();
    }
    None
}

const NOT_PUBLIC: &str = "not a public address (loopback, private, link-local or otherwise internal); \
     WEBHOOK_ALLOW_PRIVATE_NETWORKS allows it";

fn not_public(address: IpAddr) -> String {
    format!("{address} is {NOT_PUBLIC}")
}

/// A name that resolved to an address that is not public.
#[derive(Debug, thiserror::Error)]
#[error("{name} resolves to {}", not_public(*.address))]
struct Refused {
    name: String,
    address: IpAddr,
}

/// Resolves as the system does, and refuses a name any of whose addresses is not
/// public: with one such address among several, a connection could reach the inside.
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if let Some(internal) = addresses
                .iter()
                .find(|found| !address::is_public(found.ip()))
            {
                return Err(Box::new(Refused {
                    name,
                    address: internal.ip(),
                })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_by_the_resolver() {
        let name: Name = "localhost".parse().expect("a name");
        let refused = match PublicOnly.resolve(name).await {
            Ok(_) => panic!("localhost was resolved"),
            Err(error) => error.to_string(),
        };
        assert!(refused.starts_with("localhost resolves to "), "{refused}");
        assert!(refused.contains("not a public address"), "{refused}");
    }

    fn client(allow_private_networks: bool) -> DeliveryClient {
        DeliveryClient::new(&WebhookOptions {
            allow_private_networks,
            ..WebhookOptions::default()
        })
        .expect("a client")
    }

    #[test]
    fn internal_addresses_written_in_the_url_are_refused() {
        let client = client(false);
        for url in [
            "https://127.0.0.1/",
            "https://[::1]:8443/",
            "https://10.0.0.7/hooks",
            "http://169.254.169.254/latest/meta-data",
            "https://0.0.0.0/",
            "https://[::ffff:127.0.0.1]/",
        ] {
            let url = Url::parse(url).expect("a URL");
            assert!(client.refused_literal(&url).is_some(), "{url}");
        }
        let public = Url::parse("https://93.184.215.14/").expect("a URL");
        assert_eq!(client.refused_literal(&public), None);
        let name = Url::parse("https://localhost/").expect("a URL");
        assert_eq!(
            client.refused_literal(&name),
            None,
            "names are the resolver's"
        );
    }

    #[test]
    fn internal_addresses_pass_when_private_networks_are_allowed() {
        let url = Url::parse("https://127.0.0.1/").expect("a URL");
        assert_eq!(client(true).refused_literal(&url), None);
    }

    /// The error of an attempt at `host` on a loopback port, asserting that nothing
    /// connected to it.
    async fn refused_attempt(host: &str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let port = listener.local_addr().expect("bound").port();
        let url = format!("http://{host}:{port}/");
        let answer = client(false)
            .attempt(Attempt {
                url: &url,
                message_id: "id",
                body: "{}",
                keys: vec![],
            })
            .await;
        assert_eq!(answer.status, None);
        let accepted = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
        assert!(accepted.is_err(), "a connection was made");
        answer.error.expect("an error")
    }

    #[tokio::test]
    async fn an_attempt_to_an_internal_address_sends_nothing() {
        let error = refused_attempt("127.0.0.1").await;
        assert!(
            error.starts_with("127.0.0.1 is not a public address"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn an_attempt_to_a_name_of_an_internal_address_sends_nothing() {
        let error = refused_attempt("localhost").await;
        assert!(error.starts_with("localhost resolves to "), "{error}");
    }

    #[test]
    fn only_a_2xx_without_error_succeeds() {
        let answer = |status, error: Option<&str>| Answer {
            status,
            error: error.map(str::to_owned),
        };
        assert!(answer(Some(200), None).succeeded());
        assert!(answer(Some(204), None).succeeded());
        assert!(!answer(Some(302), Some("redirected")).succeeded());
        assert!(!answer(Some(500), None).succeeded());
        assert!(!answer(Some(200), Some("connected to 127.0.0.1")).succeeded());
        assert!(!answer(None, Some("timeout")).succeeded());
    }
}
