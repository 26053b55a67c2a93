//! What went wrong while reading the system, as data: the messages module words it.

use std::path::PathBuf;

use super::NotEntered;

/// Something the user should hear about a read that still produced an answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Warning {
    /// Lines of a socket table that did not parse, and were skipped. (Only Linux's
    /// backend says this and `NetlinkRefused`: its tables are text, read over netlink.)
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    MalformedLines { path: PathBuf, count: usize },
    /// Sockets the kernel reported in a state this version does not know.
    UnknownStates { count: usize },
    /// Network namespaces that could not be read, and why.
    NamespacesNotRead { count: usize, why: NotEntered },
    /// Processes whose network namespace could not be told (permission denied): theirs may
    /// be missing from `--netns all`.
    NamespacesUnknown { processes: usize },
    /// Container state files that were unreadable or malformed, and skipped.
    ContainerStateUnreadable { count: usize },
    /// The runtimes' state, which names the containers, is root's to read.
    ContainerStateDenied,
    /// Netlink could not be used; the `/proc/net` text tables were read instead. The
    /// reason is the system's own error text. Said only with `-v`: the answer is the same.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    NetlinkRefused { reason: String },
}

impl Warning {
    /// Whether only `-v` tells it: it changes how portwho read, not what it found.
    pub(crate) fn verbose_only(&self) -> bool {
        matches!(self, Warning::NetlinkRefused { .. })
    }
}
