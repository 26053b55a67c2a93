//! The one gathering step: sockets read once, owners walked once, details, users, warnings.
//!
//! Every mode (the listing, `--audit`, `--diff`, `--kill`, `--wait-*`, `--free`) reads the
//! system through `Snapshot`; a new source of sockets (another namespace, a forward, another
//! platform's table) is added here and nowhere else.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::backend::Backend;
use crate::error::Error;
use crate::hash::IntMap;
use crate::join;
use crate::model::{Detail, Owners, Process, Socket, SocketQuery, Warning};

/// What to read.
pub(crate) struct Request<'a> {
    /// What to ask the backend for.
    pub query: SocketQuery,
    /// Which of the sockets read to keep, before their holders are known.
    pub keep: &'a dyn Fn(&Socket) -> bool,
    /// Which of those to keep once their holders' pids are known (`--pid`).
    pub held: &'a dyn Fn(&Socket, &[u32]) -> bool,
    /// Find the processes that hold the kept sockets.
    pub owners: bool,
    /// How much to read about the holders; `None` for nothing.
    pub detail: Option<Detail>,
}

impl Request<'_> {
    /// Sockets alone, every one the query returns: no owners, no details.
    pub(crate) fn sockets(query: SocketQuery) -> Request<'static> {
        Request {
            query,
            keep: &every,
            held: &every_held,
            owners: false,
            detail: None,
        }
    }
}

fn every(_: &Socket) -> bool {
    true
}

fn every_held(_: &Socket, _: &[u32]) -> bool {
    true
}

/// The system as one run saw it.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// In the order the backend returned them.
    pub sockets: Vec<Socket>,
    pub owners: Owners,
    /// Shared: one process may hold thousands of sockets, and a copy of its details per
    /// socket would dominate portwho's memory.
    pub processes: IntMap<u32, Arc<Process>>,
    /// Names of the sockets' uids, one shared string per uid.
    pub users: HashMap<u32, Arc<str>>,
    pub warnings: Vec<Warning>,
    /// Holders that exited before their details were read.
    pub vanished_details: usize,
}

impl Snapshot {
    /// Read the sockets the request asks for, then their owners and details.
    pub(crate) fn read(backend: &dyn Backend, request: &Request) -> Result<Snapshot, Error> {
        if request.owners {
            // The kernel iterator loads while the sockets are dumped.
            backend.prepare_owners();
        }
        let table = backend.sockets(&request.query)?;
        let sockets = table
            .sockets
            .into_iter()
            .filter(|s| (request.keep)(s))
            .collect();
        let mut snapshot = Snapshot::of(backend, sockets, request)?;
        snapshot.warnings = table.warnings;
        Ok(snapshot)
    }

    /// Owners, details and users for sockets already read.
    pub(crate) fn of(
        backend: &dyn Backend,
        mut sockets: Vec<Socket>,
        request: &Request,
    ) -> Result<Snapshot, Error> {
        let owners = if request.owners {
            let wanted: HashSet<u64> = sockets
                .iter()
                .map(|s| s.inode)
                .filter(|&i| i != 0)
                .collect();
            backend.owners(&wanted)?
        } else {
            Owners::default()
        };
        sockets.retain(|s| (request.held)(s, join::holder_pids(s, &owners)));
        let mut snapshot = Snapshot {
            sockets,
            owners,
            ..Snapshot::default()
        };
        // Names are for what is shown; a bare look at the table (a wait's round) has none.
        if let Some(detail) = request.detail {
            snapshot.users = user_names(backend, &snapshot.sockets);
            snapshot.read_details(backend, detail);
        }
        Ok(snapshot)
    }

    /// Details only for the processes that hold a kept socket.
    fn read_details(&mut self, backend: &dyn Backend, detail: Detail) {
        let mut pids: Vec<u32> = self
            .sockets
            .iter()
            .flat_map(|s| self.holders(s).iter().copied())
            .collect();
        pids.sort_unstable();
        pids.dedup();
        let details = backend.processes(&pids, detail);
        self.vanished_details = details.vanished;
        self.processes = details
            .processes
            .into_iter()
            .map(|(pid, p)| (pid, Arc::new(p)))
            .collect();
    }

    /// The pids holding a socket, without their details.
    pub(crate) fn holders(&self, socket: &Socket) -> &[u32] {
        join::holder_pids(socket, &self.owners)
    }

    /// The details of these holders; those that exited since the scan are left out.
    pub(crate) fn processes_of(&self, pids: &[u32]) -> Vec<Arc<Process>> {
        join::holders(pids, &self.processes)
    }

    /// The hidden-owner rule: no holder of a socket is visible while some processes could
    /// not be read, so its owner may be one of those.
    pub(crate) fn hidden(&self, socket: &Socket, pids: &[u32]) -> bool {
        self.owners.stats.someone_hidden()
            && socket.inode != 0
            && pids.iter().all(|pid| !self.processes.contains_key(pid))
    }
}

/// The names of the sockets' owners, one shared string per uid.
fn user_names(backend: &dyn Backend, sockets: &[Socket]) -> HashMap<u32, Arc<str>> {
    let mut users = HashMap::new();
    for s in sockets {
        if let std::collections::hash_map::Entry::Vacant(slot) = users.entry(s.uid)
            && let Some(name) = backend.user_name(s.uid)
        {
            slot.insert(Arc::<str>::from(name));
        }
    }
    users
}
