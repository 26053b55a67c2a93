//! The Windows backend: what `Backend` asks, answered from the socket tables (`sys`,
//! decoded by `rows`), sysinfo's process list (`details`) and process handles.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io;
use std::net::IpAddr;

use super::rows::{self, Row, Table};
use super::sys::{self, Access, OpenError, ProcessHandle};
use crate::backend::{
    Backend, Holding, PinError, PinnedProcess, SignalError, SocketTable, details,
};
use crate::error::Error;
use crate::model::{
    Containers, Detail, Family, Host, Namespace, NamespaceList, NetnsChoice, NoRuleset, NotEntered,
    Owners, ProcessDetails, Proto, Ruleset, SocketQuery, Warning,
};
use crate::signal::Signal;

/// Windows's dynamic port range since Vista (IANA's), where it picks client ports. A range
/// changed with `netsh int ipv4 set dynamicport` is not read: no documented API gives it.
const DYNAMIC_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;

/// The exit code a process ended by `--kill` gets, as `taskkill /F` gives.
const KILLED_EXIT_CODE: u32 = 1;

#[derive(Debug, Default)]
pub(crate) struct WindowsBackend {
    /// When each process whose details were read was created: `pin` refuses a process
    /// created at another time, which was given the pid after the one shown exited.
    created: RefCell<HashMap<u32, u64>>,
}

impl WindowsBackend {
    pub(crate) fn new() -> Self {
        Self::default()
    }
}

/// The rows of the tables `query` asks for; rows in states this version does not know are
/// counted as a warning.
fn read_rows(query: &SocketQuery) -> Result<(Vec<Row>, Vec<Warning>), Error> {
    let mut all = Vec::new();
    let mut unknown = 0;
    for table in Table::ALL {
        let proto = match table.proto() {
            Proto::Tcp => query.tcp,
            Proto::Udp => query.udp,
        };
        let family = match table.family() {
            Family::Ipv4 => query.ipv4,
            Family::Ipv6 => query.ipv6,
        };
        if !(proto && family) {
            continue;
        }
        let bytes = sys::table(table, query.listening_only).map_err(|e| unread(table, e))?;
        let decoded =
            rows::decode(table, &bytes).map_err(|e| unread(table, io::Error::other(e)))?;
        unknown += decoded.unknown_states;
        all.extend(decoded.rows);
    }
    let mut warnings = Vec::new();
    if unknown > 0 {
        warnings.push(Warning::UnknownStates { count: unknown });
    }
    Ok((all, warnings))
}

/// A table that could not be read, named as the API's row type.
fn unread(table: Table, source: io::Error) -> Error {
    Error::Read {
        path: table.row_name().into(),
        source,
    }
}

impl Backend for WindowsBackend {
    fn sockets(&self, query: &SocketQuery) -> Result<SocketTable, Error> {
        let (rows, warnings) = read_rows(query)?;
        Ok(SocketTable {
            sockets: rows
                .into_iter()
                .map(|r| r.socket)
                .filter(|s| crate::backend::admits(query, s))
                .collect(),
            warnings,
        })
    }

    fn namespaces(&self, choice: &NetnsChoice) -> Result<NamespaceList, Error> {
        crate::backend::own_namespace_only(choice)
    }

    fn sockets_in(&self, _: &Namespace, _: &SocketQuery) -> Result<SocketTable, NotEntered> {
        Err(NotEntered::Failed(
            "Windows has no network namespaces".into(),
        ))
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
        // The tables name each socket's owner: read them again and keep the wanted rows'.
        let (rows, _) = read_rows(&SocketQuery::default())?;
        Ok(rows::owners(&rows, wanted))
    }

    fn processes(&self, pids: &[u32], detail: Detail) -> ProcessDetails {
        // Users from each process's token: sysinfo's list of users is every account, and
        // its walk of the logon sessions breaks where there are none (wine).
        let mut details = details::read(pids, detail, None);
        let mut created = self.created.borrow_mut();
        for (&pid, process) in &mut details.processes {
            let Ok(handle) = sys::open(pid, Access::Query) else {
                continue;
            };
            if let Ok(time) = handle.created() {
                created.insert(pid, time);
            }
            process.user = handle.user();
        }
        details
    }

    fn host(&self) -> Host {
        Host {
            ephemeral: DYNAMIC_PORTS,
            reserved: Vec::new(),
            // Any user may bind any port on Windows.
            unprivileged_port_start: 0,
            may_bind_privileged: true,
        }
    }

    fn interfaces(&self) -> Vec<(IpAddr, String)> {
        details::interfaces()
    }

    /// Windows names users by SID, not by number: no uid has a name.
    fn user_name(&self, _: u32) -> Option<String> {
        None
    }

    fn user_id(&self, _: &str) -> Option<u32> {
        None
    }

    /// Every socket's owner is in the table whoever asks: nothing is hidden, so nothing
    /// more would be seen as Administrator.
    fn privileged(&self) -> bool {
        false
    }

    fn services_file(&self) -> Option<String> {
        let root = std::env::var_os("SystemRoot").unwrap_or_else(|| "C:\\Windows".into());
        let path = std::path::Path::new(&root).join("System32\\drivers\\etc\\services");
        std::fs::read_to_string(path).ok()
    }

    fn holding(&self, pid: u32, keys: &HashSet<u64>) -> Holding {
        let Ok((rows, _)) = read_rows(&SocketQuery::default()) else {
            return Holding::Denied;
        };
        if rows
            .iter()
            .any(|r| r.pid == pid && keys.contains(&r.socket.inode))
        {
            return Holding::Holds;
        }
        match sys::open(pid, Access::Query) {
            Ok(handle) if handle.exited() => Holding::Gone,
            Ok(_) | Err(OpenError::Denied) | Err(OpenError::Other(_)) => Holding::Released,
            Err(OpenError::Gone) => Holding::Gone,
        }
    }

    fn pin(&self, pid: u32) -> Result<Box<dyn PinnedProcess>, PinError> {
        let handle = sys::open(pid, Access::Terminate).map_err(|e| match e {
            OpenError::Gone => PinError::Gone,
            OpenError::Denied => PinError::Denied,
            OpenError::Other(e) => PinError::Other(e),
        })?;
        if handle.exited() {
            return Err(PinError::Gone);
        }
        // The pid names another process than the one whose details were shown: that one
        // exited, and Windows gave its pid to a newcomer.
        let planned = self.created.borrow().get(&pid).copied();
        if let Some(planned) = planned {
            let now = handle.created().map_err(PinError::Other)?;
            if now != planned {
                return Err(PinError::Gone);
            }
        }
        Ok(Box::new(Pinned(handle)))
    }

    fn signal_pid(&self, pid: u32, signal: Signal) -> Result<(), SignalError> {
        match self.pin(pid) {
            Ok(pinned) => pinned.signal(signal),
            Err(PinError::Gone) => Err(SignalError::Gone),
            Err(PinError::Denied) => Err(SignalError::Denied),
            Err(PinError::Unsupported) => {
                Err(SignalError::Other(io::ErrorKind::Unsupported.into()))
            }
            Err(PinError::Other(e)) => Err(SignalError::Other(e)),
        }
    }
}

/// A process opened for `--kill`.
struct Pinned(ProcessHandle);

impl PinnedProcess for Pinned {
    /// Windows has no signals: TERM and KILL both end the process with TerminateProcess,
    /// at once, without letting it clean up. The other signals have no such meaning here.
    fn signal(&self, signal: Signal) -> Result<(), SignalError> {
        if !matches!(signal, Signal::Term | Signal::Kill) {
            return Err(SignalError::Other(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "Windows has no {signal}: --kill there ends a process with TerminateProcess, for TERM and KILL alike"
                ),
            )));
        }
        if self.0.exited() {
            return Err(SignalError::Gone);
        }
        match self.0.terminate(KILLED_EXIT_CODE) {
            Ok(()) => Ok(()),
            // TerminateProcess on a process that is exiting fails with access denied.
            Err(_) if self.0.exited() => Err(SignalError::Gone),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Err(SignalError::Denied),
            Err(e) => Err(SignalError::Other(e)),
        }
    }
}
