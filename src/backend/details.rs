//! Process details and interface addresses from sysinfo, on the platforms whose process
//! tables portwho does not read itself (Windows, macOS): name, command line, user,
//! parent, executable, working directory, start time and the parent chain. Only the pids
//! asked about are read in full; the chain needs every process's name and parent, which
//! is one cheap listing.

use std::collections::HashSet;
use std::net::IpAddr;

use sysinfo::{Networks, Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind, Users};

use crate::model::{Ancestor, Detail, Manager, Process, ProcessDetails};

/// How far a parent chain is followed: Windows keeps a parent's pid after the parent
/// exits, so a chain can loop through a reused pid; the start times below stop that, this
/// stops anything else.
const MAX_ANCESTORS: usize = 64;

/// The details `detail` asks for of these pids; those that exited are counted. User names
/// come from `users` (macOS), or are left for the caller (Windows).
pub(crate) fn read(pids: &[u32], detail: Detail, users: Option<&Users>) -> ProcessDetails {
    let mut details = ProcessDetails::default();
    if pids.is_empty() {
        return details;
    }
    let mut system = System::new();
    let wanted: Vec<Pid> = pids.iter().map(|&p| Pid::from_u32(p)).collect();
    let mut kind = ProcessRefreshKind::nothing();
    if users.is_some() {
        kind = kind.with_user(UpdateKind::Always);
    }
    if detail != Detail::Names {
        kind = kind.with_cmd(UpdateKind::Always);
    }
    if matches!(detail, Detail::Exe | Detail::Judged) {
        kind = kind.with_exe(UpdateKind::Always);
    }
    if detail == Detail::Full {
        kind = kind
            .with_exe(UpdateKind::Always)
            .with_cwd(UpdateKind::Always);
        // Names and parents of every process, for the parent chains.
        system.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing(),
        );
    }
    system.refresh_processes_specifics(ProcessesToUpdate::Some(&wanted), true, kind);
    for &pid in pids {
        match system.process(Pid::from_u32(pid)) {
            Some(p) => {
                let mut process = convert(p, users, detail);
                if detail == Detail::Full {
                    process.ancestors = ancestors(&system, p);
                }
                details.processes.insert(pid, process);
            }
            None => details.vanished += 1,
        }
    }
    details
}

fn convert(p: &sysinfo::Process, users: Option<&Users>, detail: Detail) -> Process {
    let user_id = p.user_id();
    let text = |s: &std::ffi::OsStr| s.to_string_lossy().into_owned();
    let path = |s: Option<&std::path::Path>| {
        s.filter(|p| !p.as_os_str().is_empty())
            .map(|p| p.to_string_lossy().into_owned())
    };
    let full = detail == Detail::Full;
    Process {
        pid: p.pid().as_u32(),
        name: text(p.name()),
        cmdline: p.cmd().iter().map(|a| text(a)).collect(),
        user: user_id
            .zip(users)
            .and_then(|(id, users)| users.get_user_by_id(id))
            .map(|u| u.name().to_string()),
        uid: user_id.and_then(uid),
        ppid: p.parent().map(Pid::as_u32),
        exe: path(p.exe()).filter(|_| full),
        cwd: path(p.cwd()).filter(|_| full),
        started: Some(p.start_time()).filter(|&t| t > 0),
        // No systemd units nor containers here; a process's ancestors are added after.
        manager: Manager::default(),
        ..Process::default()
    }
}

/// A uid where users have them (macOS); Windows names users by SID, which is no number.
#[cfg(unix)]
fn uid(id: &sysinfo::Uid) -> Option<u32> {
    Some(**id)
}

#[cfg(not(unix))]
fn uid(_: &sysinfo::Uid) -> Option<u32> {
    None
}

/// Parent, grandparent, … as far as the process list goes. A parent that started after
/// its child is not its parent but a later process given the exited parent's pid.
fn ancestors(system: &System, p: &sysinfo::Process) -> Vec<Ancestor> {
    let mut chain = Vec::new();
    let mut seen = HashSet::from([p.pid()]);
    let mut child = p;
    while let Some(parent) = child.parent().and_then(|pid| system.process(pid)) {
        if chain.len() >= MAX_ANCESTORS
            || !seen.insert(parent.pid())
            || parent.start_time() > child.start_time()
        {
            break;
        }
        chain.push(Ancestor {
            pid: parent.pid().as_u32(),
            name: parent.name().to_string_lossy().into_owned(),
        });
        child = parent;
    }
    chain
}

/// The parent of one process, when it can be read.
#[cfg(windows)]
pub(crate) fn parent_of(pid: u32) -> Option<u32> {
    let mut system = System::new();
    let pid = Pid::from_u32(pid);
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        false,
        ProcessRefreshKind::nothing(),
    );
    system.process(pid)?.parent().map(Pid::as_u32)
}

/// Every interface address with its interface's name.
pub(crate) fn interfaces() -> Vec<(IpAddr, String)> {
    let networks = Networks::new_with_refreshed_list();
    networks
        .iter()
        .flat_map(|(name, data)| {
            data.ip_networks()
                .iter()
                .map(move |net| (net.addr, name.clone()))
        })
        .collect()
}
