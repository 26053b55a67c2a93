//! The one place that knows the operating system: a `Backend` per platform.

use std::collections::HashSet;
use std::io;

use crate::error::Error;
use crate::model::{Containers, Detail, Namespace, NetnsChoice, Owners, ProcessDetails};
use crate::model::{
    Host, NamespaceList, NoRuleset, NotEntered, Ruleset, Socket, SocketQuery, Warning,
};
use crate::signal::Signal;

#[cfg(test)]
pub(crate) mod fake;
#[cfg(target_os = "linux")]
pub(crate) mod linux;

/// The sockets read, and what had to be skipped while reading them.
#[derive(Debug, Default, Clone)]
pub(crate) struct SocketTable {
    pub sockets: Vec<Socket>,
    /// What was skipped or done instead while reading them.
    pub warnings: Vec<Warning>,
}

/// Whether one process holds one of some sockets, read again at the moment of asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holding {
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
pub(crate) trait PinnedProcess {
    fn signal(&self, signal: Signal) -> Result<(), SignalError>;
}

/// Why a process could not be pinned.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PinError {
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
pub(crate) enum SignalError {
    #[error("the process has exited")]
    Gone,
    #[error("permission denied")]
    Denied,
    #[error("{0}")]
    Other(#[source] io::Error),
}

/// What portwho needs from an operating system.
pub(crate) trait Backend {
    /// Read the socket tables of the caller's own network namespace once.
    fn sockets(&self, query: &SocketQuery) -> Result<SocketTable, Error>;
    /// The network namespaces `choice` names, the caller's own first when it is among
    /// them. A name or pid that does not exist is an error; namespaces of processes whose
    /// links could not be read are counted.
    fn namespaces(&self, choice: &NetnsChoice) -> Result<NamespaceList, Error>;
    /// The socket tables of a namespace that is not the caller's own.
    fn sockets_in(&self, ns: &Namespace, query: &SocketQuery) -> Result<SocketTable, NotEntered>;
    /// The namespace process `pid` lives in (a container's first process), if it runs.
    fn namespace_of(&self, pid: u32) -> Option<Namespace>;
    /// The containers that the runtimes' state on disk describes.
    fn containers(&self) -> Containers;
    /// A namespace's nftables ruleset, read over netlink.
    fn ruleset(&self, ns: &Namespace) -> Result<Ruleset, NoRuleset>;
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
    /// The system's services file (`/etc/services`), which names ports the built-in IANA
    /// table does not; `None` when there is none.
    fn services_file(&self) -> Option<String>;

    /// Whether `pid` holds one of `inodes` now: one process's fds, not a full scan.
    fn holding(&self, pid: u32, inodes: &HashSet<u64>) -> Holding;
    /// Open `pid` for signalling, pinning the process that has that pid now.
    fn pin(&self, pid: u32) -> Result<Box<dyn PinnedProcess>, PinError>;
    /// Signal by pid number: only for when `pin` is `Unsupported`, as a pid may be reused.
    fn signal_pid(&self, pid: u32, signal: Signal) -> Result<(), SignalError>;
}

/// The backend for this platform, from what the command line and the environment say:
/// a proc tree to read instead of the live system (`--proc-root`), and when to find
/// owners with the kernel's fd iterator (`PORTWHO_BPF`).
#[cfg(target_os = "linux")]
pub(crate) fn from_env(
    proc_root: Option<&std::path::Path>,
    kernel_iterator: Option<&std::ffi::OsStr>,
) -> Result<Box<dyn Backend>, Error> {
    if let Some(root) = proc_root {
        return Ok(Box::new(linux::LinuxBackend::with_proc_root(root)));
    }
    let choice = match kernel_iterator.filter(|v| !v.is_empty()) {
        None => linux::bpf::Choice::Auto,
        Some(value) => value
            .to_str()
            .and_then(linux::bpf::Choice::parse)
            .ok_or_else(|| Error::Setting {
                name: "PORTWHO_BPF",
                value: value.to_string_lossy().into_owned(),
                expected: "never, auto or always",
            })?,
    };
    Ok(Box::new(linux::LinuxBackend::with_kernel_iterator(choice)))
}

/// Whether portwho was started with stdout closed (`portwho >&-`).
#[cfg(target_os = "linux")]
pub fn stdout_was_closed() -> bool {
    linux::stdout_was_closed()
}
