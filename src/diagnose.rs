//! Why a port cannot be bound (or can): plain-language lines for `portwho :PORT`.

use std::net::IpAddr;

use crate::model::{Entry, Host, PortForward, Proto, State};
use crate::target::Target;
use crate::text::escape;
use crate::text::format_addr;

/// What a diagnosis goes by.
pub(crate) struct Facts<'a> {
    /// Every socket on the port in the caller's namespace, in any state.
    pub related: &'a [Entry],
    /// The sockets on the port in other network namespaces, read when this one has none:
    /// a port free here may still be held by a container.
    pub elsewhere: &'a [Entry],
    /// The firewall's forwards: a port no socket holds may still reach a container.
    pub forwards: &'a [PortForward],
    pub host: &'a Host,
}

/// Diagnose one single-port target. `related` holds every socket on that port (and
/// protocol, when the target names one) in any state and on any address, joined with its
/// holders: a listener on another address explains an "address already in use" too.
pub(crate) fn diagnose(target: &Target, facts: &Facts) -> Vec<String> {
    let (related, elsewhere, host) = (facts.related, facts.elsewhere, facts.host);
    let port = *target.ports.start();
    if port != *target.ports.end() {
        return Vec::new();
    }
    let proto = target
        .proto
        .map_or(String::new(), |p| format!("/{}", p.as_str()));
    let mut lines = Vec::new();

    let held_elsewhere = held_elsewhere(port, &proto, elsewhere);
    let forwarded = forwarded(target, port, facts.forwards);
    if related.is_empty() && !forwarded.is_empty() {
        lines.extend(forwarded);
    } else if related.is_empty() && !held_elsewhere.is_empty() {
        lines.extend(held_elsewhere);
    } else if related.is_empty() {
        lines.push(format!(
            "port {port}{proto} is free: no socket uses it; {}",
            bind_permission(port, host)
        ));
    } else {
        lines.extend(time_wait_only(port, related));
        lines.extend(coverage(target, port, related));
        lines.extend(hidden(target, related));
    }
    lines.extend(ephemeral(port, host));
    lines
}

/// `no socket holds port 8080 here, but nftables forwards tcp 8080 to 172.17.0.2:80
/// (container web, 1499 httpd): table ip nat, chain DOCKER`.
fn forwarded(target: &Target, port: u16, forwards: &[PortForward]) -> Vec<String> {
    forwards
        .iter()
        .filter(|f| {
            f.rule.is_some()
                && f.host_port == port
                && target.proto.is_none_or(|p| p == f.forward.proto)
        })
        .map(|f| {
            let to = match f.forward.to_addr {
                Some(addr) => format_addr(std::net::SocketAddr::new(addr, f.forward.to_port)),
                None => format!("port {} of this host", f.forward.to_port),
            };
            let mut at: Vec<String> = Vec::new();
            let place = f.forward.place.as_ref();
            if let Some(c) = place.and_then(|p| p.container.as_deref()) {
                at.push(format!("container {}", escape(c.name.as_deref().unwrap_or(&c.id))));
            }
            at.extend(
                f.forward
                    .processes
                    .iter()
                    .map(|p| format!("{} {}", p.pid, escape(&p.name))),
            );
            let at = if at.is_empty() {
                String::new()
            } else {
                format!(" ({})", at.join(", "))
            };
            let rule = f.rule.as_ref().map_or(String::new(), |r| {
                format!(": table {} {}, chain {}", r.family, escape(&r.table), escape(&r.chain))
            });
            format!(
                "no socket holds port {port} here, but nftables forwards {} {port} to {to}{at}{rule}",
                f.forward.proto.as_str()
            )
        })
        .collect()
}

/// `port 80 is free here; in network namespace 4026532181 (container web) tcp *:80 is held
/// by 1499 httpd`, a line for each listener (or other socket) another namespace holds.
fn held_elsewhere(port: u16, proto: &str, elsewhere: &[Entry]) -> Vec<String> {
    let listening: Vec<&Entry> = elsewhere
        .iter()
        .filter(|e| e.socket.state.is_listening())
        .collect();
    let shown: Vec<&Entry> = if listening.is_empty() {
        elsewhere.iter().collect()
    } else {
        listening
    };
    shown
        .iter()
        .map(|e| {
            let s = &e.socket;
            let place = e.place.as_deref();
            let name = place.and_then(|p| p.netns.name.as_deref());
            let mut ns = match name {
                Some(name) => format!("network namespace {}", escape(name)),
                None => format!("network namespace {}", s.netns),
            };
            if let Some(c) = place.and_then(|p| p.container.as_deref()) {
                let c_name = c.name.as_deref().unwrap_or(&c.id);
                ns.push_str(&format!(" (container {})", escape(c_name)));
            }
            let addr = if s.local.ip().is_unspecified() {
                format!("*:{}", s.local.port())
            } else {
                format_addr(s.local)
            };
            let by = match e.processes.first() {
                Some(p) => format!("is held by {} {}", p.pid, escape(&p.name)),
                None => "has no visible holder".to_string(),
            };
            format!(
                "port {port}{proto} is free here; in {ns} {} {addr} {by} (portwho --netns all :{port} lists it)",
                s.proto.as_str()
            )
        })
        .collect()
}

fn bind_permission(port: u16, host: &Host) -> String {
    let start = host.unprivileged_port_start;
    if port >= start || port == 0 {
        "any user may bind it".to_string()
    } else if host.may_bind_privileged {
        format!(
            "ports below {start} are privileged, and you may bind them (root or CAP_NET_BIND_SERVICE)"
        )
    } else {
        format!(
            "binding it needs root or CAP_NET_BIND_SERVICE: ports below {start} are privileged here (net.ipv4.ip_unprivileged_port_start)"
        )
    }
}

fn time_wait_only(port: u16, related: &[Entry]) -> Option<String> {
    let waiting = related
        .iter()
        .filter(|e| e.socket.state == State::TimeWait)
        .count();
    let others = related.len() - waiting;
    (waiting > 0 && others == 0).then(|| {
        format!(
            "only TIME_WAIT sockets remain on port {port} ({waiting}): no process holds it, but a new \
             listener fails with \"address already in use\" until they expire (about 60 s) \
             unless it sets SO_REUSEADDR"
        )
    })
}

/// Which addresses the listeners on the port block.
fn coverage(target: &Target, port: u16, related: &[Entry]) -> Vec<String> {
    let listeners: Vec<&Entry> = related
        .iter()
        .filter(|e| e.socket.state.is_listening())
        .collect();
    let mut lines = Vec::new();
    for proto in [Proto::Tcp, Proto::Udp] {
        let mine: Vec<&Entry> = listeners
            .iter()
            .copied()
            .filter(|e| e.socket.proto == proto)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let p = proto.as_str();
        let wildcard_v4 = mine
            .iter()
            .find(|e| e.socket.local.ip() == IpAddr::from([0u8; 4]));
        let wildcard_v6 = mine
            .iter()
            .find(|e| e.socket.local.ip() == IpAddr::from([0u16; 8]));
        if let Some(e) = wildcard_v4 {
            lines.push(format!(
                "{} ({p}) accepts on every IPv4 address: binding port {port} to any IPv4 address fails while it is open",
                format_addr(e.socket.local)
            ));
        }
        if let Some(e) = wildcard_v6 {
            let addr = format_addr(e.socket.local);
            lines.push(match e.socket.v6only {
                Some(false) => format!(
                    "{addr} ({p}) is dual-stack (IPV6_V6ONLY off): it takes IPv4 too, so binding port {port} fails on every IPv4 and IPv6 address"
                ),
                Some(true) => format!(
                    "{addr} ({p}) is IPv6-only (IPV6_V6ONLY on): it blocks port {port} on every IPv6 address, while IPv4 binds to {port} still work"
                ),
                None => format!(
                    "{addr} ({p}) blocks port {port} on every IPv6 address, and on IPv4 too unless it set IPV6_V6ONLY"
                ),
            });
        }
        if wildcard_v4.is_none() && wildcard_v6.is_none() {
            let taken: Vec<String> = mine.iter().map(|e| format_addr(e.socket.local)).collect();
            lines.push(format!(
                "only {} ({p}) {} taken: port {port} is still free on other addresses, but a bind to every address (0.0.0.0:{port} or [::]:{port}) fails",
                taken.join(", "),
                if taken.len() == 1 { "is" } else { "are" },
            ));
        }
        // The user asked about one address that nothing holds itself, but a wildcard covers.
        if let Some(asked) = target.addr
            && !mine.iter().any(|e| target.matches(&e.socket))
        {
            let covering = match asked {
                IpAddr::V4(_) => {
                    wildcard_v4.or(wildcard_v6.filter(|e| e.socket.v6only != Some(true)))
                }
                IpAddr::V6(_) => wildcard_v6,
            };
            if let Some(e) = covering {
                lines.push(format!(
                    "nothing is bound to {} itself, but {} covers it: binding it fails",
                    format_addr(std::net::SocketAddr::new(asked, port)),
                    format_addr(e.socket.local)
                ));
            }
        }
    }
    lines
}

fn hidden(target: &Target, related: &[Entry]) -> Vec<String> {
    related
        .iter()
        .filter(|e| e.owners_hidden)
        .map(|e| {
            let owner = match (e.socket.uid, &e.socket_user) {
                // User names can come from NSS (LDAP, sssd): not ours to trust either.
                (Some(uid), Some(name)) => format!("uid {uid} ({})", escape(name)),
                (Some(uid), None) => format!("uid {uid}"),
                (None, _) => "another user".to_string(),
            };
            format!(
                "the owner of {} is hidden: the socket belongs to {owner} and this user may not read its processes; see it with: sudo portwho :{}",
                format_addr(e.socket.local),
                target.ports.start()
            )
        })
        .collect()
}

fn ephemeral(port: u16, host: &Host) -> Option<String> {
    let reserved = host.reserved.iter().any(|r| r.contains(&port));
    let (low, high) = (host.ephemeral.start(), host.ephemeral.end());
    match (host.ephemeral.contains(&port), reserved) {
        (true, false) => Some(format!(
            "port {port} lies in this host's ephemeral range ({low}-{high}): outgoing connections may take it at random; prefer a port outside it, or reserve it in net.ipv4.ip_local_reserved_ports"
        )),
        (_, true) => Some(format!(
            "port {port} is listed in net.ipv4.ip_local_reserved_ports: outgoing connections never take it"
        )),
        (false, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The diagnosis of the caller's own namespace alone.
    fn diagnose(target: &Target, related: &[Entry], host: &Host) -> Vec<String> {
        let facts = Facts {
            related,
            elsewhere: &[],
            forwards: &[],
            host,
        };
        super::diagnose(target, &facts)
    }
    use crate::model::{Process, testing};

    fn entry(local: &str, proto: Proto, state: State) -> Entry {
        Entry {
            processes: vec![std::sync::Arc::new(Process {
                pid: 10,
                name: "server".into(),
                ..Process::default()
            })],
            socket_user: Some("root".into()),
            ..testing::entry(testing::socket(local, proto, state))
        }
    }

    fn target(text: &str) -> Target {
        crate::target::parse(text, &|_| vec![]).unwrap().remove(0)
    }

    fn host() -> Host {
        Host::default()
    }

    fn joined(lines: &[String]) -> String {
        lines.join("\n")
    }

    #[test]
    fn free_port_and_privilege() {
        let text = joined(&diagnose(&target(":8080"), &[], &host()));
        assert!(text.contains("port 8080 is free"), "{text}");
        assert!(text.contains("any user may bind it"));
        let text = joined(&diagnose(&target(":80/tcp"), &[], &host()));
        assert!(text.contains("port 80/tcp is free"));
        assert!(
            text.contains("needs root or CAP_NET_BIND_SERVICE"),
            "{text}"
        );
        let root = Host {
            may_bind_privileged: true,
            ..host()
        };
        let text = joined(&diagnose(&target(":80"), &[], &root));
        assert!(text.contains("you may bind them"), "{text}");
        let low = Host {
            unprivileged_port_start: 0,
            ..host()
        };
        assert!(joined(&diagnose(&target(":80"), &[], &low)).contains("any user may bind it"));
    }

    #[test]
    fn only_time_wait() {
        let mut tw = entry("127.0.0.1:8080", Proto::Tcp, State::TimeWait);
        tw.processes.clear();
        let text = joined(&diagnose(
            &target(":8080"),
            &[tw.clone(), tw.clone()],
            &host(),
        ));
        assert!(
            text.contains("only TIME_WAIT sockets remain on port 8080 (2)"),
            "{text}"
        );
        assert!(text.contains("SO_REUSEADDR"));
        let listener = entry("127.0.0.1:8080", Proto::Tcp, State::Listen);
        let text = joined(&diagnose(&target(":8080"), &[tw, listener], &host()));
        assert!(!text.contains("only TIME_WAIT"), "{text}");
    }

    #[test]
    fn wildcard_and_dual_stack() {
        let v4 = entry("0.0.0.0:8080", Proto::Tcp, State::Listen);
        let text = joined(&diagnose(&target(":8080"), &[v4], &host()));
        assert!(
            text.contains("0.0.0.0:8080 (tcp) accepts on every IPv4 address"),
            "{text}"
        );

        let mut dual = entry("[::]:8080", Proto::Tcp, State::Listen);
        dual.socket.v6only = Some(false);
        let text = joined(&diagnose(&target(":8080"), &[dual.clone()], &host()));
        assert!(
            text.contains("is dual-stack (IPV6_V6ONLY off): it takes IPv4 too"),
            "{text}"
        );
        // Asking about an IPv4 address that only the dual-stack listener covers.
        let text = joined(&diagnose(
            &target("192.0.2.5:8080"),
            &[dual.clone()],
            &host(),
        ));
        assert!(
            text.contains("nothing is bound to 192.0.2.5:8080 itself, but [::]:8080 covers it"),
            "{text}"
        );

        let mut v6only = dual.clone();
        v6only.socket.v6only = Some(true);
        let text = joined(&diagnose(&target("192.0.2.5:8080"), &[v6only], &host()));
        assert!(text.contains("IPv4 binds to 8080 still work"), "{text}");
        assert!(!text.contains("covers it"), "{text}");
    }

    #[test]
    fn specific_address_does_not_block_others() {
        let lo = entry("127.0.0.1:8080", Proto::Tcp, State::Listen);
        let text = joined(&diagnose(
            &target(":8080"),
            std::slice::from_ref(&lo),
            &host(),
        ));
        assert!(
            text.contains(
                "only 127.0.0.1:8080 (tcp) is taken: port 8080 is still free on other addresses"
            ),
            "{text}"
        );
        let text = joined(&diagnose(&target("192.0.2.5:8080"), &[lo], &host()));
        assert!(!text.contains("covers it"), "{text}");
    }

    #[test]
    fn ephemeral_and_reserved() {
        let text = joined(&diagnose(&target(":40000"), &[], &host()));
        assert!(
            text.contains("lies in this host's ephemeral range (32768-60999)"),
            "{text}"
        );
        let reserved = Host {
            reserved: vec![39000..=41000],
            ..host()
        };
        let text = joined(&diagnose(&target(":40000"), &[], &reserved));
        assert!(
            text.contains("ip_local_reserved_ports: outgoing connections never take it"),
            "{text}"
        );
        assert!(!text.contains("at random"));
        assert!(!joined(&diagnose(&target(":8080"), &[], &host())).contains("ephemeral"));
    }

    #[test]
    fn hidden_owner_says_how_to_see_it() {
        let mut e = entry("0.0.0.0:5432", Proto::Tcp, State::Listen);
        e.processes.clear();
        e.owners_hidden = true;
        let text = joined(&diagnose(&target(":5432"), &[e], &host()));
        assert!(
            text.contains(
                "the owner of 0.0.0.0:5432 is hidden: the socket belongs to uid 0 (root)"
            ),
            "{text}"
        );
        assert!(text.contains("sudo portwho :5432"));
        // A user name from NSS is escaped like a process name.
        e = entry("0.0.0.0:5432", Proto::Tcp, State::Listen);
        e.processes.clear();
        e.owners_hidden = true;
        e.socket_user = Some("ev\x1b]0;x\x07il".into());
        let text = joined(&diagnose(&target(":5432"), &[e], &host()));
        assert!(text.contains("uid 0 (ev\\x1b]0;x\\x07il)"), "{text}");
    }

    #[test]
    fn ranges_are_not_diagnosed() {
        assert!(diagnose(&target("8000-8100"), &[], &host()).is_empty());
    }
}
