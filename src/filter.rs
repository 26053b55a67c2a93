//! Which sockets and rows the user asked for: targets and options as predicates.

use crate::model::SocketQuery;
use crate::model::{Entry, Family, Process, Proto, Socket};
use crate::target::Target;

/// The selection, resolved from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filters {
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
    pub(crate) fn query(&self) -> SocketQuery {
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
    pub(crate) fn socket(&self, s: &Socket) -> bool {
        self.proto_family(s)
            && (!self.listening_only || s.state.is_listening())
            && (self.targets.is_empty() || self.targets.iter().any(|t| t.matches(s)))
    }

    /// A socket of this host connected to one of the targets: a client of the port, which
    /// `--kill` leaves alone unless told otherwise. Never true without targets.
    pub(crate) fn client(&self, s: &Socket) -> bool {
        self.proto_family(s)
            && !self.listening_only
            && self.targets.iter().any(|t| t.matches_remote(s))
    }

    fn proto_family(&self, s: &Socket) -> bool {
        let proto = match s.proto {
            Proto::Tcp => self.tcp,
            Proto::Udp => self.udp,
        };
        let family = match s.family() {
            Family::Ipv4 => self.ipv4,
            Family::Ipv6 => self.ipv6,
        };
        proto && family
    }

    /// `--pid`, `--command` and `--user` on one process: whom `--kill` may signal when the
    /// user named processes, not only ports.
    pub(crate) fn process(&self, p: &Process) -> bool {
        (self.pids.is_empty() || self.pids.contains(&p.pid))
            && (self.commands.is_empty() || self.command(p))
            && (self.uids.is_empty() || p.uid.is_some_and(|u| self.uids.contains(&u)))
    }

    fn command(&self, p: &Process) -> bool {
        self.commands.iter().any(|c| {
            // comm is cut at 15 bytes, so the program name in argv[0] counts too.
            p.name == *c
                || p.cmdline
                    .first()
                    .and_then(|arg0| arg0.rsplit('/').next())
                    .is_some_and(|base| base == c)
        })
    }

    /// On a target's port and protocol, in any state, family and address: the sockets that
    /// explain why the port is taken.
    pub(crate) fn on_target_port(&self, s: &Socket) -> bool {
        self.targets.iter().any(|t| t.matches_port(s))
    }

    /// Whether rows are selected by who holds them, so owners must be read even with `-q`.
    pub(crate) fn needs_owners(&self) -> bool {
        !self.pids.is_empty() || !self.commands.is_empty() || !self.uids.is_empty()
    }

    /// `--pid`, checked on the holders' pids before any details are read.
    pub(crate) fn pids(&self, holders: &[u32]) -> bool {
        self.pids.is_empty() || holders.iter().any(|p| self.pids.contains(p))
    }

    /// `--command` and `--user`, checked on the finished row.
    pub(crate) fn entry(&self, e: &Entry) -> bool {
        let command = self.commands.is_empty() || e.processes.iter().any(|p| self.command(p));
        let user = self.uids.is_empty()
            || e.socket.uid.is_some_and(|u| self.uids.contains(&u))
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
            uid: Some(1000),
            inode: 1,
            v6only: None,
            netns: 0,
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
            processes: vec![std::sync::Arc::new(Process {
                pid: 5,
                name: "nginx".into(),
                cmdline: vec!["/usr/sbin/nginx-debug-build-x".into()],
                user: None,
                uid: Some(33),
                ..Process::default()
            })],
            owners_hidden: false,
            socket_user: None,
            service: None,
            category: Category::WellKnown,
            ephemeral: false,
            exposure: crate::model::Exposure::Loopback,
            interface: None,
            findings: Vec::new(),
            place: None,
            published: Vec::new(),
            forward: None,
            firewall: None,
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

    #[test]
    fn processes_for_kill() {
        let p = Process {
            pid: 5,
            name: "nginx".into(),
            cmdline: vec!["/usr/sbin/nginx".into()],
            user: None,
            uid: Some(33),
            ..Process::default()
        };
        assert!(Filters::default().process(&p));
        let f = |pids: &[u32], commands: &[&str], uids: &[u32]| Filters {
            pids: pids.to_vec(),
            commands: commands.iter().map(|c| c.to_string()).collect(),
            uids: uids.to_vec(),
            ..Filters::default()
        };
        assert!(f(&[5], &[], &[]).process(&p));
        assert!(!f(&[6], &[], &[]).process(&p));
        assert!(f(&[], &["nginx"], &[33]).process(&p));
        assert!(!f(&[5], &["apache2"], &[]).process(&p));
        assert!(!f(&[], &[], &[0]).process(&p));
    }

    #[test]
    fn clients_are_connected_to_the_target() {
        let t = Target {
            addr: None,
            ports: 3000..=3000,
            proto: None,
        };
        let f = Filters {
            targets: vec![t],
            listening_only: false,
            ..Filters::default()
        };
        let mut client = sock("127.0.0.1:51000", Proto::Tcp, State::Established);
        client.remote = Some("127.0.0.1:3000".parse().unwrap());
        assert!(f.client(&client) && !f.socket(&client));
        let mut other = client.clone();
        other.remote = Some("127.0.0.1:3001".parse().unwrap());
        assert!(!f.client(&other));
        let listening = Filters {
            listening_only: true,
            ..f.clone()
        };
        assert!(!listening.client(&client));
        assert!(
            !Filters::default().client(&client),
            "no targets, no clients"
        );
    }
}
