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
    /// The socket's owner as the kernel records it; `None` where the platform records none
    /// (Windows).
    pub uid: Option<u32>,
    /// The key that joins the socket to the processes holding it: the socket's inode on
    /// Linux; on platforms without socket inodes, a key the backend made ([`made_key`]).
    /// 0 for a socket no process holds (TIME_WAIT).
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

    /// The socket's inode, when `inode` is one and not a key a backend made.
    pub(crate) fn inode_known(&self) -> Option<u64> {
        (self.inode & MADE_KEY == 0).then_some(self.inode)
    }
}

/// The bit that marks a key made by a backend for a platform without socket inodes
/// (Windows, macOS). Linux numbers socket inodes with 32 bits (sockfs takes them from
/// `get_next_ino`), so no inode has it.
const MADE_KEY: u64 = 1 << 63;

/// A key for a socket on a platform without socket inodes, from a number that tells it
/// from the other sockets (a hash of its row, a kernel handle): never 0, never an inode.
pub(crate) fn made_key(distinct: u64) -> u64 {
    distinct | MADE_KEY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_keys_are_never_inodes_nor_zero() {
        let socket = |inode| Socket {
            inode,
            ..crate::model::testing::tcp("127.0.0.1:80", State::Listen, 0)
        };
        for distinct in [0, 1, u64::from(u32::MAX), u64::MAX] {
            let key = made_key(distinct);
            assert_ne!(key, 0);
            assert_eq!(socket(key).inode_known(), None, "{distinct}");
        }
        assert_eq!(socket(4_294_967_295).inode_known(), Some(4_294_967_295));
        assert_eq!(
            socket(0).inode_known(),
            Some(0),
            "TIME_WAIT's inode 0, as Linux says"
        );
    }

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
