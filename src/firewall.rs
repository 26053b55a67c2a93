//! What the firewall does with a new connection from another host to a listening socket,
//! and the port forwards it makes: read from the nftables ruleset as the kernel holds it
//! (`model::Ruleset`), never from the text of a configuration.
//!
//! Pure: the ruleset and the sockets come in, verdicts and forwards go out. The ruleset is
//! compiled once (`Firewalls::new`) and each distinct (family, protocol, class of port,
//! address) is walked once, so many listeners cost little more than a few.

mod compile;
mod forwards;
mod packet;
mod report;
mod rule;
mod text;
mod walk;

#[cfg(test)]
mod bench;
#[cfg(test)]
mod props;
#[cfg(test)]
mod shapes;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::net::IpAddr;

use crate::model::{Firewall, FirewallVerdict, Proto, RuleForward, RuleRef, Ruleset, Socket};

use compile::{Compiled, QuickMap};
use packet::{Ip, Packet, TCP, UDP};
use report::Answer;
use walk::{At, Memo, Walk};

/// The firewall's verdicts for the sockets of one ruleset.
pub(crate) struct Firewalls<'r> {
    fw: Compiled<'r>,
    /// No table at all: nothing filters.
    empty: bool,
    answers: QuickMap<Key, Answer<'r>>,
    texts: QuickMap<At, RuleRef>,
    memo: Memo<'r>,
}

/// What a walk depends on: two sockets with the same key get the same answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    ip: Ip,
    proto: u8,
    class: u32,
    daddr: Option<IpAddr>,
}

impl<'r> Firewalls<'r> {
    pub(crate) fn new(ruleset: &'r Ruleset) -> Firewalls<'r> {
        Firewalls {
            fw: Compiled::new(ruleset),
            empty: ruleset.tables.is_empty(),
            answers: QuickMap::default(),
            texts: QuickMap::default(),
            memo: Memo::new(),
        }
    }

    /// The same verdicts without the index, the port classes or the shared walks.
    #[cfg(test)]
    fn plain(ruleset: &'r Ruleset) -> Firewalls<'r> {
        Firewalls {
            fw: Compiled::new(ruleset).without_index(),
            ..Firewalls::new(ruleset)
        }
    }

    /// What the input path does with a new connection from another host to the socket's
    /// address and port. Whether the socket should have a verdict at all (listening, not
    /// bound to loopback) is the caller's question: see `applies`.
    pub(crate) fn verdict(&mut self, socket: &Socket) -> Firewall {
        if self.empty {
            return Firewall {
                verdict: FirewallVerdict::Accept,
                rule: None,
                reason: "no firewall rules".to_string(),
            };
        }
        let what = report::What {
            proto: socket.proto.as_str(),
            port: socket.local.port(),
        };
        let [v6, v4] = packets(socket).map(|p| p.map(|p| (p.ip, self.answer(p))));
        let mut firewall =
            |(ip, answer)| report::firewall(&self.fw, &mut self.texts, answer, what, ip);
        match (v6, v4) {
            (Some((_, Answer::NoChain)), Some((_, Answer::NoChain))) => Firewall {
                verdict: FirewallVerdict::Accept,
                rule: None,
                reason: "no base chain on the input hook for IPv6 or IPv4".to_string(),
            },
            // The same answer for both families reads as one.
            (Some(a), Some(b)) if a.1 == b.1 => firewall(a),
            (Some(a), Some(b)) => {
                let v6 = firewall(a);
                report::both(v6, firewall(b))
            }
            (Some(one), None) | (None, Some(one)) => firewall(one),
            // `packets` always gives one; should that change, say so rather than panic.
            (None, None) => Firewall {
                verdict: FirewallVerdict::Unknown,
                rule: None,
                reason: "no packet family for this socket".to_string(),
            },
        }
    }

    fn answer(&mut self, packet: Packet) -> Answer<'r> {
        let key = Key {
            ip: packet.ip,
            proto: packet.proto,
            class: self.fw.ports.class(packet.dport),
            daddr: packet.daddr.filter(|_| self.fw.uses_daddr),
        };
        if let Some(answer) = self.answers.get(&key) {
            return *answer;
        }
        let answer = match Walk::new(&self.fw, packet, &mut self.memo).input() {
            Some(outcome) => Answer::Decided(outcome),
            None => Answer::NoChain,
        };
        self.answers.insert(key, answer);
        answer
    }
}

/// The verdict for one socket; for many, `Firewalls` compiles the ruleset once.
#[cfg(test)]
pub(crate) fn verdict(ruleset: &Ruleset, socket: &Socket) -> Firewall {
    Firewalls::new(ruleset).verdict(socket)
}

/// The DNAT and REDIRECT forwards of the ruleset (see `forwards::forwards`).
pub(crate) fn forwards(ruleset: &Ruleset) -> Vec<RuleForward> {
    forwards::forwards(ruleset)
}

/// Whether the contract gives a socket a `firewall` object: listening, and reachable from
/// another host (not bound to loopback).
pub(crate) fn applies(socket: &Socket) -> bool {
    let ip = socket.local.ip();
    let loopback = match ip {
        IpAddr::V4(a) => a.is_loopback(),
        IpAddr::V6(a) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    };
    socket.state.is_listening() && !loopback
}

/// The packets that reach the socket, IPv6 first: a dual-stack wildcard IPv6 socket
/// (`[::]` without `IPV6_V6ONLY`, Linux's default) also takes IPv4 connections, which
/// the `ip` tables see instead of the `ip6` ones.
fn packets(socket: &Socket) -> [Option<Packet>; 2] {
    let proto = match socket.proto {
        Proto::Tcp => TCP,
        Proto::Udp => UDP,
    };
    let dport = socket.local.port();
    let v4 = |daddr: Option<IpAddr>| Packet {
        ip: Ip::V4,
        proto,
        dport,
        daddr,
    };
    let specific = |a: IpAddr| (!a.is_unspecified()).then_some(a);
    match socket.local.ip() {
        IpAddr::V4(a) => [None, Some(v4(specific(a.into())))],
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(mapped) => [None, Some(v4(specific(mapped.into())))],
            None if a.is_unspecified() && socket.v6only != Some(true) => [
                Some(Packet {
                    ip: Ip::V6,
                    proto,
                    dport,
                    daddr: None,
                }),
                Some(v4(None)),
            ],
            None => [
                Some(Packet {
                    ip: Ip::V6,
                    proto,
                    dport,
                    daddr: specific(a.into()),
                }),
                None,
            ],
        },
    }
}

/// The verdict when a namespace's ruleset could not be read at all.
pub(crate) fn unreadable(why: &crate::model::NoRuleset) -> Firewall {
    use crate::model::NoRuleset;
    let reason = match why {
        NoRuleset::NotPermitted => {
            "reading the firewall needs CAP_NET_ADMIN: run as root: sudo portwho ...".to_string()
        }
        NoRuleset::LegacyIptables => "legacy iptables (ip_tables) is in use, whose rules are not \
                                      in nftables: portwho reads only nftables"
            .to_string(),
        NoRuleset::Changed => "the ruleset kept changing while it was read".to_string(),
        NoRuleset::NotEntered => "its network namespace could not be entered".to_string(),
        NoRuleset::Failed(reason) => reason.clone(),
    };
    Firewall {
        verdict: FirewallVerdict::Unknown,
        rule: None,
        reason,
    }
}
