//! The ruleset made ready to answer many sockets: chains and sets found by name, each
//! chain's rules indexed by the protocol and ports they can match, and the ports grouped
//! into classes that every rule treats alike.

use std::collections::HashMap;

use crate::model::{
    CmpOp, Expr, Hook, Immediate, NfChain, NfFamily, NfRule, NfSet, NfSetElement, NfTable,
    PayloadBase, Ruleset, Verdict,
};

use super::packet::{Byte, Ip, REGS_LEN, TCP, Tag, UDP, ruled_out, span};
use super::rule::well_formed;

/// A quick hash for the keys portwho makes itself (ports, chain and rule numbers,
/// outcomes), looked up once or twice per socket; set elements, which come from the
/// ruleset, keep the standard one.
#[derive(Default, Clone, Copy)]
pub(super) struct Quick(u64);

impl std::hash::Hasher for Quick {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(super) type QuickMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Quick>>;

pub(super) struct Compiled<'r> {
    pub(super) tables: Vec<Table<'r>>,
    pub(super) chains: Vec<Chain<'r>>,
    /// Base chains on the input hook for IPv4 and IPv6, in the order the kernel runs them.
    pub(super) input: [Vec<u32>; 2],
    pub(super) ports: PortClasses,
    /// Whether any rule reads the destination address: if none does, a socket's address
    /// cannot change its verdict.
    pub(super) uses_daddr: bool,
}

pub(super) struct Table<'r> {
    pub(super) table: &'r NfTable,
    pub(super) family: &'static str,
    chains: HashMap<&'r str, u32>,
    sets: HashMap<&'r str, SetIndex<'r>>,
}

pub(super) struct Chain<'r> {
    pub(super) table: u32,
    pub(super) chain: &'r NfChain,
    index: ChainIndex,
}

impl<'r> Compiled<'r> {
    pub(super) fn new(ruleset: &'r Ruleset) -> Compiled<'r> {
        let mut tables = Vec::new();
        let mut chains = Vec::new();
        let mut input: [Vec<(i32, u32)>; 2] = [Vec::new(), Vec::new()];
        let mut ports = PortScan::default();
        for (t, table) in ruleset.tables.iter().enumerate() {
            let t = t as u32;
            let sets: HashMap<&str, SetIndex> = table
                .sets
                .iter()
                .map(|s| (s.name.as_str(), SetIndex::new(s)))
                .collect();
            let mut names = HashMap::new();
            for chain in &table.chains {
                let id = chains.len() as u32;
                names.entry(chain.name.as_str()).or_insert(id);
                let index = ChainIndex::new(chain, &sets);
                for rule in &chain.rules {
                    ports.rule(rule, &sets, table.family);
                }
                if chain.hook == Some(Hook::Input) {
                    for ip in families(table.family) {
                        input[usize::from(*ip == Ip::V6)].push((chain.priority, id));
                    }
                }
                chains.push(Chain {
                    table: t,
                    chain,
                    index,
                });
            }
            tables.push(Table {
                table,
                family: table.family.map_or("unknown", NfFamily::as_str),
                chains: names,
                sets,
            });
        }
        // The kernel runs a hook's chains by priority; ties in the order they were added,
        // which a dump gives table by table.
        let input = input.map(|mut list| {
            list.sort_by_key(|&(priority, _)| priority);
            list.into_iter().map(|(_, id)| id).collect()
        });
        Compiled {
            tables,
            chains,
            input,
            uses_daddr: ports.daddr,
            ports: ports.classes(),
        }
    }

    /// The same ruleset walked rule by rule, every port its own class: what the index and
    /// the classes must not change.
    #[cfg(test)]
    pub(super) fn without_index(mut self) -> Compiled<'r> {
        for c in &mut self.chains {
            c.index = ChainIndex {
                any: (0..c.chain.rules.len() as u32).collect(),
                ..ChainIndex::default()
            };
        }
        self.ports = PortClasses::Each;
        self.uses_daddr = true;
        self
    }

    pub(super) fn chain_named(&self, table: u32, name: &str) -> Option<u32> {
        self.tables.get(table as usize)?.chains.get(name).copied()
    }

    pub(super) fn set(&self, table: u32, name: &str) -> Option<&SetIndex<'r>> {
        self.tables.get(table as usize)?.sets.get(name)
    }

    /// What `rule` of table `table` needs of a packet before it could act.
    pub(super) fn guard(&self, table: u32, rule: &NfRule) -> Guard {
        match self.tables.get(table as usize) {
            Some(t) => Guard::of(rule, &t.sets),
            None => Guard::default(),
        }
    }

    /// The table a chain is in.
    pub(super) fn table_of(&self, chain: u32) -> &Table<'r> {
        &self.tables[self.chains[chain as usize].table as usize]
    }

    /// The rules of `chain` a packet of this protocol to this port may match, in order.
    pub(super) fn candidates(&self, chain: u32, proto: u8, port: u16, out: &mut Vec<u32>) {
        self.chains[chain as usize]
            .index
            .candidates(proto, port, out);
    }
}

/// The packet families a table of this family sees (`inet` both).
pub(super) fn families(family: Option<NfFamily>) -> &'static [Ip] {
    match family {
        Some(NfFamily::Ip) => &[Ip::V4],
        Some(NfFamily::Ip6) => &[Ip::V6],
        Some(NfFamily::Inet) => &[Ip::V4, Ip::V6],
        _ => &[],
    }
}

/// What a set lookup found for a key that may be only partly known.
pub(super) enum Found<'r> {
    Miss,
    Hit(&'r NfSetElement),
    /// Some element may match, depending on what is not known; for a verdict map, the
    /// verdicts those elements hold.
    Maybe(Vec<&'r Verdict>),
}

/// One range of an interval set, both ends included.
pub(super) struct SetRange<'r> {
    pub(super) low: Vec<u8>,
    pub(super) high: Vec<u8>,
    pub(super) element: &'r NfSetElement,
    /// A range of a concatenation (`key_end`): its fields are compared one by one, whose
    /// bounds this version does not know, so only an exact key is a certain hit.
    fieldwise: bool,
}

pub(super) struct SetIndex<'r> {
    pub(super) set: &'r NfSet,
    exact: HashMap<&'r [u8], &'r NfSetElement>,
    ranges: Vec<SetRange<'r>>,
    /// Every distinct verdict of a verdict map, for a key nothing is known of.
    verdicts: Vec<&'r Verdict>,
    /// The map's default (`*`), which every key no other element holds finds.
    catchall: Option<&'r NfSetElement>,
}

impl<'r> SetIndex<'r> {
    fn new(set: &'r NfSet) -> SetIndex<'r> {
        let mut exact = HashMap::new();
        for e in set
            .elements
            .iter()
            .filter(|e| !e.catchall && !ranged(set, e))
        {
            exact.entry(e.key.as_slice()).or_insert(e);
        }
        let mut verdicts = Vec::new();
        for e in &set.elements {
            if let Some(Immediate::Verdict(v)) = &e.data {
                if !verdicts.contains(&v) {
                    verdicts.push(v);
                }
            }
        }
        SetIndex {
            set,
            exact,
            ranges: ranges(set),
            verdicts,
            catchall: set.elements.iter().find(|e| e.catchall),
        }
    }

    pub(super) fn lookup(&self, key: &[Byte]) -> Found<'r> {
        if key.iter().all(|b| b.is_known()) {
            let mut buffer = [0u8; REGS_LEN];
            let bytes = &mut buffer[..key.len().min(REGS_LEN)];
            for (slot, b) in bytes.iter_mut().zip(key) {
                *slot = b.value;
            }
            let bytes = &*bytes;
            if let Some(e) = self.exact.get(bytes) {
                return Found::Hit(e);
            }
            let mut maybe = Vec::new();
            for r in &self.ranges {
                match r.contains(bytes) {
                    Some(true) => return Found::Hit(r.element),
                    Some(false) => {}
                    None => maybe.push(r.element),
                }
            }
            return match (maybe.is_empty(), self.catchall) {
                (true, Some(default)) => Found::Hit(default),
                (false, Some(default)) => {
                    maybe.push(default);
                    self.maybe(maybe)
                }
                (_, None) => self.maybe(maybe),
            };
        }
        // Nothing known (a source address): any element may match.
        if key.iter().all(|b| b.known == 0 && b.tag == Tag::Any) {
            return if self.set.elements.is_empty() {
                Found::Miss
            } else {
                Found::Maybe(self.verdicts.clone())
            };
        }
        // In the set's own order, so that the same set always answers the same.
        let compatible = self
            .set
            .elements
            .iter()
            .filter(|e| !e.catchall && !ranged(self.set, e) && could_be(key, &e.key))
            .chain(
                self.ranges
                    .iter()
                    .filter(|r| r.could_hold(key))
                    .map(|r| r.element),
            )
            .chain(self.catchall);
        self.maybe(compatible.collect())
    }

    fn maybe(&self, elements: Vec<&'r NfSetElement>) -> Found<'r> {
        if elements.is_empty() {
            return Found::Miss;
        }
        let mut verdicts = Vec::new();
        for e in elements {
            if let Some(Immediate::Verdict(v)) = &e.data {
                if !verdicts.contains(&v) {
                    verdicts.push(v);
                }
            }
        }
        Found::Maybe(verdicts)
    }

    /// How many ports (two-byte keys) the set holds, as ranges; `None` when its keys are
    /// not ports or there are more than `limit` ranges.
    fn port_ranges(&self, limit: usize) -> Option<Vec<(u16, u16)>> {
        if self.set.key_len != 2 {
            return None;
        }
        let port = |k: &[u8]| <[u8; 2]>::try_from(k).ok().map(u16::from_be_bytes);
        let mut out = Vec::new();
        for key in self.exact.keys() {
            let p = port(key)?;
            out.push((p, p));
        }
        for r in &self.ranges {
            let (low, high) = (port(&r.low)?, port(&r.high)?);
            if low <= high {
                out.push((low, high));
            }
        }
        (out.len() <= limit).then_some(out)
    }
}

impl SetRange<'_> {
    /// Whether a fully known key is in the range; `None` when it cannot be said.
    fn contains(&self, key: &[u8]) -> Option<bool> {
        if key.len() != self.low.len() || key.len() != self.high.len() {
            return Some(false);
        }
        if !self.fieldwise {
            return Some(self.low.as_slice() <= key && key <= self.high.as_slice());
        }
        if self.low == self.high {
            return Some(key == self.low);
        }
        let prefix = common_prefix(&self.low, &self.high);
        if key[..prefix] != self.low[..prefix] {
            return Some(false);
        }
        None
    }

    /// Whether a partly known key may be in the range: the bytes where both ends agree
    /// must agree with what is known of the key, however the fields are laid out.
    fn could_hold(&self, key: &[Byte]) -> bool {
        if key.len() != self.low.len() || key.len() != self.high.len() {
            return false;
        }
        let prefix = common_prefix(&self.low, &self.high);
        could_be(&key[..prefix], &self.low[..prefix])
            && !(self.low == self.high && ruled_out(key, &self.low))
    }
}

/// Whether an element is (part of) a range rather than one key.
pub(super) fn ranged(set: &NfSet, e: &NfSetElement) -> bool {
    set.interval || e.interval_end || e.key_end.is_some()
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Whether a partly known value may equal `candidate`.
pub(super) fn could_be(key: &[Byte], candidate: &[u8]) -> bool {
    key.len() == candidate.len()
        && key
            .iter()
            .zip(candidate)
            .all(|(b, c)| (b.value ^ c) & b.known == 0)
        && !ruled_out(key, candidate)
}

/// The ranges of an interval set, both ends included. The kernel's rbtree keeps each range
/// as its start and, flagged `interval_end`, the first key past it; a key matches when the
/// greatest element not above it is a start. A concatenation keeps `key_end` instead.
pub(super) fn ranges(set: &NfSet) -> Vec<SetRange<'_>> {
    let mut out = Vec::new();
    let mut sorted: Vec<&NfSetElement> = Vec::new();
    // The catch-all has no key: it is a map's default, not a range.
    for e in set.elements.iter().filter(|e| !e.catchall) {
        match &e.key_end {
            Some(end) => out.push(SetRange {
                low: e.key.clone(),
                high: end.clone(),
                element: e,
                fieldwise: true,
            }),
            None if set.interval || e.interval_end => sorted.push(e),
            None => {}
        }
    }
    // An end sorts before a start at the same key: it closes the range before it.
    sorted.sort_by(|a, b| a.key.cmp(&b.key).then(b.interval_end.cmp(&a.interval_end)));
    let mut open: Option<&NfSetElement> = None;
    for e in sorted {
        if let Some(start) = open.take() {
            if let Some(high) = before(&e.key) {
                if start.key <= high {
                    out.push(SetRange {
                        low: start.key.clone(),
                        high,
                        element: start,
                        fieldwise: false,
                    });
                }
            }
        }
        if !e.interval_end {
            open = Some(e);
        }
    }
    if let Some(start) = open {
        out.push(SetRange {
            low: start.key.clone(),
            high: vec![0xff; start.key.len()],
            element: start,
            fieldwise: false,
        });
    }
    out
}

/// The key just below `key`, big-endian; `None` below zero.
fn before(key: &[u8]) -> Option<Vec<u8>> {
    let mut out = key.to_vec();
    for b in out.iter_mut().rev() {
        if *b > 0 {
            *b -= 1;
            return Some(out);
        }
        *b = 0xff;
    }
    None
}

/// What a rule needs of a packet before anything could make it act: a cheap test that
/// spares the evaluation of rules for other ports.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Guard {
    pub(super) proto: Option<u8>,
    /// Inclusive ranges; `None` for any port.
    pub(super) ports: Option<Vec<(u16, u16)>>,
    /// Two tests no packet passes at once (`tcp` and `udp`).
    pub(super) never: bool,
}

/// What a register holds, for the guard.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Held {
    Nothing,
    L4proto,
    Dport,
}

/// Ports in a set beyond which a rule is not indexed port by port.
const INDEXED_PORTS: usize = 256;

impl Guard {
    /// From the tests a rule makes before anything that could act or that portwho does
    /// not evaluate: those are certain to be made.
    pub(super) fn of(rule: &NfRule, sets: &HashMap<&str, SetIndex>) -> Guard {
        let mut guard = Guard::default();
        let mut regs = [Held::Nothing; 16];
        for e in &rule.exprs {
            // The evaluator forgets every register at an expression it cannot read.
            if !well_formed(e, |name| sets.get(name).map(|s| s.set)) {
                break;
            }
            match e {
                Expr::Meta { key: 16, dreg } => hold(&mut regs, *dreg, 4, Held::L4proto),
                Expr::Payload {
                    base: PayloadBase::Transport,
                    offset: 2,
                    len: 2,
                    dreg,
                } => hold(&mut regs, *dreg, 2, Held::Dport),
                Expr::Payload { dreg, len, .. } => {
                    hold(&mut regs, *dreg, *len as usize, Held::Nothing)
                }
                Expr::Meta { dreg, .. } | Expr::Ct { dreg, .. } => {
                    hold(&mut regs, *dreg, 16, Held::Nothing)
                }
                Expr::Bitwise { dreg, len, .. } => {
                    hold(&mut regs, *dreg, *len as usize, Held::Nothing)
                }
                Expr::Immediate {
                    dreg,
                    data: Immediate::Value(v),
                } if *dreg != 0 => {
                    hold(&mut regs, *dreg, v.len(), Held::Nothing);
                }
                Expr::Cmp { sreg, op, data } => guard.cmp(held(&regs, *sreg), *op, data),
                Expr::Range {
                    sreg,
                    op: CmpOp::Eq,
                    from,
                    to,
                } if held(&regs, *sreg) == Held::Dport => {
                    if let (Some(a), Some(b)) = (port_of(from), port_of(to)) {
                        guard.narrow(vec![(a, b)]);
                    }
                }
                Expr::Range { .. }
                | Expr::Passive(_)
                | Expr::Lookup {
                    dreg: None,
                    invert: true,
                    ..
                } => {}
                Expr::Lookup {
                    sreg,
                    set,
                    dreg,
                    invert: false,
                } => {
                    if held(&regs, *sreg) == Held::Dport {
                        if let Some(list) = sets
                            .get(set.as_str())
                            .and_then(|s| s.port_ranges(INDEXED_PORTS))
                        {
                            guard.narrow(list);
                        }
                    }
                    match dreg {
                        Some(0) => break,
                        Some(d) => hold(&mut regs, *d, 16, Held::Nothing),
                        None => {}
                    }
                }
                // Anything else acts, or may do anything to the registers.
                _ => break,
            }
        }
        guard
    }

    fn cmp(&mut self, held: Held, op: CmpOp, data: &[u8]) {
        match (held, op) {
            (Held::L4proto, CmpOp::Eq) => {
                if let [p] = data {
                    if self.proto.is_some_and(|q| q != *p) {
                        self.never = true;
                    }
                    self.proto = Some(*p);
                }
            }
            (Held::Dport, CmpOp::Eq) => {
                if let Some(p) = port_of(data) {
                    self.narrow(vec![(p, p)]);
                }
            }
            (Held::Dport, CmpOp::Gte) => {
                if let Some(p) = port_of(data) {
                    self.narrow(vec![(p, u16::MAX)]);
                }
            }
            (Held::Dport, CmpOp::Lte) => {
                if let Some(p) = port_of(data) {
                    self.narrow(vec![(0, p)]);
                }
            }
            _ => {}
        }
    }

    /// Keep only the ports also in `ranges`.
    fn narrow(&mut self, ranges: Vec<(u16, u16)>) {
        let next = match self.ports.take() {
            None => ranges,
            Some(old) => old
                .iter()
                .flat_map(|&(a, b)| {
                    ranges.iter().filter_map(move |&(c, d)| {
                        (a.max(c) <= b.min(d)).then_some((a.max(c), b.min(d)))
                    })
                })
                .collect(),
        };
        if next.is_empty() {
            self.never = true;
        }
        self.ports = Some(next);
    }
}

fn port_of(data: &[u8]) -> Option<u16> {
    <[u8; 2]>::try_from(data).ok().map(u16::from_be_bytes)
}

/// The register's first 32-bit word, as an index.
fn word(reg: u32) -> Option<usize> {
    span(reg, 1).map(|s| s.start / 4)
}

fn hold(regs: &mut [Held; 16], reg: u32, len: usize, what: Held) {
    let Some(first) = word(reg) else { return };
    let words = len.div_ceil(4).max(1);
    for w in regs.iter_mut().skip(first).take(words) {
        *w = Held::Nothing;
    }
    if let Some(w) = regs.get_mut(first) {
        *w = what;
    }
}

fn held(regs: &[Held; 16], reg: u32) -> Held {
    word(reg).map_or(Held::Nothing, |w| regs[w])
}

/// A chain's rules by the protocol and ports they can match.
#[derive(Default)]
struct ChainIndex {
    /// Rules any TCP or UDP packet may match.
    any: Vec<u32>,
    /// Rules for one protocol (TCP, UDP) and any port.
    by_proto: [Vec<u32>; 2],
    /// Rules for a few ports: (protocol or 0 for both, port).
    by_port: QuickMap<(u8, u16), Vec<u32>>,
    /// Rules for ranges of ports.
    ranged: Vec<(u32, u8, u16, u16)>,
}

impl ChainIndex {
    fn new(chain: &NfChain, sets: &HashMap<&str, SetIndex>) -> ChainIndex {
        let mut index = ChainIndex::default();
        for (i, rule) in chain.rules.iter().enumerate() {
            let i = i as u32;
            let guard = Guard::of(rule, sets);
            let proto = match guard.proto {
                None => 0,
                Some(p @ (TCP | UDP)) => p,
                // ICMP and the rest: never a listening socket's.
                Some(_) => continue,
            };
            match guard.ports {
                _ if guard.never => {}
                None if proto == 0 => index.any.push(i),
                None => index.by_proto[usize::from(proto == UDP)].push(i),
                Some(list) => {
                    let count: usize = list
                        .iter()
                        .map(|&(a, b)| usize::from(b.saturating_sub(a)) + 1)
                        .sum();
                    if count <= INDEXED_PORTS {
                        for (a, b) in list {
                            for p in a..=b {
                                index.by_port.entry((proto, p)).or_default().push(i);
                            }
                        }
                    } else {
                        index
                            .ranged
                            .extend(list.into_iter().map(|(a, b)| (i, proto, a, b)));
                    }
                }
            }
        }
        index
    }

    fn candidates(&self, proto: u8, port: u16, out: &mut Vec<u32>) {
        out.clear();
        out.extend_from_slice(&self.any);
        if let Some(list) = self
            .by_proto
            .get(usize::from(proto == UDP))
            .filter(|_| proto == TCP || proto == UDP)
        {
            out.extend_from_slice(list);
        }
        for key in [(0, port), (proto, port)] {
            if let Some(list) = self.by_port.get(&key) {
                out.extend_from_slice(list);
            }
        }
        out.extend(
            self.ranged
                .iter()
                .filter(|&&(_, p, a, b)| (p == 0 || p == proto) && a <= port && port <= b)
                .map(|&(i, ..)| i),
        );
        out.sort_unstable();
        out.dedup();
    }
}

/// Ports that every rule treats alike: between two boundaries, no test on the port
/// changes its answer. When a rule reads the port in a way this does not follow (a
/// concatenated key, a mask), every port is its own class.
pub(super) enum PortClasses {
    Each,
    Between(Vec<u32>),
}

impl PortClasses {
    pub(super) fn class(&self, port: u16) -> u32 {
        match self {
            PortClasses::Each => u32::from(port),
            PortClasses::Between(bounds) => {
                bounds.partition_point(|&b| b <= u32::from(port)) as u32
            }
        }
    }
}

#[derive(Default)]
struct PortScan {
    bounds: Vec<u32>,
    each: bool,
    daddr: bool,
}

impl PortScan {
    /// The boundaries a rule's tests on the destination port draw, and whether it reads the
    /// destination address.
    fn rule(&mut self, rule: &NfRule, sets: &HashMap<&str, SetIndex>, family: Option<NfFamily>) {
        let mut dport: [bool; 16] = [false; 16];
        for e in &rule.exprs {
            self.reads(e, &dport, sets);
            if let Some((reg, len)) = written(e) {
                if let Some(first) = word(reg) {
                    for w in dport.iter_mut().skip(first).take(len.div_ceil(4).max(1)) {
                        *w = false;
                    }
                }
            }
            match e {
                Expr::Payload {
                    base: PayloadBase::Transport,
                    offset,
                    len,
                    dreg,
                } if *offset < 4 && offset + len > 2 => match (offset, len, word(*dreg)) {
                    (2, 2, Some(w)) => dport[w] = true,
                    _ => self.each = true,
                },
                Expr::Payload {
                    base: PayloadBase::Network,
                    offset,
                    len,
                    ..
                } => self.daddr |= reads_daddr(family, *offset, *len),
                Expr::Ct { key: 12, .. } => self.each = true,
                Expr::Ct {
                    key: 9 | 20 | 22, ..
                } => self.daddr = true,
                Expr::Other(_) => dport = [false; 16],
                _ => {}
            }
        }
    }

    fn reads(&mut self, e: &Expr, dport: &[bool; 16], sets: &HashMap<&str, SetIndex>) {
        let (sreg, len) = match e {
            Expr::Cmp { sreg, data, .. } => (*sreg, data.len()),
            Expr::Range { sreg, from, .. } => (*sreg, from.len()),
            Expr::Bitwise { sreg, len, .. } => (*sreg, *len as usize),
            Expr::Lookup { sreg, set, .. } => (
                *sreg,
                sets.get(set.as_str()).map_or(0, |s| s.set.key_len as usize),
            ),
            _ => return,
        };
        let Some(span) = span(sreg, len.max(1)) else {
            return;
        };
        let words = span.start / 4..span.end.div_ceil(4);
        if !words.clone().any(|w| dport.get(w) == Some(&true)) {
            return;
        }
        if let (Expr::Lookup { set, .. }, 3..) = (e, len) {
            let ports = words
                .filter(|&w| dport.get(w) == Some(&true))
                .map(|w| w * 4 - span.start);
            for offset in ports.collect::<Vec<_>>() {
                self.field(sets.get(set.as_str()), offset);
            }
            return;
        }
        if len != 2 || span.start % 4 != 0 || matches!(e, Expr::Bitwise { .. }) {
            self.each = true;
            return;
        }
        match e {
            Expr::Cmp { data, .. } => self.bound(data),
            Expr::Range { from, to, .. } => {
                self.bound(from);
                self.bound(to);
            }
            Expr::Lookup { set, .. } => match sets
                .get(set.as_str())
                .and_then(|s| s.port_ranges(usize::MAX))
            {
                Some(list) => {
                    for (a, b) in list {
                        self.bounds.extend([u32::from(a), u32::from(b) + 1]);
                    }
                }
                None => self.each = true,
            },
            _ => {}
        }
    }

    /// The port as one field of a concatenated key (`ip saddr . tcp dport`), `offset`
    /// bytes in: each element's port is a boundary. A range over the port field, or a
    /// range compared as a whole key, is not followed.
    fn field(&mut self, set: Option<&SetIndex>, offset: usize) {
        let Some(set) = set else {
            self.each = true;
            return;
        };
        for e in &set.set.elements {
            let low = e.key.get(offset..offset + 2);
            let high = e
                .key_end
                .as_deref()
                .map_or(low, |k| k.get(offset..offset + 2));
            let whole_key_range = e.interval_end || (set.set.interval && e.key_end.is_none());
            match (low, high) {
                (Some(low), Some(high)) if low == high && !whole_key_range => self.bound(low),
                _ => {
                    self.each = true;
                    return;
                }
            }
        }
    }

    fn bound(&mut self, data: &[u8]) {
        if let Some(p) = port_of(data) {
            self.bounds.extend([u32::from(p), u32::from(p) + 1]);
        }
    }

    fn classes(mut self) -> PortClasses {
        if self.each {
            return PortClasses::Each;
        }
        self.bounds.sort_unstable();
        self.bounds.dedup();
        PortClasses::Between(self.bounds)
    }
}

/// The register and length an expression surely writes: at least its first word where
/// the length depends on the key (forgetting too little only draws more boundaries).
fn written(e: &Expr) -> Option<(u32, usize)> {
    match e {
        Expr::Payload { dreg, len, .. } | Expr::Bitwise { dreg, len, .. } => {
            Some((*dreg, *len as usize))
        }
        Expr::Meta { dreg, .. } | Expr::Ct { dreg, .. } => Some((*dreg, 1)),
        Expr::Immediate {
            dreg,
            data: Immediate::Value(v),
        } => Some((*dreg, v.len())),
        Expr::Lookup { dreg: Some(d), .. } => Some((*d, 1)),
        _ => None,
    }
}

/// Whether a network-header load touches the destination address of the families this
/// table sees.
fn reads_daddr(family: Option<NfFamily>, offset: u32, len: u32) -> bool {
    let end = offset.saturating_add(len);
    families(family).iter().any(|ip| {
        let (a, b) = match ip {
            Ip::V4 => (16, 20),
            Ip::V6 => (24, 40),
        };
        offset < b && end > a
    })
}
