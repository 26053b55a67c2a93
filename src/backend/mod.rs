//! The one place that knows the operating system: a `Backend` per platform.

use std::collections::HashSet;
use std::io;

use crate::error::Error;
use crate::model::{Containers, Detail, Namespace, NetnsChoice, Owners, ProcessDetails};
use crate::model::{
    Host, NamespaceList, NoRuleset, NotEntered, Ruleset, Socket, SocketQuery, Warning,
};
use crate::signal::Signal;

// The one place that switches on the platform: which backend `from_env` builds, and the
// few facts about portwho's own process that differ. Each platform's decoders of its
// tables (`windows::rows`, `macos::fdinfo`) are plain Rust over bytes, compiled and tested
// on every platform; each platform's calls into the system stay behind `cfg` inside its
// directory, in one small FFI module (`sys.rs`).
#[cfg(any(windows, target_os = "macos"))]
mod details;
#[cfg(test)]
pub(crate) mod fake;
#[cfg(target_os = "linux")]
pub(crate) mod linux;
pub(crate) mod macos;
#[cfg(not(any(target_os = "linux", windows, target_os = "macos")))]
mod unsupported;
pub(crate) mod windows;

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
// Each platform's backend gives some of these: Linux never `Denied`, Windows never
// `Unsupported`, macOS nothing else.
#[allow(dead_code)]
pub(crate) enum PinError {
    #[error("the process has exited")]
    Gone,
    /// Opening it needs a right this user lacks (Windows: another user's process).
    #[error("permission denied")]
    Denied,
    /// The kernel cannot pin processes (Linux before 5.3 has no pidfd_open; macOS has no
    /// pidfds). Windows always can: a process handle.
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
    /// Whether this platform has a firewall portwho reads (Linux's nftables).
    fn reads_firewall(&self) -> bool {
        true
    }
    /// A namespace's nftables ruleset, read over netlink.
    fn ruleset(&self, ns: &Namespace) -> Result<Ruleset, NoRuleset>;
    /// A hint, before `sockets`, that `owners` will be asked for: start what does not
    /// depend on which sockets are wanted, so it overlaps the socket dump.
    fn prepare_owners(&self) {}
    /// Map the wanted socket inodes to every process that holds them. `ahead`: the details
    /// `processes` will be asked for next, which a backend may read of the holders it has
    /// found while it looks for the others.
    fn owners(&self, wanted: &HashSet<u64>, ahead: Option<Detail>) -> Result<Owners, Error>;
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

// What the backends of platforms without Linux's namespaces, netlink and `/proc` share;
// compiled on Linux for their tests only.

/// The platform's name, as messages say it: `--netns needs ...; this is Windows`.
pub(crate) const PLATFORM: &str = if cfg!(target_os = "linux") {
    "Linux"
} else if cfg!(windows) {
    "Windows"
} else if cfg!(target_os = "macos") {
    "macOS"
} else {
    std::env::consts::OS
};

/// A new file to write, readable by everyone where files have modes (0644): `--output`'s
/// temporary file, the one file portwho writes (clippy.toml forbids it elsewhere).
#[allow(clippy::disallowed_methods)]
pub(crate) fn create_new(path: &std::path::Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o644);
    }
    options.open(path)
}

/// What an option or setting that needs Linux answers elsewhere: one line, exit 2.
/// `what` says what it needs (`--netns needs Linux's network namespaces`).
pub(crate) fn needs_linux(what: &str) -> Error {
    Error::Unsupported(format!("{what}; this is {PLATFORM}"))
}

/// The backend for this platform, from what the command line and the environment say:
/// a proc tree to read instead of the live system (`--proc-root`), and when to find
/// owners with the kernel's fd iterator (`PORTWHO_BPF`). Both are Linux's: elsewhere,
/// either one set is an error.
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

/// The backend for this platform; `--proc-root` and `PORTWHO_BPF` are Linux's.
#[cfg(not(target_os = "linux"))]
pub(crate) fn from_env(
    proc_root: Option<&std::path::Path>,
    kernel_iterator: Option<&std::ffi::OsStr>,
) -> Result<Box<dyn Backend>, Error> {
    if proc_root.is_some() {
        return Err(needs_linux("--proc-root needs Linux's /proc"));
    }
    if kernel_iterator.is_some_and(|v| !v.is_empty()) {
        return Err(needs_linux(
            "PORTWHO_BPF needs Linux's kernel fd iterator (BPF)",
        ));
    }
    #[cfg(windows)]
    {
        Ok(Box::new(windows::WindowsBackend::new()))
    }
    #[cfg(target_os = "macos")]
    {
        Ok(Box::new(macos::MacBackend::new()))
    }
    #[cfg(not(any(windows, target_os = "macos")))]
    {
        Err(unsupported::error())
    }
}

/// Whether portwho was started with stdout closed (`portwho >&-`).
pub fn stdout_was_closed() -> bool {
    #[cfg(target_os = "linux")]
    {
        linux::stdout_was_closed()
    }
    #[cfg(target_os = "macos")]
    {
        macos::stdout_was_closed()
    }
    #[cfg(windows)]
    {
        windows::stdout_was_closed()
    }
    #[cfg(not(any(target_os = "linux", windows, target_os = "macos")))]
    {
        false
    }
}

/// `Backend::namespaces` where there are no network namespaces: the caller's own (its
/// inode unknown, 0) is all there is, and anything else `--netns` names needs Linux.
#[cfg(any(test, not(target_os = "linux")))]
pub(crate) fn own_namespace_only(choice: &NetnsChoice) -> Result<NamespaceList, Error> {
    if *choice != NetnsChoice::Own {
        return Err(needs_linux("--netns needs Linux's network namespaces"));
    }
    Ok(NamespaceList {
        namespaces: vec![Namespace {
            netns: crate::model::Netns {
                inode: 0,
                name: None,
            },
            own: true,
            paths: Vec::new(),
            pids: Vec::new(),
        }],
        denied: 0,
    })
}

/// Whether `s` is of the kind `query` asks for: for a backend whose system cannot be asked
/// for less than every socket.
#[cfg(any(test, not(target_os = "linux")))]
pub(crate) fn admits(query: &SocketQuery, s: &Socket) -> bool {
    use crate::model::{Family, Proto};
    let proto = match s.proto {
        Proto::Tcp => query.tcp,
        Proto::Udp => query.udp,
    };
    let family = match s.family() {
        Family::Ipv4 => query.ipv4,
        Family::Ipv6 => query.ipv6,
    };
    let port = s.local.port();
    proto
        && family
        && (!query.listening_only || s.state.is_listening())
        && query
            .ports
            .as_ref()
            .is_none_or(|ranges| ranges.iter().any(|r| r.contains(&port)))
}

/// The pid of what ran portwho (`--kill` never signals it); 0 when it cannot be known.
pub(crate) fn parent_pid() -> u32 {
    #[cfg(unix)]
    {
        std::os::unix::process::parent_id()
    }
    #[cfg(windows)]
    {
        windows::parent_pid()
    }
    #[cfg(not(any(unix, windows)))]
    {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{socket, tcp};
    use crate::model::{Proto, State};

    #[test]
    fn a_query_admits_what_it_asks_for() {
        let listener = tcp("127.0.0.1:8080", State::Listen, 1);
        let client = tcp("[::1]:50000", State::Established, 2);
        let dns = socket("0.0.0.0:53", Proto::Udp, State::Unconn);
        let all = SocketQuery::default();
        assert!([&listener, &client, &dns].iter().all(|s| admits(&all, s)));
        let listening = SocketQuery {
            listening_only: true,
            ..SocketQuery::default()
        };
        assert!(admits(&listening, &listener) && admits(&listening, &dns));
        assert!(!admits(&listening, &client));
        let v4_udp = SocketQuery {
            tcp: false,
            ipv6: false,
            ..SocketQuery::default()
        };
        assert!(admits(&v4_udp, &dns));
        assert!(!admits(&v4_udp, &listener) && !admits(&v4_udp, &client));
        let ports = SocketQuery {
            ports: Some(vec![8000..=8100, 53..=53]),
            ..SocketQuery::default()
        };
        assert!(admits(&ports, &listener) && admits(&ports, &dns));
        assert!(!admits(&ports, &client));
    }

    #[test]
    fn without_namespaces_only_the_own_one_is_read() {
        let own = own_namespace_only(&NetnsChoice::Own).unwrap();
        assert_eq!(own.namespaces.len(), 1);
        assert!(own.namespaces[0].own);
        assert_eq!(own.namespaces[0].netns.inode, 0, "unknown: JSON says null");
        for choice in [
            NetnsChoice::All,
            NetnsChoice::Named("blue".into()),
            NetnsChoice::Pid(1),
        ] {
            let e = own_namespace_only(&choice).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("--netns needs Linux's network namespaces; this is {PLATFORM}")
            );
        }
    }
}
