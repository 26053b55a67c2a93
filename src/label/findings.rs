//! Audit findings for listening sockets, from one table of rules.

use crate::model::{Entry, Exposure, Finding, FirewallVerdict, Proto, Severity};

/// How far a listener must reach for a rule to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    Any,
    BeyondLoopback,
    All,
}

/// One audit rule. A rule applies to a listening socket when its reach is met, its extra
/// condition holds, and the socket is on one of its ports or held by one of its programs
/// (a rule with neither applies to every listener).
struct Rule {
    code: &'static str,
    severity: Severity,
    ports: &'static [(Proto, u16)],
    programs: &'static [&'static str],
    reach: Reach,
    when: fn(&Entry) -> bool,
    /// `{what}` is the service or program, `{local}` the address, `{port}` the port.
    message: &'static str,
}

use Proto::{Tcp, Udp};

fn always(_: &Entry) -> bool {
    true
}

const CLEARTEXT: &str = "{what} on {local} sends logins and data in cleartext and is reachable from other hosts: use ssh/sftp instead, or bind it to 127.0.0.1";
const NO_AUTH: &str = "{what} on {local} commonly runs without authentication and is reachable from other hosts: bind it to 127.0.0.1, firewall it, or require authentication";

/// The rules, most severe first. Add a row to add a rule.
#[rustfmt::skip]
const RULES: &[Rule] = &[
    Rule { code: "cleartext-login", severity: Severity::High, ports: &[(Tcp, 23)], programs: &["telnetd", "in.telnetd"], reach: Reach::BeyondLoopback, when: always, message: CLEARTEXT },
    Rule { code: "cleartext-login", severity: Severity::High, ports: &[(Tcp, 21)], programs: &["vsftpd", "proftpd", "pure-ftpd", "in.ftpd"], reach: Reach::BeyondLoopback, when: always, message: CLEARTEXT },
    Rule { code: "cleartext-login", severity: Severity::High, ports: &[(Tcp, 512), (Tcp, 513), (Tcp, 514)], programs: &["in.rexecd", "in.rlogind", "in.rshd"], reach: Reach::BeyondLoopback, when: always, message: CLEARTEXT },
    Rule { code: "cleartext-login", severity: Severity::High, ports: &[(Udp, 69)], programs: &["in.tftpd", "tftpd"], reach: Reach::BeyondLoopback, when: always, message: CLEARTEXT },
    Rule { code: "docker-api-no-tls", severity: Severity::High, ports: &[(Tcp, 2375)], programs: &[], reach: Reach::BeyondLoopback, when: always, message: "the Docker API without TLS on {local} is reachable from other hosts: whoever reaches it is root on this host; use TLS (2376) or the unix socket" },
    Rule { code: "kubelet-exposed", severity: Severity::High, ports: &[(Tcp, 10250)], programs: &["kubelet"], reach: Reach::BeyondLoopback, when: always, message: "the kubelet API on {local} is reachable from other hosts: it can run commands in every pod; require authentication (anonymous-auth=false) and restrict access" },
    Rule { code: "etcd-exposed", severity: Severity::High, ports: &[(Tcp, 2379)], programs: &["etcd"], reach: Reach::BeyondLoopback, when: always, message: "etcd on {local} is reachable from other hosts: it holds the cluster's secrets; require client certificates and restrict access" },
    Rule { code: "unauthenticated-datastore", severity: Severity::High, ports: &[(Tcp, 6379)], programs: &["redis-server"], reach: Reach::BeyondLoopback, when: always, message: NO_AUTH },
    Rule { code: "unauthenticated-datastore", severity: Severity::High, ports: &[(Tcp, 11211), (Udp, 11211)], programs: &["memcached"], reach: Reach::BeyondLoopback, when: always, message: NO_AUTH },
    Rule { code: "unauthenticated-datastore", severity: Severity::High, ports: &[(Tcp, 27017)], programs: &["mongod"], reach: Reach::BeyondLoopback, when: always, message: NO_AUTH },
    Rule { code: "unauthenticated-datastore", severity: Severity::High, ports: &[(Tcp, 9200)], programs: &[], reach: Reach::BeyondLoopback, when: always, message: NO_AUTH },
    Rule { code: "unauthenticated-datastore", severity: Severity::High, ports: &[(Tcp, 5984)], programs: &["beam.smp"], reach: Reach::BeyondLoopback, when: always, message: NO_AUTH },
    Rule { code: "deleted-executable", severity: Severity::Medium, ports: &[], programs: &[], reach: Reach::Any, when: exe_deleted, message: "{what} on {local} runs an executable that was deleted or replaced on disk: an upgraded binary not restarted, or worse; restart it and check the binary" },
    Rule { code: "ephemeral-port", severity: Severity::Low, ports: &[], programs: &[], reach: Reach::Any, when: in_ephemeral_range, message: "{local} listens inside this host's ephemeral range: outgoing connections may take port {port} first; move it or add it to net.ipv4.ip_local_reserved_ports" },
    Rule { code: "root-on-all-interfaces", severity: Severity::Low, ports: &[], programs: &[], reach: Reach::All, when: held_by_root, message: "{what}, running as root, listens on every interface ({local}): bind it to the addresses it serves, or drop privileges" },
    Rule { code: "owner-hidden", severity: Severity::Low, ports: &[], programs: &[], reach: Reach::Any, when: owner_hidden, message: "the owner of {local} could not be read (another user's process): run the audit as root to check it" },
    Rule { code: "owner-unknown", severity: Severity::Low, ports: &[], programs: &[], reach: Reach::Any, when: owner_unknown, message: "no visible process holds {local}: a kernel socket, or one held from another pid namespace; check it by hand" },
];

fn exe_deleted(e: &Entry) -> bool {
    e.processes.iter().any(|p| p.exe_deleted)
}

fn in_ephemeral_range(e: &Entry) -> bool {
    e.ephemeral
}

fn held_by_root(e: &Entry) -> bool {
    e.processes.iter().any(|p| p.uid == Some(0))
}

fn owner_hidden(e: &Entry) -> bool {
    e.owners_hidden
}

fn owner_unknown(e: &Entry) -> bool {
    e.processes.is_empty() && !e.owners_hidden && e.socket.inode != 0
}

impl Rule {
    fn applies(&self, e: &Entry) -> bool {
        let reach = match self.reach {
            Reach::Any => true,
            Reach::BeyondLoopback => e.exposure.beyond_loopback(),
            Reach::All => e.exposure == Exposure::All,
        };
        let s = &e.socket;
        let on_port = self.ports.contains(&(s.proto, s.local.port()));
        let by_program = e
            .processes
            .iter()
            .any(|p| self.programs.contains(&p.name.as_str()));
        let targeted = self.ports.is_empty() && self.programs.is_empty();
        reach && (targeted || on_port || by_program) && (self.when)(e)
    }

    fn finding(&self, e: &Entry, worded: bool) -> Finding {
        Finding {
            severity: self.severity,
            code: self.code,
            exposed: self.reach != Reach::Any,
            firewall: None,
            message: if worded {
                fill(self.message, e)
            } else {
                String::new()
            },
        }
    }
}

/// What the firewall makes of an entry's exposure findings: one severity lower when it
/// drops or rejects new connections (the message says so), the same but said for whom
/// when it opens the port only to some. Either way the finding carries the verdict. A
/// finding only counted (no message) gets no words either.
pub(crate) fn weigh_firewall(e: &mut Entry) {
    let Some(firewall) = e.firewall.clone() else {
        return;
    };
    for f in e.findings.iter_mut().filter(|f| f.exposed) {
        let said = match firewall.verdict {
            FirewallVerdict::Drop | FirewallVerdict::Reject => {
                f.severity = f.severity.lower();
                Some("closes it to new connections")
            }
            FirewallVerdict::Conditional => Some("opens it only to some"),
            FirewallVerdict::Accept | FirewallVerdict::Unknown => None,
        };
        if let Some(said) = said
            && !f.message.is_empty()
        {
            f.message
                .push_str(&format!("; the firewall {said} ({})", firewall.reason));
        }
        f.firewall = Some(firewall.clone());
    }
    e.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
}

/// A rule's message with `{what}` (the service, else the first holder's name, else `port
/// N`), `{local}` and `{port}` filled in, in one pass. A JSON listing judges every
/// listener, and three `replace`s a message (each a search and a new string) were a tenth
/// of `--json --no-owners`; and a holder named `{port}` is now shown as named.
fn fill(template: &str, e: &Entry) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    // Writing to a String cannot fail.
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        rest = &rest[open..];
        if let Some(after) = rest.strip_prefix("{what}") {
            match (e.service, e.processes.first()) {
                (Some(service), _) => out.push_str(service),
                (None, Some(p)) => out.push_str(&p.name),
                (None, None) => {
                    let _ = write!(out, "port {}", e.socket.local.port());
                }
            }
            rest = after;
        } else if let Some(after) = rest.strip_prefix("{local}") {
            let _ = write!(out, "{}", e.socket.local);
            rest = after;
        } else if let Some(after) = rest.strip_prefix("{port}") {
            let _ = write!(out, "{}", e.socket.local.port());
            rest = after;
        } else {
            out.push('{');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The findings for one socket, most severe first; none for sockets that do not listen.
/// Without `worded`, their messages are left empty (they are only counted).
pub(crate) fn findings(e: &Entry, worded: bool) -> Vec<Finding> {
    if !e.socket.state.is_listening() {
        return Vec::new();
    }
    let mut found: Vec<Finding> = Vec::new();
    for rule in RULES.iter().filter(|r| r.applies(e)) {
        // Several rows may share a code (one per service); report it once.
        if !found.iter().any(|f| f.code == rule.code) {
            found.push(rule.finding(e, worded));
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.severity));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Process, Socket, State, testing};

    fn entry(local: &str, proto: Proto, program: &str, uid: u32) -> Entry {
        let state = if proto == Tcp {
            State::Listen
        } else {
            State::Unconn
        };
        let socket = Socket {
            uid: Some(uid),
            inode: 9,
            ..testing::socket(local, proto, state)
        };
        Entry {
            processes: vec![std::sync::Arc::new(Process {
                pid: 100,
                name: program.into(),
                uid: Some(uid),
                ..Process::default()
            })],
            ..testing::entry(socket)
        }
    }

    fn codes(e: &Entry) -> Vec<&'static str> {
        findings(e, true).iter().map(|f| f.code).collect()
    }

    /// Counted findings (`--prometheus`) are the worded ones without words, weighed by the
    /// firewall alike: the same codes and severities as the audit's.
    #[test]
    fn counted_findings_are_worded_ones_without_words() {
        use crate::model::{Firewall, FirewallVerdict};
        for verdict in [
            FirewallVerdict::Accept,
            FirewallVerdict::Drop,
            FirewallVerdict::Conditional,
        ] {
            let judged = |worded| {
                let mut e = entry("0.0.0.0:23", Tcp, "in.telnetd", 0);
                e.findings = findings(&e, worded);
                e.firewall = Some(Firewall {
                    verdict,
                    rule: None,
                    reason: "policy drop".into(),
                });
                weigh_firewall(&mut e);
                e.findings
            };
            let (worded, counted) = (judged(true), judged(false));
            assert!(!worded.is_empty());
            let key = |f: &Finding| (f.code, f.severity, f.firewall.clone());
            assert_eq!(
                worded.iter().map(key).collect::<Vec<_>>(),
                counted.iter().map(key).collect::<Vec<_>>(),
                "{verdict:?}"
            );
            assert!(worded.iter().all(|f| !f.message.is_empty()));
            assert!(counted.iter().all(|f| f.message.is_empty()), "{counted:?}");
        }
    }

    #[test]
    fn cleartext_services_beyond_loopback() {
        for (local, proto) in [
            ("0.0.0.0:23", Tcp),
            ("10.0.0.5:21", Tcp),
            ("[::]:513", Tcp),
            ("0.0.0.0:69", Udp),
        ] {
            let e = entry(local, proto, "inetd", 1);
            assert_eq!(codes(&e), vec!["cleartext-login"], "{local}");
            assert_eq!(findings(&e, true)[0].severity, Severity::High);
        }
        assert!(codes(&entry("127.0.0.1:23", Tcp, "inetd", 1)).is_empty());
        // A telnet daemon on another port is found by its name.
        assert_eq!(
            codes(&entry("10.0.0.5:2323", Tcp, "in.telnetd", 1)),
            vec!["cleartext-login"]
        );
        // tftp is UDP: a TCP socket on 69 is something else.
        assert!(codes(&entry("0.0.0.0:69", Tcp, "x", 1)).is_empty());
    }

    #[test]
    fn control_planes_and_datastores() {
        assert_eq!(
            codes(&entry("0.0.0.0:2375", Tcp, "dockerd", 1)),
            vec!["docker-api-no-tls"]
        );
        assert!(codes(&entry("0.0.0.0:2376", Tcp, "dockerd", 1)).is_empty());
        assert_eq!(
            codes(&entry("10.0.0.5:10250", Tcp, "kubelet", 1)),
            vec!["kubelet-exposed"]
        );
        assert_eq!(
            codes(&entry("0.0.0.0:2379", Tcp, "etcd", 1)),
            vec!["etcd-exposed"]
        );
        for (local, program) in [
            ("0.0.0.0:6379", "redis-server"),
            ("0.0.0.0:7777", "redis-server"),
            ("[::]:11211", "memcached"),
            ("0.0.0.0:27017", "mongod"),
            ("0.0.0.0:9200", "java"),
            ("0.0.0.0:5984", "beam.smp"),
        ] {
            let e = entry(local, Tcp, program, 1);
            assert_eq!(codes(&e), vec!["unauthenticated-datastore"], "{local}");
            assert!(findings(&e, true)[0].message.contains(local));
        }
        assert!(codes(&entry("127.0.0.1:6379", Tcp, "redis-server", 1)).is_empty());
        assert!(codes(&entry("[::1]:27017", Tcp, "mongod", 1)).is_empty());
    }

    #[test]
    fn process_and_range_rules() {
        let mut e = entry("127.0.0.1:8080", Tcp, "app", 1000);
        std::sync::Arc::make_mut(&mut e.processes[0]).exe_deleted = true;
        assert_eq!(codes(&e), vec!["deleted-executable"]);
        assert_eq!(findings(&e, true)[0].severity, Severity::Medium);

        let mut e = entry("127.0.0.1:40000", Tcp, "app", 1000);
        e.ephemeral = true;
        assert_eq!(codes(&e), vec!["ephemeral-port"]);

        assert_eq!(
            codes(&entry("0.0.0.0:8080", Tcp, "app", 0)),
            vec!["root-on-all-interfaces"]
        );
        assert!(codes(&entry("10.0.0.5:8080", Tcp, "app", 0)).is_empty());
        assert!(codes(&entry("0.0.0.0:8080", Tcp, "app", 1000)).is_empty());

        let mut e = entry("0.0.0.0:8080", Tcp, "app", 1000);
        e.processes.clear();
        assert_eq!(codes(&e), vec!["owner-unknown"]);
        e.owners_hidden = true;
        assert_eq!(codes(&e), vec!["owner-hidden"]);
    }

    #[test]
    fn messages_name_what_listens_where_as_it_is_named() {
        let mut e = entry("0.0.0.0:8080", Tcp, "{port} {local}", 0);
        let message = |e: &Entry| findings(e, true)[0].message.clone();
        assert_eq!(
            message(&e),
            "{port} {local}, running as root, listens on every interface (0.0.0.0:8080): \
             bind it to the addresses it serves, or drop privileges"
        );
        e.service = Some("http-alt");
        assert!(
            message(&e).starts_with("http-alt, running as root,"),
            "{}",
            message(&e)
        );
        let mut e = entry("127.0.0.1:40000", Tcp, "app", 1000);
        e.ephemeral = true;
        assert_eq!(
            message(&e),
            "127.0.0.1:40000 listens inside this host's ephemeral range: outgoing connections \
             may take port 40000 first; move it or add it to net.ipv4.ip_local_reserved_ports"
        );
    }

    #[test]
    fn most_severe_first_and_only_listeners() {
        let mut e = entry("0.0.0.0:6379", Tcp, "redis-server", 0);
        e.ephemeral = true;
        std::sync::Arc::make_mut(&mut e.processes[0]).exe_deleted = true;
        let severities: Vec<Severity> = findings(&e, true).iter().map(|f| f.severity).collect();
        assert_eq!(
            severities,
            vec![
                Severity::High,
                Severity::Medium,
                Severity::Low,
                Severity::Low
            ]
        );
        e.socket.state = State::Established;
        assert!(findings(&e, true).is_empty());
    }
}
