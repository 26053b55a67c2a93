//! The port forwards a ruleset makes: DNAT and REDIRECT rules in the nat chains on the
//! prerouting and output hooks, and in the chains they jump to (docker's `DOCKER`).

use std::collections::HashSet;
use std::net::IpAddr;

use crate::model::{
    CmpOp, Expr, Hook, Immediate, NatKind, NfFamily, NfRule, Proto, RuleForward, Ruleset,
};

use super::compile::{Compiled, QuickMap};
use super::packet::{Ip, Packet, Regs, TCP, UDP, span};
use super::report::rule_ref;
use super::rule::{RuleEval, action, eval};
use super::text::ip_of;

/// Ports of one rule listed one by one at most: a rule for a range of thousands of ports
/// would otherwise list every one.
pub(super) const MAX_PORTS_PER_RULE: usize = 1024;

/// Chains followed at most, counting each with the address it is reached for.
const MAX_CHAINS: usize = 4096;

/// Every DNAT and REDIRECT rule a new connection to a host port can meet, one forward per
/// (protocol, port). Conditions on the source or the interface do not hide a forward: it is
/// there for the connections that pass them.
pub(super) fn forwards(ruleset: &Ruleset) -> Vec<RuleForward> {
    let fw = Compiled::new(ruleset);
    let mut stack: Vec<(u32, Option<IpAddr>)> = fw
        .chains
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            matches!(c.chain.hook, Some(Hook::Prerouting | Hook::Output))
                && c.chain.kind.as_deref().is_none_or(|k| k == "nat")
                && !super::compile::families(fw.tables[c.table as usize].table.family).is_empty()
        })
        .map(|(id, _)| (id as u32, None))
        .rev()
        .collect();
    let mut visited = HashSet::new();
    let mut found: Vec<((u32, u32, u8, u16), RuleForward)> = Vec::new();
    let mut seen = HashSet::new();
    let mut texts = QuickMap::default();
    while let Some((chain, inherited)) = stack.pop() {
        if visited.len() >= MAX_CHAINS || !visited.insert((chain, inherited)) {
            continue;
        }
        let entry = &fw.chains[chain as usize];
        let family = fw.tables[entry.table as usize].table.family;
        for (r, rule) in entry.chain.rules.iter().enumerate() {
            let addr = daddr_of(family, rule).or(inherited);
            for target in targets(&fw, entry.table, rule).into_iter().rev() {
                stack.push((target, addr));
            }
            for hop in rule_forwards(&fw, entry.table, rule) {
                let key = (chain, r as u32, hop.proto, hop.port);
                if !seen.insert((key, hop.to_addr, hop.to_port)) {
                    continue;
                }
                let at = super::walk::At {
                    chain,
                    rule: r as u32,
                };
                found.push((
                    key,
                    RuleForward {
                        proto: if hop.proto == TCP {
                            Proto::Tcp
                        } else {
                            Proto::Udp
                        },
                        host_addr: addr,
                        host_port: hop.port,
                        to_addr: hop.to_addr,
                        to_port: hop.to_port,
                        redirect: hop.redirect,
                        rule: rule_ref(&fw, &mut texts, at),
                    },
                ));
            }
        }
    }
    found.sort_by_key(|(key, _)| *key);
    found.into_iter().map(|(_, f)| f).collect()
}

/// The chains a rule jumps or goes to, directly or through a verdict map.
fn targets(fw: &Compiled, table: u32, rule: &NfRule) -> Vec<u32> {
    let mut out = Vec::new();
    for e in &rule.exprs {
        let verdicts: Vec<_> = match e {
            Expr::Immediate {
                dreg: 0,
                data: Immediate::Verdict(v),
            } => vec![v],
            Expr::Lookup {
                set, dreg: Some(0), ..
            } => fw
                .set(table, set)
                .map(|s| {
                    s.set
                        .elements
                        .iter()
                        .filter_map(|e| match &e.data {
                            Some(Immediate::Verdict(v)) => Some(v),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            _ => continue,
        };
        for v in verdicts {
            if let super::rule::Action::Jump(id) | super::rule::Action::Goto(id) =
                action(fw, table, v)
            {
                out.push(id);
            }
        }
    }
    out
}

/// `ip daddr 1.2.3.4` (or its IPv6 form) in a rule: the host address it forwards from.
fn daddr_of(family: Option<NfFamily>, rule: &NfRule) -> Option<IpAddr> {
    rule.exprs.windows(2).find_map(|pair| match pair {
        [
            Expr::Payload {
                base: crate::model::PayloadBase::Network,
                offset,
                len,
                dreg,
            },
            Expr::Cmp {
                sreg,
                op: CmpOp::Eq,
                data,
            },
        ] if sreg == dreg && data.len() == *len as usize => {
            let ip_ok = match (offset, len) {
                (16, 4) => matches!(family, Some(NfFamily::Ip | NfFamily::Inet)),
                (24, 16) => matches!(family, Some(NfFamily::Ip6 | NfFamily::Inet)),
                _ => false,
            };
            ip_ok.then(|| ip_of(data)).flatten()
        }
        _ => None,
    })
}

/// Whether the expression sets the verdict: where a rule stops.
fn acts(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Immediate { dreg: 0, .. }
            | Expr::Lookup { dreg: Some(0), .. }
            | Expr::Nat { .. }
            | Expr::Redir { .. }
            | Expr::Reject
    )
}

/// Where one host port goes.
struct Hop {
    proto: u8,
    port: u16,
    to_addr: Option<IpAddr>,
    to_port: u16,
    redirect: bool,
}

/// The registers a `dnat` or `redirect` reads its target from.
#[derive(Clone, Copy)]
struct Target {
    addr: Option<u32>,
    port: Option<u32>,
    redirect: bool,
}

/// The forwards of one rule, if it is a DNAT or REDIRECT rule for some ports: the rule run
/// for each (family, protocol, port), its target read from the registers the nat
/// expression names when it is reached.
fn rule_forwards(fw: &Compiled, table: u32, rule: &NfRule) -> Vec<Hop> {
    let Some(nat) = rule.exprs.iter().find(|e| acts(e)) else {
        return Vec::new();
    };
    let (family, target) = match nat {
        Expr::Nat {
            kind: NatKind::Dnat,
            family,
            addr_min,
            proto_min,
            ..
        } => (
            *family,
            Target {
                addr: *addr_min,
                port: *proto_min,
                redirect: false,
            },
        ),
        Expr::Redir { proto_min, .. } => (
            None,
            Target {
                addr: None,
                port: *proto_min,
                redirect: true,
            },
        ),
        _ => return Vec::new(),
    };
    let guard = fw.guard(table, rule);
    let Some(ports) = guard.ports.filter(|_| !guard.never) else {
        return Vec::new();
    };
    let protos: &[u8] = match guard.proto {
        Some(TCP) => &[TCP],
        Some(UDP) => &[UDP],
        None => &[TCP, UDP],
        Some(_) => return Vec::new(),
    };
    let ips: &[Ip] = match (fw.tables[table as usize].table.family, family) {
        (_, Some(NfFamily::Ip)) => &[Ip::V4],
        (_, Some(NfFamily::Ip6)) => &[Ip::V6],
        (f, _) => super::compile::families(f),
    };
    let mut out = Vec::new();
    let mut regs = Regs::new();
    for port in ports
        .iter()
        .flat_map(|&(a, b)| a..=b)
        .take(MAX_PORTS_PER_RULE)
    {
        for &proto in protos {
            for &ip in ips {
                let packet = Packet {
                    ip,
                    proto,
                    dport: port,
                    daddr: None,
                };
                if let Some((to_addr, to_port)) = hop(fw, table, rule, &packet, target, &mut regs) {
                    out.push(Hop {
                        proto,
                        port,
                        to_addr,
                        to_port,
                        redirect: target.redirect,
                    });
                }
            }
        }
    }
    out
}

/// Where the rule sends this packet, if it may match it and its target is known.
fn hop(
    fw: &Compiled,
    table: u32,
    rule: &NfRule,
    packet: &Packet,
    target: Target,
    regs: &mut Regs,
) -> Option<(Option<IpAddr>, u16)> {
    if eval(fw, table, rule, packet, regs) == RuleEval::NoMatch {
        return None;
    }
    let known = |reg: u32, len: usize| -> Option<Vec<u8>> {
        let bytes = regs.get(span(reg, len)?);
        bytes
            .iter()
            .all(|b| b.is_known())
            .then(|| bytes.iter().map(|b| b.value).collect())
    };
    let to_addr = match target.addr {
        Some(reg) => Some(
            known(reg, packet.ip.addr_len())
                .as_deref()
                .and_then(ip_of)?,
        ),
        None if target.redirect => None,
        None => return None,
    };
    let to_port = match target.port {
        Some(reg) => {
            let b = known(reg, 2)?;
            u16::from_be_bytes([b[0], b[1]])
        }
        None => packet.dport,
    };
    Some((to_addr, to_port))
}
