//! The data portwho talks about: sockets, the processes that hold them, and their labels.

use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

mod scan;
#[cfg(test)]
pub mod testing;
mod warning;

pub use scan::{Detail, Owners, ProcessDetails, ScanStats, SocketQuery};
pub use warning::Warning;

/// Transport protocol of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
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
}

impl Socket {
    pub fn family(&self) -> Family {
        Family::of(self.local.ip())
    }
}

/// A process that holds a socket, with the details shown to the user. Fields that could
/// not be read (another user's process, a process exiting) are `None` or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    /// The kernel's short name (`comm`); empty if it could not be read.
    pub name: String,
    /// The argument vector; empty for kernel threads and zombies.
    pub cmdline: Vec<String>,
    pub user: Option<String>,
    /// Effective uid.
    pub uid: Option<u32>,
    pub ppid: Option<u32>,
    /// Path of the executable, without the kernel's " (deleted)" suffix.
    pub exe: Option<String>,
    /// The executable was removed or replaced on disk after the process started.
    pub exe_deleted: bool,
    pub cwd: Option<String>,
    /// Start time, seconds since the Unix epoch.
    pub started: Option<u64>,
    /// The parent chain, nearest first, up to pid 1.
    pub ancestors: Vec<Ancestor>,
    /// The systemd unit or container it runs in, from its cgroup.
    pub manager: Manager,
    /// Where a `docker-proxy` forwards the port it holds.
    pub proxy: Option<ProxyTarget>,
}

/// One link of a parent chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ancestor {
    pub pid: u32,
    pub name: String,
}

/// IANA range of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Category {
    #[serde(rename = "well-known")]
    WellKnown,
    #[serde(rename = "registered")]
    Registered,
    #[serde(rename = "dynamic")]
    Dynamic,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::WellKnown => "well-known",
            Category::Registered => "registered",
            Category::Dynamic => "dynamic",
        }
    }
}

/// A socket joined with its holders and labelled: one row of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub socket: Socket,
    /// Shared: the details of one process are read once, however many sockets it holds.
    pub processes: Vec<std::sync::Arc<Process>>,
    /// No holder is visible and some processes could not be read: the owner may be hidden.
    pub owners_hidden: bool,
    /// User name of the socket's uid, when it resolves; shared by every socket of that uid.
    pub socket_user: Option<std::sync::Arc<str>>,
    pub service: Option<&'static str>,
    pub category: Category,
    pub ephemeral: bool,
    pub exposure: crate::label::exposure::Exposure,
    /// The interface of a socket bound to one specific address.
    pub interface: Option<String>,
    /// Audit findings, most severe first (listening sockets only).
    pub findings: Vec<crate::label::findings::Finding>,
}

/// Facts about this host that decide whether a port can be bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The range the kernel picks client ports from (`ip_local_port_range`).
    pub ephemeral: std::ops::RangeInclusive<u16>,
    /// Ports the kernel never picks as client ports (`ip_local_reserved_ports`).
    pub reserved: Vec<std::ops::RangeInclusive<u16>>,
    /// Ports below this need privilege (`ip_unprivileged_port_start`).
    pub unprivileged_port_start: u16,
    /// This process is root or has CAP_NET_BIND_SERVICE.
    pub may_bind_privileged: bool,
}

impl Default for Host {
    /// Linux's defaults.
    fn default() -> Self {
        Host {
            ephemeral: 32768..=60999,
            reserved: Vec::new(),
            unprivileged_port_start: 1024,
            may_bind_privileged: false,
        }
    }
}

/// Who manages a process, as its cgroup tells: the systemd unit it runs in and the
/// container it belongs to. Both are empty for a process in the root cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Manager {
    /// The innermost unit; under a user manager, `user@1000.service › app-foo.scope`.
    pub unit: Option<String>,
    pub container: Option<Container>,
}

/// A container a process runs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Container {
    /// `docker`, `podman`, `containerd`, `cri-o`, `kubernetes`, `lxc`, `systemd-nspawn`;
    /// a runtime's monitor process (`podman-conmon`, `cri-o-conmon`, `lxc-monitor`) is
    /// named apart, because it serves the container from outside it.
    pub runtime: String,
    /// The id or name exactly as the cgroup path spells it, never shortened.
    pub id: String,
    /// The Kubernetes pod uid, dashed as the API server shows it.
    pub pod: Option<String>,
}

/// Where a `docker-proxy` process forwards a published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProxyTarget {
    pub proto: String,
    pub host_ip: String,
    pub host_port: u16,
    pub container_ip: String,
    pub container_port: u16,
}
