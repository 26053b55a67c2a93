//! The join across namespaces: which container a namespace is, where a published port
//! really goes, and which host ports reach a container's socket. Pure: data in, data out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::model::{
    ContainerState, Forward, Namespace, Place, PortBinding, PortForward, Process, Published,
    RuleForward, Socket, Via,
};

/// The name docker's userland proxy runs under.
const DOCKER_PROXY: &str = "docker-proxy";

/// The container whose network namespace `ns` is: the runtime's own file for it, or its
/// first process living there. The caller's own namespace is no container's, even when a
/// container shares it (`--network host`).
pub(crate) fn container_of(
    ns: &Namespace,
    containers: &[Arc<ContainerState>],
) -> Option<Arc<ContainerState>> {
    if ns.own {
        return None;
    }
    let by_file = containers.iter().find(|c| {
        c.sandbox
            .as_ref()
            .is_some_and(|sandbox| ns.paths.contains(sandbox))
    });
    let by_pid = || {
        containers
            .iter()
            .find(|c| c.pid.is_some_and(|pid| ns.pids.contains(&pid)))
    };
    by_file.or_else(by_pid).cloned()
}

/// The running containers' bindings that a host socket serves: the same protocol and
/// port, on the bound address or every address.
pub(crate) fn bindings_for<'a>(
    socket: &Socket,
    containers: &'a [Arc<ContainerState>],
) -> Vec<(&'a Arc<ContainerState>, &'a PortBinding)> {
    containers
        .iter()
        .filter(|c| c.pid.is_some())
        .flat_map(|c| c.ports.iter().map(move |b| (c, b)))
        .filter(|(_, b)| {
            b.proto == socket.proto
                && b.host_port == socket.local.port()
                && b.host_addr.is_none_or(|a| same_ip(a, socket.local.ip()))
        })
        .collect()
}

/// The running container the runtime gave this address.
pub(crate) fn container_at(
    addr: IpAddr,
    containers: &[Arc<ContainerState>],
) -> Option<&Arc<ContainerState>> {
    containers
        .iter()
        .find(|c| c.pid.is_some() && c.addresses.iter().any(|a| same_ip(*a, addr)))
}

/// The listeners a join looks at, each with its holders.
pub(crate) struct View<'a> {
    pub containers: &'a [Arc<ContainerState>],
    pub places: &'a HashMap<u64, Arc<Place>>,
    pub listeners: Vec<(&'a Socket, Vec<Arc<Process>>)>,
}

impl View<'_> {
    /// Where a host socket held by a forwarding process hands its traffic on, found
    /// through the proxy's own flags and the runtime's record of the target address.
    pub(crate) fn forward(&self, socket: &Socket, holders: &[Arc<Process>]) -> Option<Forward> {
        let target = holders.iter().find_map(|p| {
            p.proxy
                .as_ref()
                .filter(|t| t.proto == socket.proto && t.host_port == socket.local.port())
        })?;
        let place =
            container_at(target.container_ip, self.containers).and_then(|c| self.place_of(c));
        let processes = place
            .map(|place| {
                self.holders_at(
                    place.netns.inode,
                    socket.proto,
                    target.container_ip,
                    target.container_port,
                )
            })
            .unwrap_or_default();
        Some(Forward {
            proto: socket.proto,
            to_addr: Some(target.container_ip),
            to_port: target.container_port,
            via: Via::DockerProxy,
            place: place.map(|p| Place::clone(p)),
            processes,
        })
    }

    /// The namespace the view knows a container by.
    fn place_of(&self, c: &ContainerState) -> Option<&Arc<Place>> {
        self.places
            .values()
            .find(|p| p.container.as_ref().is_some_and(|pc| pc.id == c.id))
    }

    /// A firewall rule's forward, joined to the container and the processes at its
    /// target (a redirect's target is the host itself, in the rule's namespace).
    pub(crate) fn rule_forward(&self, netns: u64, rule: &RuleForward) -> PortForward {
        // A container's address, or else one of the rule's own host (a redirect's always).
        let place = rule
            .to_addr
            .and_then(|to| container_at(to, self.containers))
            .and_then(|c| self.place_of(c))
            .or_else(|| self.places.get(&netns));
        let processes = match (place, rule.to_addr) {
            (Some(place), Some(to)) => {
                self.holders_at(place.netns.inode, rule.proto, to, rule.to_port)
            }
            (Some(place), None) => {
                let any = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
                self.holders_at(place.netns.inode, rule.proto, any, rule.to_port)
            }
            (None, _) => Vec::new(),
        };
        PortForward {
            host_addr: rule.host_addr,
            host_port: rule.host_port,
            forward: Forward {
                proto: rule.proto,
                to_addr: rule.to_addr,
                to_port: rule.to_port,
                via: if rule.redirect {
                    Via::Redirect
                } else {
                    Via::Dnat
                },
                place: place.map(|p| Place::clone(p)),
                processes,
            },
            rule: Some(rule.rule.clone()),
            netns,
        }
    }

    /// The host ports that reach a listener inside a container.
    pub(crate) fn published(&self, socket: &Socket, place: Option<&Arc<Place>>) -> Vec<Published> {
        let Some(container) = place.and_then(|p| p.container.as_ref()) else {
            return Vec::new();
        };
        if !socket.state.is_listening() {
            return Vec::new();
        }
        container
            .ports
            .iter()
            .filter(|b| b.proto == socket.proto && b.container_port == socket.local.port())
            .map(|b| Published {
                proto: b.proto,
                host_addr: b.host_addr,
                host_port: b.host_port,
                via: if self.proxied(b) {
                    Via::DockerProxy
                } else {
                    Via::Runtime
                },
            })
            .collect()
    }

    /// Whether a docker-proxy on the host listens on a binding's host port.
    fn proxied(&self, binding: &PortBinding) -> bool {
        self.listeners.iter().any(|(s, holders)| {
            self.places
                .get(&s.netns)
                .is_some_and(|p| p.container.is_none())
                && s.proto == binding.proto
                && s.local.port() == binding.host_port
                && holders.iter().any(|p| p.name == DOCKER_PROXY)
        })
    }

    /// Who listens in a namespace on a port, on `addr` or on every address.
    fn holders_at(
        &self,
        netns: u64,
        proto: crate::model::Proto,
        addr: IpAddr,
        port: u16,
    ) -> Vec<Arc<Process>> {
        let mut found: Vec<Arc<Process>> = Vec::new();
        for (s, holders) in &self.listeners {
            let ip = s.local.ip();
            if s.netns == netns
                && s.proto == proto
                && s.local.port() == port
                && (ip.is_unspecified() || same_ip(ip, addr))
            {
                for p in holders {
                    if !found.iter().any(|f| f.pid == p.pid) {
                        found.push(Arc::clone(p));
                    }
                }
            }
        }
        found.sort_unstable_by_key(|p| p.pid);
        found
    }
}

/// The same address, an IPv4-mapped IPv6 address and its IPv4 address alike.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    crate::model::canonical(a) == crate::model::canonical(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Netns, Proto, ProxyTarget, State, testing};

    fn web() -> Arc<ContainerState> {
        Arc::new(ContainerState {
            id: "b97356f8084b8ac5".into(),
            name: Some("web".into()),
            image: Some("nginx:1.25".into()),
            pid: Some(1499),
            addresses: vec!["172.17.0.2".parse().unwrap()],
            ports: vec![PortBinding {
                proto: Proto::Tcp,
                host_addr: Some("127.0.0.1".parse().unwrap()),
                host_port: 8080,
                container_port: 80,
            }],
            sandbox: Some("/var/run/docker/netns/611bf0d0103b".into()),
            ..ContainerState::default()
        })
    }

    fn namespace(inode: u64, own: bool, paths: &[&str], pids: &[u32]) -> Namespace {
        Namespace {
            netns: Netns { inode, name: None },
            own,
            paths: paths.iter().map(Into::into).collect(),
            pids: pids.to_vec(),
        }
    }

    #[test]
    fn a_namespace_is_the_container_whose_file_or_first_process_it_has() {
        let containers = [web()];
        let by_file = namespace(7, false, &["/var/run/docker/netns/611bf0d0103b"], &[]);
        assert_eq!(container_of(&by_file, &containers), Some(web()));
        let by_pid = namespace(7, false, &["/proc/1499/ns/net"], &[1499, 1500]);
        assert_eq!(container_of(&by_pid, &containers), Some(web()));
        assert_eq!(
            container_of(&namespace(7, false, &[], &[1]), &containers),
            None
        );
        // A --network host container shares the caller's namespace: that is the host's.
        assert_eq!(
            container_of(&namespace(1, true, &[], &[1499]), &containers),
            None
        );
    }

    #[test]
    fn a_proxy_forwards_to_the_container_and_the_process_listening_there() {
        let containers = [web()];
        let places = HashMap::from([
            (
                1,
                Arc::new(Place {
                    netns: Netns {
                        inode: 1,
                        name: None,
                    },
                    container: None,
                }),
            ),
            (
                7,
                Arc::new(Place {
                    netns: Netns {
                        inode: 7,
                        name: None,
                    },
                    container: Some(web()),
                }),
            ),
        ]);
        let host = Socket {
            netns: 1,
            ..testing::tcp("127.0.0.1:8080", State::Listen, 10)
        };
        let inside = Socket {
            netns: 7,
            ..testing::tcp("0.0.0.0:80", State::Listen, 11)
        };
        let elsewhere = Socket {
            netns: 1,
            ..testing::tcp("0.0.0.0:80", State::Listen, 12)
        };
        let proxy = Arc::new(Process {
            proxy: Some(ProxyTarget {
                proto: Proto::Tcp,
                host_ip: "127.0.0.1".parse().unwrap(),
                host_port: 8080,
                container_ip: "172.17.0.2".parse().unwrap(),
                container_port: 80,
            }),
            ..testing::process(8637, "docker-proxy")
        });
        let httpd = Arc::new(testing::process(1499, "httpd"));
        let nginx = Arc::new(testing::process(99, "nginx"));
        let view = View {
            containers: &containers,
            places: &places,
            listeners: vec![
                (&host, vec![Arc::clone(&proxy)]),
                (&inside, vec![Arc::clone(&httpd)]),
                (&elsewhere, vec![nginx]),
            ],
        };
        let forward = view.forward(&host, &[Arc::clone(&proxy)]).unwrap();
        assert_eq!(forward.to_addr, Some("172.17.0.2".parse().unwrap()));
        assert_eq!((forward.to_port, forward.via), (80, Via::DockerProxy));
        assert_eq!(forward.place.unwrap().netns.inode, 7);
        let pids: Vec<u32> = forward.processes.iter().map(|p| p.pid).collect();
        assert_eq!(
            pids,
            [1499],
            "the host's own port-80 listener is not behind it"
        );
        // No proxy among the holders: no forward.
        assert_eq!(view.forward(&host, &[httpd]), None);

        let published = view.published(&inside, places.get(&7));
        assert_eq!(published.len(), 1);
        assert_eq!(
            (published[0].host_port, published[0].via),
            (8080, Via::DockerProxy)
        );
        assert!(view.published(&elsewhere, places.get(&1)).is_empty());
        assert_eq!(bindings_for(&host, &containers).len(), 1);
        assert!(bindings_for(&elsewhere, &containers).is_empty());
    }
}
