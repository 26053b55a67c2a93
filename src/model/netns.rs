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

/// What a runtime's state on disk says about one container. Anything its files do not say
/// (or say wrongly) is `None` or empty; the rest still counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ContainerState {
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
pub(crate) struct PortBinding {
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
}
