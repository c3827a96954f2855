//! `TRUSTED_PROXIES`: the load balancers whose `X-Forwarded-For` the server believes.

use std::net::IpAddr;

use ipnet::IpNet;

use super::ConfigError;

const SETTING: &str = "TRUSTED_PROXIES";

/// The addresses and networks of the proxies in front of the server; none by default,
/// so that a client cannot choose the address it is logged under.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Trusts no one: every request is the TCP peer's.
    pub const NONE: Self = Self(Vec::new());

    /// The listed entries, each an IPv4 or IPv6 address (`10.0.0.7`, `::1`) or a network
    /// in CIDR notation (`10.0.0.0/8`, `fd00::/8`); empty entries (a trailing comma) are
    /// skipped. A network written with host bits (`10.0.0.7/8`) is refused rather than
    /// widened: whoever wrote it meant either the address or the network, and trusting
    /// the wrong one is what this setting is there to prevent.
    pub fn parse(list: &[String]) -> Result<Self, ConfigError> {
        list.iter()
            .map(|entry| entry.trim())
            .filter(|entry| !entry.is_empty())
            .map(network)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether `address` is one of the proxies. An IPv4 peer seen on a dual-stack socket
    /// (`::ffff:10.0.0.7`) is its IPv4 address.
    pub fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn network(entry: &str) -> Result<IpNet, ConfigError> {
    if let Ok(address) = entry.parse::<IpAddr>() {
        return Ok(IpNet::from(address.to_canonical()));
    }
    let network: IpNet = entry.parse().map_err(|_| {
        ConfigError::invalid(
            SETTING,
            format!(
                "`{entry}` is neither an IP address nor a network: write 10.0.0.7, \
                 10.0.0.0/8, ::1 or fd00::/8, comma-separated"
            ),
        )
    })?;
    if network.trunc() != network {
        return Err(ConfigError::invalid(
            SETTING,
            format!(
                "`{entry}` has bits set past its prefix: write the network ({}) or the \
                 address alone ({})",
                network.trunc(),
                network.addr()
            ),
        ));
    }
    Ok(network)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(entries: &[&str]) -> Result<TrustedProxies, ConfigError> {
        TrustedProxies::parse(
            &entries
                .iter()
                .map(|&entry| entry.to_owned())
                .collect::<Vec<_>>(),
        )
    }

    fn trusted(entries: &[&str]) -> TrustedProxies {
        parse(entries).expect("valid entries")
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP address")
    }

    #[test]
    fn an_address_trusts_that_address_only() {
        let proxies = trusted(&["10.0.0.7"]);
        assert!(proxies.trusts(ip("10.0.0.7")));
        assert!(!proxies.trusts(ip("10.0.0.8")));
    }

    #[test]
    fn a_network_trusts_every_address_in_it() {
        let proxies = trusted(&["10.0.0.0/8", "fd00::/8"]);
        assert!(proxies.trusts(ip("10.255.1.2")));
        assert!(proxies.trusts(ip("fd12:3456::1")));
        assert!(!proxies.trusts(ip("11.0.0.1")));
        assert!(!proxies.trusts(ip("fe80::1")));
    }

    #[test]
    fn an_ipv4_peer_on_a_dual_stack_socket_is_its_ipv4_address() {
        let proxies = trusted(&["127.0.0.1/32"]);
        assert!(proxies.trusts(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn spaces_and_empty_entries_are_skipped() {
        let proxies = trusted(&[" 10.0.0.7 ", "", "  "]);
        assert!(proxies.trusts(ip("10.0.0.7")));
        assert!(trusted(&[""]).is_empty());
    }

    #[test]
    fn none_trusts_no_one() {
        assert!(!TrustedProxies::NONE.trusts(ip("127.0.0.1")));
    }

    #[test]
    fn an_entry_that_is_not_an_address_or_a_network_is_refused_naming_the_setting() {
        for entry in [
            "localhost",
            "10.0.0",
            "10.0.0.0/33",
            "::1/129",
            "10.0.0.0/",
            "*",
            "10.0.0.1-10.0.0.9",
        ] {
            let error = parse(&[entry]).expect_err(entry).to_string();
            assert!(error.starts_with("TRUSTED_PROXIES:"), "{entry}: {error}");
            assert!(error.contains(entry), "{entry}: {error}");
        }
    }

    #[test]
    fn a_network_with_host_bits_is_refused_naming_both_readings() {
        let error = parse(&["10.0.0.7/8"]).expect_err("refused").to_string();
        assert!(error.contains("10.0.0.0/8"), "{error}");
        assert!(error.contains("(10.0.0.7)"), "{error}");
    }
}
