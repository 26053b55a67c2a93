//! The one place that knows the operating system: a `Backend` per platform.

use std::collections::{HashMap, HashSet};
use std::io;
use std::ops::RangeInclusive;

use crate::error::Error;
use crate::model::{Host, Process, Socket};
use crate::signal::Signal;

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
    /// Why the preferred source could not be used, when the table came from a fallback
    /// (netlink refused: the `/proc/net` text tables were read instead). Said with -v.
    pub fallback: Option<String>,
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
    /// The proc mount does not even list other users' processes (`hidepid=invisible`).
    pub others_invisible: bool,
    /// The fds were read by the kernel's `task_file` iterator, not through `/proc`: every
    /// process was seen, and `processes` counts those that hold a socket.
    pub kernel_iterator: bool,
}

impl ScanStats {
    /// Whether some processes' sockets could not be seen: their owners may be hidden.
    pub fn someone_hidden(&self) -> bool {
        self.denied > 0 || self.others_invisible
    }
}

/// Which processes hold which socket inode.
#[derive(Debug, Default, Clone)]
pub struct Owners {
    /// Socket inode → pids holding it, ascending.
    pub by_inode: crate::hash::IntMap<u64, Vec<u32>>,
    pub stats: ScanStats,
    /// Why the kernel iterator was not used, when it was tried and `/proc` was scanned.
    pub fallback: Option<String>,
}

/// Details of the processes that will be shown.
#[derive(Debug, Default, Clone)]
pub struct ProcessDetails {
    pub processes: HashMap<u32, Process>,
    /// Pids that exited before their details could be read.
    pub vanished: usize,
}

/// Whether one process holds one of some sockets, read again at the moment of asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holding {
    Holds,
    /// The process runs but holds none of them (any more).
    Released,
    /// No such process.
    Gone,
    /// Its fds cannot be read (another user's process).
    Denied,
}

/// A process opened for signalling: a signal sent through it reaches that process or none,
/// never a later process that was given the same pid.
pub trait PinnedProcess {
    fn signal(&self, signal: Signal) -> Result<(), SignalError>;
}

/// Why a process could not be pinned.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("the process has exited")]
    Gone,
    /// The kernel cannot pin processes (Linux before 5.3 has no pidfd_open).
    #[error("this kernel cannot open a process for signalling")]
    Unsupported,
    #[error("{0}")]
    Other(#[source] io::Error),
}

/// Why a signal was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("the process has exited")]
    Gone,
    #[error("permission denied")]
    Denied,
    #[error("{0}")]
    Other(#[source] io::Error),
}

/// How much to read about each shown process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Name and user: what the plain table shows.
    Names,
    /// Also the command line: what `--command` matches (argv[0]) and `--kill` shows.
    Brief,
    /// Also parent, executable, working directory, start time, parent chain, unit or
    /// container: for owner cards, JSON, the audit and the diff.
    Full,
}

/// What portwho needs from an operating system.
pub trait Backend {
    /// Read the socket tables once.
    fn sockets(&self, query: &SocketQuery) -> Result<SocketTable, Error>;
    /// A hint, before `sockets`, that `owners` will be asked for: start what does not
    /// depend on which sockets are wanted, so it overlaps the socket dump.
    fn prepare_owners(&self) {}
    /// Map the wanted socket inodes to every process that holds them.
    fn owners(&self, wanted: &HashSet<u64>) -> Result<Owners, Error>;
    /// Read the details of these pids only, as many as `detail` asks for.
    fn processes(&self, pids: &[u32], detail: Detail) -> ProcessDetails;
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

    /// Whether `pid` holds one of `inodes` now: one process's fds, not a full scan.
    fn holding(&self, pid: u32, inodes: &HashSet<u64>) -> Holding;
    /// Open `pid` for signalling, pinning the process that has that pid now.
    fn pin(&self, pid: u32) -> Result<Box<dyn PinnedProcess>, PinError>;
    /// Signal by pid number: only for when `pin` is `Unsupported`, as a pid may be reused.
    fn signal_pid(&self, pid: u32, signal: Signal) -> Result<(), SignalError>;
}

/// The backend for the platform portwho was built for.
#[cfg(target_os = "linux")]
pub fn native() -> linux::LinuxBackend {
    linux::LinuxBackend::new()
}

/// Whether portwho was started with stdout closed (`portwho >&-`).
#[cfg(target_os = "linux")]
pub fn stdout_was_closed() -> bool {
    linux::stdout_was_closed()
}
