//! The one place that knows the operating system: a `Backend` per platform.

use std::collections::{HashMap, HashSet};
use std::ops::RangeInclusive;

use crate::error::Error;
use crate::model::{Host, Process, Socket};

#[cfg(target_os = "linux")]
pub mod linux;

/// Which sockets to fetch. A backend may return more than asked (the caller filters
/// exactly); the fields let it ask the kernel for less.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketQuery {
    pub tcp: bool,
    pub udp: bool,
    pub ipv4: bool,
    pub ipv6: bool,
    /// Only TCP LISTEN and unconnected UDP sockets.
    pub listening_only: bool,
    /// Local port ranges of interest; `None` for every port.
    pub ports: Option<Vec<RangeInclusive<u16>>>,
}

impl Default for SocketQuery {
    fn default() -> Self {
        SocketQuery {
            tcp: true,
            udp: true,
            ipv4: true,
            ipv6: true,
            listening_only: false,
            ports: None,
        }
    }
}

/// The sockets read, and what had to be skipped while reading them.
#[derive(Debug, Default, Clone)]
pub struct SocketTable {
    pub sockets: Vec<Socket>,
    /// One line per problem worth telling the user (malformed or truncated lines).
    pub warnings: Vec<String>,
}

/// Counts from the owner scan, so hidden and vanished owners can be said, not guessed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScanStats {
    /// Processes whose fd directory was read.
    pub processes: usize,
    /// Processes whose fd directory could not be read (permission denied).
    pub denied: usize,
    /// Processes that exited between listing `/proc` and reading their fds.
    pub vanished: usize,
}

/// Which processes hold which socket inode.
#[derive(Debug, Default, Clone)]
pub struct Owners {
    /// Socket inode → pids holding it, ascending.
    pub by_inode: HashMap<u64, Vec<u32>>,
    pub stats: ScanStats,
}

/// Details of the processes that will be shown.
#[derive(Debug, Default, Clone)]
pub struct ProcessDetails {
    pub processes: HashMap<u32, Process>,
    /// Pids that exited before their details could be read.
    pub vanished: usize,
}

/// What portwho needs from an operating system.
pub trait Backend {
    /// Read the socket tables once.
    fn sockets(&self, query: &SocketQuery) -> Result<SocketTable, Error>;
    /// Map the wanted socket inodes to every process that holds them.
    fn owners(&self, wanted: &HashSet<u64>) -> Result<Owners, Error>;
    /// Read name, command line and user for these pids only.
    fn processes(&self, pids: &[u32]) -> ProcessDetails;
    /// This host's port ranges and this process's privilege to bind; Linux's defaults for
    /// what cannot be read.
    fn host(&self) -> Host;
    /// This host's interface addresses with their interface names.
    fn interfaces(&self) -> Vec<(std::net::IpAddr, String)>;
    /// The user name of a uid, if the system knows one.
    fn user_name(&self, uid: u32) -> Option<String>;
    /// The uid of a user name, if the system knows one.
    fn user_id(&self, name: &str) -> Option<u32>;
    /// Whether this process may read every other process's fds.
    fn privileged(&self) -> bool;
}

/// The backend for the platform portwho was built for.
#[cfg(target_os = "linux")]
pub fn native() -> linux::LinuxBackend {
    linux::LinuxBackend::new()
}
