//! Network namespaces and what container runtimes record about theirs.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::Serialize;

use super::{Proto, Runtime};

/// A network namespace, known by the inode of its nsfs file (what `ip netns identify`,
/// `lsns -t net` and `/proc/PID/ns/net` show).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub(crate) struct Netns {
    pub inode: u64,
    /// The `ip netns` name (`/run/netns/NAME`), when it has one.
    pub name: Option<String>,
}

/// Which network namespaces a run reads (`--netns`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum NetnsChoice {
    /// The caller's own, as `ss` does.
    #[default]
    Own,
    /// Every one on the host.
    All,
    /// The one `ip netns` knows by this name.
    Named(String),
    /// The one this process lives in.
    Pid(u32),
}

impl NetnsChoice {
    /// `all`, a pid, or a name as `ip netns` would accept it.
    pub(crate) fn parse(text: &str) -> Option<NetnsChoice> {
        if text == "all" {
            return Some(NetnsChoice::All);
        }
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse()
                .ok()
                .filter(|&pid| pid > 0)
                .map(NetnsChoice::Pid);
        }
        // A name is a file in /run/netns: never a path out of it.
        let plain = !text.is_empty() && text != "." && text != ".." && !text.contains('/');
        plain.then(|| NetnsChoice::Named(text.to_string()))
    }
}

/// A namespace found on the host, and the ways into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Namespace {
    pub netns: Netns,
    /// The caller's own namespace: read as always, never entered.
    pub own: bool,
    /// Files that refer to it (`/run/netns/NAME`, `/var/run/docker/netns/ID`,
    /// `/proc/PID/ns/net`): any one can be opened to enter it.
    pub paths: Vec<PathBuf>,
    /// Some processes in it, ascending: their `/proc/PID/net` tables are the fallback
    /// where it cannot be entered, and their cgroups name its container.
    pub pids: Vec<u32>,
}

/// The namespaces a run reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NamespaceList {
    pub namespaces: Vec<Namespace>,
    /// Processes whose namespace could not be told (permission denied).
    pub denied: usize,
}

/// Why another namespace's sockets could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum NotEntered {
    /// Entering needs root (CAP_SYS_ADMIN), and no member's `/proc/PID/net` was readable.
    /// (Only Linux's backend says this and `Vanished`: elsewhere there are no others.)
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    NotPermitted,
    /// It went away while portwho looked (its last process exited, it was deleted).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Vanished,
    /// Anything else, in the system's words.
    Failed(String),
}

/// Where a socket lives: its namespace, and the container whose namespace it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    pub netns: Netns,
    pub container: Option<std::sync::Arc<ContainerState>>,
}

/// How traffic for a host port reaches where it is handed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Via {
    /// A `docker-proxy` process on the host accepts and relays each connection.
    DockerProxy,
    /// A DNAT rule in the firewall rewrites the destination.
    Dnat,
    /// A REDIRECT rule sends it to another port of this host.
    Redirect,
    /// Only the runtime's recorded port binding says so.
    Runtime,
}

impl Via {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Via::DockerProxy => "docker-proxy",
            Via::Dnat => "dnat",
            Via::Redirect => "redirect",
            Via::Runtime => "runtime",
        }
    }
}

/// A host port that reaches a socket inside a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Published {
    pub proto: Proto,
    /// `None`: every address.
    pub host_addr: Option<IpAddr>,
    pub host_port: u16,
    pub via: Via,
}

/// Where a socket on the host hands its traffic on, and who answers there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Forward {
    pub proto: Proto,
    pub to_addr: Option<IpAddr>,
    pub to_port: u16,
    pub via: Via,
    /// The namespace that owns the target address, when it was found.
    pub place: Option<Place>,
    /// The processes holding the listener there.
    pub processes: Vec<std::sync::Arc<super::Process>>,
}

/// A port forward on a host port: a DNAT or REDIRECT rule, or a docker-proxy; where it
/// goes and who answers there (`--forwards`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortForward {
    /// `None`: any address.
    pub host_addr: Option<IpAddr>,
    pub host_port: u16,
    pub forward: Forward,
    /// The rule that makes it; `None` for a proxy.
    pub rule: Option<super::RuleRef>,
    /// The namespace whose ruleset or proxy makes it.
    pub netns: u64,
}

/// What a runtime's state on disk says about one container. Anything its files do not say
/// (or say wrongly) is `None` or empty; the rest still counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerState {
    pub runtime: Option<Runtime>,
    /// The full id, as the runtime names its directory.
    pub id: String,
    /// The name the user gave it (docker's `Name` without its `/`).
    pub name: Option<String>,
    /// The image as the user named it (`nginx:1.25`).
    pub image: Option<String>,
    /// Kubernetes' pod name, namespace and uid, where a pod runs it.
    pub pod: Option<String>,
    pub pod_namespace: Option<String>,
    pub pod_uid: Option<String>,
    /// Its first process, as the runtime recorded it; `None` when it is not running.
    pub pid: Option<u32>,
    /// `host`, `none`, `bridge`, a network's name, or `container:ID`.
    pub network_mode: Option<String>,
    /// The addresses the runtime gave it on its networks.
    pub addresses: Vec<IpAddr>,
    /// The host ports the runtime publishes it on.
    pub ports: Vec<PortBinding>,
    /// The namespace file the runtime keeps for it (docker's `SandboxKey`).
    pub sandbox: Option<PathBuf>,
}

/// One published port, as the runtime recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBinding {
    pub proto: Proto,
    /// `None`: every address.
    pub host_addr: Option<IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
}

/// The runtimes' state, and how much of it could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Containers {
    pub containers: Vec<ContainerState>,
    /// State files that were unreadable, truncated or malformed, and skipped.
    pub unreadable: usize,
    /// State files and directories only root may read.
    pub denied: usize,
}
