//! How a rule reads: `tcp dport 22 accept`, in nft's words for the shapes nft writes, else
//! the kernel names of its expressions (`payload cmp lookup immediate`). Set, chain and
//! interface names are kept raw: the renderer escapes them.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use crate::model::{
    CmpOp, Expr, Immediate, NatKind, NfFamily, NfRule, NfSet, NfTable, PayloadBase, Verdict,
};

use super::compile::ranges;
use super::packet::Ip;

/// What a clause tests, for naming a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Saddr,
    Daddr,
    Sport,
    Dport,
    Iface,
    Mark,
    Limit,
    Match,
    Statement,
}

/// One test or statement of a rule, and the expressions it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Clause {
    pub(super) exprs: Range<u32>,
    pub(super) kind: Kind,
    pub(super) text: String,
    /// What the test compares with: `10.0.0.0/8`, `!= "docker0"`, `@allowed`.
    pub(super) value: String,
    /// `meta l4proto tcp` before `tcp dport`, `meta nfproto ipv4` before `ip saddr`: nft
    /// adds them and does not print them.
    dep: u8,
    /// The dependencies (bits) this test needs: a concatenation may need both.
    needs: u8,
}

/// `meta nfproto` and `meta l4proto` as dependencies, one bit each.
const NF: u8 = 1;
const L4: u8 = 2;

fn needs(what: What) -> u8 {
    match what {
        What::Port { proto: Some(_), .. } | What::TcpFlags | What::IcmpType(_) => L4,
        What::Addr { .. } | What::IpProto(_) => NF,
        _ => 0,
    }
}

/// What a register holds, as nft names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    L4proto,
    Nfproto,
    Iif,
    Oif,
    Iifname,
    Oifname,
    Mark,
    Skuid,
    Pkttype,
    Meta(u32),
    CtState,
    CtStatus,
    CtDirection,
    CtMark,
    Ct(u32),
    Addr {
        ip: Ip,
        src: bool,
        len: u32,
    },
    IpProto(Ip),
    Port {
        proto: Option<u8>,
        src: bool,
    },
    TcpFlags,
    IcmpType(u8),
    Raw {
        network: bool,
        offset: u32,
        len: u32,
    },
}

struct Loaded<'a> {
    reg: u32,
    what: What,
    start: u32,
    mask: Option<&'a [u8]>,
}

struct Reader<'a> {
    table: &'a NfTable,
    loads: Vec<Loaded<'a>>,
    values: Vec<(u32, &'a [u8])>,
    ip: Option<Ip>,
    l4: Option<u8>,
    out: Vec<Clause>,
}

/// The rule as text.
pub(super) fn rule_text(table: &NfTable, rule: &NfRule) -> String {
    match clauses(table, rule) {
        Some(list) if !list.is_empty() => {
            list.iter().map(Clause::full).collect::<Vec<_>>().join(" ")
        }
        _ => rule
            .exprs
            .iter()
            .map(kernel_name)
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The rule's clauses; `None` for a shape this does not read.
pub(super) fn clauses(table: &NfTable, rule: &NfRule) -> Option<Vec<Clause>> {
    let mut r = Reader {
        table,
        loads: Vec::new(),
        values: Vec::new(),
        ip: match table.family {
            Some(NfFamily::Ip) => Some(Ip::V4),
            Some(NfFamily::Ip6) => Some(Ip::V6),
            _ => None,
        },
        l4: None,
        out: Vec::new(),
    };
    let mut i = 0;
    while i < rule.exprs.len() {
        i = r.expr(&rule.exprs, i)?;
    }
    if !r.loads.is_empty() {
        return None;
    }
    // Drop the dependencies nft adds in front of the test that needs them.
    let mut out: Vec<Clause> = Vec::with_capacity(r.out.len());
    for mut c in r.out {
        while let Some(prev) = out.last().filter(|p| p.dep & c.needs != 0) {
            c.exprs.start = prev.exprs.start;
            out.pop();
        }
        out.push(c);
    }
    Some(out)
}

/// The kernel's name of an expression.
pub(super) fn kernel_name(e: &Expr) -> &str {
    match e {
        Expr::Payload { .. } => "payload",
        Expr::Meta { .. } => "meta",
        Expr::Ct { .. } => "ct",
        Expr::Cmp { .. } => "cmp",
        Expr::Bitwise { .. } => "bitwise",
        Expr::Range { .. } => "range",
        Expr::Lookup { .. } => "lookup",
        Expr::Immediate { .. } => "immediate",
        Expr::Nat { .. } => "nat",
        Expr::Redir { .. } => "redir",
        Expr::Reject => "reject",
        Expr::Passive(name) | Expr::Other(name) => name,
    }
}

impl Clause {
    fn full(&self) -> String {
        if self.value.is_empty() {
            self.text.clone()
        } else {
            format!("{} {}", self.text, self.value)
        }
    }

    /// The connections this test lets through, to follow "accepted only" or "except":
    /// `from 10.0.0.0/8`, `on interface eth0`.
    pub(super) fn phrase(&self) -> String {
        let v = self.value.as_str();
        let (negated, bare) = match v.strip_prefix("!= ") {
            Some(rest) => (true, rest),
            None => (false, v),
        };
        let bare_name = bare.trim_matches('"');
        match self.kind {
            _ if v.starts_with("vmap") => format!("when {}", self.full()),
            Kind::Saddr if negated => format!("from anywhere but {bare}"),
            Kind::Saddr => match bare.strip_prefix('@') {
                Some(set) => format!("from the addresses in set {set}"),
                None => format!("from {bare}"),
            },
            Kind::Iface if negated => format!("on interfaces other than {bare_name}"),
            Kind::Iface => match bare.strip_prefix('@') {
                Some(set) => format!("on the interfaces in set {set}"),
                None if bare.starts_with('{') => format!("on interfaces {bare}"),
                None => format!("on interface {bare_name}"),
            },
            Kind::Daddr => format!("when addressed to {v}"),
            Kind::Sport => format!("from source port {v}"),
            Kind::Limit if self.text == "connlimit" => "up to a connection limit".to_string(),
            Kind::Limit => "up to a rate limit".to_string(),
            Kind::Dport | Kind::Mark | Kind::Match | Kind::Statement => {
                format!("when {}", self.full())
            }
        }
    }
}

impl<'a> Reader<'a> {
    fn expr(&mut self, exprs: &'a [Expr], i: usize) -> Option<usize> {
        let at = i as u32;
        match &exprs[i] {
            Expr::Payload {
                base,
                offset,
                len,
                dreg,
            } => {
                let what = self.payload(*base, *offset, *len)?;
                self.load(*dreg, what, at)?;
            }
            Expr::Meta { key, dreg } => self.load(*dreg, meta(*key), at)?,
            Expr::Ct { key, dreg } => self.load(*dreg, ct(*key), at)?,
            Expr::Bitwise {
                sreg,
                dreg,
                mask,
                xor,
                ..
            } => {
                let loaded = self.loads.iter_mut().find(|l| l.reg == *sreg)?;
                if sreg != dreg || xor.iter().any(|&b| b != 0) || loaded.mask.is_some() {
                    return None;
                }
                loaded.mask = Some(mask);
            }
            Expr::Cmp { sreg, op, data } => {
                // `tcp dport 1000-2000`: nft writes gte then lte on the same register.
                if let (
                    CmpOp::Gte,
                    Some(Expr::Cmp {
                        sreg: s,
                        op: CmpOp::Lte,
                        data: to,
                    }),
                ) = (op, exprs.get(i + 1))
                {
                    if s == sreg {
                        let l = self.take(*sreg)?;
                        self.range(l, at + 1, false, data, to)?;
                        return Some(i + 2);
                    }
                }
                let l = self.take(*sreg)?;
                self.cmp(l, at, *op, data)?;
            }
            Expr::Range { sreg, op, from, to } => {
                let l = self.take(*sreg)?;
                self.range(l, at, *op == CmpOp::Neq, from, to)?;
            }
            Expr::Lookup {
                sreg,
                set,
                dreg,
                invert,
            } => self.lookup(*sreg, set, *dreg, *invert, at)?,
            Expr::Immediate {
                dreg: 0,
                data: Immediate::Verdict(v),
            } => {
                self.statement(at, verdict_text(v), Kind::Statement);
            }
            Expr::Immediate {
                dreg,
                data: Immediate::Value(v),
            } => self.values.push((*dreg, v)),
            Expr::Immediate { .. } => return None,
            e @ (Expr::Nat { .. } | Expr::Redir { .. }) => {
                let text = self.nat(e)?;
                self.statement(at, text, Kind::Statement);
            }
            Expr::Reject => self.statement(at, "reject".to_string(), Kind::Statement),
            Expr::Passive(name) => self.statement(at, name.clone(), Kind::Statement),
            Expr::Other(name) if super::rule::is_limit(name) => {
                self.statement(at, name.clone(), Kind::Limit)
            }
            Expr::Other(name) => self.statement(at, name.clone(), Kind::Match),
        }
        Some(i + 1)
    }

    fn statement(&mut self, at: u32, text: String, kind: Kind) {
        self.out.push(Clause {
            exprs: at..at + 1,
            kind,
            text,
            value: String::new(),
            dep: 0,
            needs: 0,
        });
    }

    fn load(&mut self, reg: u32, what: What, start: u32) -> Option<()> {
        // A load nothing tested is a shape this does not read.
        if self.loads.iter().any(|l| l.reg == reg) {
            return None;
        }
        self.loads.push(Loaded {
            reg,
            what,
            start,
            mask: None,
        });
        Some(())
    }

    fn take(&mut self, reg: u32) -> Option<Loaded<'a>> {
        let at = self.loads.iter().position(|l| l.reg == reg)?;
        Some(self.loads.remove(at))
    }

    fn payload(&self, base: PayloadBase, offset: u32, len: u32) -> Option<What> {
        Some(match base {
            PayloadBase::Network => match (self.ip, offset, len) {
                (Some(ip @ Ip::V4), 12 | 16, 1..=4) | (Some(ip @ Ip::V6), 8 | 24, 1..=16) => {
                    What::Addr {
                        ip,
                        src: offset == if ip == Ip::V4 { 12 } else { 8 },
                        len,
                    }
                }
                (Some(Ip::V4), 9, 1) => What::IpProto(Ip::V4),
                (Some(Ip::V6), 6, 1) => What::IpProto(Ip::V6),
                _ => What::Raw {
                    network: true,
                    offset,
                    len,
                },
            },
            PayloadBase::Transport => match (self.l4, offset, len) {
                (_, 0 | 2, 2) => What::Port {
                    proto: self.l4,
                    src: offset == 0,
                },
                (Some(6), 13, 1) => What::TcpFlags,
                (Some(p @ (1 | 58)), 0, 1) => What::IcmpType(p),
                _ => What::Raw {
                    network: false,
                    offset,
                    len,
                },
            },
            PayloadBase::Link | PayloadBase::Inner => return None,
        })
    }

    fn push(&mut self, l: &Loaded, end: u32, value: String) {
        let (text, kind) = self.name(l.what);
        let needs = needs(l.what);
        self.out.push(Clause {
            exprs: l.start..end + 1,
            kind,
            text,
            value,
            dep: 0,
            needs,
        });
    }

    fn cmp(&mut self, l: Loaded, at: u32, op: CmpOp, data: &[u8]) -> Option<()> {
        let value = match l.mask {
            Some(mask) => self.masked(l.what, mask, op, data)?,
            None => format!("{}{}", op_text(op), self.value(l.what, data)),
        };
        self.push(&l, at, value);
        if op == CmpOp::Eq && l.mask.is_none() {
            let dep = match (l.what, data) {
                (What::L4proto, [p, ..]) => {
                    self.l4 = Some(*p);
                    L4
                }
                (What::Nfproto, [2, ..]) => {
                    self.ip = Some(Ip::V4);
                    NF
                }
                (What::Nfproto, [10, ..]) => {
                    self.ip = Some(Ip::V6);
                    NF
                }
                _ => 0,
            };
            if let Some(last) = self.out.last_mut() {
                last.dep = dep;
            }
        }
        Some(())
    }

    fn range(&mut self, l: Loaded, at: u32, negated: bool, from: &[u8], to: &[u8]) -> Option<()> {
        if l.mask.is_some() {
            return None;
        }
        let value = format!(
            "{}{}-{}",
            if negated { "!= " } else { "" },
            self.value(l.what, from),
            self.value(l.what, to)
        );
        self.push(&l, at, value);
        Some(())
    }

    /// A test through a mask: an address prefix, flags, or the mask spelled out.
    fn masked(&self, what: What, mask: &[u8], op: CmpOp, data: &[u8]) -> Option<String> {
        let zero = data.iter().all(|&b| b == 0);
        Some(match what {
            What::Addr { ip, len, .. }
                if matches!(op, CmpOp::Eq | CmpOp::Neq) && mask.len() == len as usize =>
            {
                let bits = prefix_len(mask)?;
                format!("{}{}/{bits}", op_text(op), addr_text(ip, data))
            }
            What::CtState | What::CtStatus | What::TcpFlags
                if zero && matches!(op, CmpOp::Eq | CmpOp::Neq) =>
            {
                let names = self.value(what, mask);
                if op == CmpOp::Neq {
                    names
                } else {
                    format!("!= {names}")
                }
            }
            What::CtState | What::CtStatus | What::TcpFlags if op == CmpOp::Eq => {
                format!(
                    "& ({}) == {}",
                    self.value(what, mask).replace(',', "|"),
                    self.value(what, data)
                )
            }
            _ => {
                let op = match op {
                    CmpOp::Eq => "==",
                    CmpOp::Neq => "!=",
                    CmpOp::Lt => "<",
                    CmpOp::Lte => "<=",
                    CmpOp::Gt => ">",
                    CmpOp::Gte => ">=",
                };
                format!("& {} {op} {}", hex(mask), hex(data))
            }
        })
    }

    /// `@name`, `{ 80, 8080 }`, `vmap { 22 : accept }`; a concatenated key names each field.
    fn lookup(
        &mut self,
        sreg: u32,
        name: &str,
        dreg: Option<u32>,
        invert: bool,
        at: u32,
    ) -> Option<()> {
        if matches!(dreg, Some(d) if d != 0) {
            return None;
        }
        let set = self.table.sets.iter().find(|s| s.name == name)?;
        let first = self.take(sreg)?;
        if first.mask.is_some() {
            return None;
        }
        let mut fields = vec![first];
        let mut covered = field_len(fields[0].what);
        while covered < set.key_len as usize {
            let next_reg = word_reg(sreg, covered)?;
            let next = self.take(next_reg)?;
            covered += field_len(next.what).div_ceil(4) * 4;
            fields.push(next);
        }
        let whats: Vec<What> = fields.iter().map(|l| l.what).collect();
        let elements = self.set_text(set, &whats, dreg == Some(0));
        let value = match (dreg, invert) {
            (Some(_), _) => format!("vmap {elements}"),
            (None, true) => format!("!= {elements}"),
            (None, false) => elements,
        };
        let start = fields.iter().map(|l| l.start).min().unwrap_or(at);
        let names: Vec<String> = whats.iter().map(|w| self.name(*w).0).collect();
        let (_, kind) = self.name(whats[0]);
        let mut clause_load = fields.swap_remove(0);
        clause_load.start = start;
        self.push(&clause_load, at, value);
        if let Some(last) = self.out.last_mut() {
            last.text = names.join(" . ");
            last.kind = if whats.len() == 1 { kind } else { Kind::Match };
            last.needs = whats.iter().fold(0, |n, w| n | needs(*w));
        }
        Some(())
    }

    fn set_text(&self, set: &NfSet, whats: &[What], vmap: bool) -> String {
        if !(set.name.starts_with("__set") || set.name.starts_with("__map")) {
            return format!("@{}", set.name);
        }
        let mut items: Vec<(Vec<u8>, String)> = Vec::new();
        let ranged: Vec<_> = ranges(set);
        for e in set
            .elements
            .iter()
            .filter(|e| !super::compile::ranged(set, e))
        {
            items.push((
                e.key.clone(),
                self.element(whats, &e.key, &e.key, e.data.as_ref(), vmap),
            ));
        }
        for r in &ranged {
            let text = self.element(whats, &r.low, &r.high, r.element.data.as_ref(), vmap);
            items.push((r.low.clone(), text));
        }
        items.sort();
        const SHOWN: usize = 16;
        let mut text: Vec<String> = items.iter().take(SHOWN).map(|(_, t)| t.clone()).collect();
        if items.len() > SHOWN {
            text.push("…".to_string());
        }
        format!("{{ {} }}", text.join(", "))
    }

    fn element(
        &self,
        whats: &[What],
        low: &[u8],
        high: &[u8],
        data: Option<&Immediate>,
        vmap: bool,
    ) -> String {
        let mut parts = Vec::new();
        let mut at = 0;
        for (n, w) in whats.iter().enumerate() {
            let len = if whats.len() == 1 {
                low.len()
            } else {
                field_len(*w)
            };
            let step = if n + 1 == whats.len() {
                len
            } else {
                len.div_ceil(4) * 4
            };
            let (Some(a), Some(b)) = (low.get(at..at + len), high.get(at..at + len)) else {
                break;
            };
            parts.push(self.span_text(*w, a, b));
            at += step;
        }
        let mut text = parts.join(" . ");
        if vmap {
            if let Some(Immediate::Verdict(v)) = data {
                let _ = write!(text, " : {}", verdict_text(v));
            }
        }
        text
    }

    /// One value, or a range: an address range that is a prefix reads as one.
    fn span_text(&self, what: What, low: &[u8], high: &[u8]) -> String {
        if low == high {
            return self.value(what, low);
        }
        if let What::Addr { ip, .. } = what {
            if let Some(bits) = range_prefix(low, high) {
                return format!("{}/{bits}", addr_text(ip, low));
            }
        }
        format!("{}-{}", self.value(what, low), self.value(what, high))
    }

    fn nat(&self, e: &Expr) -> Option<String> {
        let value = |reg: Option<u32>| {
            reg.and_then(|r| self.values.iter().rev().find(|(v, _)| *v == r))
                .map(|(_, b)| *b)
        };
        let port = |reg: Option<u32>| {
            value(reg)
                .and_then(|b| <[u8; 2]>::try_from(b.get(..2)?).ok())
                .map(u16::from_be_bytes)
        };
        let ports = |min: Option<u32>, max: Option<u32>| match (port(min), port(max)) {
            (Some(a), Some(b)) if a != b => Some(format!("{a}-{b}")),
            (Some(a), _) => Some(a.to_string()),
            _ => None,
        };
        match e {
            Expr::Redir {
                proto_min,
                proto_max,
            } => Some(match ports(*proto_min, *proto_max) {
                Some(p) => format!("redirect to :{p}"),
                None => "redirect".to_string(),
            }),
            Expr::Nat {
                kind,
                addr_min,
                proto_min,
                proto_max,
                ..
            } => {
                let verb = if *kind == NatKind::Dnat {
                    "dnat"
                } else {
                    "snat"
                };
                let addr = value(*addr_min).and_then(ip_of);
                Some(match (addr, ports(*proto_min, *proto_max)) {
                    (Some(IpAddr::V6(a)), Some(p)) => format!("{verb} to [{a}]:{p}"),
                    (Some(a), Some(p)) => format!("{verb} to {a}:{p}"),
                    (Some(a), None) => format!("{verb} to {a}"),
                    (None, Some(p)) => format!("{verb} to :{p}"),
                    (None, None) => verb.to_string(),
                })
            }
            _ => None,
        }
    }

    fn name(&self, what: What) -> (String, Kind) {
        let proto = |p: Option<u8>| match p {
            Some(6) => "tcp",
            Some(17) => "udp",
            Some(132) => "sctp",
            Some(136) => "udplite",
            Some(33) => "dccp",
            _ => "th",
        };
        let ip = |ip: Ip| if ip == Ip::V4 { "ip" } else { "ip6" };
        let kind = match what {
            What::Addr { src: true, .. } => Kind::Saddr,
            What::Addr { src: false, .. } => Kind::Daddr,
            What::Port { src: true, .. } => Kind::Sport,
            What::Port { src: false, .. } => Kind::Dport,
            What::Iif | What::Iifname => Kind::Iface,
            What::Mark | What::CtMark => Kind::Mark,
            _ => Kind::Match,
        };
        let text = match what {
            What::L4proto => "meta l4proto".to_string(),
            What::Nfproto => "meta nfproto".to_string(),
            What::Iif => "iif".to_string(),
            What::Oif => "oif".to_string(),
            What::Iifname => "iifname".to_string(),
            What::Oifname => "oifname".to_string(),
            What::Mark => "meta mark".to_string(),
            What::Skuid => "meta skuid".to_string(),
            What::Pkttype => "meta pkttype".to_string(),
            What::Meta(key) => format!(
                "meta {}",
                META_NAMES.get(key as usize).unwrap_or(&"unknown")
            ),
            What::CtState => "ct state".to_string(),
            What::CtStatus => "ct status".to_string(),
            What::CtDirection => "ct direction".to_string(),
            What::CtMark => "ct mark".to_string(),
            What::Ct(key) => format!("ct {}", CT_NAMES.get(key as usize).unwrap_or(&"unknown")),
            What::Addr { ip: i, src, .. } => {
                format!("{} {}", ip(i), if src { "saddr" } else { "daddr" })
            }
            What::IpProto(Ip::V4) => "ip protocol".to_string(),
            What::IpProto(Ip::V6) => "ip6 nexthdr".to_string(),
            What::Port { proto: p, src } => {
                format!("{} {}", proto(p), if src { "sport" } else { "dport" })
            }
            What::TcpFlags => "tcp flags".to_string(),
            What::IcmpType(58) => "icmpv6 type".to_string(),
            What::IcmpType(_) => "icmp type".to_string(),
            What::Raw {
                network,
                offset,
                len,
            } => {
                format!(
                    "@{},{},{}",
                    if network { "nh" } else { "th" },
                    offset * 8,
                    len * 8
                )
            }
        };
        (text, kind)
    }

    /// A value as nft prints it for this field.
    fn value(&self, what: What, data: &[u8]) -> String {
        let host = |d: &[u8]| {
            <[u8; 4]>::try_from(d.get(..4)?)
                .ok()
                .map(u32::from_ne_bytes)
        };
        match what {
            What::L4proto | What::IpProto(_) => {
                data.first().map_or_else(|| hex(data), |&p| proto_name(p))
            }
            What::Nfproto => named(data, &[(2, "ipv4"), (10, "ipv6")]),
            What::Pkttype => named(
                data,
                &[
                    (0, "host"),
                    (1, "broadcast"),
                    (2, "multicast"),
                    (3, "other"),
                ],
            ),
            What::CtDirection => named(data, &[(0, "original"), (1, "reply")]),
            What::Iif | What::Oif => match host(data) {
                Some(1) => "\"lo\"".to_string(),
                Some(n) => n.to_string(),
                None => hex(data),
            },
            What::Iifname | What::Oifname => ifname(data),
            What::Skuid => host(data).map_or_else(|| hex(data), |n| n.to_string()),
            What::CtState => bits(host(data), CT_STATE_BITS),
            What::CtStatus => bits(host(data), CT_STATUS_BITS),
            What::TcpFlags => bits(data.first().map(|&b| u32::from(b)), TCP_FLAGS),
            What::Addr { ip, len, .. } => {
                let text = addr_text(ip, data);
                if (len as usize) < ip.addr_len() {
                    format!("{text}/{}", len * 8)
                } else {
                    text
                }
            }
            What::Port { .. } => match <[u8; 2]>::try_from(data) {
                Ok(p) => u16::from_be_bytes(p).to_string(),
                Err(_) => hex(data),
            },
            What::IcmpType(p) => icmp_name(p, data.first().copied()).unwrap_or_else(|| hex(data)),
            // Marks are host-order numbers.
            What::Mark | What::CtMark if data.len() == 4 => {
                host(data).map_or_else(|| hex(data), |n| format!("0x{n:08x}"))
            }
            What::Mark | What::CtMark | What::Meta(_) | What::Ct(_) | What::Raw { .. } => hex(data),
        }
    }
}

const CT_STATE_BITS: &[(u32, &str)] = &[
    (1, "invalid"),
    (2, "established"),
    (4, "related"),
    (8, "new"),
    (64, "untracked"),
];

const CT_STATUS_BITS: &[(u32, &str)] = &[
    (1, "expected"),
    (2, "seen-reply"),
    (4, "assured"),
    (8, "confirmed"),
    (16, "snat"),
    (32, "dnat"),
    (512, "dying"),
];

const TCP_FLAGS: &[(u32, &str)] = &[
    (1, "fin"),
    (2, "syn"),
    (4, "rst"),
    (8, "psh"),
    (16, "ack"),
    (32, "urg"),
    (64, "ecn"),
    (128, "cwr"),
];

/// A one-byte value by its name, else in hex.
fn named(data: &[u8], names: &[(u8, &str)]) -> String {
    match data {
        [b] => names
            .iter()
            .find(|(v, _)| v == b)
            .map_or_else(|| hex(data), |(_, n)| n.to_string()),
        _ => hex(data),
    }
}

fn meta(key: u32) -> What {
    match key {
        16 => What::L4proto,
        15 => What::Nfproto,
        4 => What::Iif,
        5 => What::Oif,
        6 => What::Iifname,
        7 => What::Oifname,
        3 => What::Mark,
        10 => What::Skuid,
        19 => What::Pkttype,
        key => What::Meta(key),
    }
}

fn ct(key: u32) -> What {
    match key {
        0 => What::CtState,
        1 => What::CtDirection,
        2 => What::CtStatus,
        3 => What::CtMark,
        key => What::Ct(key),
    }
}

/// `NFT_META_*` as nft spells them.
const META_NAMES: [&str; 36] = [
    "length",
    "protocol",
    "priority",
    "mark",
    "iif",
    "oif",
    "iifname",
    "oifname",
    "iiftype",
    "oiftype",
    "skuid",
    "skgid",
    "nftrace",
    "rtclassid",
    "secmark",
    "nfproto",
    "l4proto",
    "ibrname",
    "obrname",
    "pkttype",
    "cpu",
    "iifgroup",
    "oifgroup",
    "cgroup",
    "random",
    "secpath",
    "iifkind",
    "oifkind",
    "ibrpvid",
    "ibrvproto",
    "time",
    "day",
    "hour",
    "sdif",
    "sdifname",
    "broute",
];

/// `NFT_CT_*` as nft spells them.
const CT_NAMES: [&str; 24] = [
    "state",
    "direction",
    "status",
    "mark",
    "secmark",
    "expiration",
    "helper",
    "l3proto",
    "saddr",
    "daddr",
    "protocol",
    "proto-src",
    "proto-dst",
    "label",
    "packets",
    "bytes",
    "avgpkt",
    "zone",
    "event",
    "ip saddr",
    "ip daddr",
    "ip6 saddr",
    "ip6 daddr",
    "id",
];

/// The bytes a field occupies in a register.
fn field_len(what: What) -> usize {
    match what {
        What::L4proto
        | What::Nfproto
        | What::Pkttype
        | What::CtDirection
        | What::IpProto(_)
        | What::TcpFlags => 1,
        What::IcmpType(_) => 1,
        What::Port { .. } => 2,
        What::Iifname | What::Oifname => 16,
        What::Addr { len, .. } | What::Raw { len, .. } => len as usize,
        _ => 4,
    }
}

/// The register whose first byte is `bytes` past the start of `reg`, in 32-bit registers.
fn word_reg(reg: u32, bytes: usize) -> Option<u32> {
    let start = super::packet::span(reg, 1)?.start + bytes.div_ceil(4) * 4;
    u32::try_from(start / 4)
        .ok()
        .map(|w| w + 8)
        .filter(|&r| r <= 23)
}

fn op_text(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "",
        CmpOp::Neq => "!= ",
        CmpOp::Lt => "< ",
        CmpOp::Lte => "<= ",
        CmpOp::Gt => "> ",
        CmpOp::Gte => ">= ",
    }
}

pub(super) fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Accept => "accept".to_string(),
        Verdict::Drop => "drop".to_string(),
        Verdict::Continue => "continue".to_string(),
        Verdict::Return => "return".to_string(),
        Verdict::Jump(c) => format!("jump {c}"),
        Verdict::Goto(c) => format!("goto {c}"),
        Verdict::Queue => "queue".to_string(),
        Verdict::Other(code) => format!("verdict {code}"),
    }
}

fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".to_string(),
        6 => "tcp".to_string(),
        17 => "udp".to_string(),
        58 => "ipv6-icmp".to_string(),
        132 => "sctp".to_string(),
        p => p.to_string(),
    }
}

fn icmp_name(proto: u8, t: Option<u8>) -> Option<String> {
    let name = match (proto, t?) {
        (1, 0) | (58, 129) => "echo-reply",
        (1, 3) => "destination-unreachable",
        (1, 8) | (58, 128) => "echo-request",
        (1, 11) => "time-exceeded",
        (58, 1) => "destination-unreachable",
        (58, 133) => "nd-router-solicit",
        (58, 134) => "nd-router-advert",
        (58, 135) => "nd-neighbor-solicit",
        (58, 136) => "nd-neighbor-advert",
        (_, t) => return Some(t.to_string()),
    };
    Some(name.to_string())
}

fn bits(value: Option<u32>, names: &[(u32, &str)]) -> String {
    let Some(v) = value else {
        return "?".to_string();
    };
    let mut parts: Vec<String> = names
        .iter()
        .filter(|(b, _)| v & b != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let rest = names.iter().fold(v, |v, (b, _)| v & !b);
    if rest != 0 || parts.is_empty() {
        parts.push(format!("0x{rest:x}"));
    }
    parts.join(",")
}

/// An interface name up to its NUL; a shorter test without one is nft's wildcard `eth*`.
fn ifname(data: &[u8]) -> String {
    match data.iter().position(|&b| b == 0) {
        Some(end) => format!("\"{}\"", String::from_utf8_lossy(&data[..end])),
        None if data.len() < 16 => format!("\"{}*\"", String::from_utf8_lossy(data)),
        None => format!("\"{}\"", String::from_utf8_lossy(data)),
    }
}

/// Leading ones of a contiguous mask; `None` when it is not one.
fn prefix_len(mask: &[u8]) -> Option<u32> {
    let ones: u32 = mask.iter().map(|b| b.count_ones()).sum();
    let contiguous = mask.iter().enumerate().all(|(i, &b)| {
        let keep = ones.saturating_sub(i as u32 * 8).min(8);
        b == !0xffu8.checked_shr(keep).unwrap_or(0)
    });
    contiguous.then_some(ones)
}

/// The prefix length of a range from a network's first address to its last.
fn range_prefix(low: &[u8], high: &[u8]) -> Option<u32> {
    let mut bits = 0;
    for (a, b) in low.iter().zip(high) {
        let differ = a ^ b;
        if differ != 0 {
            bits += differ.leading_zeros();
            break;
        }
        bits += 8;
    }
    let host_clear = low.iter().zip(high).enumerate().all(|(i, (a, b))| {
        let keep = bits.saturating_sub(i as u32 * 8).min(8);
        let host = 0xffu8.checked_shr(keep).unwrap_or(0);
        a & host == 0 && b & host == host
    });
    host_clear.then_some(bits)
}

/// An address from up to its family's length of bytes, the rest zero.
fn addr_text(ip: Ip, data: &[u8]) -> String {
    let mut full = [0u8; 16];
    for (slot, b) in full.iter_mut().zip(data) {
        *slot = *b;
    }
    match ip {
        Ip::V4 => Ipv4Addr::new(full[0], full[1], full[2], full[3]).to_string(),
        Ip::V6 => Ipv6Addr::from(full).to_string(),
    }
}

pub(super) fn ip_of(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| IpAddr::V4(b.into())),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| IpAddr::V6(b.into())),
        _ => None,
    }
}

fn hex(data: &[u8]) -> String {
    let mut out = String::from("0x");
    for b in data {
        let _ = write!(out, "{b:02x}");
    }
    out
}
