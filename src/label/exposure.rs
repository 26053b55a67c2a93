//! Which of this host's interfaces carries a socket's address (its exposure is model data).

use std::net::IpAddr;

use crate::model::{Exposure, canonical};

/// The interface that carries `ip`, for a socket bound to one specific address.
pub(crate) fn interface_of(ip: IpAddr, interfaces: &[(IpAddr, String)]) -> Option<String> {
    if Exposure::of(ip) != Exposure::Address {
        return None;
    }
    let ip = canonical(ip);
    interfaces
        .iter()
        .find(|(addr, _)| canonical(*addr) == ip)
        .map(|(_, name)| name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn interface_names() {
        let ifs = vec![
            (ip("127.0.0.1"), "lo".to_string()),
            (ip("10.0.0.5"), "eth0".to_string()),
            (ip("2001:db8::5"), "eth0".to_string()),
        ];
        assert_eq!(interface_of(ip("10.0.0.5"), &ifs).as_deref(), Some("eth0"));
        assert_eq!(
            interface_of(ip("::ffff:10.0.0.5"), &ifs).as_deref(),
            Some("eth0")
        );
        assert_eq!(
            interface_of(ip("2001:db8::5"), &ifs).as_deref(),
            Some("eth0")
        );
        assert_eq!(interface_of(ip("10.0.0.6"), &ifs), None);
        assert_eq!(
            interface_of(ip("127.0.0.1"), &ifs),
            None,
            "loopback needs no name"
        );
    }
}
