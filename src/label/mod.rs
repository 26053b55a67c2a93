//! Labels for sockets: service names and port ranges.

pub(crate) mod exposure;
pub(crate) mod findings;
pub(crate) mod ranges;
mod service_name;
pub(crate) mod services;
mod services_table;

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::Arc;

use crate::model::{Entry, Exposure, Process, Socket};
use services::ServiceTable;

/// Everything needed to label a socket, gathered once per run.
pub(crate) struct Labeller<'a> {
    /// `None` with `--numeric`.
    pub services: Option<&'a ServiceTable>,
    pub ephemeral: RangeInclusive<u16>,
    /// Names of the socket owners' uids.
    pub users: &'a HashMap<u32, Arc<str>>,
    /// This host's interface addresses and names.
    pub interfaces: &'a [(std::net::IpAddr, String)],
    /// How far each listener is judged by the audit rules.
    pub findings: Judging,
}

/// How far the audit rules judge each listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Judging {
    /// Not at all: the table shows no findings, and writing their messages for thousands
    /// of listeners that nobody reads was a fifth of a plain listing's time and memory.
    Not,
    /// Severity and code, with an empty message: `--prometheus` counts them.
    Counted,
    /// With their messages: JSON and the audit show them.
    Worded,
}

impl Labeller<'_> {
    pub(crate) fn entry(
        &self,
        socket: Socket,
        processes: Vec<Arc<Process>>,
        owners_hidden: bool,
    ) -> Entry {
        let port = socket.local.port();
        let mut entry = Entry {
            service: self.services.and_then(|s| s.name(port, socket.proto)),
            category: ranges::category(port),
            exposure: Exposure::of(socket.local.ip()),
            interface: exposure::interface_of(socket.local.ip(), self.interfaces),
            ephemeral: self.ephemeral.contains(&port),
            socket_user: socket.uid.and_then(|uid| self.users.get(&uid).cloned()),
            socket,
            processes,
            owners_hidden,
            findings: Vec::new(),
            place: None,
            published: Vec::new(),
            forward: None,
            firewall: None,
        };
        if self.findings != Judging::Not {
            entry.findings = findings::findings(&entry, self.findings == Judging::Worded);
        }
        entry
    }
}
