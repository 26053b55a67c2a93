//! Rulesets for tests, built from the expression lists `nft --debug=netlink` prints for
//! each rule shape (nftables 1.0.6): `tcp dport 22 accept` is
//!
//! ```text
//! [ meta load l4proto => reg 1 ]
//! [ cmp eq reg 1 0x00000006 ]
//! [ payload load 2b @ transport header + 2 => reg 1 ]
//! [ cmp eq reg 1 0x00001600 ]
//! [ immediate reg 0 accept ]
//! ```

use std::net::IpAddr;

use crate::model::{
    CmpOp, Expr, Hook, Immediate, NatKind, NfChain, NfFamily, NfRule, NfSet, NfSetElement, NfTable,
    PayloadBase, Proto, Ruleset, Socket, State, Verdict, testing,
};

pub(super) const TCP: u8 = 6;
pub(super) const UDP: u8 = 17;

pub(super) fn meta(key: u32) -> Expr {
    Expr::Meta { key, dreg: 1 }
}

pub(super) fn cmp(op: CmpOp, data: &[u8]) -> Expr {
    Expr::Cmp {
        sreg: 1,
        op,
        data: data.to_vec(),
    }
}

pub(super) fn eq(data: &[u8]) -> Expr {
    cmp(CmpOp::Eq, data)
}

/// `meta l4proto tcp`: what nft puts before any transport header test.
pub(super) fn l4proto(proto: u8) -> Vec<Expr> {
    vec![meta(16), eq(&[proto])]
}

/// `meta nfproto ipv4`: what nft puts before an `ip` test in an `inet` table.
pub(super) fn nfproto(v6: bool) -> Vec<Expr> {
    vec![meta(15), eq(&[if v6 { 10 } else { 2 }])]
}

pub(super) fn load_dport() -> Expr {
    Expr::Payload {
        base: PayloadBase::Transport,
        offset: 2,
        len: 2,
        dreg: 1,
    }
}

/// `tcp dport 22` (or `udp`).
pub(super) fn dport(proto: u8, port: u16) -> Vec<Expr> {
    let mut e = l4proto(proto);
    e.extend([load_dport(), eq(&port.to_be_bytes())]);
    e
}

/// `tcp dport 1000-2000`: nft writes `cmp gte` then `cmp lte`.
pub(super) fn dport_range(proto: u8, low: u16, high: u16) -> Vec<Expr> {
    let mut e = l4proto(proto);
    e.extend([
        load_dport(),
        cmp(CmpOp::Gte, &low.to_be_bytes()),
        cmp(CmpOp::Lte, &high.to_be_bytes()),
    ]);
    e
}

/// `tcp dport @set` (or an anonymous `{ ... }` whose set is named `__set0`).
pub(super) fn dport_in(proto: u8, set: &str) -> Vec<Expr> {
    let mut e = l4proto(proto);
    e.extend([load_dport(), lookup(set, None)]);
    e
}

/// `tcp dport vmap @map`.
pub(super) fn dport_vmap(proto: u8, map: &str) -> Vec<Expr> {
    let mut e = l4proto(proto);
    e.extend([load_dport(), lookup(map, Some(0))]);
    e
}

pub(super) fn lookup(set: &str, dreg: Option<u32>) -> Expr {
    Expr::Lookup {
        sreg: 1,
        set: set.into(),
        dreg,
        invert: false,
    }
}

/// `ip saddr 10.0.0.0/8` as nft writes it: a byte-aligned prefix loads only its bytes; any
/// other a full address through a mask. `inet` tables add `meta nfproto ipv4` first.
pub(super) fn saddr(net: &str, inet: bool) -> Vec<Expr> {
    address(net, inet, true)
}

/// `ip daddr 192.168.1.5`, `ip daddr 127.0.0.0/8`.
pub(super) fn daddr(net: &str, inet: bool) -> Vec<Expr> {
    address(net, inet, false)
}

fn address(net: &str, inet: bool, source: bool) -> Vec<Expr> {
    let (addr, bits) = net.split_once('/').unwrap_or((net, ""));
    let addr: IpAddr = addr.parse().expect("an address");
    let (v6, octets, offset) = match (addr, source) {
        (IpAddr::V4(a), true) => (false, a.octets().to_vec(), 12),
        (IpAddr::V4(a), false) => (false, a.octets().to_vec(), 16),
        (IpAddr::V6(a), true) => (true, a.octets().to_vec(), 8),
        (IpAddr::V6(a), false) => (true, a.octets().to_vec(), 24),
    };
    let bits: usize = bits.parse().unwrap_or(octets.len() * 8);
    let mut e = if inet { nfproto(v6) } else { Vec::new() };
    let load = |len: usize| Expr::Payload {
        base: PayloadBase::Network,
        offset,
        len: len as u32,
        dreg: 1,
    };
    if bits % 8 == 0 {
        e.extend([load(bits / 8), eq(&octets[..bits / 8])]);
    } else {
        let mask: Vec<u8> = (0..octets.len())
            .map(|i| {
                !0xffu8
                    .checked_shr((bits.saturating_sub(i * 8)).min(8) as u32)
                    .unwrap_or(0)
            })
            .collect();
        let net: Vec<u8> = octets.iter().zip(&mask).map(|(a, m)| a & m).collect();
        e.extend([
            load(octets.len()),
            Expr::Bitwise {
                sreg: 1,
                dreg: 1,
                len: octets.len() as u32,
                mask,
                xor: vec![0; octets.len()],
            },
            eq(&net),
        ]);
    }
    e
}

/// `ct state established,related` (`ct state` bits in host order, tested through a mask).
pub(super) fn ct_state(bits: u32) -> Vec<Expr> {
    vec![
        Expr::Ct { key: 0, dreg: 1 },
        Expr::Bitwise {
            sreg: 1,
            dreg: 1,
            len: 4,
            mask: bits.to_ne_bytes().to_vec(),
            xor: vec![0; 4],
        },
        cmp(CmpOp::Neq, &[0; 4]),
    ]
}

pub(super) const ESTABLISHED_RELATED: u32 = 2 | 4;
pub(super) const INVALID: u32 = 1;
pub(super) const NEW: u32 = 8;

/// `iif lo` (loopback's index is always 1).
pub(super) fn iif_lo() -> Vec<Expr> {
    vec![meta(4), eq(&1u32.to_ne_bytes())]
}

/// `iifname "eth0"`: the name NUL-padded to 16 bytes; `"eth*"` is the prefix alone.
pub(super) fn iifname(op: CmpOp, name: &str) -> Vec<Expr> {
    let mut data = name.as_bytes().to_vec();
    match data.strip_suffix(b"*") {
        Some(prefix) => data = prefix.to_vec(),
        None => data.resize(16, 0),
    }
    vec![meta(6), cmp(op, &data)]
}

pub(super) fn immediate(v: Verdict) -> Expr {
    Expr::Immediate {
        dreg: 0,
        data: Immediate::Verdict(v),
    }
}

pub(super) fn accept() -> Expr {
    immediate(Verdict::Accept)
}

pub(super) fn drop() -> Expr {
    immediate(Verdict::Drop)
}

pub(super) fn jump(chain: &str) -> Expr {
    immediate(Verdict::Jump(chain.into()))
}

pub(super) fn goto(chain: &str) -> Expr {
    immediate(Verdict::Goto(chain.into()))
}

/// A rule of these expressions and then these.
pub(super) fn rule(parts: impl IntoIterator<Item = Vec<Expr>>) -> NfRule {
    NfRule {
        handle: 0,
        exprs: parts.into_iter().flatten().collect(),
    }
}

/// `tcp dport 22 accept`.
pub(super) fn tcp_dport_accept(port: u16) -> NfRule {
    rule([dport(TCP, port), vec![accept()]])
}

pub(super) fn udp_dport_accept(port: u16) -> NfRule {
    rule([dport(UDP, port), vec![accept()]])
}

/// A base chain on `hook`.
pub(super) fn base(
    name: &str,
    hook: Hook,
    priority: i32,
    policy: Verdict,
    rules: Vec<NfRule>,
) -> NfChain {
    NfChain {
        name: name.into(),
        hook: Some(hook),
        priority,
        policy: Some(policy),
        kind: Some(
            if matches!(hook, Hook::Prerouting) {
                "nat"
            } else {
                "filter"
            }
            .into(),
        ),
        rules,
    }
}

/// `type filter hook input priority 0`.
pub(super) fn input(policy: Verdict, rules: Vec<NfRule>) -> NfChain {
    base("input", Hook::Input, 0, policy, rules)
}

/// A regular chain, reached by jump or goto.
pub(super) fn regular(name: &str, rules: Vec<NfRule>) -> NfChain {
    NfChain {
        name: name.into(),
        rules,
        ..NfChain::default()
    }
}

/// A table; each rule's handle is its place in the table, from 1, as nft numbers them.
pub(super) fn table(
    family: NfFamily,
    name: &str,
    mut chains: Vec<NfChain>,
    sets: Vec<NfSet>,
) -> NfTable {
    let mut handle = 1;
    for chain in &mut chains {
        for rule in &mut chain.rules {
            handle += 1;
            rule.handle = handle;
        }
    }
    NfTable {
        family: Some(family),
        name: name.into(),
        chains,
        sets,
    }
}

pub(super) fn ruleset(tables: Vec<NfTable>) -> Ruleset {
    Ruleset {
        tables,
        generation: 1,
    }
}

/// `table inet filter { chain input { ... } }`.
pub(super) fn inet_input(policy: Verdict, rules: Vec<NfRule>) -> Ruleset {
    ruleset(vec![table(
        NfFamily::Inet,
        "filter",
        vec![input(policy, rules)],
        Vec::new(),
    )])
}

/// A set of ports as the kernel keeps a hashed set: one key each, big-endian.
pub(super) fn port_set(name: &str, ports: &[u16]) -> NfSet {
    NfSet {
        name: name.into(),
        key_len: 2,
        elements: ports
            .iter()
            .map(|p| NfSetElement {
                key: p.to_be_bytes().to_vec(),
                ..NfSetElement::default()
            })
            .collect(),
        ..NfSet::default()
    }
}

/// An interval set of ports as nft loads it into the rbtree: a zero key flagged as an end,
/// then each range's start and, flagged `interval_end`, the first port past it.
pub(super) fn port_intervals(name: &str, ranges: &[(u16, u16)]) -> NfSet {
    let mut elements = vec![end_element(vec![0, 0])];
    for &(low, high) in ranges {
        elements.push(NfSetElement {
            key: low.to_be_bytes().to_vec(),
            ..NfSetElement::default()
        });
        if let Some(past) = high.checked_add(1) {
            elements.push(end_element(past.to_be_bytes().to_vec()));
        }
    }
    NfSet {
        name: name.into(),
        interval: true,
        key_len: 2,
        elements,
        ..NfSet::default()
    }
}

fn end_element(key: Vec<u8>) -> NfSetElement {
    NfSetElement {
        key,
        interval_end: true,
        ..NfSetElement::default()
    }
}

/// An interval set of IPv4 networks (`type ipv4_addr; flags interval`).
pub(super) fn addr_intervals(name: &str, nets: &[&str]) -> NfSet {
    let mut elements = vec![end_element(vec![0; 4])];
    for net in nets {
        let (addr, bits) = net.split_once('/').unwrap_or((net, "32"));
        let a: u32 = addr
            .parse::<std::net::Ipv4Addr>()
            .expect("an IPv4 address")
            .into();
        let bits: u32 = bits.parse().expect("a prefix length");
        let size = 1u64 << (32 - bits);
        elements.push(NfSetElement {
            key: a.to_be_bytes().to_vec(),
            ..NfSetElement::default()
        });
        if let Ok(past) = u32::try_from(u64::from(a) + size) {
            elements.push(end_element(past.to_be_bytes().to_vec()));
        }
    }
    NfSet {
        name: name.into(),
        interval: true,
        key_len: 4,
        elements,
        ..NfSet::default()
    }
}

/// A verdict map keyed by port.
pub(super) fn port_vmap(name: &str, entries: &[(u16, Verdict)]) -> NfSet {
    NfSet {
        name: name.into(),
        map: true,
        verdict_map: true,
        key_len: 2,
        elements: entries
            .iter()
            .map(|(p, v)| NfSetElement {
                key: p.to_be_bytes().to_vec(),
                data: Some(Immediate::Verdict(v.clone())),
                ..NfSetElement::default()
            })
            .collect(),
        ..NfSet::default()
    }
}

/// `dnat to 172.17.0.2:80` as nft writes it: the address into register 1, the port into
/// register 2, then `nat dnat ip addr_min reg 1 proto_min reg 2`.
pub(super) fn dnat_to(to: &str) -> Vec<Expr> {
    let to: std::net::SocketAddr = to.parse().expect("an address and port");
    let addr = match to.ip() {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    vec![
        Expr::Immediate {
            dreg: 1,
            data: Immediate::Value(addr),
        },
        Expr::Immediate {
            dreg: 2,
            data: Immediate::Value(to.port().to_be_bytes().to_vec()),
        },
        Expr::Nat {
            kind: NatKind::Dnat,
            family: Some(if to.is_ipv4() {
                NfFamily::Ip
            } else {
                NfFamily::Ip6
            }),
            addr_min: Some(1),
            addr_max: None,
            proto_min: Some(2),
            proto_max: None,
        },
    ]
}

/// `dnat to 10.0.0.3`: the address alone, the port unchanged.
pub(super) fn dnat_addr(to: &str) -> Vec<Expr> {
    let to: std::net::Ipv4Addr = to.parse().expect("an IPv4 address");
    vec![
        Expr::Immediate {
            dreg: 1,
            data: Immediate::Value(to.octets().to_vec()),
        },
        Expr::Nat {
            kind: NatKind::Dnat,
            family: Some(NfFamily::Ip),
            addr_min: Some(1),
            addr_max: None,
            proto_min: None,
            proto_max: None,
        },
    ]
}

/// `redirect to :22`.
pub(super) fn redirect_to(port: u16) -> Vec<Expr> {
    vec![
        Expr::Immediate {
            dreg: 1,
            data: Immediate::Value(port.to_be_bytes().to_vec()),
        },
        Expr::Redir {
            proto_min: Some(1),
            proto_max: None,
        },
    ]
}

/// A TCP socket listening on `local`.
pub(super) fn listening(local: &str) -> Socket {
    testing::socket(local, Proto::Tcp, State::Listen)
}

/// A UDP socket bound on `local`.
pub(super) fn bound_udp(local: &str) -> Socket {
    testing::socket(local, Proto::Udp, State::Unconn)
}
