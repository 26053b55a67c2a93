//! Which sockets and rows the user asked for: targets and options as predicates.

use crate::backend::SocketQuery;
use crate::model::{Entry, Family, Proto, Socket};
use crate::target::Target;

/// The selection, resolved from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filters {
    /// OR-ed; empty means every port.
    pub targets: Vec<Target>,
    pub tcp: bool,
    pub udp: bool,
    pub ipv4: bool,
    pub ipv6: bool,
    pub listening_only: bool,
    pub pids: Vec<u32>,
    pub commands: Vec<String>,
    pub uids: Vec<u32>,
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            targets: Vec::new(),
            tcp: true,
            udp: true,
            ipv4: true,
            ipv6: true,
            listening_only: true,
            pids: Vec::new(),
            commands: Vec::new(),
            uids: Vec::new(),
        }
    }
}

impl Filters {
    /// What to ask the backend for; it may return more, `socket` decides exactly.
    pub fn query(&self) -> SocketQuery {
        SocketQuery {
            tcp: self.tcp,
            udp: self.udp,
            ipv4: self.ipv4,
            ipv6: self.ipv6,
            listening_only: self.listening_only,
            ports: (!self.targets.is_empty())
                .then(|| self.targets.iter().map(|t| t.ports.clone()).collect()),
        }
    }

    /// Socket-level selection: targets, protocol, family, state.
    pub fn socket(&self, s: &Socket) -> bool {
        let proto = match s.proto {
            Proto::Tcp => self.tcp,
            Proto::Udp => self.udp,
        };
        let family = match s.family() {
            Family::Ipv4 => self.ipv4,
            Family::Ipv6 => self.ipv6,
        };
        proto
            && family
            && (!self.listening_only || s.state.is_listening())
            && (self.targets.is_empty() || self.targets.iter().any(|t| t.matches(s)))
    }

    /// On a target's port and protocol, in any state, family and address: the sockets that
    /// explain why the port is taken.
    pub fn on_target_port(&self, s: &Socket) -> bool {
        self.targets.iter().any(|t| t.matches_port(s))
    }

    /// Whether rows are selected by who holds them, so owners must be read even with `-q`.
    pub fn needs_owners(&self) -> bool {
        !self.pids.is_empty() || !self.commands.is_empty() || !self.uids.is_empty()
    }

    /// `--pid`, checked on the holders' pids before any details are read.
    pub fn pids(&self, holders: &[u32]) -> bool {
        self.pids.is_empty() || holders.iter().any(|p| self.pids.contains(p))
    }

    /// `--command` and `--user`, checked on the finished row.
    pub fn entry(&self, e: &Entry) -> bool {
        let command = self.commands.is_empty()
            || e.processes.iter().any(|p| {
                self.commands.iter().any(|c| {
                    // comm is cut at 15 bytes, so the program name in argv[0] counts too.
                    p.name == *c
                        || p.cmdline
                            .first()
                            .and_then(|arg0| arg0.rsplit('/').next())
                            .is_some_and(|base| base == c)
                })
            });
        let user = self.uids.is_empty()
            || self.uids.contains(&e.socket.uid)
            || e.processes
                .iter()
                .any(|p| p.uid.is_some_and(|u| self.uids.contains(&u)));
        command && user
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Category, Process, State};

    fn sock(local: &str, proto: Proto, state: State) -> Socket {
        Socket {
            proto,
            local: local.parse().unwrap(),
            remote: None,
            state,
            uid: 1000,
            inode: 1,
            v6only: None,
        }
    }

    #[test]
    fn state_proto_family() {
        let f = Filters::default();
        assert!(f.socket(&sock("0.0.0.0:22", Proto::Tcp, State::Listen)));
        assert!(f.socket(&sock("[::]:53", Proto::Udp, State::Unconn)));
        assert!(!f.socket(&sock("127.0.0.1:22", Proto::Tcp, State::Established)));
        let f = Filters {
            listening_only: false,
            udp: false,
            ipv4: false,
            ..Filters::default()
        };
        assert!(f.socket(&sock("[::1]:22", Proto::Tcp, State::TimeWait)));
        assert!(!f.socket(&sock("127.0.0.1:22", Proto::Tcp, State::TimeWait)));
        assert!(!f.socket(&sock("[::1]:53", Proto::Udp, State::Unconn)));
    }

    #[test]
    fn targets_are_ored() {
        let t = |p: u16| Target {
            addr: None,
            ports: p..=p,
            proto: None,
        };
        let f = Filters {
            targets: vec![t(80), t(443)],
            listening_only: false,
            ..Filters::default()
        };
        assert!(f.socket(&sock("0.0.0.0:80", Proto::Tcp, State::Listen)));
        assert!(f.socket(&sock("0.0.0.0:443", Proto::Udp, State::Established)));
        assert!(!f.socket(&sock("0.0.0.0:8080", Proto::Tcp, State::Listen)));
        assert_eq!(f.query().ports, Some(vec![80..=80, 443..=443]));
    }

    #[test]
    fn command_and_user() {
        let entry = Entry {
            socket: sock("0.0.0.0:80", Proto::Tcp, State::Listen),
            processes: vec![Process {
                pid: 5,
                name: "nginx".into(),
                cmdline: vec!["/usr/sbin/nginx-debug-build-x".into()],
                user: None,
                uid: Some(33),
                ..Process::default()
            }],
            owners_hidden: false,
            socket_user: None,
            service: None,
            category: Category::WellKnown,
            ephemeral: false,
            exposure: crate::label::exposure::Exposure::Loopback,
            interface: None,
            findings: Vec::new(),
        };
        let with = |commands: &[&str], uids: &[u32]| Filters {
            commands: commands.iter().map(|c| c.to_string()).collect(),
            uids: uids.to_vec(),
            ..Filters::default()
        };
        assert!(with(&["nginx"], &[]).entry(&entry));
        assert!(with(&["nginx-debug-build-x"], &[]).entry(&entry));
        assert!(!with(&["ngin"], &[]).entry(&entry));
        assert!(with(&[], &[33]).entry(&entry));
        assert!(with(&[], &[1000]).entry(&entry), "socket uid counts");
        assert!(!with(&[], &[0]).entry(&entry));
        assert!(with(&[], &[]).pids(&[]));
        assert!(!with(&[], &[]).needs_owners());
        let f = Filters {
            pids: vec![5],
            ..Filters::default()
        };
        assert!(f.pids(&[4, 5]) && !f.pids(&[4]) && f.needs_owners());
    }
}
