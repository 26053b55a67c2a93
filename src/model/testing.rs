//! Builders for tests, so each test spells out only the fields it is about.

use super::{Category, Entry, Exposure, Process, Proto, Socket, State};

/// A socket on `local` with no peer, uid 0 and inode 1.
pub(crate) fn socket(local: &str, proto: Proto, state: State) -> Socket {
    Socket {
        proto,
        local: local.parse().expect("a socket address"),
        remote: None,
        state,
        uid: Some(0),
        inode: 1,
        v6only: None,
        netns: 0,
    }
}

/// A TCP socket on `local` with no peer, uid 0 and this inode.
pub(crate) fn tcp(local: &str, state: State, inode: u64) -> Socket {
    Socket {
        inode,
        ..socket(local, Proto::Tcp, state)
    }
}

/// A process of alice's (uid 1000) with this name and no command line.
pub(crate) fn process(pid: u32, name: &str) -> Process {
    Process {
        pid,
        name: name.into(),
        user: Some("alice".into()),
        uid: Some(1000),
        ..Process::default()
    }
}

/// A row for `socket`, with no holders, no service and the exposure of its address.
pub(crate) fn entry(socket: Socket) -> Entry {
    Entry {
        exposure: Exposure::of(socket.local.ip()),
        socket,
        processes: Vec::new(),
        owners_hidden: false,
        socket_user: None,
        service: None,
        category: Category::Registered,
        ephemeral: false,
        interface: None,
        findings: Vec::new(),
        place: None,
        published: Vec::new(),
        forward: None,
        firewall: None,
    }
}
