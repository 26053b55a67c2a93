//! The macOS backend: what `Backend` asks, answered by one walk over every process's
//! socket fds (`sys`, decoded by `fdinfo`), sysinfo's process list (`details`) and
//! kill(2).
//!
//! libproc has no table of sockets: a socket is found through a process that holds it, so
//! the walk that lists the sockets finds their holders too, and `owners` answers from it.
//! Without root, other users' processes cannot be read: their sockets are not seen at all
//! (as with `lsof`), and stderr says how many processes were denied. Sockets no process
//! holds (TIME_WAIT) are not seen either.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io;
use std::net::IpAddr;

use rustix::fs::{FileType, OFlags};
use rustix::process::Pid;

use super::fdinfo::{self, Fd, Holdings};
use super::sys::{self, Fail};
use crate::backend::{
    Backend, Holding, PinError, PinnedProcess, SignalError, SocketTable, details,
};
use crate::error::Error;
use crate::model::{
    Containers, Detail, Host, Namespace, NamespaceList, NetnsChoice, NoRuleset, NotEntered, Owners,
    ProcessDetails, Ruleset, ScanStats, SocketQuery, Warning,
};
use crate::signal::Signal;

/// What one walk over every process found.
#[derive(Debug, Default)]
struct Walk {
    found: Holdings,
    stats: ScanStats,
}

#[derive(Default)]
pub(crate) struct MacBackend {
    /// The last walk's findings, for `owners`.
    last: RefCell<Option<Walk>>,
    /// When each process whose details were read started: kill(2) is not sent to a pid
    /// that now names a process started at another time.
    started: RefCell<HashMap<u32, (u64, u64)>>,
    users: RefCell<Option<sysinfo::Users>>,
}

impl MacBackend {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn with_users<T>(&self, f: impl FnOnce(&sysinfo::Users) -> T) -> T {
        let mut users = self.users.borrow_mut();
        f(users.get_or_insert_with(sysinfo::Users::new_with_refreshed_list))
    }
}

/// Every process's socket fds, once: the sockets `query` admits and who holds them.
fn walk(query: &SocketQuery) -> Result<Walk, Error> {
    let pids = sys::all_pids().map_err(|source| Error::Read {
        path: "the process list (proc_listallpids)".into(),
        source,
    })?;
    let mut walk = Walk::default();
    for pid in pids.into_iter().filter(|&p| p != 0) {
        let list = match sys::fd_list(pid) {
            Ok(list) => list,
            Err(Fail::Gone) => {
                walk.stats.vanished += 1;
                continue;
            }
            Err(Fail::Denied | Fail::Other(_)) => {
                walk.stats.denied += 1;
                continue;
            }
        };
        walk.stats.processes += 1;
        for fd in fdinfo::socket_fds(&list) {
            // An fd closed since the list was read is simply gone; a record too short to
            // be one is no TCP or UDP socket.
            if let Ok(Ok(fd)) = sys::socket_info(pid, fd).map(|info| fdinfo::decode_socket(&info)) {
                walk.found.add(pid, fd, query);
            }
        }
    }
    Ok(walk)
}

/// Whether `pid` holds one of `keys` now.
fn holds(pid: u32, keys: &HashSet<u64>) -> Result<bool, Fail> {
    let list = sys::fd_list(pid)?;
    Ok(fdinfo::socket_fds(&list).into_iter().any(|fd| {
        let key = match sys::socket_info(pid, fd).map(|info| fdinfo::decode_socket(&info)) {
            Ok(Ok(Fd::Ip(socket))) => socket.inode,
            Ok(Ok(Fd::UnknownState { key })) => key,
            _ => return false,
        };
        keys.contains(&key)
    }))
}

impl Backend for MacBackend {
    fn sockets(&self, query: &SocketQuery) -> Result<SocketTable, Error> {
        let walk = walk(query)?;
        let mut warnings = Vec::new();
        if !walk.found.unknown.is_empty() {
            warnings.push(Warning::UnknownStates {
                count: walk.found.unknown.len(),
            });
        }
        let sockets = walk.found.sockets.clone();
        *self.last.borrow_mut() = Some(walk);
        Ok(SocketTable { sockets, warnings })
    }

    fn namespaces(&self, choice: &NetnsChoice) -> Result<NamespaceList, Error> {
        crate::backend::own_namespace_only(choice)
    }

    fn sockets_in(&self, _: &Namespace, _: &SocketQuery) -> Result<SocketTable, NotEntered> {
        Err(NotEntered::Failed("macOS has no network namespaces".into()))
    }

    fn namespace_of(&self, _: u32) -> Option<Namespace> {
        None
    }

    fn containers(&self) -> Containers {
        Containers::default()
    }

    fn reads_firewall(&self) -> bool {
        false
    }

    fn ruleset(&self, _: &Namespace) -> Result<Ruleset, NoRuleset> {
        Err(NoRuleset::Failed(
            crate::backend::needs_linux("firewall verdicts need Linux's nftables").to_string(),
        ))
    }

    fn owners(&self, wanted: &HashSet<u64>, _ahead: Option<Detail>) -> Result<Owners, Error> {
        // The walk that listed the sockets found their holders; walk again only for
        // sockets it did not list.
        let mut last = self.last.borrow_mut();
        let listed = last
            .as_ref()
            .is_some_and(|w| wanted.iter().all(|k| w.found.holders.contains_key(k)));
        if !listed {
            *last = Some(walk(&SocketQuery::default())?);
        }
        let walk = last.as_ref().map(|w| (&w.found.holders, w.stats));
        let Some((holders, stats)) = walk else {
            return Ok(Owners::default());
        };
        Ok(Owners {
            by_inode: holders
                .iter()
                .filter(|(key, _)| wanted.contains(key))
                .map(|(&key, pids)| (key, pids.clone()))
                .collect(),
            stats,
            walked_because: None,
        })
    }

    fn processes(&self, pids: &[u32], detail: Detail) -> ProcessDetails {
        let details = self.with_users(|users| details::read(pids, detail, Some(users)));
        let mut started = self.started.borrow_mut();
        for &pid in details.processes.keys() {
            if let Ok(time) = sys::started(pid) {
                started.insert(pid, time);
            }
        }
        details
    }

    fn host(&self) -> Host {
        let int = |name: &std::ffi::CStr| sys::sysctl_int(name).and_then(|v| u16::try_from(v).ok());
        let defaults = Host {
            ephemeral: 49152..=65535,
            ..Host::default()
        };
        let ephemeral = match (
            int(c"net.inet.ip.portrange.first"),
            int(c"net.inet.ip.portrange.last"),
        ) {
            (Some(low), Some(high)) if low <= high => low..=high,
            _ => defaults.ephemeral,
        };
        // Ports up to reservedhigh need root (0 where macOS lets anyone bind them).
        let unprivileged_port_start = int(c"net.inet.ip.portrange.reservedhigh")
            .map_or(defaults.unprivileged_port_start, |high| {
                high.saturating_add(1)
            });
        Host {
            ephemeral,
            reserved: Vec::new(),
            unprivileged_port_start,
            may_bind_privileged: self.privileged(),
        }
    }

    fn interfaces(&self) -> Vec<(IpAddr, String)> {
        details::interfaces()
    }

    fn user_name(&self, uid: u32) -> Option<String> {
        let uid = sysinfo::Uid::try_from(uid as usize).ok()?;
        self.with_users(|users| users.get_user_by_id(&uid).map(|u| u.name().to_string()))
    }

    fn user_id(&self, name: &str) -> Option<u32> {
        self.with_users(|users| {
            users
                .list()
                .iter()
                .find(|u| u.name() == name)
                .map(|u| **u.id())
        })
    }

    fn privileged(&self) -> bool {
        rustix::process::geteuid().is_root()
    }

    fn services_file(&self) -> Option<String> {
        std::fs::read_to_string("/etc/services").ok()
    }

    fn holding(&self, pid: u32, keys: &HashSet<u64>) -> Holding {
        match holds(pid, keys) {
            Ok(true) => Holding::Holds,
            Ok(false) => Holding::Released,
            Err(Fail::Gone) => Holding::Gone,
            Err(Fail::Denied | Fail::Other(_)) => Holding::Denied,
        }
    }

    /// macOS has no pidfds: `--kill` signals by pid, right after checking what it holds.
    fn pin(&self, _: u32) -> Result<Box<dyn PinnedProcess>, PinError> {
        Err(PinError::Unsupported)
    }

    fn signal_pid(&self, pid: u32, signal: Signal) -> Result<(), SignalError> {
        let target = i32::try_from(pid)
            .ok()
            .filter(|&p| p > 0)
            .and_then(Pid::from_raw)
            .ok_or(SignalError::Gone)?;
        // A pid that now names a process started at another time than the one shown: that
        // one exited and the pid was given to a newcomer.
        let planned = self.started.borrow().get(&pid).copied();
        if let Some(planned) = planned {
            match sys::started(pid) {
                Ok(now) if now == planned => {}
                Ok(_) | Err(Fail::Gone) => return Err(SignalError::Gone),
                Err(Fail::Denied) => return Err(SignalError::Denied),
                Err(Fail::Other(e)) => return Err(SignalError::Other(e)),
            }
        }
        rustix::process::kill_process(target, platform(signal)).map_err(|e| match e {
            rustix::io::Errno::SRCH => SignalError::Gone,
            rustix::io::Errno::PERM => SignalError::Denied,
            e => SignalError::Other(io::Error::from(e)),
        })
    }
}

/// macOS's number for a signal, chosen by name (several differ from Linux's: USR1 is 30).
fn platform(signal: Signal) -> rustix::process::Signal {
    use rustix::process::Signal as S;
    match signal {
        Signal::Hup => S::HUP,
        Signal::Int => S::INT,
        Signal::Quit => S::QUIT,
        Signal::Abrt => S::ABORT,
        Signal::Kill => S::KILL,
        Signal::Usr1 => S::USR1,
        Signal::Usr2 => S::USR2,
        Signal::Alrm => S::ALARM,
        Signal::Term => S::TERM,
    }
}

/// Whether stdout is what Rust's runtime puts in place of a closed fd 1 before `main`:
/// `/dev/null` opened read-write (a shell's `>/dev/null` opens it write-only).
pub(crate) fn stdout_was_closed() -> bool {
    let stdout = std::io::stdout();
    let Ok(stat) = rustix::fs::fstat(&stdout) else {
        return true;
    };
    let Ok(null) = rustix::fs::stat("/dev/null") else {
        return false;
    };
    FileType::from_raw_mode(stat.st_mode) == FileType::CharacterDevice
        && stat.st_rdev == null.st_rdev
        && rustix::fs::fcntl_getfl(&stdout)
            .is_ok_and(|flags| flags & OFlags::RWMODE == OFlags::RDWR)
}
