//! Who sent a request: the TCP peer, or, when the peer is a proxy listed in
//! `TRUSTED_PROXIES`, the client that proxy says it forwarded for in `X-Forwarded-For`.
//!
//! Each proxy appends the address it received the request from, so the list reads, left
//! to right, from the client to the last proxy; whatever the client sent itself stands
//! to the left of what the first proxy added. Read from the right, every entry up to and
//! including the first one not added by a trusted proxy is believed, and that one is the
//! client; nothing to its left is (MDN's "X-Forwarded-For", nginx's `real_ip_recursive`).

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName, Request};

use crate::config::TrustedProxies;

pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Who sent a request, in its extensions when its connection's peer is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress {
    /// The client, as far as the trusted proxies tell.
    pub client: IpAddr,
    /// The TCP peer: the client itself, or the last proxy.
    pub peer: IpAddr,
}

/// Puts the request's [`ClientAddress`] in its extensions, from the peer `serve` put
/// there. Requests served otherwise (a test's `axum::serve`) have none.
pub fn with_client_address<B>(proxies: &TrustedProxies, mut request: Request<B>) -> Request<B> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip().to_canonical());
    if let Some(peer) = peer {
        let client = client_address(proxies, peer, request.headers());
        request
            .extensions_mut()
            .insert(ClientAddress { client, peer });
    }
    request
}

/// The right-most address of `X-Forwarded-For` (over all its header lines, in order)
/// that no trusted proxy has, when `peer` is a trusted proxy; else `peer`. Where the walk
/// meets an entry that is not an address (`unknown`, an obfuscated name, a port alone),
/// it stops at the last address it believed: the proxy that wrote it vouches for nothing.
/// When every entry is a trusted proxy, the left-most is the client.
pub fn client_address(proxies: &TrustedProxies, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let mut client = peer;
    if !proxies.trusts(peer) {
        return client;
    }
    let hops = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .rev()
        // A header line that is not visible ASCII is one entry that is not an address.
        .flat_map(|line| line.to_str().unwrap_or_default().rsplit(','));
    for hop in hops {
        let Some(address) = hop_address(hop) else {
            break;
        };
        client = address;
        if !proxies.trusts(address) {
            break;
        }
    }
    client
}

/// An entry's address: `203.0.113.7`, `2001:db8::1`, and the forms some proxies write
/// with a port or brackets (`203.0.113.7:4711`, `[2001:db8::1]:4711`, `[2001:db8::1]`).
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let address = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse().ok())
        })?;
    Some(address.to_canonical())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn proxies(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(
            &entries
                .iter()
                .map(|&entry| entry.to_owned())
                .collect::<Vec<_>>(),
        )
        .expect("valid entries")
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP address")
    }

    /// The client of a request from `peer` with these `X-Forwarded-For` lines, behind
    /// the load balancer 10.0.0.2 and the edge proxies of 192.0.2.0/24.
    fn client_of(peer: &str, lines: &[&str]) -> IpAddr {
        let mut headers = HeaderMap::new();
        for line in lines {
            let value = HeaderValue::from_str(line).expect("a header value");
            headers.append(X_FORWARDED_FOR, value);
        }
        client_address(&proxies(&["10.0.0.2", "192.0.2.0/24"]), ip(peer), &headers)
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            client_of("203.0.113.9", &["198.51.100.1"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_trusted_peer_forwards_for_the_address_it_added() {
        assert_eq!(client_of("10.0.0.2", &["198.51.100.1"]), ip("198.51.100.1"));
    }

    #[test]
    fn what_a_client_forged_left_of_the_proxies_entries_is_not_believed() {
        assert_eq!(
            client_of("10.0.0.2", &["1.1.1.1, 198.51.100.1, 192.0.2.10"]),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn header_lines_are_read_as_one_list_in_their_order() {
        // As HAProxy's `option forwardfor` leaves it: the client's line, then its own.
        assert_eq!(
            client_of("10.0.0.2", &["1.1.1.1", "198.51.100.1"]),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn a_trusted_peer_without_the_header_is_the_client() {
        assert_eq!(client_of("10.0.0.2", &[]), ip("10.0.0.2"));
    }

    #[test]
    fn when_every_entry_is_a_proxy_the_left_most_is_the_client() {
        assert_eq!(
            client_of("10.0.0.2", &["192.0.2.20, 192.0.2.10"]),
            ip("192.0.2.20")
        );
    }

    #[test]
    fn an_entry_that_is_not_an_address_stops_at_the_last_one_believed() {
        for garbage in ["unknown", "_hidden", "", "1.1.1.1 ; drop"] {
            let line = format!("198.51.100.1, {garbage}, 192.0.2.10");
            assert_eq!(
                client_of("10.0.0.2", &[&line]),
                ip("192.0.2.10"),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn entries_with_ports_or_brackets_are_read() {
        assert_eq!(
            client_of("10.0.0.2", &["198.51.100.1:4711"]),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_of("10.0.0.2", &["[2001:db8::1]:4711"]),
            ip("2001:db8::1")
        );
        assert_eq!(client_of("10.0.0.2", &["[2001:db8::1]"]), ip("2001:db8::1"));
        assert_eq!(client_of("10.0.0.2", &[" 2001:db8::1 "]), ip("2001:db8::1"));
    }

    #[test]
    fn ipv4_addresses_written_as_ipv6_are_their_ipv4_form() {
        assert_eq!(
            client_of("::ffff:10.0.0.2", &["::ffff:198.51.100.1"]),
            ip("198.51.100.1")
        );
    }
}
