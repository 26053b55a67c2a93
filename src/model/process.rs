//! The processes that hold sockets, and who manages them: unit, container, proxy.

use serde::Serialize;

use super::{Container, ProxyTarget};

/// A process that holds a socket, with the details shown to the user. Fields that could
/// not be read (another user's process, a process exiting) are `None` or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Process {
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
pub(crate) struct Ancestor {
    pub pid: u32,
    pub name: String,
}

/// Who manages a process, as its cgroup tells: the systemd unit it runs in and the
/// container it belongs to. Both are empty for a process in the root cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Manager {
    /// The innermost unit; under a user manager, `user@1000.service › app-foo.scope`.
    pub unit: Option<String>,
    pub container: Option<Container>,
}
