//! Exposure: who can reach a socket's local address (this host, one interface, or all).

use std::net::IpAddr;

use serde::Serialize;

/// How far a listening socket reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Exposure {
    /// 127.0.0.0/8 or ::1: reachable from this host only.
    Loopback,
    /// One specific address: reachable from that interface's networks.
    Address,
    /// 0.0.0.0 or `::`: every interface.
    All,
}

impl Exposure {
    /// The class of an address alone, as `Family::of` is; which interface carries a
    /// specific address is the host's to say (`label::exposure::interface_of`).
    pub(crate) fn of(ip: IpAddr) -> Exposure {
        let ip = canonical(ip);
        if ip.is_loopback() {
            Exposure::Loopback
        } else if ip.is_unspecified() {
            Exposure::All
        } else {
            Exposure::Address
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Exposure::Loopback => "loopback",
            Exposure::Address => "address",
            Exposure::All => "all",
        }
    }

    /// Reachable from other hosts.
    pub(crate) fn beyond_loopback(self) -> bool {
        self != Exposure::Loopback
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) is the IPv4 address it carries.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn classes() {
        assert_eq!(Exposure::of(ip("127.0.0.1")), Exposure::Loopback);
        assert_eq!(Exposure::of(ip("127.1.2.3")), Exposure::Loopback);
        assert_eq!(Exposure::of(ip("::1")), Exposure::Loopback);
        assert_eq!(Exposure::of(ip("::ffff:127.0.0.1")), Exposure::Loopback);
        assert_eq!(Exposure::of(ip("0.0.0.0")), Exposure::All);
        assert_eq!(Exposure::of(ip("::")), Exposure::All);
        assert_eq!(Exposure::of(ip("10.0.0.5")), Exposure::Address);
        assert_eq!(Exposure::of(ip("fe80::1")), Exposure::Address);
        assert!(!Exposure::Loopback.beyond_loopback());
        assert!(Exposure::Address.beyond_loopback() && Exposure::All.beyond_loopback());
    }
}
