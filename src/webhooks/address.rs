//! Which IP addresses a webhook may be delivered to: the public ones only, so that a
//! webhook URL cannot make the server call into its own network (SSRF). Shared by the URL
//! check at `createWebhook`/`updateWebhook` and by the delivery client, which checks the
//! address it actually connects to (a DNS answer may change between the two).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4 networks that are not reachable on the public internet, or must not be called:
/// (network, prefix length).
const NON_PUBLIC_V4: [(Ipv4Addr, u8); 15] = [
    // "This network", 0.0.0.0 among it: connecting to it reaches the host itself.
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    // Carrier-grade NAT, shared address space.
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    // Link-local, the cloud metadata address 169.254.169.254 among it.
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    // IETF protocol assignments.
    (Ipv4Addr::new(192, 0, 0, 0), 24),
    // Documentation (TEST-NET-1, 2 and 3).
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    (Ipv4Addr::new(203, 0, 113, 0), 24),
    // The deprecated 6to4 relay anycast.
    (Ipv4Addr::new(192, 88, 99, 0), 24),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    // Benchmarking.
    (Ipv4Addr::new(198, 18, 0, 0), 15),
    (Ipv4Addr::new(224, 0, 0, 0), 4),
    // Reserved, with the broadcast address 255.255.255.255 at its end.
    (Ipv4Addr::new(240, 0, 0, 0), 4),
];

/// Whether a webhook may be delivered to `address`. Refused: loopback, private (10/8,
/// 172.16/12, 192.168/16), link-local (169.254/16, fe80::/10), carrier-grade NAT
/// (100.64/10), unspecified (0.0.0.0, ::), multicast, broadcast, documentation and other
/// reserved ranges, and IPv6 unique-local (fc00::/7). An IPv6 address that carries an
/// IPv4 one (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`,
/// 6to4 `2002::/16`) is judged as that IPv4 address; any other IPv6 address must be
/// global unicast (2000::/3).
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(address: Ipv4Addr) -> bool {
    let bits = address.to_bits();
    !NON_PUBLIC_V4.iter().any(|(network, prefix)| {
        let mask = u32::MAX << (32 - u32::from(*prefix));
        bits & mask == network.to_bits()
    })
}

fn is_public_v6(address: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(address) {
        return is_public_v4(v4);
    }
    let bits = address.to_bits();
    let within = |network: u128, prefix: u32| bits >> (128 - prefix) == network >> (128 - prefix);
    // Global unicast is 2000::/3 (which leaves out ::1, ::, fc00::/7, fe80::/10, ff00::/8
    // and the rest); within it, the special-purpose blocks (Teredo, ORCHID, benchmarking
    // in 2001::/23) and the documentation ranges 2001:db8::/32 and 3fff::/20.
    within(0x2000 << 112, 3)
        && !within(0x2001 << 112, 23)
        && !within((0x2001 << 112) | (0x0db8 << 96), 32)
        && !within(0x3fff << 112, 20)
}

/// The IPv4 address an IPv6 one stands for, when it is one of those that carry one.
fn embedded_v4(address: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = address.to_bits();
    // The last 32 bits: IPv4-mapped (::ffff:0:0/96), IPv4-compatible (::/96; `::` and
    // `::1` then read as 0.0.0.0 and 0.0.0.1, both refused) and NAT64 (64:ff9b::/96).
    let low = Ipv4Addr::from_bits(bits as u32);
    match bits >> 32 {
        0xffff | 0 | 0x0064_ff9b_0000_0000_0000_0000 => Some(low),
        _ if bits >> 112 == 0x2002 => Some(Ipv4Addr::from_bits((bits >> 80) as u32)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(address: &str) -> bool {
        is_public(address.parse().expect("an IP address"))
    }

    #[test]
    fn public_addresses_are_accepted() {
        for address in [
            "93.184.215.14",
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:82a::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(public(address), "{address}");
        }
    }

    #[test]
    fn loopback_is_refused() {
        for address in ["127.0.0.1", "127.255.255.254", "::1"] {
            assert!(!public(address), "{address}");
        }
    }

    #[test]
    fn private_networks_are_refused() {
        for address in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
        ] {
            assert!(!public(address), "{address}");
        }
    }

    #[test]
    fn link_local_and_the_metadata_address_are_refused() {
        for address in ["169.254.169.254", "169.254.0.1", "fe80::1", "febf::1"] {
            assert!(!public(address), "{address}");
        }
    }

    #[test]
    fn unspecified_broadcast_and_multicast_are_refused() {
        for address in [
            "0.0.0.0",
            "0.1.2.3",
            "::",
            "255.255.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "ff02::1",
            "ff0e::1",
            "240.0.0.1",
        ] {
            assert!(!public(address), "{address}");
        }
    }

    #[test]
    fn documentation_and_reserved_ranges_are_refused() {
        for address in [
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "192.0.0.8",
            "2001:db8::1",
            "3fff::1",
            "2001::1",
            "100::1",
        ] {
            assert!(!public(address), "{address}");
        }
    }

    #[test]
    fn unique_local_ipv6_is_refused() {
        for address in ["fc00::1", "fd12:3456:789a::1"] {
            assert!(!public(address), "{address}");
        }
    }

    #[test]
    fn ipv6_carrying_a_non_public_ipv4_is_judged_as_that_ipv4() {
        for address in [
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
        ] {
            assert!(!public(address), "{address}");
        }
    }
}
