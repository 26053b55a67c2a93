//! The nftables ruleset as the kernel holds it, and what it decides for a new connection.
//!
//! The ruleset is the kernel's own form (what `nft --debug=netlink list ruleset` prints):
//! tables of chains of rules, each rule a list of expressions that load values into
//! registers and compare, look up or act on them. The evaluator (`firewall.rs`) walks it;
//! the backend (`backend/linux/nftables/`) decodes it from netlink.

use std::net::IpAddr;

use serde::Serialize;

use super::Proto;

/// Every table of one network namespace, read in one generation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub tables: Vec<NfTable>,
    /// The ruleset generation the dump was read in (`NFTA_GEN_ID`).
    pub generation: u32,
}

/// An nftables address family (`NFPROTO_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NfFamily {
    /// `inet`: IPv4 and IPv6.
    Inet,
    Ip,
    Ip6,
    Arp,
    Bridge,
    Netdev,
}

impl NfFamily {
    /// As `nft` spells it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            NfFamily::Inet => "inet",
            NfFamily::Ip => "ip",
            NfFamily::Ip6 => "ip6",
            NfFamily::Arp => "arp",
            NfFamily::Bridge => "bridge",
            NfFamily::Netdev => "netdev",
        }
    }

    /// The family number of `NFPROTO_*`.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn from_number(n: u8) -> Option<NfFamily> {
        Some(match n {
            1 => NfFamily::Inet,
            2 => NfFamily::Ip,
            3 => NfFamily::Arp,
            5 => NfFamily::Netdev,
            7 => NfFamily::Bridge,
            10 => NfFamily::Ip6,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NfTable {
    pub family: Option<NfFamily>,
    pub name: String,
    pub chains: Vec<NfChain>,
    pub sets: Vec<NfSet>,
}

/// The netfilter hook a base chain is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
    /// `netdev` ingress/egress, or a number this version does not name.
    Other(u32),
}

impl Hook {
    /// `NF_INET_*` (for `ip`, `ip6`, `inet`, `bridge`).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn from_number(n: u32) -> Hook {
        match n {
            0 => Hook::Prerouting,
            1 => Hook::Input,
            2 => Hook::Forward,
            3 => Hook::Output,
            4 => Hook::Postrouting,
            n => Hook::Other(n),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NfChain {
    pub name: String,
    /// `None` for a regular chain, reached only by jump or goto.
    pub hook: Option<Hook>,
    pub priority: i32,
    /// A base chain's policy; `None` for a regular chain.
    pub policy: Option<Verdict>,
    /// `filter`, `nat` or `route`.
    pub kind: Option<String>,
    /// In the kernel's order.
    pub rules: Vec<NfRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NfRule {
    pub handle: u64,
    pub exprs: Vec<Expr>,
}

/// A verdict, as `immediate` loads it into the verdict register or a chain's policy says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    /// Go on with the next rule (`NFT_CONTINUE`).
    Continue,
    /// Back to the calling chain (`NFT_RETURN`).
    Return,
    Jump(String),
    Goto(String),
    /// Handed to userspace (`queue`): its answer is not known.
    Queue,
    /// A code this version does not know.
    Other(i32),
}

/// Where a value lives in a packet (`NFT_PAYLOAD_*_HEADER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadBase {
    Link,
    Network,
    Transport,
    Inner,
}

/// How `cmp` and `range` compare (`NFT_CMP_*`, `NFT_RANGE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
}

/// One expression of a rule. Registers are numbered as the kernel numbers them: 0 is the
/// verdict register, 1–4 the 16-byte registers, 8–23 the 4-byte ones (`NFT_REG32_*`),
/// which overlay the 16-byte ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// Load `len` bytes at `offset` of a header into `dreg`.
    Payload {
        base: PayloadBase,
        offset: u32,
        len: u32,
        dreg: u32,
    },
    /// Load packet metadata (`NFT_META_*`: `l4proto` 16, `nfproto` 15, `iif` 4,
    /// `iifname` 6, `oif` 5, `oifname` 7, `skuid` 10, `mark` 3, ...) into `dreg`.
    Meta {
        key: u32,
        dreg: u32,
    },
    /// Conntrack data (`NFT_CT_*`: `state` 0, `direction` 1, `status` 2, ...) into `dreg`.
    Ct {
        key: u32,
        dreg: u32,
    },
    Cmp {
        sreg: u32,
        op: CmpOp,
        data: Vec<u8>,
    },
    /// `dreg = (sreg & mask) ^ xor` over `len` bytes (a mask-and-xor bitwise).
    Bitwise {
        sreg: u32,
        dreg: u32,
        len: u32,
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    Range {
        sreg: u32,
        op: CmpOp,
        from: Vec<u8>,
        to: Vec<u8>,
    },
    /// Look `sreg` up in a set; with `dreg`, a map that loads its value (a verdict map when
    /// `dreg` is 0).
    Lookup {
        sreg: u32,
        set: String,
        dreg: Option<u32>,
        invert: bool,
    },
    /// Load a verdict (`dreg` 0) or a value.
    Immediate {
        dreg: u32,
        data: Immediate,
    },
    /// `dnat`/`snat` to the addresses and ports in these registers.
    Nat {
        kind: NatKind,
        family: Option<NfFamily>,
        addr_min: Option<u32>,
        addr_max: Option<u32>,
        proto_min: Option<u32>,
        proto_max: Option<u32>,
    },
    /// `redirect` to the ports in these registers, on the receiving interface's address.
    Redir {
        proto_min: Option<u32>,
        proto_max: Option<u32>,
    },
    /// `reject`: the packet is dropped and the sender told.
    Reject,
    /// Has no say in the verdict: `counter`, `log`, `quota` below its limit, `notrack`...
    Passive(String),
    /// Anything else, by its kernel name: the evaluator cannot say what it does, so a rule
    /// holding it decides `unknown` (or `conditional` for `limit`).
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Immediate {
    Verdict(Verdict),
    Value(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatKind {
    Snat,
    Dnat,
}

/// A named or anonymous set (or map) of a table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NfSet {
    pub name: String,
    /// `NFT_SET_INTERVAL`: elements are ranges, each start followed by an end flagged
    /// `interval_end` (or carrying `key_end`). The end is the first key past the range;
    /// elements are sorted by key, and a last start with no end runs to the largest key.
    pub interval: bool,
    /// `NFT_SET_MAP`: elements carry data (a value, or a verdict when `verdict_map`).
    pub map: bool,
    pub verdict_map: bool,
    pub key_len: u32,
    pub elements: Vec<NfSetElement>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NfSetElement {
    pub key: Vec<u8>,
    /// The end of a range, where the kernel keeps it with the start (`NFTA_SET_ELEM_KEY_END`).
    pub key_end: Option<Vec<u8>>,
    /// `NFT_SET_ELEM_INTERVAL_END`: this key ends the range the previous one began.
    pub interval_end: bool,
    /// The catch-all element `*` (`NFT_SET_ELEM_CATCHALL`): it has no key (`key` is
    /// empty) and matches whatever no other element does, as a map's default.
    pub catchall: bool,
    pub data: Option<Immediate>,
}

/// Why a namespace's ruleset could not be read, so its verdicts are `unknown`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NoRuleset {
    /// Reading it needs CAP_NET_ADMIN.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    NotPermitted,
    /// Legacy iptables (`ip_tables`) is in use: its rules are not in nftables.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    LegacyIptables,
    /// It kept changing while it was read.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Changed,
    /// The namespace could not be entered.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    NotEntered,
    /// Anything else, in the system's words.
    Failed(String),
}

/// What the input path does with a new connection from another host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FirewallVerdict {
    Accept,
    Drop,
    Reject,
    /// Accepted only for some sources, interfaces or rates.
    Conditional,
    /// Not known: not root, legacy iptables in use, or an expression portwho does not
    /// evaluate (the reason says which).
    Unknown,
}

/// The rule (or chain policy) that decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct RuleRef {
    pub family: &'static str,
    pub table: String,
    pub chain: String,
    /// `None` for a chain's policy.
    pub handle: Option<u64>,
    /// How it reads: `policy drop`, `tcp dport 22 accept`, or the expressions' names.
    pub text: String,
}

/// The firewall's say about one listening socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Firewall {
    pub verdict: FirewallVerdict,
    pub rule: Option<RuleRef>,
    pub reason: String,
}

/// A port forward the ruleset makes: a DNAT or REDIRECT rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleForward {
    pub proto: Proto,
    /// `None`: any destination address.
    pub host_addr: Option<IpAddr>,
    pub host_port: u16,
    /// `None` for a redirect (the receiving interface's own address).
    pub to_addr: Option<IpAddr>,
    pub to_port: u16,
    pub redirect: bool,
    pub rule: RuleRef,
}
