//! What a join across namespaces must read: the runtimes' state, which namespace is which
//! container's, and the listeners on the other side of a published port.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::backend::Backend;
use crate::forward;
use crate::model::{ContainerState, Namespace, Place, Proto, Socket, SocketQuery, Warning};

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

/// Name the namespaces' containers; with `behind`, also read the listeners inside the
/// containers that the selected host sockets publish, and the host's listeners on the
/// ports published to the selected containers' sockets.
pub(super) fn read(
    backend: &dyn Backend,
    namespaces: &[Namespace],
    sockets: &[Socket],
    behind: bool,
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
    if behind {
        let shown: HashSet<u64> = sockets.iter().map(|s| s.inode).collect();
        read_targets(backend, namespaces, sockets, &mut joined);
        read_host_ports(backend, sockets, &mut joined);
        let mut seen = shown;
        joined
            .behind
            .retain(|s| s.inode == 0 || seen.insert(s.inode));
    }
    joined
}

/// The listeners inside the containers that selected host listeners publish.
fn read_targets(
    backend: &dyn Backend,
    namespaces: &[Namespace],
    sockets: &[Socket],
    joined: &mut Joined,
) {
    // Per container: the protocols and ports to look at inside it.
    let mut wanted: Vec<(Arc<ContainerState>, Ports)> = Vec::new();
    for s in sockets
        .iter()
        .filter(|s| s.state.is_listening() && is_host(s, joined))
    {
        for (container, binding) in forward::bindings_for(s, &joined.containers) {
            let at = match wanted.iter().position(|(c, _)| c.id == container.id) {
                Some(at) => at,
                None => {
                    wanted.push((Arc::clone(container), BTreeSet::new()));
                    wanted.len() - 1
                }
            };
            wanted[at].1.insert((binding.proto, binding.container_port));
        }
    }
    for (container, ports) in wanted {
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
