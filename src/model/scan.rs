//! What a run asks of a system and what the owner scan found: the query, owners, details.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use super::Process;

/// Which sockets to fetch. A backend may return more than asked (the caller filters
/// exactly); the fields let it ask the kernel for less.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SocketQuery {
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

/// Counts from the owner scan, so hidden and vanished owners can be said, not guessed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScanStats {
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
    pub(crate) fn someone_hidden(&self) -> bool {
        self.denied > 0 || self.others_invisible
    }
}

/// Which processes hold which socket inode.
#[derive(Debug, Default, Clone)]
pub(crate) struct Owners {
    /// Socket inode → pids holding it, ascending.
    pub by_inode: crate::hash::IntMap<u64, Vec<u32>>,
    pub stats: ScanStats,
    /// Why the kernel iterator was not used, when it was tried and `/proc` was walked:
    /// the backend's own words for its error, said with `-v`.
    pub walked_because: Option<String>,
}

/// How much to read about each shown process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Name and user: what the plain table shows.
    Names,
    /// Also the command line: what `--command` matches (argv[0]) and `--kill` shows.
    Brief,
    /// Name, user and whether the executable was deleted, no command line: what the
    /// findings judge. (The executable's path is how `/proc` tells it; a backend that
    /// knows without it may leave the path out.)
    Exe,
    /// What `--prometheus` needs: `Exe`, and the parent of each process that holds a socket
    /// with others, to name a forked server's master. The gathering step asks the backend
    /// for `Judged` for those and `Exe` for the rest: a parent is one more file a process.
    Judged,
    /// Also parent, executable, working directory, start time, parent chain, unit or
    /// container: for owner cards, JSON, the audit and the diff.
    Full,
}

/// Details of the processes that will be shown.
#[derive(Debug, Default, Clone)]
pub(crate) struct ProcessDetails {
    pub processes: HashMap<u32, Process>,
    /// Pids that exited before their details could be read.
    pub vanished: usize,
}
