//! Sockets as the kernel reports them: protocol, family, state and addresses.

use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

/// Transport protocol of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub const ALL: [Proto; 2] = [Proto::Tcp, Proto::Udp];

    /// The protocol `as_str` spells exactly so (`tcp`, not `TCP`), as saved in portwho's
    /// JSON; `None` for anything else.
    pub fn from_name(text: &str) -> Option<Proto> {
        Proto::ALL.into_iter().find(|p| p.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// Address family of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }
}

/// Socket state, spelled as `netstat` spells it.
///
/// UDP has no states in the kernel's sense: an unconnected socket is `Unconn`, one
/// connected to a peer is `Established`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum State {
    #[serde(rename = "LISTEN")]
    Listen,
    #[serde(rename = "UNCONN")]
    Unconn,
    #[serde(rename = "ESTABLISHED")]
    Established,
    #[serde(rename = "SYN_SENT")]
    SynSent,
    #[serde(rename = "SYN_RECV")]
    SynRecv,
    #[serde(rename = "FIN_WAIT1")]
    FinWait1,
    #[serde(rename = "FIN_WAIT2")]
    FinWait2,
    #[serde(rename = "TIME_WAIT")]
    TimeWait,
    #[serde(rename = "CLOSE")]
    Close,
    #[serde(rename = "CLOSE_WAIT")]
    CloseWait,
    #[serde(rename = "LAST_ACK")]
    LastAck,
    #[serde(rename = "CLOSING")]
    Closing,
}

impl State {
    /// Decode the kernel's numeric state (`include/net/tcp_states.h`) for a protocol.
    ///
    /// Returns `None` for numbers the kernel does not use, so a garbled line is caught.
    pub fn from_kernel(proto: Proto, code: u8) -> Option<State> {
        if proto == Proto::Udp {
            // The kernel reuses TCP_ESTABLISHED for connected UDP sockets and
            // TCP_CLOSE for bound, unconnected ones.
            return match code {
                1 => Some(State::Established),
                7 => Some(State::Unconn),
                _ => None,
            };
        }
        Some(match code {
            1 => State::Established,
            2 => State::SynSent,
            // 12 is TCP_NEW_SYN_RECV, a request socket; users know it as SYN_RECV.
            3 | 12 => State::SynRecv,
            4 => State::FinWait1,
            5 => State::FinWait2,
            6 => State::TimeWait,
            7 => State::Close,
            8 => State::CloseWait,
            9 => State::LastAck,
            10 => State::Listen,
            11 => State::Closing,
            _ => return None,
        })
    }

    pub const ALL: [State; 12] = [
        State::Listen,
        State::Unconn,
        State::Established,
        State::SynSent,
        State::SynRecv,
        State::FinWait1,
        State::FinWait2,
        State::TimeWait,
        State::Close,
        State::CloseWait,
        State::LastAck,
        State::Closing,
    ];

    /// The state `as_str` spells exactly so, as saved in portwho's JSON; `None` for
    /// anything else.
    pub fn from_name(text: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Listen => "LISTEN",
            State::Unconn => "UNCONN",
            State::Established => "ESTABLISHED",
            State::SynSent => "SYN_SENT",
            State::SynRecv => "SYN_RECV",
            State::FinWait1 => "FIN_WAIT1",
            State::FinWait2 => "FIN_WAIT2",
            State::TimeWait => "TIME_WAIT",
            State::Close => "CLOSE",
            State::CloseWait => "CLOSE_WAIT",
            State::LastAck => "LAST_ACK",
            State::Closing => "CLOSING",
        }
    }

    /// A listening socket in the contract's sense: TCP in LISTEN, UDP bound and unconnected.
    pub fn is_listening(self) -> bool {
        matches!(self, State::Listen | State::Unconn)
    }
}

/// One socket as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    pub proto: Proto,
    pub local: SocketAddr,
    /// `None` for listening and unconnected sockets (the kernel reports `*:0`).
    pub remote: Option<SocketAddr>,
    pub state: State,
    /// The socket's owner as the kernel records it.
    pub uid: u32,
    pub inode: u64,
    /// For IPv6 sockets, whether IPV6_V6ONLY is set (`None` when the source does not say:
    /// the `/proc/net` tables do not).
    pub v6only: Option<bool>,
    /// The inode of the network namespace it lives in; 0 where that is not known (a
    /// captured proc tree).
    pub netns: u64,
}

impl Socket {
    pub fn family(&self) -> Family {
        Family::of(self.local.ip())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_what_as_str_and_json_spell() {
        for proto in Proto::ALL {
            assert_eq!(Proto::from_name(proto.as_str()), Some(proto));
            assert_eq!(serde_json::to_value(proto).unwrap(), proto.as_str());
        }
        for state in State::ALL {
            assert_eq!(State::from_name(state.as_str()), Some(state));
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
        for other in ["", "TCP", "sctp", " tcp", "listen", "LISTEN "] {
            assert_eq!(Proto::from_name(other), None, "{other:?}");
            assert_eq!(State::from_name(other), None, "{other:?}");
        }
    }
}
