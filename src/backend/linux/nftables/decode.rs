//! The nfnetlink messages of an nftables dump, decoded into `model::Ruleset`.
//!
//! Pure functions over bytes: the reader (`mod.rs`) feeds them the datagrams the kernel
//! sends, the tests feed them captured dumps, the fuzz target anything at all. Netlink
//! headers are in host byte order; every integer inside nfnetlink attributes is big-endian.
//!
//! What cannot be decoded is never a panic. A table, chain, rule, set or element that cannot
//! be placed or read is left out and counted in [`Decoded::dropped`] (the ruleset is then
//! incomplete, and the reader refuses it); an expression whose data cannot be read becomes
//! `Expr::Other(name)` in its place and is counted in [`Decoded::opaque`] (the rule is still
//! there, and the evaluator says `unknown` when it reaches it).
//!
//! One translation: iptables-nft's (and so docker's) `-j DNAT` and `-j REDIRECT` are
//! x_tables targets holding the kernel module's struct; they are given in the form nft
//! writes the same rule (`immediate` loads, then `nat` or `redir`), so that a forward reads
//! the same whoever wrote it. Other x_tables matches and targets are `Other("match NAME")`
//! and `Other("target NAME")`.

use std::collections::HashMap;

use crate::model::{
    CmpOp, Expr, Hook, Immediate, NatKind, NfChain, NfFamily, NfRule, NfSet, NfSetElement, NfTable,
    PayloadBase, Ruleset, Verdict,
};

// <linux/netlink.h>
pub(crate) const NLMSG_HDRLEN: usize = 16;
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
const NLM_F_DUMP_INTR: u16 = 0x10;
/// The flag bits of `nla_type`: NLA_F_NESTED, NLA_F_NET_BYTEORDER.
const NLA_TYPE_MASK: u16 = 0x3fff;

// <linux/netfilter/nfnetlink.h>: message type = subsystem << 8 | message.
pub(crate) const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// `struct nfgenmsg`: family, version, resource id.
pub(crate) const NFGENMSG_LEN: usize = 4;

// <linux/netfilter/nf_tables.h>, enum nf_tables_msg_types.
pub(crate) const NFT_MSG_NEWTABLE: u16 = 0;
pub(crate) const NFT_MSG_GETTABLE: u16 = 1;
pub(crate) const NFT_MSG_NEWCHAIN: u16 = 3;
pub(crate) const NFT_MSG_GETCHAIN: u16 = 4;
pub(crate) const NFT_MSG_NEWRULE: u16 = 6;
pub(crate) const NFT_MSG_GETRULE: u16 = 7;
pub(crate) const NFT_MSG_NEWSET: u16 = 9;
pub(crate) const NFT_MSG_GETSET: u16 = 10;
pub(crate) const NFT_MSG_NEWSETELEM: u16 = 12;
pub(crate) const NFT_MSG_GETSETELEM: u16 = 13;
pub(crate) const NFT_MSG_NEWGEN: u16 = 15;
pub(crate) const NFT_MSG_GETGEN: u16 = 16;

const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_FLAGS: u16 = 2;
/// `NFT_TABLE_F_DORMANT`: the table's base chains are not attached to their hooks.
const NFT_TABLE_F_DORMANT: u32 = 0x1;

const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;

const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_HANDLE: u16 = 3;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;

const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_FLAGS: u16 = 3;
const NFTA_SET_KEY_LEN: u16 = 5;
const NFTA_SET_DATA_TYPE: u16 = 6;
const NFT_SET_INTERVAL: u32 = 0x4;
const NFT_SET_MAP: u32 = 0x8;
/// The data type of a verdict map's values.
const NFT_DATA_VERDICT: u32 = 0xffff_ff00;

pub(crate) const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
pub(crate) const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_SET_ELEM_KEY_END: u16 = 10;
const NFT_SET_ELEM_INTERVAL_END: u32 = 0x1;
const NFT_SET_ELEM_CATCHALL: u32 = 0x2;

const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;

const NFTA_GEN_ID: u16 = 1;

/// `NFPROTO_ARP` and `NFPROTO_NETDEV`, whose hook numbers are not `NF_INET_*`.
const NFPROTO_ARP: u8 = 3;
const NFPROTO_NETDEV: u8 = 5;

/// Why a datagram could not be read at all (as opposed to an object in it that is dropped
/// and counted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The kernel answered with an error (a positive errno).
    #[error("the kernel refused: errno {0}")]
    Kernel(i32),
    /// The ruleset changed during the dump (`NLM_F_DUMP_INTR`).
    #[error("the dump was interrupted by a change of the ruleset")]
    Interrupted,
    #[error("malformed nfnetlink reply: {0}")]
    Malformed(&'static str),
}

/// What one datagram contributed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// NLMSG_DONE (a dump's end) or an acknowledgement (a request's end) was seen.
    pub done: bool,
}

/// A whole dump, decoded.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub ruleset: Ruleset,
    /// Tables, chains, rules, sets and set elements left out: they could not be read, or
    /// named a table, chain or set the dump did not hold.
    pub dropped: usize,
    /// Expressions whose data could not be read, kept as `Expr::Other(name)`.
    pub opaque: usize,
}

/// Decode one received datagram (or several concatenated), adding what it holds to
/// `into`. With `seq`, every message must carry that sequence number.
///
/// Pure and total: any byte string gives `Ok` or `Err`, never a panic.
pub fn decode_datagram(
    buf: &[u8],
    seq: Option<u32>,
    into: &mut Assembly,
) -> Result<Progress, DecodeError> {
    let mut rest = buf;
    while !rest.is_empty() {
        let header = rest
            .get(..NLMSG_HDRLEN)
            .ok_or(DecodeError::Malformed("truncated message header"))?;
        let len = usize::try_from(ne_u32(header, 0)).unwrap_or(usize::MAX);
        let kind = ne_u16(header, 4);
        let flags = ne_u16(header, 6);
        if len < NLMSG_HDRLEN {
            return Err(DecodeError::Malformed("message shorter than its header"));
        }
        let payload = rest
            .get(NLMSG_HDRLEN..len)
            .ok_or(DecodeError::Malformed("message runs past the datagram"))?;
        if seq.is_some_and(|seq| seq != ne_u32(header, 8)) {
            return Err(DecodeError::Malformed("sequence number of another request"));
        }
        if flags & NLM_F_DUMP_INTR != 0 {
            return Err(DecodeError::Interrupted);
        }
        match kind {
            NLMSG_NOOP => {}
            NLMSG_DONE => {
                // A dump that failed part way says so in DONE's payload.
                let code = payload.get(..4).map_or(0, |b| ne_i32(b, 0));
                if code < 0 {
                    return Err(DecodeError::Kernel(code.saturating_neg()));
                }
                return Ok(Progress { done: true });
            }
            NLMSG_ERROR => {
                let code = payload
                    .get(..4)
                    .map(|b| ne_i32(b, 0))
                    .ok_or(DecodeError::Malformed("truncated error message"))?;
                if code < 0 {
                    return Err(DecodeError::Kernel(code.saturating_neg()));
                }
                // An acknowledgement ends a request that is not a dump.
                return Ok(Progress { done: true });
            }
            NLMSG_OVERRUN => return Err(DecodeError::Malformed("overrun reported")),
            kind if kind >> 8 == NFNL_SUBSYS_NFTABLES => into.message(kind & 0xff, payload),
            _ => return Err(DecodeError::Malformed("message of another subsystem")),
        }
        // Messages are 4-byte aligned; the last one's padding may be left off.
        rest = rest.get(len.saturating_add(3) & !3..).unwrap_or_default();
    }
    Ok(Progress::default())
}

/// Decode a whole captured dump: the datagrams of every request, one after another, in any
/// order, whatever their sequence numbers. Errors and ends of dumps between them are
/// skipped; a datagram that cannot be read at all ends the decoding, counted as dropped.
pub fn decode_dump(bytes: &[u8]) -> Decoded {
    let mut assembly = Assembly::default();
    let mut rest = bytes;
    while !rest.is_empty() {
        // One message at a time, so that an error or DONE does not hide what follows.
        let len = rest
            .get(..4)
            .map_or(0, |b| usize::try_from(ne_u32(b, 0)).unwrap_or(usize::MAX));
        let (one, next) = if len >= NLMSG_HDRLEN && len <= rest.len() {
            let next = (len.saturating_add(3) & !3).min(rest.len());
            (&rest[..len], &rest[next..])
        } else {
            (rest, &[][..])
        };
        match decode_datagram(one, None, &mut assembly) {
            Ok(_) | Err(DecodeError::Kernel(_)) => {}
            Err(_) => assembly.dropped += 1,
        }
        rest = next;
    }
    assembly.finish()
}

/// The ruleset as its messages arrive: tables, then their chains, sets and rules, then the
/// sets' elements. Each object finds its parent by name (and the family of its message).
#[derive(Debug, Default)]
pub struct Assembly {
    tables: Vec<(u8, NfTable)>,
    /// Tables by (family, name): their index in `tables`.
    table_index: HashMap<(u8, String), usize>,
    /// Chains by (family, table, chain): their table's and their own index.
    chain_index: HashMap<(u8, String, String), (usize, usize)>,
    set_index: HashMap<(u8, String, String), (usize, usize)>,
    /// Dormant tables: not attached to any hook, so left out with all they hold.
    dormant: Vec<(u8, String)>,
    generation: Option<u32>,
    dropped: usize,
    opaque: usize,
}

impl Assembly {
    /// The generation a NEWGEN message announced, if one was seen.
    pub fn generation(&self) -> Option<u32> {
        self.generation
    }

    /// Every set read so far, as (family, table, set): the requests for their elements.
    pub fn sets(&self) -> Vec<(u8, String, String)> {
        let mut sets = Vec::new();
        for (family, table) in &self.tables {
            for set in &table.sets {
                sets.push((*family, table.name.clone(), set.name.clone()));
            }
        }
        sets
    }

    pub fn finish(mut self) -> Decoded {
        for (_, table) in &mut self.tables {
            for set in &mut table.sets {
                if set.interval {
                    in_order(&mut set.elements);
                } else {
                    // A hash set's order is its buckets': by key is the same set, and
                    // the same from one read to the next.
                    set.elements.sort_by(|a, b| a.key.cmp(&b.key));
                }
            }
        }
        Decoded {
            ruleset: Ruleset {
                tables: self.tables.into_iter().map(|(_, table)| table).collect(),
                generation: self.generation.unwrap_or(0),
            },
            dropped: self.dropped,
            opaque: self.opaque,
        }
    }

    /// One nf_tables message (its type within the subsystem, and its payload).
    fn message(&mut self, kind: u16, payload: &[u8]) {
        let Some((&family, attrs)) = payload
            .get(..NFGENMSG_LEN)
            .and_then(|head| head.first())
            .zip(payload.get(NFGENMSG_LEN..))
        else {
            self.dropped += 1;
            return;
        };
        let added = match kind {
            NFT_MSG_NEWTABLE => self.table(family, attrs),
            NFT_MSG_NEWCHAIN => self.chain(family, attrs),
            NFT_MSG_NEWRULE => self.rule(family, attrs),
            NFT_MSG_NEWSET => self.set(family, attrs),
            NFT_MSG_NEWSETELEM => self.elements(family, attrs),
            NFT_MSG_NEWGEN => {
                match attributes::<2>(attrs).and_then(|a| be_u32(a[usize::from(NFTA_GEN_ID)]?)) {
                    Some(id) => {
                        self.generation = Some(id);
                        Added::Yes
                    }
                    None => Added::No,
                }
            }
            // Objects, flowtables and whatever comes later: not part of the answer.
            _ => Added::Yes,
        };
        match added {
            Added::Yes | Added::Dormant => {}
            Added::No => self.dropped += 1,
            Added::Some(dropped) => self.dropped += dropped,
        }
    }

    fn table(&mut self, family: u8, attrs: &[u8]) -> Added {
        let Some(a) = attributes::<3>(attrs) else {
            return Added::No;
        };
        let Some(name) = string(a[usize::from(NFTA_TABLE_NAME)]) else {
            return Added::No;
        };
        let flags = a[usize::from(NFTA_TABLE_FLAGS)]
            .and_then(be_u32)
            .unwrap_or(0);
        let key = (family, name);
        if self.table_index.contains_key(&key) || self.dormant.contains(&key) {
            return Added::No;
        }
        if flags & NFT_TABLE_F_DORMANT != 0 {
            self.dormant.push(key);
            return Added::Dormant;
        }
        let table = NfTable {
            family: NfFamily::from_number(family),
            name: key.1.clone(),
            chains: Vec::new(),
            sets: Vec::new(),
        };
        self.table_index.insert(key, self.tables.len());
        self.tables.push((family, table));
        Added::Yes
    }

    /// The table an object names: `Err(Added::Dormant)` for a dormant one, whose objects
    /// are left out without counting.
    fn table_of(&self, family: u8, name: &str) -> Result<usize, Added> {
        let key = (family, name.to_string());
        match self.table_index.get(&key) {
            Some(&at) => Ok(at),
            None if self.dormant.contains(&key) => Err(Added::Dormant),
            None => Err(Added::No),
        }
    }

    fn chain(&mut self, family: u8, attrs: &[u8]) -> Added {
        let Some(a) = attributes::<8>(attrs) else {
            return Added::No;
        };
        let (Some(table), Some(name)) = (
            string(a[usize::from(NFTA_CHAIN_TABLE)]),
            string(a[usize::from(NFTA_CHAIN_NAME)]),
        ) else {
            return Added::No;
        };
        let Some(chain) = chain(family, name, &a) else {
            return Added::No;
        };
        let at = match self.table_of(family, &table) {
            Ok(at) => at,
            Err(why) => return why,
        };
        let key = (family, table, chain.name.clone());
        if self.chain_index.contains_key(&key) {
            return Added::No;
        }
        let chains = &mut self.tables[at].1.chains;
        self.chain_index.insert(key, (at, chains.len()));
        chains.push(chain);
        Added::Yes
    }

    fn rule(&mut self, family: u8, attrs: &[u8]) -> Added {
        let Some(a) = attributes::<5>(attrs) else {
            return Added::No;
        };
        let (Some(table), Some(chain), Some(handle)) = (
            string(a[usize::from(NFTA_RULE_TABLE)]),
            string(a[usize::from(NFTA_RULE_CHAIN)]),
            a[usize::from(NFTA_RULE_HANDLE)].and_then(be_u64),
        ) else {
            return Added::No;
        };
        let exprs = match a[usize::from(NFTA_RULE_EXPRESSIONS)] {
            Some(list) => match expressions(list, family) {
                Some((exprs, opaque)) => {
                    self.opaque += opaque;
                    exprs
                }
                None => return Added::No,
            },
            None => Vec::new(),
        };
        if self.dormant.contains(&(family, table.clone())) {
            return Added::Dormant;
        }
        let Some(&(t, c)) = self.chain_index.get(&(family, table, chain)) else {
            return Added::No;
        };
        self.tables[t].1.chains[c]
            .rules
            .push(NfRule { handle, exprs });
        Added::Yes
    }

    fn set(&mut self, family: u8, attrs: &[u8]) -> Added {
        let Some(a) = attributes::<7>(attrs) else {
            return Added::No;
        };
        let (Some(table), Some(name)) = (
            string(a[usize::from(NFTA_SET_TABLE)]),
            string(a[usize::from(NFTA_SET_NAME)]),
        ) else {
            return Added::No;
        };
        let int = |kind: u16| match a[usize::from(kind)] {
            Some(value) => be_u32(value).ok_or(()),
            None => Ok(0),
        };
        let (Ok(flags), Ok(key_len), Ok(data_type)) = (
            int(NFTA_SET_FLAGS),
            int(NFTA_SET_KEY_LEN),
            int(NFTA_SET_DATA_TYPE),
        ) else {
            return Added::No;
        };
        let at = match self.table_of(family, &table) {
            Ok(at) => at,
            Err(why) => return why,
        };
        let key = (family, table, name.clone());
        if self.set_index.contains_key(&key) {
            return Added::No;
        }
        let map = flags & NFT_SET_MAP != 0;
        let sets = &mut self.tables[at].1.sets;
        self.set_index.insert(key, (at, sets.len()));
        sets.push(NfSet {
            name,
            interval: flags & NFT_SET_INTERVAL != 0,
            map,
            verdict_map: map && data_type == NFT_DATA_VERDICT,
            key_len,
            elements: Vec::new(),
        });
        Added::Yes
    }

    fn elements(&mut self, family: u8, attrs: &[u8]) -> Added {
        let Some(a) = attributes::<4>(attrs) else {
            return Added::No;
        };
        let (Some(table), Some(set)) = (
            string(a[usize::from(NFTA_SET_ELEM_LIST_TABLE)]),
            string(a[usize::from(NFTA_SET_ELEM_LIST_SET)]),
        ) else {
            return Added::No;
        };
        if self.dormant.contains(&(family, table.clone())) {
            return Added::Dormant;
        }
        let Some(&(t, s)) = self.set_index.get(&(family, table, set)) else {
            return Added::No;
        };
        let Some(list) = a[usize::from(NFTA_SET_ELEM_LIST_ELEMENTS)] else {
            // A message with no elements adds none.
            return Added::Yes;
        };
        let mut dropped = 0;
        let elements = &mut self.tables[t].1.sets[s].elements;
        let mut items = Nested::new(list);
        for (kind, item) in items.by_ref() {
            match (kind, element(item)) {
                (NFTA_LIST_ELEM, Some(element)) => elements.push(element),
                (NFTA_LIST_ELEM, None) => dropped += 1,
                _ => {}
            }
        }
        if items.broken {
            dropped += 1;
        }
        if dropped == 0 {
            Added::Yes
        } else {
            Added::Some(dropped)
        }
    }
}

/// An interval set's elements as the model has them: by key, each start followed by the
/// end that closes it. The kernel dumps its tree from the largest key down, each end before
/// its start, with an end at the smallest key (0) that closes nothing: it is left out.
fn in_order(elements: &mut Vec<NfSetElement>) {
    // At one key, the end of one range comes before the start of the next.
    elements.sort_by(|a, b| a.key.cmp(&b.key).then(b.interval_end.cmp(&a.interval_end)));
    let mut open = false;
    elements.retain(|element| {
        // A range with its end in `key_end` is whole in one element.
        if element.key_end.is_some() || element.catchall {
            return true;
        }
        if element.interval_end {
            // Closes the range open before it, or nothing.
            std::mem::replace(&mut open, false)
        } else {
            open = true;
            true
        }
    });
}

/// What became of one message's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Added {
    Yes,
    /// Of a dormant table: left out, not counted.
    Dormant,
    /// Left out, counted once.
    No,
    /// Added, but this many of its elements left out.
    Some(usize),
}

/// A chain from its attributes (indexed by type); `None` when one cannot be read.
fn chain(family: u8, name: String, a: &[Option<&[u8]>; 8]) -> Option<NfChain> {
    let (hook, priority) = match a[usize::from(NFTA_CHAIN_HOOK)] {
        Some(nested) => {
            let h = attributes::<3>(nested)?;
            let number = be_u32(h[usize::from(NFTA_HOOK_HOOKNUM)]?)?;
            let priority = be_i32(h[usize::from(NFTA_HOOK_PRIORITY)]?)?;
            // ARP and netdev hooks have numbers of their own.
            let hook = match family {
                NFPROTO_ARP | NFPROTO_NETDEV => Hook::Other(number),
                _ => Hook::from_number(number),
            };
            (Some(hook), priority)
        }
        None => (None, 0),
    };
    let policy = match a[usize::from(NFTA_CHAIN_POLICY)] {
        Some(code) => Some(verdict_code(be_i32(code)?, None)?),
        None => None,
    };
    let kind = match a[usize::from(NFTA_CHAIN_TYPE)] {
        Some(kind) => Some(string(Some(kind))?),
        None => None,
    };
    Some(NfChain {
        name,
        hook,
        priority,
        // Only a base chain has a policy; a dump gives one for every base chain.
        policy: if hook.is_some() { policy } else { None },
        kind,
        rules: Vec::new(),
    })
}

/// NFTA_RULE_EXPRESSIONS of a rule of a table of `family`: the expressions, and how many of
/// them are opaque. `None` when the list itself cannot be walked.
fn expressions(list: &[u8], family: u8) -> Option<(Vec<Expr>, usize)> {
    let mut exprs = Vec::new();
    let mut opaque = 0;
    let mut items = Nested::new(list);
    for (kind, item) in items.by_ref() {
        if kind != NFTA_LIST_ELEM {
            continue;
        }
        let a = attributes::<3>(item)?;
        let name = string(a[usize::from(NFTA_EXPR_NAME)])?;
        let data = a[usize::from(NFTA_EXPR_DATA)].unwrap_or_default();
        if name == "target"
            && let Some(nat) = x_tables_nat(data, family)
        {
            exprs.extend(nat);
            continue;
        }
        match expression(&name, data) {
            Some(expr) => exprs.push(expr),
            None => {
                opaque += 1;
                exprs.push(Expr::Other(name));
            }
        }
    }
    (!items.broken).then_some((exprs, opaque))
}

/// Expressions that have no say in the verdict.
const PASSIVE: [&str; 5] = ["counter", "log", "quota", "notrack", "last"];

/// One expression from its name and NFTA_EXPR_DATA; `None` when a known expression's data
/// cannot be read.
fn expression(name: &str, payload: &[u8]) -> Option<Expr> {
    let a = Attrs(attributes::<9>(payload)?);
    match name {
        "payload" | "meta" | "ct" | "cmp" | "bitwise" | "range" => load_or_compare(name, &a),
        "lookup" | "immediate" | "nat" | "redir" => act(name, &a),
        "reject" => Some(Expr::Reject),
        name if PASSIVE.contains(&name) => Some(Expr::Passive(name.into())),
        // iptables-nft's x_tables matches and targets: the extension's name says more.
        "match" | "target" => Some(match string(a.0[1]) {
            Some(extension) => Expr::Other(format!("{name} {extension}")),
            None => Expr::Other(name.into()),
        }),
        name => Some(Expr::Other(name.into())),
    }
}

/// The attributes of an expression's data, by type.
struct Attrs<'a>([Option<&'a [u8]>; 9]);

impl Attrs<'_> {
    fn has(&self, kind: usize) -> bool {
        self.0[kind].is_some()
    }

    /// A register or number that must be there.
    fn reg(&self, kind: usize) -> Option<u32> {
        be_u32(self.0[kind]?)
    }

    /// One that may be absent, but must be readable when present.
    fn opt(&self, kind: usize) -> Option<Option<u32>> {
        match self.0[kind] {
            None => Some(None),
            Some(value) => be_u32(value).map(Some),
        }
    }

    /// An `nft_data` nest holding a value.
    fn value(&self, kind: usize) -> Option<Vec<u8>> {
        data_value(self.0[kind]?)
    }
}

/// The expressions that load a register, or compare one.
fn load_or_compare(name: &str, a: &Attrs) -> Option<Expr> {
    let other = || Some(Expr::Other(name.into()));
    Some(match name {
        // NFTA_PAYLOAD_DREG 1, BASE 2, OFFSET 3, LEN 4, SREG 5 (a write: `... set`).
        "payload" if a.has(5) => Expr::Other("payload set".into()),
        "payload" => Expr::Payload {
            base: match a.reg(2)? {
                0 => PayloadBase::Link,
                1 => PayloadBase::Network,
                2 => PayloadBase::Transport,
                3 => PayloadBase::Inner,
                _ => return other(),
            },
            offset: a.reg(3)?,
            len: a.reg(4)?,
            dreg: a.reg(1)?,
        },
        // NFTA_META_DREG 1, KEY 2, SREG 3 (a write).
        "meta" if a.has(3) => Expr::Other("meta set".into()),
        "meta" => Expr::Meta {
            key: a.reg(2)?,
            dreg: a.reg(1)?,
        },
        // NFTA_CT_DREG 1, KEY 2, DIRECTION 3, SREG 4 (a write). A key of one direction
        // (`ct original saddr`) is not what `Ct` says.
        "ct" if a.has(4) => Expr::Other("ct set".into()),
        "ct" if a.has(3) => return other(),
        "ct" => Expr::Ct {
            key: a.reg(2)?,
            dreg: a.reg(1)?,
        },
        // NFTA_CMP_SREG 1, OP 2, DATA 3.
        "cmp" => Expr::Cmp {
            sreg: a.reg(1)?,
            op: match a.reg(2)? {
                0 => CmpOp::Eq,
                1 => CmpOp::Neq,
                2 => CmpOp::Lt,
                3 => CmpOp::Lte,
                4 => CmpOp::Gt,
                5 => CmpOp::Gte,
                _ => return other(),
            },
            data: a.value(3)?,
        },
        // NFTA_BITWISE_SREG 1, DREG 2, LEN 3, MASK 4, XOR 5, OP 6 (0: mask and xor; the
        // shifts and newer operations are not what `Bitwise` says).
        "bitwise" if a.opt(6)?.unwrap_or(0) != 0 => return other(),
        "bitwise" => Expr::Bitwise {
            sreg: a.reg(1)?,
            dreg: a.reg(2)?,
            len: a.reg(3)?,
            mask: a.value(4)?,
            xor: a.value(5)?,
        },
        // NFTA_RANGE_SREG 1, OP 2 (NFT_RANGE_EQ 0, NEQ 1), FROM_DATA 3, TO_DATA 4.
        _ => Expr::Range {
            sreg: a.reg(1)?,
            op: match a.reg(2)? {
                0 => CmpOp::Eq,
                1 => CmpOp::Neq,
                _ => return other(),
            },
            from: a.value(3)?,
            to: a.value(4)?,
        },
    })
}

/// The expressions that look up, load a constant, or translate.
fn act(name: &str, a: &Attrs) -> Option<Expr> {
    Some(match name {
        // NFTA_LOOKUP_SET 1, SREG 2, DREG 3, SET_ID 4, FLAGS 5 (NFT_LOOKUP_F_INV 1).
        "lookup" => Expr::Lookup {
            sreg: a.reg(2)?,
            set: string(a.0[1])?,
            dreg: a.opt(3)?,
            invert: a.opt(5)?.unwrap_or(0) & 1 != 0,
        },
        // NFTA_IMMEDIATE_DREG 1, DATA 2.
        "immediate" => Expr::Immediate {
            dreg: a.reg(1)?,
            data: data(a.0[2]?)?,
        },
        // NFTA_NAT_TYPE 1, FAMILY 2, REG_ADDR_MIN 3, MAX 4, REG_PROTO_MIN 5, MAX 6.
        "nat" => Expr::Nat {
            kind: match a.reg(1)? {
                0 => NatKind::Snat,
                1 => NatKind::Dnat,
                _ => return Some(Expr::Other(name.into())),
            },
            family: match a.opt(2)? {
                Some(family) => NfFamily::from_number(u8::try_from(family).ok()?),
                None => None,
            },
            addr_min: a.opt(3)?,
            addr_max: a.opt(4)?,
            proto_min: a.opt(5)?,
            proto_max: a.opt(6)?,
        },
        // NFTA_REDIR_REG_PROTO_MIN 1, MAX 2.
        _ => Expr::Redir {
            proto_min: a.opt(1)?,
            proto_max: a.opt(2)?,
        },
    })
}

/// `NF_NAT_RANGE_MAP_IPS`, `NF_NAT_RANGE_PROTO_SPECIFIED`, and the flags that leave the
/// addresses and ports as they are (`_PROTO_RANDOM`, `_PERSISTENT`, `_PROTO_RANDOM_FULLY`).
const NF_NAT_RANGE_MAP_IPS: u32 = 0x1;
const NF_NAT_RANGE_PROTO_SPECIFIED: u32 = 0x2;
const NF_NAT_RANGE_KNOWN: u32 = 0x1f;
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;

/// iptables-nft's `-j DNAT` and `-j REDIRECT` (an x_tables `target` expression with the
/// kernel module's own struct in NFTA_TARGET_INFO) in the form nft itself writes them:
/// `immediate` loads of the addresses (registers 1, 2) and ports (3, 4, or 1, 2 for a
/// redirect), then `nat` or `redir`. docker's published ports are such rules. `None` for
/// any other target, or one whose struct is not as expected (it stays `Other`).
fn x_tables_nat(data: &[u8], family: u8) -> Option<Vec<Expr>> {
    // NFTA_TARGET_NAME 1, REV 2, INFO 3.
    let a = attributes::<4>(data)?;
    let name = string(a[1])?;
    let revision = be_u32(a[2]?)?;
    let info = a[3]?;
    let dnat = match name.as_str() {
        "DNAT" => true,
        "REDIRECT" => false,
        _ => return None,
    };
    let field = |at: usize, len: usize| info.get(at..at + len);
    // (flags, min address, max address, min port, max port) by the struct of each revision:
    // nf_nat_ipv4_multi_range_compat (IPv4 revision 0: a count that must be 1, then flags,
    // two IPv4 addresses and two ports), nf_nat_range (IPv6 revision 0 of REDIRECT, and
    // revision 1 of DNAT: flags, two 16-byte addresses, two ports), nf_nat_range2
    // (revision 2: the same and a base port, which only PROTO_OFFSET uses).
    let (flags, addrs, ports) = match (family, revision) {
        (NFPROTO_IPV4, 0) => {
            if u32::from_ne_bytes(field(0, 4)?.try_into().ok()?) != 1 {
                return None;
            }
            (
                field(4, 4)?,
                (field(8, 4)?, field(12, 4)?),
                (field(16, 2)?, field(18, 2)?),
            )
        }
        (NFPROTO_IPV4 | NFPROTO_IPV6, 1 | 2) | (NFPROTO_IPV6, 0) => {
            if dnat && revision == 0 {
                return None;
            }
            let len = if family == NFPROTO_IPV4 { 4 } else { 16 };
            (
                field(0, 4)?,
                (field(4, len)?, field(20, len)?),
                (field(36, 2)?, field(38, 2)?),
            )
        }
        _ => return None,
    };
    let flags = u32::from_ne_bytes(flags.try_into().ok()?);
    if flags & !NF_NAT_RANGE_KNOWN != 0 {
        return None;
    }
    let mut exprs = Vec::new();
    // Load `min` (and `max`, when it differs) from the first register given; the registers
    // `nat` or `redir` reads them from.
    let mut load = |(min, max): (&[u8], &[u8]), first: u32| {
        exprs.push(Expr::Immediate {
            dreg: first,
            data: Immediate::Value(min.to_vec()),
        });
        if min == max {
            return (Some(first), Some(first));
        }
        exprs.push(Expr::Immediate {
            dreg: first + 1,
            data: Immediate::Value(max.to_vec()),
        });
        (Some(first), Some(first + 1))
    };
    let proto = flags & NF_NAT_RANGE_PROTO_SPECIFIED != 0;
    if !dnat {
        let (proto_min, proto_max) = if proto { load(ports, 1) } else { (None, None) };
        exprs.push(Expr::Redir {
            proto_min,
            proto_max,
        });
        return Some(exprs);
    }
    let (addr_min, addr_max) = if flags & NF_NAT_RANGE_MAP_IPS != 0 {
        load(addrs, 1)
    } else {
        (None, None)
    };
    let (proto_min, proto_max) = if proto { load(ports, 3) } else { (None, None) };
    exprs.push(Expr::Nat {
        kind: NatKind::Dnat,
        family: NfFamily::from_number(family),
        addr_min,
        addr_max,
        proto_min,
        proto_max,
    });
    Some(exprs)
}

/// NFTA_DATA_VALUE's bytes out of an `nft_data` nest.
fn data_value(nested: &[u8]) -> Option<Vec<u8>> {
    match data(nested)? {
        Immediate::Value(value) => Some(value),
        Immediate::Verdict(_) => None,
    }
}

/// An `nft_data` nest: a value or a verdict.
fn data(nested: &[u8]) -> Option<Immediate> {
    let a = attributes::<3>(nested)?;
    if let Some(value) = a[usize::from(NFTA_DATA_VALUE)] {
        return Some(Immediate::Value(value.to_vec()));
    }
    let v = attributes::<3>(a[usize::from(NFTA_DATA_VERDICT)]?)?;
    let code = be_i32(v[usize::from(NFTA_VERDICT_CODE)]?)?;
    let chain = match v[usize::from(NFTA_VERDICT_CHAIN)] {
        Some(chain) => Some(string(Some(chain))?),
        None => None,
    };
    verdict_code(code, chain).map(Immediate::Verdict)
}

/// A verdict code (`NF_*` or `NFT_*`); a jump or goto needs its chain.
fn verdict_code(code: i32, chain: Option<String>) -> Option<Verdict> {
    Some(match code {
        0 => Verdict::Drop,
        1 => Verdict::Accept,
        -1 => Verdict::Continue,
        -3 => Verdict::Jump(chain?),
        -4 => Verdict::Goto(chain?),
        -5 => Verdict::Return,
        // NF_QUEUE, with the queue number in the upper bits.
        code if code & 0xff == 3 => Verdict::Queue,
        code => Verdict::Other(code),
    })
}

/// One set element (the inside of an NFTA_LIST_ELEM); `None` when it cannot be read.
fn element(nested: &[u8]) -> Option<NfSetElement> {
    let a = attributes::<11>(nested)?;
    let flags = match a[usize::from(NFTA_SET_ELEM_FLAGS)] {
        Some(flags) => be_u32(flags)?,
        None => 0,
    };
    let catchall = flags & NFT_SET_ELEM_CATCHALL != 0;
    let key = match a[usize::from(NFTA_SET_ELEM_KEY)] {
        Some(key) => data_value(key)?,
        None if catchall => Vec::new(),
        None => return None,
    };
    let key_end = match a[usize::from(NFTA_SET_ELEM_KEY_END)] {
        Some(end) => Some(data_value(end)?),
        None => None,
    };
    let data = match a[usize::from(NFTA_SET_ELEM_DATA)] {
        Some(nested) => Some(data(nested)?),
        None => None,
    };
    Some(NfSetElement {
        key,
        key_end,
        interval_end: flags & NFT_SET_ELEM_INTERVAL_END != 0,
        catchall,
        data,
    })
}

/// The attributes of one level, indexed by type as the kernel's `nla_parse` does: the last
/// of a type wins, types past `N - 1` are ignored. `None` when one runs past the end.
fn attributes<const N: usize>(buf: &[u8]) -> Option<[Option<&[u8]>; N]> {
    let mut found = [None; N];
    let mut nested = Nested::new(buf);
    for (kind, payload) in nested.by_ref() {
        if let Some(slot) = found.get_mut(usize::from(kind)) {
            *slot = Some(payload);
        }
    }
    (!nested.broken).then_some(found)
}

/// The `struct nlattr`s of one level, as (type without its flag bits, payload). Stops at
/// the first that runs past the end, setting `broken`.
struct Nested<'a> {
    rest: &'a [u8],
    broken: bool,
}

impl<'a> Nested<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Nested {
            rest: buf,
            broken: false,
        }
    }
}

impl<'a> Iterator for Nested<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        // Fewer than 4 bytes left is padding (or nothing).
        let head = self.rest.get(..4)?;
        let len = usize::from(ne_u16(head, 0));
        let kind = ne_u16(head, 2) & NLA_TYPE_MASK;
        let Some(payload) = (len >= 4).then(|| self.rest.get(4..len)).flatten() else {
            self.broken = true;
            self.rest = &[];
            return None;
        };
        self.rest = self.rest.get(len.next_multiple_of(4)..).unwrap_or_default();
        Some((kind, payload))
    }
}

/// An NLA_STRING: up to its first NUL; not UTF-8 is shown with replacement characters (a
/// name is compared with names read the same way).
fn string(payload: Option<&[u8]>) -> Option<String> {
    let bytes = payload?;
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    if end == 0 {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
}

fn be_u32(payload: &[u8]) -> Option<u32> {
    payload.try_into().ok().map(u32::from_be_bytes)
}

fn be_i32(payload: &[u8]) -> Option<i32> {
    payload.try_into().ok().map(i32::from_be_bytes)
}

fn be_u64(payload: &[u8]) -> Option<u64> {
    payload.try_into().ok().map(u64::from_be_bytes)
}

/// Host-order fields of the netlink header, from a slice known to be long enough (0 if
/// not, which the callers never pass).
fn ne_u16(buf: &[u8], at: usize) -> u16 {
    buf.get(at..at + 2)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u16::from_ne_bytes)
}

fn ne_u32(buf: &[u8], at: usize) -> u32 {
    buf.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_ne_bytes)
}

fn ne_i32(buf: &[u8], at: usize) -> i32 {
    buf.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, i32::from_ne_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NFTA_EXPR_DATA of an x_tables target.
    fn target(name: &str, revision: u32, info: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut attr = |kind: u16, payload: &[u8]| {
            out.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
            out.extend_from_slice(&kind.to_ne_bytes());
            out.extend_from_slice(payload);
            out.resize(out.len().next_multiple_of(4), 0);
        };
        attr(1, &[name.as_bytes(), &[0]].concat());
        attr(2, &revision.to_be_bytes());
        attr(3, info);
        out
    }

    fn value(dreg: u32, bytes: &[u8]) -> Expr {
        Expr::Immediate {
            dreg,
            data: Immediate::Value(bytes.to_vec()),
        }
    }

    #[test]
    fn x_tables_nat_structs_of_each_revision() {
        // Revision 0 of IPv4 DNAT: nf_nat_ipv4_multi_range_compat, a range of addresses.
        let mut compat = 1u32.to_ne_bytes().to_vec();
        compat.extend_from_slice(&3u32.to_ne_bytes());
        compat.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 9, 0, 80, 0, 80, 0, 0, 0, 0]);
        assert_eq!(
            x_tables_nat(&target("DNAT", 0, &compat), NFPROTO_IPV4),
            Some(vec![
                value(1, &[10, 0, 0, 1]),
                value(2, &[10, 0, 0, 9]),
                value(3, &[0, 80]),
                Expr::Nat {
                    kind: NatKind::Dnat,
                    family: Some(NfFamily::Ip),
                    addr_min: Some(1),
                    addr_max: Some(2),
                    proto_min: Some(3),
                    proto_max: Some(3),
                },
            ])
        );
        // Two ranges in the compat struct are not what nat says.
        let mut two = compat.clone();
        two[0] = 2;
        assert_eq!(x_tables_nat(&target("DNAT", 0, &two), NFPROTO_IPV4), None);
        // IPv6 REDIRECT, revision 0: nf_nat_range, a range of ports.
        let mut range = 2u32.to_ne_bytes().to_vec();
        range.extend_from_slice(&[0; 32]);
        range.extend_from_slice(&[0x1f, 0x90, 0x1f, 0x9a, 0, 0, 0, 0]);
        assert_eq!(
            x_tables_nat(&target("REDIRECT", 0, &range), NFPROTO_IPV6),
            Some(vec![
                value(1, &[0x1f, 0x90]),
                value(2, &[0x1f, 0x9a]),
                Expr::Redir {
                    proto_min: Some(1),
                    proto_max: Some(2),
                },
            ])
        );
        // IPv6 DNAT, revision 1, to an address alone.
        let mut to = 1u32.to_ne_bytes().to_vec();
        let addr: std::net::Ipv6Addr = "2001:db8::7".parse().unwrap();
        to.extend_from_slice(&addr.octets());
        to.extend_from_slice(&addr.octets());
        to.extend_from_slice(&[0; 8]);
        assert_eq!(
            x_tables_nat(&target("DNAT", 1, &to), NFPROTO_IPV6),
            Some(vec![
                value(1, &addr.octets()),
                Expr::Nat {
                    kind: NatKind::Dnat,
                    family: Some(NfFamily::Ip6),
                    addr_min: Some(1),
                    addr_max: Some(1),
                    proto_min: None,
                    proto_max: None,
                },
            ])
        );
        // NETMAP or a port offset change what the addresses mean; a short struct; another
        // target; an unknown revision or family: left to Other.
        let mut netmap = to.clone();
        netmap[0] |= 0x40;
        assert_eq!(
            x_tables_nat(&target("DNAT", 1, &netmap), NFPROTO_IPV6),
            None
        );
        assert_eq!(
            x_tables_nat(&target("DNAT", 1, &to[..30]), NFPROTO_IPV6),
            None
        );
        assert_eq!(x_tables_nat(&target("SNAT", 1, &to), NFPROTO_IPV6), None);
        assert_eq!(x_tables_nat(&target("DNAT", 3, &to), NFPROTO_IPV6), None);
        assert_eq!(x_tables_nat(&target("DNAT", 0, &to), NFPROTO_IPV6), None);
        assert_eq!(x_tables_nat(&target("DNAT", 1, &to), 1), None);
    }
}
