//! A fake system for unit tests of every layer above the backend, logging every call.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ops::RangeInclusive;
use std::rc::Rc;

use super::{Backend, Holding, PinError, PinnedProcess, SignalError, SocketTable};
use crate::error::Error;
use crate::model::{
    ContainerState, Containers, Detail, Host, Namespace, NamespaceList, Netns, NetnsChoice,
    NoRuleset, NotEntered, Owners, Process, ProcessDetails, Ruleset, Socket, SocketQuery,
};
use crate::signal::Signal;

/// Ways the fake system misbehaves on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Script {
    /// Right after `pin(pid)`, the process exits and a new one gets its pid, holding `inodes`.
    ReuseAfterPin { pid: u32, inodes: Vec<u64> },
    /// A kernel without pidfds.
    NoPidfd,
    /// Signals to this pid fail with EPERM.
    Deny(u32),
    /// This pid survives everything but SIGKILL.
    IgnoreTerm(u32),
}

struct Proc {
    process: Process,
    inodes: HashSet<u64>,
    /// Which process has this pid: bumped when the pid is reused.
    generation: u32,
}

/// Changes the socket table before query number N (1-based) is answered.
type OnQuery = Box<dyn FnMut(usize, &mut Vec<Socket>)>;

#[derive(Default)]
struct State {
    procs: HashMap<u32, Proc>,
    /// Every namespace's sockets; the caller's own namespace has inode 0.
    sockets: Vec<Socket>,
    /// Namespaces besides the caller's own.
    namespaces: Vec<Namespace>,
    /// Namespaces that cannot be entered.
    locked: HashSet<u64>,
    containers: Vec<ContainerState>,
    /// Each namespace's ruleset, or why it cannot be read; none: no rules.
    rulesets: HashMap<u64, Result<Ruleset, NoRuleset>>,
    reserved: Vec<RangeInclusive<u16>>,
    scripts: Vec<Script>,
    log: Vec<String>,
    generations: u32,
    owner_scans: usize,
    socket_queries: usize,
    /// Applied to the socket table on each query, to make sockets appear or vanish over time.
    on_query: Option<OnQuery>,
}

impl State {
    fn deliver(&mut self, pid: u32, signal: Signal) -> Result<(), SignalError> {
        if self.scripts.contains(&Script::Deny(pid)) {
            return Err(SignalError::Denied);
        }
        if self.scripts.contains(&Script::IgnoreTerm(pid)) && signal != Signal::Kill {
            return Ok(());
        }
        self.procs.remove(&pid);
        // A socket lives while some process holds it.
        let held: HashSet<u64> = self.procs.values().flat_map(|p| p.inodes.clone()).collect();
        self.sockets.retain(|s| held.contains(&s.inode));
        Ok(())
    }

    fn logged(&mut self, what: String, result: Result<(), SignalError>) -> Result<(), SignalError> {
        let how = match &result {
            Ok(()) => "delivered",
            Err(SignalError::Gone) => "no such process",
            Err(SignalError::Denied) => "permission denied",
            Err(SignalError::Other(_)) => "failed",
        };
        self.log.push(format!("{what}: {how}"));
        result
    }
}

#[derive(Default)]
pub(crate) struct FakeBackend {
    state: Rc<RefCell<State>>,
}

impl FakeBackend {
    pub(crate) fn new() -> FakeBackend {
        FakeBackend::default()
    }

    pub(crate) fn spawn(&self, pid: u32, name: &str, inodes: &[u64]) {
        self.spawn_as(
            Process {
                cmdline: vec![name.into()],
                ..crate::model::testing::process(pid, name)
            },
            inodes,
        );
    }

    /// A process with these details, holding `inodes`.
    pub(crate) fn spawn_as(&self, process: Process, inodes: &[u64]) {
        let mut state = self.state.borrow_mut();
        state.generations += 1;
        let generation = state.generations;
        state.procs.insert(
            process.pid,
            Proc {
                process,
                inodes: inodes.iter().copied().collect(),
                generation,
            },
        );
    }

    pub(crate) fn add_socket(&self, socket: Socket) {
        self.state.borrow_mut().sockets.push(socket);
    }

    /// Another network namespace, with these processes in it.
    pub(crate) fn add_namespace(&self, inode: u64, name: Option<&str>, pids: &[u32]) {
        self.state.borrow_mut().namespaces.push(Namespace {
            netns: Netns {
                inode,
                name: name.map(str::to_string),
            },
            own: false,
            paths: Vec::new(),
            pids: pids.to_vec(),
        });
    }

    /// A namespace that can be listed but not entered (as when not root).
    pub(crate) fn lock_namespace(&self, inode: u64) {
        self.state.borrow_mut().locked.insert(inode);
    }

    pub(crate) fn set_ruleset(&self, netns: u64, ruleset: Result<Ruleset, NoRuleset>) {
        self.state.borrow_mut().rulesets.insert(netns, ruleset);
    }

    pub(crate) fn add_container(&self, container: ContainerState) {
        self.state.borrow_mut().containers.push(container);
    }

    pub(crate) fn reserve(&self, ports: RangeInclusive<u16>) {
        self.state.borrow_mut().reserved.push(ports);
    }

    pub(crate) fn script(&self, script: Script) {
        self.state.borrow_mut().scripts.push(script);
    }

    /// Change the socket table before query number `n` (1-based) is answered.
    pub(crate) fn on_query(&self, f: impl FnMut(usize, &mut Vec<Socket>) + 'static) {
        self.state.borrow_mut().on_query = Some(Box::new(f));
    }

    pub(crate) fn log(&self) -> Vec<String> {
        self.state.borrow().log.clone()
    }

    pub(crate) fn alive(&self, pid: u32) -> bool {
        self.state.borrow().procs.contains_key(&pid)
    }

    pub(crate) fn owner_scans(&self) -> usize {
        self.state.borrow().owner_scans
    }

    pub(crate) fn socket_queries(&self) -> usize {
        self.state.borrow().socket_queries
    }
}

struct FakePin {
    pid: u32,
    generation: u32,
    state: Rc<RefCell<State>>,
}

impl PinnedProcess for FakePin {
    fn signal(&self, signal: Signal) -> Result<(), SignalError> {
        let mut state = self.state.borrow_mut();
        let same = state
            .procs
            .get(&self.pid)
            .is_some_and(|p| p.generation == self.generation);
        // Like a pidfd: only the pinned process, never a later one with its pid.
        let result = if same {
            state.deliver(self.pid, signal)
        } else {
            Err(SignalError::Gone)
        };
        state.logged(format!("pidfd {} {signal}", self.pid), result)
    }
}

impl Backend for FakeBackend {
    fn sockets(&self, query: &SocketQuery) -> Result<SocketTable, Error> {
        let mut state = self.state.borrow_mut();
        state.socket_queries += 1;
        let n = state.socket_queries;
        if let Some(mut f) = state.on_query.take() {
            f(n, &mut state.sockets);
            state.on_query = Some(f);
        }
        Ok(SocketTable {
            sockets: select(&state.sockets, 0, query),
            warnings: Vec::new(),
        })
    }

    fn namespaces(&self, choice: &NetnsChoice) -> Result<NamespaceList, Error> {
        let state = self.state.borrow();
        let own = Namespace {
            netns: Netns {
                inode: 0,
                name: None,
            },
            own: true,
            paths: Vec::new(),
            pids: Vec::new(),
        };
        let others = state.namespaces.iter().cloned();
        let namespaces: Vec<Namespace> = match choice {
            NetnsChoice::Own => vec![own],
            NetnsChoice::All => std::iter::once(own).chain(others).collect(),
            NetnsChoice::Named(name) => others
                .filter(|ns| ns.netns.name.as_ref() == Some(name))
                .collect(),
            NetnsChoice::Pid(pid) => others.filter(|ns| ns.pids.contains(pid)).collect(),
        };
        if namespaces.is_empty() {
            return Err(Error::Netns(format!("{choice:?}: no such namespace")));
        }
        Ok(NamespaceList {
            namespaces,
            denied: 0,
        })
    }

    fn sockets_in(&self, ns: &Namespace, query: &SocketQuery) -> Result<SocketTable, NotEntered> {
        let mut state = self.state.borrow_mut();
        state.socket_queries += 1;
        if state.locked.contains(&ns.netns.inode) {
            return Err(NotEntered::NotPermitted);
        }
        Ok(SocketTable {
            sockets: select(&state.sockets, ns.netns.inode, query),
            warnings: Vec::new(),
        })
    }

    fn namespace_of(&self, pid: u32) -> Option<Namespace> {
        let state = self.state.borrow();
        state
            .namespaces
            .iter()
            .find(|ns| ns.pids.contains(&pid))
            .cloned()
    }

    fn containers(&self) -> Containers {
        Containers {
            containers: self.state.borrow().containers.clone(),
            ..Containers::default()
        }
    }

    fn ruleset(&self, ns: &Namespace) -> Result<Ruleset, NoRuleset> {
        let state = self.state.borrow();
        match state.rulesets.get(&ns.netns.inode) {
            Some(ruleset) => ruleset.clone(),
            None => Ok(Ruleset::default()),
        }
    }

    fn owners(&self, wanted: &HashSet<u64>, _ahead: Option<Detail>) -> Result<Owners, Error> {
        let mut state = self.state.borrow_mut();
        state.owner_scans += 1;
        let mut owners = Owners::default();
        for (pid, p) in &state.procs {
            for inode in p.inodes.intersection(wanted) {
                owners.by_inode.entry(*inode).or_default().push(*pid);
            }
        }
        for pids in owners.by_inode.values_mut() {
            pids.sort_unstable();
        }
        Ok(owners)
    }

    fn processes(&self, pids: &[u32], detail: Detail) -> ProcessDetails {
        let state = self.state.borrow();
        let mut details = ProcessDetails::default();
        for pid in pids {
            match state.procs.get(pid) {
                Some(p) => {
                    let mut process = p.process.clone();
                    // The levels below these do not read the parent.
                    if !matches!(detail, Detail::Judged | Detail::Full) {
                        process.ppid = None;
                    }
                    details.processes.insert(*pid, process);
                }
                None => details.vanished += 1,
            }
        }
        details
    }

    fn host(&self) -> Host {
        Host {
            reserved: self.state.borrow().reserved.clone(),
            ..Host::default()
        }
    }

    fn interfaces(&self) -> Vec<(std::net::IpAddr, String)> {
        Vec::new()
    }

    fn user_name(&self, _uid: u32) -> Option<String> {
        None
    }

    fn user_id(&self, _name: &str) -> Option<u32> {
        None
    }

    fn privileged(&self) -> bool {
        false
    }

    fn services_file(&self) -> Option<String> {
        None
    }

    fn holding(&self, pid: u32, inodes: &HashSet<u64>) -> Holding {
        let mut state = self.state.borrow_mut();
        state.log.push(format!("holding {pid}"));
        match state.procs.get(&pid) {
            None => Holding::Gone,
            Some(p) if p.inodes.is_disjoint(inodes) => Holding::Released,
            Some(_) => Holding::Holds,
        }
    }

    fn pin(&self, pid: u32) -> Result<Box<dyn PinnedProcess>, PinError> {
        let reuse = {
            let mut state = self.state.borrow_mut();
            state.log.push(format!("pin {pid}"));
            if state.scripts.contains(&Script::NoPidfd) {
                return Err(PinError::Unsupported);
            }
            state.scripts.iter().find_map(|s| match s {
                Script::ReuseAfterPin { pid: p, inodes } if *p == pid => Some(inodes.clone()),
                _ => None,
            })
        };
        let generation = self
            .state
            .borrow()
            .procs
            .get(&pid)
            .map(|p| p.generation)
            .ok_or(PinError::Gone)?;
        if let Some(inodes) = reuse {
            self.state.borrow_mut().procs.remove(&pid);
            self.spawn(pid, "newcomer", &inodes);
            self.state
                .borrow_mut()
                .log
                .push(format!("pid {pid} reused"));
        }
        Ok(Box::new(FakePin {
            pid,
            generation,
            state: Rc::clone(&self.state),
        }))
    }

    fn signal_pid(&self, pid: u32, signal: Signal) -> Result<(), SignalError> {
        let mut state = self.state.borrow_mut();
        let result = if state.procs.contains_key(&pid) {
            state.deliver(pid, signal)
        } else {
            Err(SignalError::Gone)
        };
        state.logged(format!("kill {pid} {signal}"), result)
    }
}

/// The sockets of one namespace that a query asks for.
fn select(sockets: &[Socket], netns: u64, query: &SocketQuery) -> Vec<Socket> {
    sockets
        .iter()
        .filter(|s| s.netns == netns)
        .filter(|s| !query.listening_only || s.state.is_listening())
        .filter(|s| {
            query
                .ports
                .as_ref()
                .is_none_or(|r| r.iter().any(|r| r.contains(&s.local.port())))
        })
        .cloned()
        .collect()
}
