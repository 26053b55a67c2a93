//! `--kill`: signal the holders of the selected listening sockets safely, then wait for the port.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::ops::ControlFlow;
use std::time::Duration;

use super::{Context, Guard, describe, seconds, socket_text, visible_holders};
use crate::backend::{Backend, Holding, PinError, SignalError};
use crate::error::Error;
use crate::exit::ExitCode;
use crate::filter::Filters;
use crate::gather::{Request, Snapshot};
use crate::messages::hidden_from_kill;
use crate::model::{Detail, Process, Proto, Socket, SocketQuery};
use crate::signal::Signal;
use crate::text::{escape, plural};

/// `--kill`'s options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KillOptions {
    pub signal: Signal,
    /// Ask per process (`false` with `--yes`).
    pub ask: bool,
    pub timeout: Duration,
    /// `--all`: also processes that hold only connections on (or to) the port.
    pub clients_too: bool,
}

/// Why a selected socket is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A listening socket on the port: what holding a port means.
    Listener,
    /// A connection on the port (accepted by a server, or bound to the port).
    Connection,
    /// A connection from this host to the port: a browser tab, a `curl`, a database client.
    Client,
}

/// One socket and who holds it.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub socket: Socket,
    pub role: Role,
    pub holders: Vec<Process>,
    /// No holder is visible and some processes could not be read.
    pub hidden: bool,
}

/// A process `--kill` would signal, with the sockets that make it one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub process: Process,
    pub inodes: BTreeSet<u64>,
}

/// Why a process is never signalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protected {
    Init,
    Myself,
    Parent,
}

impl fmt::Display for Protected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protected::Init => "it is init (pid 1)",
            Protected::Myself => "it is portwho itself",
            Protected::Parent => "it is portwho's parent (the shell or program that ran it)",
        })
    }
}

impl Guard {
    pub(crate) fn protects(&self, pid: u32) -> Option<Protected> {
        if pid == 1 {
            Some(Protected::Init)
        } else if pid == self.own {
            Some(Protected::Myself)
        } else if pid == self.parent {
            Some(Protected::Parent)
        } else {
            None
        }
    }
}

/// Who gets signalled, who is spared and why, decided before anything is sent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Ascending by pid.
    pub candidates: Vec<Candidate>,
    pub protected: Vec<(Process, Protected)>,
    /// Processes with only connections on or to the port (without `--all`).
    pub left_alone: Vec<Process>,
    /// Selected sockets whose holders could not be seen.
    pub hidden: usize,
    /// Protocol and port of every socket a candidate (or a protected process) holds: watched
    /// afterwards until nothing listens there.
    pub ports: BTreeSet<(Proto, u16)>,
}

/// Decide who to signal. Pure: the sockets were read before, nothing is read here.
pub(crate) fn plan(held: &[Held], filters: &Filters, clients_too: bool, guard: Guard) -> Plan {
    let mut chosen: BTreeMap<u32, Candidate> = BTreeMap::new();
    let mut spared: BTreeMap<u32, Process> = BTreeMap::new();
    let mut plan = Plan::default();
    for h in held {
        let signalled = h.role == Role::Listener || clients_too;
        if signalled && h.hidden {
            plan.hidden += 1;
        }
        for p in h.holders.iter().filter(|p| filters.process(p)) {
            if !signalled {
                spared.insert(p.pid, p.clone());
                continue;
            }
            if h.role != Role::Client {
                plan.ports.insert((h.socket.proto, h.socket.local.port()));
            }
            chosen
                .entry(p.pid)
                .or_insert_with(|| Candidate {
                    process: p.clone(),
                    inodes: BTreeSet::new(),
                })
                .inodes
                .insert(h.socket.inode);
        }
    }
    for (pid, candidate) in chosen {
        spared.remove(&pid);
        match guard.protects(pid) {
            Some(why) => plan.protected.push((candidate.process, why)),
            None => plan.candidates.push(candidate),
        }
    }
    plan.left_alone = spared.into_values().collect();
    plan
}

/// What happened when one process was to be signalled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Signalled,
    /// It exited before the signal.
    Gone,
    /// It runs but no longer holds the socket: not the process the user saw.
    Released,
    /// Permission denied, reading its fds or signalling it.
    Denied,
    Failed(String),
}

/// Signal `pid` only if it still holds one of `inodes`, and never a process that merely
/// inherited its pid.
///
/// The order is what makes this safe: pin, then verify, then signal through the pin.
/// `pin` opens a pidfd, which refers to the process that has the pid *now*. The check then
/// reads `/proc/PID/fd`: while the pinned process lives, its pid cannot be given to another
/// process (not even while it is a zombie), so a live process seen there is the pinned one.
/// If it exited and the pid was reused before the check, the check may read the newcomer,
/// but the signal goes through the pidfd, which then fails with ESRCH instead of reaching
/// the newcomer. Either way a signal only ever reaches the process verified to hold the
/// socket.
///
/// Without pidfds (Linux before 5.3) the pid is only a number: the check is made right
/// before kill(2) to keep the window small. Hitting another process would need the
/// pinned-less pid to exit and the kernel to wrap around its whole pid space in that window.
pub(crate) fn signal_verified(
    backend: &dyn Backend,
    pid: u32,
    inodes: &HashSet<u64>,
    signal: Signal,
) -> Outcome {
    let pinned = match backend.pin(pid) {
        Ok(pinned) => Some(pinned),
        Err(PinError::Gone) => return Outcome::Gone,
        Err(PinError::Denied) => return Outcome::Denied,
        Err(PinError::Unsupported) => None,
        Err(PinError::Other(e)) => return Outcome::Failed(e.to_string()),
    };
    match backend.holding(pid, inodes) {
        Holding::Holds => {}
        Holding::Released => return Outcome::Released,
        Holding::Gone => return Outcome::Gone,
        // What cannot be verified is not signalled.
        Holding::Denied => return Outcome::Denied,
    }
    let sent = match &pinned {
        Some(pinned) => pinned.signal(signal),
        None => backend.signal_pid(pid, signal),
    };
    match sent {
        Ok(()) => Outcome::Signalled,
        Err(SignalError::Gone) => Outcome::Gone,
        Err(SignalError::Denied) => Outcome::Denied,
        Err(SignalError::Other(e)) => Outcome::Failed(e.to_string()),
    }
}

/// Read the selected sockets, the clients of the targets, and who holds them.
pub(crate) fn gather(filters: &Filters, cx: &mut Context) -> Result<Vec<Held>, Error> {
    // Clients connect *to* the port from an arbitrary local port, so finding them takes
    // the whole table rather than the kernel's port filter.
    let clients_wanted = !filters.targets.is_empty() && !filters.listening_only;
    let mut query = filters.query();
    if clients_wanted {
        query.ports = None;
    }
    let role = |s: &Socket| {
        if filters.socket(s) {
            Some(if s.state.is_listening() {
                Role::Listener
            } else {
                Role::Connection
            })
        } else if clients_wanted && filters.client(s) {
            Some(Role::Client)
        } else {
            None
        }
    };
    let request = Request {
        query,
        keep: &|s| role(s).is_some(),
        owners: true,
        detail: Some(Detail::Brief),
        ..Request::sockets(SocketQuery::default())
    };
    let snapshot = Snapshot::read(cx.backend, &request)?;
    cx.messages.warnings(&snapshot.warnings);
    Ok(snapshot
        .sockets
        .iter()
        .filter_map(|socket| {
            let pids = snapshot.holders(socket);
            Some(Held {
                role: role(socket)?,
                holders: snapshot
                    .processes_of(pids)
                    .iter()
                    .map(|p| Process::clone(p))
                    .collect(),
                hidden: snapshot.hidden(socket, pids),
                socket: socket.clone(),
            })
        })
        .collect())
}

/// `kill 4242 python3 (alice)?`, or `kill -KILL ...?` for another signal than TERM.
pub(crate) fn question(p: &Process, signal: Signal) -> String {
    let flag = if signal == Signal::Term {
        String::new()
    } else {
        format!("-{} ", signal.name())
    };
    // Asked on the terminal: escaped like every line portwho writes there.
    escape(&format!("kill {flag}{}?", describe(p))).into_owned()
}

/// The whole of `--kill`.
pub(crate) fn run(
    filters: &Filters,
    opts: &KillOptions,
    quiet: bool,
    cx: &mut Context,
) -> Result<ExitCode, Error> {
    let held = gather(filters, cx)?;
    let plan = plan(&held, filters, opts.clients_too, cx.guard);

    for (p, why) in &plan.protected {
        cx.note(&format!("not signalling {}: {why}", describe(p)));
    }
    if !plan.left_alone.is_empty() {
        let names: Vec<String> = plan.left_alone.iter().map(describe).collect();
        cx.note(&format!(
            "left alone {} with only connections on or to the port: {}; --all signals them too",
            plural(plan.left_alone.len(), "process", "processes"),
            names.join(", ")
        ));
    }
    if plan.candidates.is_empty() && plan.protected.is_empty() {
        if plan.hidden > 0 {
            cx.note(&hidden_from_kill(plan.hidden, cx.backend.privileged()));
            return Ok(ExitCode::Error);
        }
        cx.note(if held.is_empty() {
            "nothing to signal: no socket matches"
        } else {
            "nothing to signal: no process holds a listening socket there"
        });
        return Ok(ExitCode::NoMatch);
    }
    if plan.hidden > 0 {
        cx.note(&hidden_from_kill(plan.hidden, cx.backend.privileged()));
    }

    let mut signalled: Vec<Candidate> = Vec::new();
    let mut denied = 0;
    for c in &plan.candidates {
        let who = describe(&c.process);
        if opts.ask {
            // A prompt that cannot be read is a "no": only a yes signals.
            let yes = cx
                .prompt
                .confirm(&question(&c.process, opts.signal))
                .unwrap_or(false);
            if !yes {
                cx.note(&format!("skipped {who}"));
                continue;
            }
        }
        let inodes: HashSet<u64> = c.inodes.iter().copied().collect();
        match signal_verified(cx.backend, c.process.pid, &inodes, opts.signal) {
            Outcome::Signalled => {
                if !quiet {
                    cx.note(&format!("sent {} to {who}", opts.signal));
                }
                signalled.push(c.clone());
            }
            Outcome::Gone => cx.note(&format!("skipped {who}: it has exited")),
            Outcome::Released => {
                cx.note(&format!("skipped {who}: it no longer holds the socket"));
            }
            Outcome::Denied => {
                denied += 1;
                cx.note(&format!(
                    "cannot signal {who}: permission denied; run as root: sudo portwho --kill ..."
                ));
            }
            Outcome::Failed(e) => cx.note(&format!("cannot signal {who}: {e}")),
        }
    }
    if signalled.is_empty() && denied > 0 {
        return Ok(ExitCode::Error);
    }
    wait_released(filters, &plan, &signalled, opts, quiet, cx)
}

/// What `--kill` saw when it stopped watching.
struct Watched {
    /// Signalled processes that still hold their sockets.
    holding: Vec<Process>,
    /// Listeners still on the watched ports.
    listeners: Vec<Socket>,
    /// Their visible holders that were not signalled.
    others: Vec<Process>,
    late: bool,
}

/// Wait until no signalled process holds its sockets and nothing listens on the watched
/// ports; say which port is free, or who still holds it.
fn wait_released(
    filters: &Filters,
    plan: &Plan,
    signalled: &[Candidate],
    opts: &KillOptions,
    quiet: bool,
    cx: &mut Context,
) -> Result<ExitCode, Error> {
    // Nothing sent: nothing to wait for, but the port may have been freed meanwhile.
    let timeout = if signalled.is_empty() {
        Duration::ZERO
    } else {
        opts.timeout
    };
    let outcome = cx.poll(timeout, |cx, late| {
        let watched = look(filters, plan, signalled, late, cx)?;
        let free = watched.holding.is_empty() && watched.listeners.is_empty();
        // Everyone signalled let go, yet something listens: a process that was not
        // signalled (declined, spared, or restarted by a supervisor). Waiting longer changes
        // nothing once its holder is visible; an invisible one may be a socket still closing.
        Ok(if free || !watched.others.is_empty() {
            ControlFlow::Break(watched)
        } else {
            ControlFlow::Continue(watched)
        })
    })?;
    if outcome.holding.is_empty() && outcome.listeners.is_empty() {
        if !quiet {
            let ports: BTreeSet<u16> = plan.ports.iter().map(|&(_, p)| p).collect();
            for port in ports {
                cx.say(&format!("port {port} is free"))?;
            }
        }
        return Ok(ExitCode::Matched);
    }
    let others = if outcome.others.is_empty() && !outcome.holding.is_empty() {
        visible_holders(&outcome.listeners, cx.backend)?
    } else {
        outcome.others.clone()
    };
    let note = still_held(plan, signalled, &outcome, &others, opts.signal, timeout);
    cx.note(&note);
    Ok(ExitCode::NoMatch)
}

/// One round: who of the signalled still holds, and what listens on the watched ports.
fn look(
    filters: &Filters,
    plan: &Plan,
    signalled: &[Candidate],
    late: bool,
    cx: &mut Context,
) -> Result<Watched, Error> {
    let holding: Vec<Process> = signalled
        .iter()
        .filter(|c| {
            let inodes: HashSet<u64> = c.inodes.iter().copied().collect();
            // Unreadable counts as holding: freedom is claimed only when seen.
            matches!(
                cx.backend.holding(c.process.pid, &inodes),
                Holding::Holds | Holding::Denied
            )
        })
        .map(|c| c.process.clone())
        .collect();
    let listeners: Vec<Socket> = match watch_query(filters, &plan.ports) {
        Some(query) => {
            let mut found = cx.sockets(query)?;
            found.retain(|s| {
                s.state.is_listening()
                    && plan.ports.contains(&(s.proto, s.local.port()))
                    && filters.socket(s)
            });
            found
        }
        None => Vec::new(),
    };
    // Who else listens is read only once nobody signalled holds on.
    let others = if holding.is_empty() && !listeners.is_empty() {
        visible_holders(&listeners, cx.backend)?
    } else {
        Vec::new()
    };
    Ok(Watched {
        holding,
        listeners,
        others,
        late,
    })
}

/// `port 8080 is still held after 5s by 42 stubborn (alice); try --signal KILL`.
fn still_held(
    plan: &Plan,
    signalled: &[Candidate],
    watched: &Watched,
    others: &[Process],
    signal: Signal,
    timeout: Duration,
) -> String {
    let mut holders: Vec<String> = watched.holding.iter().map(describe).collect();
    let signalled_pids: HashSet<u32> = signalled.iter().map(|c| c.process.pid).collect();
    for p in others.iter().filter(|p| !signalled_pids.contains(&p.pid)) {
        holders.push(format!("{} (not signalled)", describe(p)));
    }
    if holders.is_empty() {
        holders.extend(watched.listeners.iter().map(socket_text));
    }
    let ports: BTreeSet<u16> = plan.ports.iter().map(|&(_, p)| p).collect();
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    let after = if watched.late && !timeout.is_zero() {
        format!(" after {}", seconds(timeout))
    } else {
        String::new()
    };
    let hint = if !watched.holding.is_empty() && signal != Signal::Kill {
        "; try --signal KILL"
    } else {
        ""
    };
    let what = match ports.as_slice() {
        [] => "the socket".to_string(),
        [one] => format!("port {one}"),
        many => format!("ports {}", many.join(", ")),
    };
    format!(
        "{what} is still held{after} by {}{hint}",
        holders.join(", ")
    )
}

/// One filtered query for the listeners on the watched ports; `None` when no port is watched
/// (only clients were signalled).
fn watch_query(filters: &Filters, ports: &BTreeSet<(Proto, u16)>) -> Option<SocketQuery> {
    if ports.is_empty() {
        return None;
    }
    let mut query = filters.query();
    query.listening_only = true;
    query.tcp = filters.tcp && ports.iter().any(|&(p, _)| p == Proto::Tcp);
    query.udp = filters.udp && ports.iter().any(|&(p, _)| p == Proto::Udp);
    let numbers: BTreeSet<u16> = ports.iter().map(|&(_, p)| p).collect();
    query.ports = Some(numbers.into_iter().map(|p| p..=p).collect());
    Some(query)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::testing::run_with_fakes;
    use crate::backend::fake::{FakeBackend, Script};
    use crate::model::State;
    use crate::model::testing::{self, process};
    use crate::target::Target;

    fn socket(local: &str, remote: Option<&str>, state: State, inode: u64) -> Socket {
        Socket {
            remote: remote.map(|r| r.parse().unwrap()),
            uid: Some(1000),
            ..testing::tcp(local, state, inode)
        }
    }

    fn on_port(port: u16) -> Filters {
        Filters {
            targets: vec![Target {
                addr: None,
                ports: port..=port,
                proto: None,
            }],
            listening_only: false,
            ..Filters::default()
        }
    }

    const GUARD: Guard = Guard {
        own: 900,
        parent: 901,
    };

    fn held(socket: Socket, role: Role, holders: &[Process]) -> Held {
        Held {
            socket,
            role,
            holders: holders.to_vec(),
            hidden: false,
        }
    }

    #[test]
    fn listeners_are_signalled_and_clients_left_alone() {
        let server = process(10, "node");
        let tab = process(20, "firefox");
        let helper = process(30, "sh");
        let held = [
            held(
                socket("127.0.0.1:3000", None, State::Listen, 1),
                Role::Listener,
                std::slice::from_ref(&server),
            ),
            // An accepted connection: the server, and a child that inherited it.
            held(
                socket(
                    "127.0.0.1:3000",
                    Some("127.0.0.1:50000"),
                    State::Established,
                    2,
                ),
                Role::Connection,
                &[server.clone(), helper.clone()],
            ),
            held(
                socket(
                    "127.0.0.1:50000",
                    Some("127.0.0.1:3000"),
                    State::Established,
                    3,
                ),
                Role::Client,
                std::slice::from_ref(&tab),
            ),
        ];
        let p = plan(&held, &on_port(3000), false, GUARD);
        assert_eq!(p.candidates.len(), 1);
        assert_eq!(p.candidates[0].process, server);
        assert_eq!(p.candidates[0].inodes, BTreeSet::from([1]));
        assert_eq!(p.left_alone, vec![tab.clone(), helper.clone()]);
        assert_eq!(p.ports, BTreeSet::from([(Proto::Tcp, 3000)]));

        let p = plan(&held, &on_port(3000), true, GUARD);
        let pids: Vec<u32> = p.candidates.iter().map(|c| c.process.pid).collect();
        assert_eq!(pids, vec![10, 20, 30]);
        assert_eq!(p.candidates[0].inodes, BTreeSet::from([1, 2]));
        assert!(p.left_alone.is_empty());
        // The client's own ephemeral port is not watched.
        assert_eq!(p.ports, BTreeSet::from([(Proto::Tcp, 3000)]));
    }

    #[test]
    fn init_self_and_parent_are_protected() {
        let held = [held(
            socket("0.0.0.0:80", None, State::Listen, 1),
            Role::Listener,
            &[
                process(1, "systemd"),
                process(900, "portwho"),
                process(901, "bash"),
                process(1234, "nginx"),
            ],
        )];
        let p = plan(&held, &on_port(80), false, GUARD);
        assert_eq!(p.candidates.len(), 1);
        assert_eq!(p.candidates[0].process.pid, 1234);
        let why: Vec<(u32, Protected)> = p.protected.iter().map(|(p, w)| (p.pid, *w)).collect();
        assert_eq!(
            why,
            vec![
                (1, Protected::Init),
                (900, Protected::Myself),
                (901, Protected::Parent)
            ]
        );
    }

    #[test]
    fn owner_filters_pick_processes_not_just_sockets() {
        // --pid 11 without a target: the listener 11 shares with its master is selected,
        // but only 11 is signalled; the other listener is not this process's.
        let held = [
            held(
                socket("0.0.0.0:80", None, State::Listen, 1),
                Role::Listener,
                &[process(10, "nginx"), process(11, "nginx")],
            ),
            held(
                socket("0.0.0.0:22", None, State::Listen, 2),
                Role::Listener,
                &[process(5, "sshd")],
            ),
        ];
        let filters = Filters {
            pids: vec![11],
            ..Filters::default()
        };
        let p = plan(&held, &filters, false, GUARD);
        let pids: Vec<u32> = p.candidates.iter().map(|c| c.process.pid).collect();
        assert_eq!(pids, vec![11]);
        assert_eq!(p.ports, BTreeSet::from([(Proto::Tcp, 80)]));
    }

    #[test]
    fn hidden_owners_are_counted() {
        let mut h = held(
            socket("0.0.0.0:80", None, State::Listen, 1),
            Role::Listener,
            &[],
        );
        h.hidden = true;
        let p = plan(&[h], &on_port(80), false, GUARD);
        assert_eq!((p.candidates.len(), p.hidden), (0, 1));
    }

    // The verify-then-signal order, against a fake that logs every call.

    fn inodes(list: &[u64]) -> HashSet<u64> {
        list.iter().copied().collect()
    }

    #[test]
    fn pins_then_verifies_then_signals_through_the_pin() {
        let fake = FakeBackend::new();
        fake.spawn(42, "python3", &[7]);
        let outcome = signal_verified(&fake, 42, &inodes(&[7]), Signal::Term);
        assert_eq!(outcome, Outcome::Signalled);
        assert_eq!(
            fake.log(),
            vec!["pin 42", "holding 42", "pidfd 42 SIGTERM: delivered"]
        );
        assert!(!fake.alive(42));
    }

    #[test]
    fn a_process_that_closed_the_socket_is_not_signalled() {
        let fake = FakeBackend::new();
        fake.spawn(42, "python3", &[]);
        let outcome = signal_verified(&fake, 42, &inodes(&[7]), Signal::Term);
        assert_eq!(outcome, Outcome::Released);
        assert_eq!(fake.log(), vec!["pin 42", "holding 42"]);
        assert!(fake.alive(42));
    }

    #[test]
    fn a_reused_pid_is_never_signalled() {
        // 42 holds the socket when pinned, then exits; a new process gets pid 42 and (the
        // worst case) holds the same socket, so the check passes. The signal still goes to
        // the pinned, exited process: ESRCH, and the newcomer lives.
        let fake = FakeBackend::new();
        fake.spawn(42, "python3", &[7]);
        fake.script(Script::ReuseAfterPin {
            pid: 42,
            inodes: vec![7],
        });
        let outcome = signal_verified(&fake, 42, &inodes(&[7]), Signal::Kill);
        assert_eq!(outcome, Outcome::Gone);
        assert_eq!(
            fake.log(),
            vec![
                "pin 42",
                "pid 42 reused",
                "holding 42",
                "pidfd 42 SIGKILL: no such process"
            ]
        );
        assert!(fake.alive(42), "the newcomer with pid 42 is untouched");
    }

    #[test]
    fn gone_before_pinning_is_skipped() {
        let fake = FakeBackend::new();
        assert_eq!(
            signal_verified(&fake, 42, &inodes(&[7]), Signal::Term),
            Outcome::Gone
        );
        assert_eq!(fake.log(), vec!["pin 42"]);
    }

    #[test]
    fn old_kernels_recheck_right_before_kill() {
        let fake = FakeBackend::new();
        fake.script(Script::NoPidfd);
        fake.spawn(42, "python3", &[7]);
        assert_eq!(
            signal_verified(&fake, 42, &inodes(&[7]), Signal::Term),
            Outcome::Signalled
        );
        assert_eq!(
            fake.log(),
            vec!["pin 42", "holding 42", "kill 42 SIGTERM: delivered"]
        );
        // And a released socket is still not signalled on that path.
        fake.spawn(43, "python3", &[]);
        assert_eq!(
            signal_verified(&fake, 43, &inodes(&[7]), Signal::Term),
            Outcome::Released
        );
    }

    #[test]
    fn permission_denied() {
        let fake = FakeBackend::new();
        fake.spawn(42, "postgres", &[7]);
        fake.script(Script::Deny(42));
        assert_eq!(
            signal_verified(&fake, 42, &inodes(&[7]), Signal::Term),
            Outcome::Denied
        );
        assert!(fake.alive(42));
    }

    // The whole flow, with a fake system, prompt and clock.

    fn kill_opts(signal: Signal, ask: bool) -> KillOptions {
        KillOptions {
            signal,
            ask,
            timeout: Duration::from_secs(5),
            clients_too: false,
        }
    }

    struct Run {
        code: ExitCode,
        out: String,
        err: String,
        questions: Vec<String>,
        slept: Duration,
    }

    fn kill_run(
        fake: &FakeBackend,
        filters: &Filters,
        opts: &KillOptions,
        answers: &[bool],
    ) -> Run {
        let ran = run_with_fakes(fake, answers, GUARD, |cx| run(filters, opts, false, cx));
        Run {
            code: ran.result.unwrap(),
            out: ran.out,
            err: ran.err,
            questions: ran.questions,
            slept: ran.slept,
        }
    }

    #[test]
    fn kill_frees_the_port_and_spares_the_client() {
        let fake = FakeBackend::new();
        fake.spawn(42, "python3", &[1]);
        fake.spawn(43, "curl", &[2]);
        fake.add_socket(socket("127.0.0.1:8080", None, State::Listen, 1));
        fake.add_socket(socket(
            "127.0.0.1:50000",
            Some("127.0.0.1:8080"),
            State::Established,
            2,
        ));
        let r = kill_run(&fake, &on_port(8080), &kill_opts(Signal::Term, false), &[]);
        assert_eq!(r.code, ExitCode::Matched, "{}", r.err);
        assert_eq!(r.out, "port 8080 is free\n");
        assert!(
            r.err.contains("sent SIGTERM to 42 python3 (alice)"),
            "{}",
            r.err
        );
        assert!(r.err.contains("left alone 1 process"), "{}", r.err);
        assert!(r.err.contains("43 curl"), "{}", r.err);
        assert!(!fake.alive(42) && fake.alive(43));
        assert!(r.questions.is_empty());
    }

    #[test]
    fn asks_per_process_and_no_means_no() {
        let fake = FakeBackend::new();
        fake.spawn(42, "python3", &[1]);
        fake.spawn(44, "evil\x1b]0;x\x07", &[1]);
        fake.add_socket(socket("127.0.0.1:8080", None, State::Listen, 1));
        let r = kill_run(
            &fake,
            &on_port(8080),
            &kill_opts(Signal::Kill, true),
            &[true, false],
        );
        assert_eq!(
            r.questions,
            vec![
                "kill -KILL 42 python3 (alice)?",
                "kill -KILL 44 evil\\x1b]0;x\\x07 (alice)?"
            ]
        );
        assert!(!fake.alive(42) && fake.alive(44));
        // 44 still holds the listener, and was not signalled: no point waiting.
        assert_eq!(r.code, ExitCode::NoMatch);
        assert!(
            r.err.contains(
                "port 8080 is still held by 44 evil\\x1b]0;x\\x07 (alice) (not signalled)"
            ),
            "{}",
            r.err
        );
        assert_eq!(r.slept, Duration::ZERO);
    }

    #[test]
    fn a_process_ignoring_term_times_out_with_a_hint() {
        let fake = FakeBackend::new();
        fake.spawn(42, "stubborn", &[1]);
        fake.script(Script::IgnoreTerm(42));
        fake.add_socket(socket("127.0.0.1:8080", None, State::Listen, 1));
        let r = kill_run(&fake, &on_port(8080), &kill_opts(Signal::Term, false), &[]);
        assert_eq!(r.code, ExitCode::NoMatch);
        assert_eq!(r.out, "");
        assert!(
            r.err.contains(
                "port 8080 is still held after 5s by 42 stubborn (alice); try --signal KILL"
            ),
            "{}",
            r.err
        );
        assert!(r.slept >= Duration::from_secs(5));
        // One netlink query per round, no owner scans while the signalled process holds on.
        assert_eq!(
            fake.owner_scans(),
            2,
            "the plan's scan and the final report's"
        );
    }

    #[test]
    fn protected_processes_are_named_and_not_signalled() {
        let fake = FakeBackend::new();
        fake.spawn(901, "bash", &[1]);
        fake.add_socket(socket("127.0.0.1:8080", None, State::Listen, 1));
        let r = kill_run(&fake, &on_port(8080), &kill_opts(Signal::Term, false), &[]);
        assert!(fake.alive(901));
        assert!(
            r.err
                .contains("not signalling 901 bash (alice): it is portwho's parent")
        );
        assert_eq!(r.code, ExitCode::NoMatch);
        assert!(!fake.log().iter().any(|l| l.starts_with("pin")));
    }

    #[test]
    fn denied_everywhere_is_exit_two() {
        let fake = FakeBackend::new();
        fake.spawn(42, "postgres", &[1]);
        fake.script(Script::Deny(42));
        fake.add_socket(socket("127.0.0.1:5432", None, State::Listen, 1));
        let r = kill_run(&fake, &on_port(5432), &kill_opts(Signal::Term, false), &[]);
        assert_eq!(r.code, ExitCode::Error);
        assert!(
            r.err.contains("permission denied; run as root: sudo"),
            "{}",
            r.err
        );
    }

    #[test]
    fn nothing_to_signal() {
        let fake = FakeBackend::new();
        let r = kill_run(&fake, &on_port(8080), &kill_opts(Signal::Term, false), &[]);
        assert_eq!(r.code, ExitCode::NoMatch);
        assert!(r.err.contains("no socket matches"));
    }
}
