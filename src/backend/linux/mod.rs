//! The Linux backend: netlink sock_diag or `/proc/net/*` for sockets, `/proc` for owners.

mod ahead;
pub(crate) mod bpf;
pub(crate) mod cgroup;
pub(crate) mod containers;
pub(crate) mod hidepid;
pub(crate) mod netlink;
pub(crate) mod netns;
pub(crate) mod nftables;
pub(crate) mod owners;
pub(crate) mod passwd;
pub(crate) mod proc_net;
pub(crate) mod process;
pub(crate) mod reserved;
pub(crate) mod signal;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use crate::backend::{Backend, Holding, PinError, PinnedProcess, SignalError, SocketTable};
use crate::error::Error;
use crate::model::{
    Containers, Detail, Host, Namespace, NamespaceList, Netns, NetnsChoice, NoRuleset, NotEntered,
    Owners, Process, ProcessDetails, Ruleset, SocketQuery, Warning,
};
use rustix::fs::OFlags;

/// Where `ip netns` and docker keep their namespace files.
const RUN_ROOT: &str = "/run";

/// A statically linked glibc, where NSS lookups may crash (see `passwd`): user names come
/// from `/etc/passwd` alone. musl and a shared glibc use getpwuid_r and getpwnam_r.
const STATIC_GLIBC: bool = cfg!(all(target_env = "gnu", target_feature = "crt-static"));

/// Reads a Linux host's sockets and processes through one proc root.
/// From how many shown processes their details are read on two threads.
const PARALLEL_DETAILS: usize = 64;

#[derive(Debug)]
pub(crate) struct LinuxBackend {
    proc_root: PathBuf,
    /// Netlink answers for the caller's own network namespace, so it is only used when the
    /// proc root is the real `/proc`; a captured tree (tests, fixtures) is parsed as text.
    netlink: bool,
    /// When to try the kernel's fd iterator before walking `/proc` (`bpf`); `None` for a
    /// captured tree, whose processes are not the kernel's.
    kernel_iterator: Option<bpf::Choice>,
    /// How `owners` will find them, decided by `prepare_owners`.
    route: RefCell<Option<OwnerRoute>>,
    /// What the kernel's iterator told of the processes holding the sockets asked about in
    /// the last owner scan (name, parent, start, user): `processes` need not read it again.
    /// Empty after a walk of `/proc`.
    tasks: RefCell<bpf::Tasks>,
    /// Details read during the last owner scan (`ahead`), at the level asked for then.
    read_ahead: RefCell<Option<ReadAhead>>,
    users: RefCell<HashMap<u32, Option<String>>>,
}

/// Details of holders read while the kernel's iterator ran; `None` for one that exited.
#[derive(Debug)]
struct ReadAhead {
    detail: Detail,
    read: HashMap<u32, Option<Process>>,
}

impl Default for LinuxBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl LinuxBackend {
    pub(crate) fn new() -> Self {
        LinuxBackend {
            proc_root: PathBuf::from("/proc"),
            netlink: true,
            kernel_iterator: Some(bpf::Choice::Auto),
            route: RefCell::default(),
            tasks: RefCell::default(),
            read_ahead: RefCell::default(),
            users: RefCell::default(),
        }
    }

    /// The live system, with the kernel's iterator used as `choice` says (`PORTWHO_BPF`).
    pub(crate) fn with_kernel_iterator(choice: bpf::Choice) -> Self {
        LinuxBackend {
            kernel_iterator: Some(choice),
            ..Self::new()
        }
    }

    /// A backend that reads everything, sockets included, from a proc tree at `root`.
    pub(crate) fn with_proc_root(root: impl Into<PathBuf>) -> Self {
        LinuxBackend {
            proc_root: root.into(),
            netlink: false,
            kernel_iterator: None,
            route: RefCell::default(),
            tasks: RefCell::default(),
            read_ahead: RefCell::default(),
            users: RefCell::default(),
        }
    }

    /// How one process's details are read at `detail`, given what the owner scan told of
    /// it; shared by the threads that read them.
    fn reader(
        &self,
        detail: Detail,
    ) -> impl Fn(u32, Option<&bpf::program::Task>, &mut process::Seen) -> Option<Process> + Sync + '_
    {
        let clock = process::Clock::read(&self.proc_root);
        let uids = process::Uids::of(&self.proc_root);
        let root = &self.proc_root;
        move |pid, known, seen| process::read(root, pid, detail, known, &clock, uids, seen)
    }

    /// The kernel iterator's scan. When `ahead` asks for details that need `/proc` (the
    /// command line and beyond; the iterator tells the rest), a second thread reads them
    /// for each holder as the scan finds it, so the reading overlaps the scan rather than
    /// following it.
    fn scan(
        &self,
        prepared: &bpf::Prepared,
        wanted: &HashSet<u64>,
        ahead: Option<Detail>,
    ) -> Result<Owners, bpf::Unavailable> {
        let detail = match ahead {
            Some(detail @ (Detail::Brief | Detail::Full)) => detail,
            _ => {
                let (owners, tasks) = bpf::scan(prepared, wanted, |_, _| {})?;
                *self.tasks.borrow_mut() = tasks;
                return Ok(owners);
            }
        };
        let queue = ahead::Queue::default();
        let one = self.reader(detail);
        let read =
            |pid, task: &bpf::program::Task, seen: &mut process::Seen| one(pid, Some(task), seen);
        let (scanned, read) = std::thread::scope(|scope| {
            let other = scope.spawn(|| queue.drain(read));
            let scanned = {
                let _closing = queue.closing();
                bpf::scan(prepared, wanted, |pid, task| queue.push(pid, task))
            };
            // What is left is read by both threads; a reader that panicked read nothing
            // that counts, and `processes` reads what is missing.
            let mut read = queue.drain(read);
            read.extend(other.join().unwrap_or_default());
            (scanned, read)
        });
        let (owners, tasks) = scanned?;
        *self.tasks.borrow_mut() = tasks;
        *self.read_ahead.borrow_mut() = Some(ReadAhead {
            detail,
            read: read.into_iter().collect(),
        });
        Ok(owners)
    }

    /// Whether to use the kernel's iterator: as the user chose, and by default only on a
    /// host with enough open files for it to be the quicker.
    fn choose(&self) -> OwnerRoute {
        let root = rustix::process::geteuid().is_root();
        match bpf::decide(self.kernel_iterator, root, || open_files(&self.proc_root)) {
            Ok(()) => OwnerRoute::Iterate(None),
            Err(why) => OwnerRoute::Walk(why),
        }
    }

    /// Parse the `/proc/net` tables the query asks for.
    fn proc_net(&self, query: &SocketQuery) -> Result<SocketTable, Error> {
        proc_net::read_tables(&self.proc_root.join("net"), query).map_err(|unread| {
            match unread.source.kind() {
                io::ErrorKind::NotFound if !self.proc_root.exists() => Error::Read {
                    path: self.proc_root.clone(),
                    source: unread.source,
                },
                io::ErrorKind::NotFound => Error::NotProcfs {
                    path: self.proc_root.clone(),
                },
                _ => Error::Read {
                    path: unread.path,
                    source: unread.source,
                },
            }
        })
    }
}

impl Backend for LinuxBackend {
    fn sockets(&self, query: &SocketQuery) -> Result<SocketTable, Error> {
        // Any netlink failure (seccomp, an old kernel, a sandbox) falls back to text; a
        // copied proc tree is text.
        let dump = match self.netlink {
            true => Some(netlink::dump_counted(query)),
            false => None,
        };
        let mut table = match dump {
            None => self.proc_net(query)?,
            Some(Ok(dump)) => netlink_table(dump),
            Some(Err(refused)) => {
                let mut table = self.proc_net(query)?;
                table.warnings.push(Warning::NetlinkRefused {
                    reason: refused.to_string(),
                });
                table
            }
        };
        // The sockets are those of the caller's own namespace (of the tree's `self`, which a
        // copied tree usually lacks: its sockets then stay 0, unknown).
        if let Some(inode) = netns::own_inode(&self.proc_root) {
            for socket in &mut table.sockets {
                socket.netns = inode;
            }
        }
        Ok(table)
    }

    fn namespaces(&self, choice: &NetnsChoice) -> Result<NamespaceList, Error> {
        let run_root = Path::new(RUN_ROOT);
        let one = |spec: &str| {
            netns::resolve(spec, &self.proc_root, run_root)
                .map(|ns| NamespaceList {
                    namespaces: vec![ns],
                    denied: 0,
                })
                .map_err(|e| Error::Netns(e.to_string()))
        };
        match choice {
            // A captured tree has no other namespace to read.
            NetnsChoice::Own => Ok(NamespaceList {
                namespaces: vec![Namespace {
                    netns: Netns {
                        inode: netns::own_inode(&self.proc_root).unwrap_or(0),
                        name: None,
                    },
                    own: true,
                    paths: Vec::new(),
                    pids: Vec::new(),
                }],
                denied: 0,
            }),
            _ if !self.netlink => Err(Error::Unsupported(
                "--netns reads the live system, not a copied proc tree".into(),
            )),
            NetnsChoice::All => {
                let found = netns::discover(&self.proc_root, run_root);
                Ok(NamespaceList {
                    namespaces: found.namespaces,
                    denied: found.denied,
                })
            }
            NetnsChoice::Named(name) => one(name),
            NetnsChoice::Pid(pid) => one(&pid.to_string()),
        }
    }

    fn sockets_in(&self, ns: &Namespace, query: &SocketQuery) -> Result<SocketTable, NotEntered> {
        netns::read_sockets(ns, &self.proc_root, query).map_err(|why| match why {
            netns::Unreadable::NotPermitted => NotEntered::NotPermitted,
            netns::Unreadable::Vanished => NotEntered::Vanished,
            netns::Unreadable::Other(e) => NotEntered::Failed(e.to_string()),
        })
    }

    fn namespace_of(&self, pid: u32) -> Option<Namespace> {
        if !self.netlink {
            return None;
        }
        netns::resolve(&pid.to_string(), &self.proc_root, Path::new(RUN_ROOT)).ok()
    }

    fn containers(&self) -> Containers {
        // A captured proc tree comes with no runtime state.
        if !self.netlink {
            return Containers::default();
        }
        containers::read(Path::new("/"))
    }

    fn ruleset(&self, ns: &Namespace) -> Result<Ruleset, NoRuleset> {
        if !self.netlink {
            return Err(NoRuleset::Failed(
                "a copied proc tree carries no firewall ruleset".into(),
            ));
        }
        // Legacy iptables' rules live outside nftables: whatever nftables holds besides,
        // the verdict cannot be told.
        let legacy = match ns.own {
            true => nftables::legacy_iptables_in_use(&self.proc_root),
            false => nftables::legacy_iptables_in(ns, &self.proc_root).unwrap_or(false),
        };
        if legacy {
            return Err(NoRuleset::LegacyIptables);
        }
        let read = match ns.own {
            true => nftables::read(),
            false => nftables::read_in(ns, &self.proc_root),
        };
        read.or_else(|why| match why {
            // No nf_tables in this kernel: no nftables rules to meet.
            nftables::NftError::Unsupported(_) => Ok(Ruleset::default()),
            nftables::NftError::NotPermitted => Err(NoRuleset::NotPermitted),
            nftables::NftError::Changed => Err(NoRuleset::Changed),
            nftables::NftError::NotEntered(_) => Err(NoRuleset::NotEntered),
            other => Err(NoRuleset::Failed(other.to_string())),
        })
    }

    fn prepare_owners(&self) {
        let route = match self.choose() {
            OwnerRoute::Iterate(_) => OwnerRoute::Iterate(Some(std::thread::spawn(bpf::prepare))),
            walk => walk,
        };
        *self.route.borrow_mut() = Some(route);
    }

    fn owners(&self, wanted: &HashSet<u64>, ahead: Option<Detail>) -> Result<Owners, Error> {
        let route = self.route.borrow_mut().take();
        // A pid told of in an earlier scan may be another process by now.
        self.tasks.borrow_mut().clear();
        self.read_ahead.borrow_mut().take();
        let fallback = match route.unwrap_or_else(|| self.choose()) {
            // A captured tree: the kernel's processes are not the ones asked about.
            OwnerRoute::Walk(bpf::Unavailable::NotLive) => None,
            OwnerRoute::Walk(why) => Some(why.to_string()),
            // Nothing to look for: the /proc path answers without reading anything.
            OwnerRoute::Iterate(_) if wanted.is_empty() => None,
            OwnerRoute::Iterate(preparing) => {
                let prepared = match preparing {
                    Some(thread) => thread
                        .join()
                        .unwrap_or_else(|_| Err(bpf::Unavailable::Panicked)),
                    None => bpf::prepare(),
                };
                match prepared.and_then(|prepared| self.scan(&prepared, wanted, ahead)) {
                    Ok(owners) => return Ok(owners),
                    Err(why) => Some(why.to_string()),
                }
            }
        };
        let mut owners = owners::scan(&self.proc_root, wanted)?;
        owners.stats.others_invisible = hidepid::hides_others(&self.proc_root);
        owners.walked_because = fallback;
        Ok(owners)
    }

    fn processes(&self, pids: &[u32], detail: Detail) -> ProcessDetails {
        if pids.is_empty() {
            return ProcessDetails::default();
        }
        let mut ahead = match self.read_ahead.borrow_mut().take() {
            Some(ahead) if ahead.detail == detail => ahead.read,
            _ => HashMap::new(),
        };
        let (mut read, pids): (Vec<(u32, Option<Process>)>, Vec<u32>) = if ahead.is_empty() {
            (Vec::new(), pids.to_vec())
        } else {
            let mut done = Vec::with_capacity(pids.len());
            let mut left = Vec::new();
            for &pid in pids {
                match ahead.remove(&pid) {
                    Some(process) => done.push((pid, process)),
                    None => left.push(pid),
                }
            }
            (done, left)
        };
        let one = self.reader(detail);
        let tasks = self.tasks.borrow();
        let tasks = &*tasks;
        let read_all = |pids: &[u32]| -> Vec<(u32, Option<Process>)> {
            let mut seen = process::Seen::default();
            pids.iter()
                .map(|&pid| (pid, one(pid, tasks.get(&pid), &mut seen)))
                .collect()
        };
        // A listing of a busy host shows hundreds of processes, a few reads each: split
        // them over two threads, as the owner scan does. Each half keeps its own `Seen`
        // (parent names, shared cgroups and links), so what both halves share is read twice.
        read.extend(if pids.len() >= PARALLEL_DETAILS {
            let (first, second) = pids.split_at(pids.len() / 2);
            std::thread::scope(|scope| {
                let other = scope.spawn(|| read_all(second));
                let mut all = read_all(first);
                // A worker that panicked has read nothing; read its half here.
                all.extend(other.join().unwrap_or_else(|_| read_all(second)));
                all
            })
        } else {
            read_all(&pids)
        });
        let mut details = ProcessDetails::default();
        for (pid, process) in read {
            match process {
                Some(mut p) => {
                    p.user = p.uid.and_then(|uid| self.user_name(uid));
                    details.processes.insert(pid, p);
                }
                None => details.vanished += 1,
            }
        }
        details
    }

    fn host(&self) -> Host {
        let sysctl = |name: &str| {
            std::fs::read_to_string(self.proc_root.join("sys/net/ipv4").join(name)).ok()
        };
        let defaults = Host::default();
        let ephemeral = sysctl("ip_local_port_range")
            .and_then(|text| {
                let mut numbers = text.split_ascii_whitespace().map(str::parse::<u16>);
                let (low, high) = (numbers.next()?.ok()?, numbers.next()?.ok()?);
                (low <= high).then_some(low..=high)
            })
            .unwrap_or(defaults.ephemeral);
        let unprivileged_port_start = sysctl("ip_unprivileged_port_start")
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(defaults.unprivileged_port_start);
        Host {
            ephemeral,
            reserved: sysctl("ip_local_reserved_ports")
                .map(|text| reserved::parse(&text))
                .unwrap_or_default(),
            unprivileged_port_start,
            may_bind_privileged: may_bind_privileged(),
        }
    }

    fn interfaces(&self) -> Vec<(IpAddr, String)> {
        let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
            return Vec::new();
        };
        addrs
            .filter_map(|a| {
                let addr = a.address?;
                let ip = if let Some(v4) = addr.as_sockaddr_in() {
                    IpAddr::V4(v4.ip())
                } else {
                    IpAddr::V6(addr.as_sockaddr_in6()?.ip())
                };
                Some((ip, a.interface_name))
            })
            .collect()
    }

    fn user_name(&self, uid: u32) -> Option<String> {
        self.users
            .borrow_mut()
            .entry(uid)
            .or_insert_with(|| {
                if STATIC_GLIBC {
                    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
                    return passwd::name_of(&passwd, uid).map(str::to_string);
                }
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                    .ok()
                    .flatten()
                    .map(|u| u.name)
            })
            .clone()
    }

    fn user_id(&self, name: &str) -> Option<u32> {
        if STATIC_GLIBC {
            let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
            return passwd::uid_of(&passwd, name);
        }
        nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw())
    }

    fn privileged(&self) -> bool {
        rustix::process::geteuid().is_root()
    }

    fn services_file(&self) -> Option<String> {
        std::fs::read_to_string("/etc/services").ok()
    }

    fn holding(&self, pid: u32, inodes: &HashSet<u64>) -> Holding {
        owners::holding(&self.proc_root, pid, inodes)
    }

    fn pin(&self, pid: u32) -> Result<Box<dyn PinnedProcess>, PinError> {
        signal::pin(pid)
    }

    fn signal_pid(&self, pid: u32, signal: crate::signal::Signal) -> Result<(), SignalError> {
        signal::kill(pid, signal)
    }
}

/// How `owners` finds the holders.
#[derive(Debug)]
enum OwnerRoute {
    /// Walk `/proc`, for this reason.
    Walk(bpf::Unavailable),
    /// Run the kernel's iterator, being loaded on this thread if it was started early.
    Iterate(Option<JoinHandle<Result<bpf::Prepared, bpf::Unavailable>>>),
}

/// A netlink dump as a table, with the sockets it had to skip as a warning.
fn netlink_table(dump: netlink::Dump) -> SocketTable {
    let mut warnings = Vec::new();
    if dump.skipped > 0 {
        warnings.push(Warning::UnknownStates {
            count: dump.skipped,
        });
    }
    SocketTable {
        sockets: dump.sockets,
        warnings,
    }
}

/// The number of open files on the host (`fs/file-nr`'s first field), when readable.
fn open_files(proc_root: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(proc_root.join("sys/fs/file-nr")).ok()?;
    text.split_ascii_whitespace().next()?.parse().ok()
}

/// Whether stdout is what Rust's runtime puts in place of a closed fd 1 before `main`:
/// `/dev/null` opened read-write. (A shell's `>/dev/null` opens it write-only.) Without
/// this check `portwho >&-` would print nothing and exit 0 as if it had answered.
pub(crate) fn stdout_was_closed() -> bool {
    let stdout = std::io::stdout();
    let Ok(stat) = rustix::fs::fstat(&stdout) else {
        // Not even a file: closed after all.
        return true;
    };
    let dev_null = rustix::fs::FileType::from_raw_mode(stat.st_mode)
        == rustix::fs::FileType::CharacterDevice
        && stat.st_rdev == rustix::fs::makedev(1, 3);
    dev_null
        && rustix::fs::fcntl_getfl(&stdout)
            .is_ok_and(|flags| flags & OFlags::RWMODE == OFlags::RDWR)
}

/// Root, or CAP_NET_BIND_SERVICE in the effective set. This is about portwho itself, so it
/// reads the live `/proc/self`, whatever the proc root.
fn may_bind_privileged() -> bool {
    const CAP_NET_BIND_SERVICE: u32 = 10;
    rustix::process::geteuid().is_root() || process::has_capability(CAP_NET_BIND_SERVICE)
}
