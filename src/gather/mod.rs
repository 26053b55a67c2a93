//! The one gathering step: sockets read once, owners walked once, details, users, warnings.
//!
//! Every mode (the listing, `--audit`, `--diff`, `--kill`, `--wait-*`, `--free`) reads the
//! system through `Snapshot`; a new source of sockets (another namespace, a forward, another
//! platform's table) is added here and nowhere else.

mod joins;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::backend::{Backend, SocketTable};
use crate::error::Error;
use crate::hash::IntMap;
use crate::join;
use crate::model::ProcessDetails;
use crate::model::{
    ContainerState, Detail, Namespace, NetnsChoice, NoRuleset, NotEntered, Owners, Place, Process,
    RuleForward, Ruleset, Socket, SocketQuery, Warning,
};

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
    /// Which network namespaces to read.
    pub netns: &'a NetnsChoice,
    /// Join sockets across namespaces: where a published port really goes, and which
    /// host ports reach a container's socket (for JSON, owner cards and `--netns`).
    pub joins: bool,
    /// When nothing in the caller's namespace is kept, look for the same sockets in every
    /// other one (`portwho :PORT`: free here, but held in a container).
    pub elsewhere: bool,
    /// Read each namespace's firewall ruleset, for verdicts and forwards.
    pub firewall: bool,
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
            netns: &NetnsChoice::Own,
            joins: false,
            elsewhere: false,
            firewall: false,
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
    /// Where the sockets live, by namespace inode: the namespace and its container.
    pub places: HashMap<u64, Arc<Place>>,
    /// What the container runtimes' state on disk says, when sockets were joined.
    pub containers: Vec<Arc<ContainerState>>,
    /// Sockets read only to join across namespaces, never shown: the listeners behind a
    /// published port, and the host's listeners on the ports published to a container.
    pub behind: Vec<Socket>,
    /// With `Request::elsewhere`: the sockets other namespaces hold where this one has none.
    pub elsewhere: Vec<Socket>,
    /// With `Request::firewall`: each namespace's ruleset, or why it could not be read.
    pub rulesets: Rulesets,
    /// The DNAT and REDIRECT rules of those rulesets, by namespace.
    pub rule_forwards: Vec<(u64, RuleForward)>,
}

impl Snapshot {
    /// Read the sockets the request asks for, in every namespace it names, then their
    /// owners and details.
    pub(crate) fn read(backend: &dyn Backend, request: &Request) -> Result<Snapshot, Error> {
        if request.owners {
            // The kernel iterator loads while the sockets are dumped.
            backend.prepare_owners();
        }
        let mut list = backend.namespaces(request.netns)?;
        let (table, mut warnings) = read_tables(backend, &list.namespaces, &request.query)?;
        if list.denied > 0 && *request.netns == NetnsChoice::All {
            warnings.push(Warning::NamespacesUnknown {
                processes: list.denied,
            });
        }
        let keep = |sockets: Vec<Socket>| -> Vec<Socket> {
            sockets.into_iter().filter(|s| (request.keep)(s)).collect()
        };
        let sockets = keep(table.sockets);
        // The rulesets of the namespaces asked about, not of those looked at elsewhere.
        // A platform without nftables gives no verdicts (null), rather than unknown ones.
        let (rulesets, rule_forwards) = match request.firewall && backend.reads_firewall() {
            true => read_rulesets(backend, &list.namespaces),
            false => Default::default(),
        };
        let mut elsewhere = Vec::new();
        if request.elsewhere && sockets.is_empty() && *request.netns == NetnsChoice::Own {
            let (others, found) = read_elsewhere(backend, &request.query);
            elsewhere = keep(found);
            list.namespaces.extend(others);
        }
        let joined = if request.joins || *request.netns != NetnsChoice::Own || !elsewhere.is_empty()
        {
            let wanted = joins::Wanted {
                behind: request.joins,
                forwards: &rule_forwards,
            };
            joins::read(backend, &list.namespaces, &sockets, &wanted)
        } else {
            joins::Joined::own(&list.namespaces)
        };
        let mut snapshot = Snapshot {
            places: joined.places,
            containers: joined.containers,
            behind: joined.behind,
            elsewhere,
            rulesets,
            rule_forwards,
            ..Snapshot::default()
        };
        snapshot.gather(backend, sockets, request)?;
        warnings.extend(joined.warnings);
        snapshot.warnings = warnings;
        Ok(snapshot)
    }

    /// Owners, details and users for sockets already read.
    pub(crate) fn of(
        backend: &dyn Backend,
        sockets: Vec<Socket>,
        request: &Request,
    ) -> Result<Snapshot, Error> {
        let mut snapshot = Snapshot::default();
        snapshot.gather(backend, sockets, request)?;
        Ok(snapshot)
    }

    /// One owner walk for the sockets and those behind them, then details and users.
    fn gather(
        &mut self,
        backend: &dyn Backend,
        mut sockets: Vec<Socket>,
        request: &Request,
    ) -> Result<(), Error> {
        if request.owners {
            // Socket inodes are unique host-wide: one walk finds the holders in every
            // namespace.
            let wanted: HashSet<u64> = sockets
                .iter()
                .chain(&self.behind)
                .chain(&self.elsewhere)
                .map(|s| s.inode)
                .filter(|&i| i != 0)
                .collect();
            self.owners = backend.owners(&wanted, request.detail)?;
        }
        sockets.retain(|s| (request.held)(s, join::holder_pids(s, &self.owners)));
        self.sockets = sockets;
        // Names are for what is shown; a bare look at the table (a wait's round) has none.
        if let Some(detail) = request.detail {
            self.users = user_names(backend, &self.sockets);
            self.read_details(backend, detail);
        }
        Ok(())
    }

    /// Details only for the processes that hold a kept socket.
    fn read_details(&mut self, backend: &dyn Backend, detail: Detail) {
        let mut pids: Vec<u32> = self
            .sockets
            .iter()
            .chain(&self.behind)
            .chain(&self.elsewhere)
            .flat_map(|s| self.holders(s).iter().copied())
            .collect();
        pids.sort_unstable();
        pids.dedup();
        let details = match detail {
            Detail::Judged => self.judged(backend, &pids),
            _ => backend.processes(&pids, detail),
        };
        self.vanished_details = details.vanished;
        let containers = &self.containers;
        self.processes = details
            .processes
            .into_iter()
            .map(|(pid, mut p)| {
                name_container(&mut p, containers);
                (pid, Arc::new(p))
            })
            .collect();
    }

    /// `Detail::Judged`: parents only of the processes that share a socket with another
    /// (only among those is there a master to tell from its workers).
    fn judged(&self, backend: &dyn Backend, pids: &[u32]) -> ProcessDetails {
        let shared: HashSet<u32> = self
            .sockets
            .iter()
            .chain(&self.behind)
            .chain(&self.elsewhere)
            .map(|s| self.holders(s))
            .filter(|holders| holders.len() > 1)
            .flatten()
            .copied()
            .collect();
        let (with_parents, alone): (Vec<u32>, Vec<u32>) =
            pids.iter().partition(|pid| shared.contains(pid));
        let mut details = backend.processes(&alone, Detail::Exe);
        let more = backend.processes(&with_parents, Detail::Judged);
        details.processes.extend(more.processes);
        details.vanished += more.vanished;
        details
    }

    /// The pids holding a socket, without their details.
    pub(crate) fn holders(&self, socket: &Socket) -> &[u32] {
        join::holder_pids(socket, &self.owners)
    }

    /// The details of these holders; those that exited since the scan are left out.
    pub(crate) fn processes_of(&self, pids: &[u32]) -> Vec<Arc<Process>> {
        join::holders(pids, &self.processes)
    }

    /// Where a socket lives; `None` for a namespace nobody asked about.
    pub(crate) fn place(&self, socket: &Socket) -> Option<&Arc<Place>> {
        self.places.get(&socket.netns)
    }

    /// The hidden-owner rule: no holder of a socket is visible while some processes could
    /// not be read, so its owner may be one of those.
    pub(crate) fn hidden(&self, socket: &Socket, pids: &[u32]) -> bool {
        self.owners.stats.someone_hidden()
            && socket.inode != 0
            && pids.iter().all(|pid| !self.processes.contains_key(pid))
    }
}

/// Every namespace's table, and why those that could not be read were not: the caller's
/// own through `sockets`, each other one through `sockets_in`.
fn read_tables(
    backend: &dyn Backend,
    namespaces: &[Namespace],
    query: &SocketQuery,
) -> Result<(SocketTable, Vec<Warning>), Error> {
    let mut table = SocketTable::default();
    let mut skipped: BTreeMap<NotEntered, usize> = BTreeMap::new();
    for ns in namespaces {
        let read = if ns.own {
            backend.sockets(query)?
        } else {
            match backend.sockets_in(ns, query) {
                Ok(read) => read,
                Err(why) => {
                    *skipped.entry(why).or_default() += 1;
                    continue;
                }
            }
        };
        table.sockets.extend(read.sockets);
        table.warnings.extend(read.warnings);
    }
    let mut warnings = std::mem::take(&mut table.warnings);
    warnings.extend(
        skipped
            .into_iter()
            .map(|(why, count)| Warning::NamespacesNotRead { count, why }),
    );
    Ok((table, warnings))
}

/// A process's container, as its cgroup names it, gains the name and image the runtime's
/// state gives it.
fn name_container(p: &mut Process, containers: &[Arc<ContainerState>]) {
    let Some(c) = p.manager.container.as_mut() else {
        return;
    };
    if let Some(state) = containers.iter().find(|s| s.id == c.id) {
        c.name.clone_from(&state.name);
        c.image.clone_from(&state.image);
    }
}

/// Each namespace's ruleset (or why not), and the forwards its rules make.
fn read_rulesets(
    backend: &dyn Backend,
    namespaces: &[Namespace],
) -> (Rulesets, Vec<(u64, RuleForward)>) {
    let mut rulesets = HashMap::new();
    let mut forwards = Vec::new();
    for ns in namespaces {
        let read = backend.ruleset(ns).map(Arc::new);
        if let Ok(ruleset) = &read {
            let inode = ns.netns.inode;
            forwards.extend(
                crate::firewall::forwards(ruleset)
                    .into_iter()
                    .map(|f| (inode, f)),
            );
        }
        rulesets.insert(ns.netns.inode, read);
    }
    (rulesets, forwards)
}

/// Each namespace's ruleset, by inode.
pub(crate) type Rulesets = HashMap<u64, Result<Arc<Ruleset>, NoRuleset>>;

/// The other namespaces, and their sockets a query asks for; those that cannot be entered
/// are passed over in silence: this only adds to a diagnosis.
fn read_elsewhere(backend: &dyn Backend, query: &SocketQuery) -> (Vec<Namespace>, Vec<Socket>) {
    let Ok(list) = backend.namespaces(&NetnsChoice::All) else {
        return (Vec::new(), Vec::new());
    };
    let others: Vec<Namespace> = list.namespaces.into_iter().filter(|ns| !ns.own).collect();
    let mut found = Vec::new();
    for ns in &others {
        if let Ok(table) = backend.sockets_in(ns, query) {
            found.extend(table.sockets);
        }
    }
    (others, found)
}

/// The names of the sockets' owners, one shared string per uid.
fn user_names(backend: &dyn Backend, sockets: &[Socket]) -> HashMap<u32, Arc<str>> {
    let mut users = HashMap::new();
    for uid in sockets.iter().filter_map(|s| s.uid) {
        if let std::collections::hash_map::Entry::Vacant(slot) = users.entry(uid)
            && let Some(name) = backend.user_name(uid)
        {
            slot.insert(Arc::<str>::from(name));
        }
    }
    users
}
