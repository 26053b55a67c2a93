//! What a join across namespaces must read: the runtimes' state, which namespace is which
//! container's, and the listeners on the other side of a published port.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::backend::Backend;
use crate::forward;
use crate::model::{
    ContainerState, Namespace, Place, Proto, RuleForward, Socket, SocketQuery, Warning,
};

/// Protocols and ports to look at.
type Ports = BTreeSet<(Proto, u16)>;

/// The namespaces' places, the containers, and the sockets read behind published ports.
#[derive(Debug, Default)]
pub(super) struct Joined {
    pub places: HashMap<u64, Arc<Place>>,
    pub containers: Vec<Arc<ContainerState>>,
    pub behind: Vec<Socket>,
    pub warnings: Vec<Warning>,
}

impl Joined {
    /// The namespaces read, and no container: a plain listing reads no runtime state.
    pub(super) fn own(namespaces: &[Namespace]) -> Joined {
        Joined {
            places: namespaces.iter().map(|ns| place(ns, &[])).collect(),
            ..Joined::default()
        }
    }
}

fn place(ns: &Namespace, containers: &[Arc<ContainerState>]) -> (u64, Arc<Place>) {
    let place = Place {
        netns: ns.netns.clone(),
        container: forward::container_of(ns, containers),
    };
    (ns.netns.inode, Arc::new(place))
}

/// What to read behind the selected sockets.
pub(super) struct Wanted<'a> {
    /// The listeners inside the containers that the selected host sockets publish, and
    /// the host's listeners on the ports published to the selected containers' sockets.
    pub behind: bool,
    /// The firewall's forwards, whose targets' listeners to read.
    pub forwards: &'a [(u64, RuleForward)],
}

/// Name the namespaces' containers, and read what `wanted` asks for behind the sockets.
pub(super) fn read(
    backend: &dyn Backend,
    namespaces: &[Namespace],
    sockets: &[Socket],
    wanted: &Wanted,
) -> Joined {
    let state = backend.containers();
    let mut joined = Joined {
        containers: state.containers.into_iter().map(Arc::new).collect(),
        ..Joined::default()
    };
    if state.unreadable > 0 {
        joined.warnings.push(Warning::ContainerStateUnreadable {
            count: state.unreadable,
        });
    }
    // Only worth saying when sockets of another namespace were read, to be named.
    let foreign = |s: &Socket| {
        namespaces
            .iter()
            .any(|ns| !ns.own && ns.netns.inode == s.netns)
    };
    if state.denied > 0 && sockets.iter().any(foreign) {
        joined.warnings.push(Warning::ContainerStateDenied);
    }
    joined.places = namespaces
        .iter()
        .map(|ns| place(ns, &joined.containers))
        .collect();
    let mut targets: Vec<(Arc<ContainerState>, Ports)> = Vec::new();
    if wanted.behind {
        published_targets(sockets, &joined, &mut targets);
        read_host_ports(backend, sockets, &mut joined);
    }
    forwarded_targets(wanted.forwards, &joined, &mut targets);
    read_targets(backend, namespaces, targets, &mut joined);
    read_local_targets(backend, namespaces, wanted.forwards, &mut joined);
    let mut seen: HashSet<u64> = sockets.iter().map(|s| s.inode).collect();
    joined
        .behind
        .retain(|s| s.inode == 0 || seen.insert(s.inode));
    joined
}

/// The containers and ports that selected host listeners publish.
fn published_targets(
    sockets: &[Socket],
    joined: &Joined,
    targets: &mut Vec<(Arc<ContainerState>, Ports)>,
) {
    for s in sockets
        .iter()
        .filter(|s| s.state.is_listening() && is_host(s, joined))
    {
        for (container, binding) in forward::bindings_for(s, &joined.containers) {
            add_target(targets, container, (binding.proto, binding.container_port));
        }
    }
}

/// The containers and ports that the firewall's DNAT rules send traffic to.
fn forwarded_targets(
    forwards: &[(u64, RuleForward)],
    joined: &Joined,
    targets: &mut Vec<(Arc<ContainerState>, Ports)>,
) {
    for (_, f) in forwards {
        let Some(to) = f.to_addr else { continue };
        if let Some(container) = forward::container_at(to, &joined.containers) {
            add_target(targets, container, (f.proto, f.to_port));
        }
    }
}

/// One more port to look at inside a container.
fn add_target(
    targets: &mut Vec<(Arc<ContainerState>, Ports)>,
    container: &Arc<ContainerState>,
    port: (Proto, u16),
) {
    match targets.iter_mut().find(|(c, _)| c.id == container.id) {
        Some((_, ports)) => {
            ports.insert(port);
        }
        None => targets.push((Arc::clone(container), Ports::from([port]))),
    }
}

/// The listeners inside the target containers, on the target ports.
fn read_targets(
    backend: &dyn Backend,
    namespaces: &[Namespace],
    targets: Vec<(Arc<ContainerState>, Ports)>,
    joined: &mut Joined,
) {
    for (container, ports) in targets {
        let Some(ns) = namespace_of(backend, namespaces, &container, joined) else {
            continue;
        };
        let query = listeners_on(&ports);
        // A namespace that cannot be entered leaves the target unnamed; the main read
        // already says how many could not be.
        if let Ok(table) = backend.sockets_in(&ns, &query) {
            joined.behind.extend(table.sockets);
        }
    }
}

/// The host's listeners on the ports published to the selected containers' listeners.
fn read_host_ports(backend: &dyn Backend, sockets: &[Socket], joined: &mut Joined) {
    let mut ports = Ports::new();
    for s in sockets.iter().filter(|s| s.state.is_listening()) {
        let Some(container) = joined
            .places
            .get(&s.netns)
            .and_then(|p| p.container.clone())
        else {
            continue;
        };
        for b in &container.ports {
            if b.proto == s.proto && b.container_port == s.local.port() {
                ports.insert((b.proto, b.host_port));
            }
        }
    }
    if ports.is_empty() {
        return;
    }
    if let Ok(table) = backend.sockets(&listeners_on(&ports)) {
        joined.behind.extend(table.sockets);
    }
}

/// The listeners of the rules' own namespaces that their forwards go to: a redirect's,
/// and a DNAT's to an address no container has (one of the host's own).
fn read_local_targets(
    backend: &dyn Backend,
    namespaces: &[Namespace],
    forwards: &[(u64, RuleForward)],
    joined: &mut Joined,
) {
    for ns in namespaces {
        let ports: Ports = forwards
            .iter()
            .filter(|(netns, f)| {
                *netns == ns.netns.inode
                    && f.to_addr
                        .is_none_or(|to| forward::container_at(to, &joined.containers).is_none())
            })
            .map(|(_, f)| (f.proto, f.to_port))
            .collect();
        if ports.is_empty() {
            continue;
        }
        let query = listeners_on(&ports);
        let read = match ns.own {
            true => backend.sockets(&query).ok(),
            false => backend.sockets_in(ns, &query).ok(),
        };
        joined
            .behind
            .extend(read.into_iter().flat_map(|t| t.sockets));
    }
}

/// A socket of the host's own namespace (not a container's).
fn is_host(socket: &Socket, joined: &Joined) -> bool {
    joined
        .places
        .get(&socket.netns)
        .is_none_or(|p| p.container.is_none())
}

/// The namespace a container lives in: among those read, or through its first process.
fn namespace_of(
    backend: &dyn Backend,
    namespaces: &[Namespace],
    container: &Arc<ContainerState>,
    joined: &mut Joined,
) -> Option<Namespace> {
    let known = namespaces.iter().find(|ns| {
        joined
            .places
            .get(&ns.netns.inode)
            .and_then(|p| p.container.as_ref())
            .is_some_and(|c| c.id == container.id)
    });
    if let Some(ns) = known {
        return (!ns.own).then(|| ns.clone());
    }
    let ns = backend.namespace_of(container.pid?)?;
    if ns.own {
        // --network host: its listeners are the host's, already read.
        return None;
    }
    let (inode, place) = place(&ns, std::slice::from_ref(container));
    joined.places.entry(inode).or_insert(place);
    Some(ns)
}

/// Listening sockets on these protocols and ports.
fn listeners_on(ports: &Ports) -> SocketQuery {
    SocketQuery {
        tcp: ports.iter().any(|&(p, _)| p == Proto::Tcp),
        udp: ports.iter().any(|&(p, _)| p == Proto::Udp),
        listening_only: true,
        ports: Some(ports.iter().map(|&(_, port)| port..=port).collect()),
        ..SocketQuery::default()
    }
}
