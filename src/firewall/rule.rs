//! One rule run against the packet, expression by expression, as the kernel runs it: loads
//! fill registers, `cmp`, `range` and `lookup` stop the rule when they fail, the first
//! verdict ends it. A test on what is not known makes the rule match only some connections.

use crate::model::{CmpOp, Expr, Immediate, NfRule, NfSet, Verdict};

use super::compile::{Compiled, Found, could_be};
use super::packet::{Byte, Load, Packet, REGS_LEN, Regs, ruled_out, span};

/// Why a verdict cannot be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Why<'r> {
    /// The rule's expression at this index is one portwho does not evaluate.
    Expr(u32),
    /// The expression at this index is malformed: a register or length the kernel refuses.
    Malformed(u32),
    NoSet(&'r str),
    NoChain(&'r str),
    Queue,
    Code(i32),
    /// A chain reached again from itself.
    Loop,
    /// Jumps nested deeper than the kernel allows.
    Deep,
    /// A base chain policy other than accept or drop.
    Policy,
}

/// What a rule does to the packet once it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Action<'r> {
    Accept,
    Drop,
    Reject,
    Continue,
    Return,
    Jump(u32),
    Goto(u32),
    Unknown(Why<'r>),
}

/// A rule's answer for the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RuleEval<'r> {
    NoMatch,
    /// Matches every new connection to the socket.
    Always(Action<'r>),
    /// Matches some, depending on the expression at `cond` (the first test that could not
    /// be decided); these are what it may do to them. The others go on to the next rule.
    Some {
        cond: u32,
        actions: Vec<Action<'r>>,
    },
}

/// Three-valued truth: what a test says of a packet only partly known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    True,
    False,
    Maybe,
}

impl Tri {
    fn not(self) -> Tri {
        match self {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            Tri::Maybe => Tri::Maybe,
        }
    }

    fn and(self, other: Tri) -> Tri {
        match (self, other) {
            (Tri::False, _) | (_, Tri::False) => Tri::False,
            (Tri::True, Tri::True) => Tri::True,
            _ => Tri::Maybe,
        }
    }
}

/// What one expression did.
enum Step<'r> {
    Next,
    Fail,
    /// A test that depends on what is not known.
    Cond,
    /// The verdict register was set.
    Act(Action<'r>),
    /// A verdict map whose key is not known: any of these verdicts, or none.
    Acts(Vec<Action<'r>>),
    /// Something portwho does not evaluate: registers are forgotten.
    Unknown(Why<'r>),
}

/// Names of expressions that only limit a rate or a count: the rule matches some
/// connections, not none.
pub(super) fn is_limit(name: &str) -> bool {
    matches!(name, "limit" | "connlimit")
}

/// Run `rule` (of table `table`) on the packet. `regs` keeps what the last expression run
/// left, which a `dnat` reads.
pub(super) fn eval<'r>(
    fw: &Compiled<'r>,
    table: u32,
    rule: &'r NfRule,
    packet: &Packet,
    regs: &mut Regs,
) -> RuleEval<'r> {
    regs.clear();
    let mut cond: Option<u32> = None;
    let mut unknown: Option<Why<'r>> = None;
    let mut action = Action::Continue;
    let mut several: Option<Vec<Action<'r>>> = None;
    for (i, e) in rule.exprs.iter().enumerate() {
        let i = i as u32;
        match step(fw, table, e, i, packet, regs) {
            Step::Next => {}
            Step::Fail => return RuleEval::NoMatch,
            Step::Cond => {
                cond.get_or_insert(i);
            }
            Step::Unknown(why) => {
                unknown.get_or_insert(why);
                regs.clear();
            }
            Step::Act(a) => {
                action = a;
                break;
            }
            Step::Acts(list) => {
                cond.get_or_insert(i);
                several = Some(list);
                break;
            }
        }
    }
    let actions = match (unknown, several) {
        (Some(why), _) => vec![Action::Unknown(why)],
        (None, Some(mut list)) => {
            list.retain(|a| *a != Action::Continue);
            list
        }
        // The common case, without a list.
        (None, None) => {
            return match (action, cond) {
                (Action::Continue, _) => RuleEval::NoMatch,
                (a, None) => RuleEval::Always(a),
                (a, Some(cond)) => RuleEval::Some {
                    cond,
                    actions: vec![a],
                },
            };
        }
    };
    match (cond, actions.as_slice()) {
        (_, []) => RuleEval::NoMatch,
        (None, [a]) => RuleEval::Always(*a),
        (c, _) => RuleEval::Some {
            cond: c.unwrap_or(0),
            actions,
        },
    }
}

fn step<'r>(
    fw: &Compiled<'r>,
    table: u32,
    e: &'r Expr,
    i: u32,
    packet: &Packet,
    regs: &mut Regs,
) -> Step<'r> {
    let set_of = |name: &str| fw.set(table, name).map(|s| s.set);
    if !well_formed(e, set_of) {
        return match e {
            Expr::Lookup { set, .. } if set_of(set).is_none() => Step::Unknown(Why::NoSet(set)),
            _ => Step::Unknown(Why::Malformed(i)),
        };
    }
    let stored = match e {
        Expr::Payload {
            base,
            offset,
            len,
            dreg,
        } => span(*dreg, *len as usize)
            .map(|s| regs.store(s, packet.payload(*base, *offset, *len as usize).bytes())),
        Expr::Meta { key, dreg } | Expr::Ct { key, dreg } => {
            let load = match e {
                Expr::Meta { .. } => packet.meta(*key),
                _ => packet.ct(*key),
            };
            let Load::Value(v) = load else {
                return Step::Fail;
            };
            span(*dreg, v.len()).map(|s| regs.store(s, v.bytes()))
        }
        Expr::Bitwise {
            sreg,
            dreg,
            len,
            mask,
            xor,
        } => bitwise(regs, *sreg, *dreg, *len as usize, mask, xor),
        Expr::Immediate {
            dreg,
            data: Immediate::Value(v),
        } => span(*dreg, v.len()).map(|s| regs.store(s, v.iter().map(|&b| Byte::known(b)))),
        _ => return test(fw, table, e, i, regs),
    };
    match stored {
        Some(()) => Step::Next,
        None => Step::Unknown(Why::Malformed(i)),
    }
}

/// `dreg = (sreg & mask) ^ xor`: a bit the mask clears is known whatever the source.
fn bitwise(
    regs: &mut Regs,
    sreg: u32,
    dreg: u32,
    len: usize,
    mask: &[u8],
    xor: &[u8],
) -> Option<()> {
    let source = regs.get(span(sreg, len)?);
    let mut out = [Byte::UNKNOWN; REGS_LEN];
    for (slot, (b, (&m, &x))) in out.iter_mut().zip(source.iter().zip(mask.iter().zip(xor))) {
        *slot = Byte {
            value: (b.value & m) ^ x,
            known: b.known | !m,
            tag: b.tag,
        };
    }
    regs.store(span(dreg, len)?, out.into_iter().take(len));
    Some(())
}

/// Whether the kernel would take the expression: registers that exist, lengths that agree,
/// a set the table has. A decoded rule may break any of these.
pub(super) fn well_formed<'s>(e: &Expr, set_of: impl Fn(&str) -> Option<&'s NfSet>) -> bool {
    match e {
        Expr::Payload { dreg, len, .. } => span(*dreg, *len as usize).is_some(),
        Expr::Meta { dreg, .. } | Expr::Ct { dreg, .. } => span(*dreg, 4).is_some(),
        Expr::Cmp { sreg, data, .. } => span(*sreg, data.len()).is_some(),
        Expr::Bitwise {
            sreg,
            dreg,
            len,
            mask,
            xor,
        } => {
            let len = *len as usize;
            span(*sreg, len).is_some()
                && span(*dreg, len).is_some()
                && mask.len() == len
                && xor.len() == len
        }
        Expr::Range { sreg, op, from, to } => {
            matches!(op, CmpOp::Eq | CmpOp::Neq)
                && from.len() == to.len()
                && span(*sreg, from.len()).is_some()
        }
        Expr::Lookup {
            sreg,
            set,
            dreg,
            invert,
        } => set_of(set).is_some_and(|s| {
            span(*sreg, s.key_len as usize).is_some()
                && match dreg {
                    None => true,
                    Some(0) => !*invert,
                    Some(d) => !*invert && span(*d, 4).is_some(),
                }
        }),
        Expr::Immediate { dreg, data } => match data {
            Immediate::Verdict(_) => *dreg == 0,
            Immediate::Value(v) => span(*dreg, v.len()).is_some(),
        },
        Expr::Nat { .. }
        | Expr::Redir { .. }
        | Expr::Reject
        | Expr::Passive(_)
        | Expr::Other(_) => true,
    }
}

/// The expressions that test, look up or act.
fn test<'r>(fw: &Compiled<'r>, table: u32, e: &'r Expr, i: u32, regs: &mut Regs) -> Step<'r> {
    let truth = match e {
        Expr::Cmp { sreg, op, data } => {
            span(*sreg, data.len()).map(|s| compare(regs.get(s), *op, data))
        }
        Expr::Range { sreg, op, from, to } => span(*sreg, from.len()).map(|s| {
            let inside = at_least(regs.get(s.clone()), from).and(at_least_rev(regs.get(s), to));
            if *op == CmpOp::Neq {
                inside.not()
            } else {
                inside
            }
        }),
        Expr::Lookup { .. } => return lookup(fw, table, e, i, regs),
        Expr::Immediate {
            data: Immediate::Verdict(v),
            ..
        } => return Step::Act(action(fw, table, v)),
        // nat hands the packet on (NF_ACCEPT); on the input hook only snat may stand.
        Expr::Nat { .. } | Expr::Redir { .. } => return Step::Act(Action::Accept),
        Expr::Reject => return Step::Act(Action::Reject),
        Expr::Passive(_) => return Step::Next,
        Expr::Other(name) if is_limit(name) => return Step::Cond,
        Expr::Other(_) => return Step::Unknown(Why::Expr(i)),
        _ => None,
    };
    match truth {
        Some(Tri::True) => Step::Next,
        Some(Tri::False) => Step::Fail,
        Some(Tri::Maybe) => Step::Cond,
        None => Step::Unknown(Why::Malformed(i)),
    }
}

fn lookup<'r>(fw: &Compiled<'r>, table: u32, e: &'r Expr, i: u32, regs: &mut Regs) -> Step<'r> {
    let Expr::Lookup {
        sreg,
        set,
        dreg,
        invert,
    } = e
    else {
        return Step::Next;
    };
    let Some(index) = fw.set(table, set) else {
        return Step::Unknown(Why::NoSet(set));
    };
    let Some(key) = span(*sreg, index.set.key_len as usize) else {
        return Step::Unknown(Why::Malformed(i));
    };
    let found = index.lookup(regs.get(key));
    match (dreg, found) {
        (None, Found::Miss) => step_of(*invert),
        (None, Found::Hit(_)) => step_of(!*invert),
        (None, Found::Maybe(_)) => Step::Cond,
        (Some(_), Found::Miss) => Step::Fail,
        (Some(0), Found::Hit(element)) => match &element.data {
            Some(Immediate::Verdict(v)) => Step::Act(action(fw, table, v)),
            _ => Step::Unknown(Why::Malformed(i)),
        },
        (Some(0), Found::Maybe(verdicts)) if !verdicts.is_empty() => {
            Step::Acts(verdicts.iter().map(|v| action(fw, table, v)).collect())
        }
        (Some(0), Found::Maybe(_)) => Step::Unknown(Why::Malformed(i)),
        (Some(d), Found::Hit(element)) => match (&element.data, span(*d, 1)) {
            (Some(Immediate::Value(v)), Some(_)) => match span(*d, v.len()) {
                Some(s) => {
                    regs.store(s, v.iter().map(|&b| Byte::known(b)));
                    Step::Next
                }
                None => Step::Unknown(Why::Malformed(i)),
            },
            _ => Step::Unknown(Why::Malformed(i)),
        },
        (Some(d), Found::Maybe(_)) => {
            // Which value is loaded is not known; the rule goes on for some connections.
            if let Some(s) = span(*d, 4) {
                let end = (s.start + 16).min(REGS_LEN);
                regs.store(
                    s.start..end,
                    std::iter::repeat_n(Byte::UNKNOWN, end - s.start),
                );
            }
            Step::Cond
        }
    }
}

fn step_of(pass: bool) -> Step<'static> {
    if pass { Step::Next } else { Step::Fail }
}

/// A verdict as the walk follows it: chains found by name in the rule's table.
pub(super) fn action<'r>(fw: &Compiled<'r>, table: u32, v: &'r Verdict) -> Action<'r> {
    match v {
        Verdict::Accept => Action::Accept,
        Verdict::Drop => Action::Drop,
        Verdict::Continue => Action::Continue,
        Verdict::Return => Action::Return,
        Verdict::Jump(name) | Verdict::Goto(name) => match fw.chain_named(table, name) {
            Some(id) if matches!(v, Verdict::Jump(_)) => Action::Jump(id),
            Some(id) => Action::Goto(id),
            None => Action::Unknown(Why::NoChain(name)),
        },
        Verdict::Queue => Action::Unknown(Why::Queue),
        Verdict::Other(code) => Action::Unknown(Why::Code(*code)),
    }
}

/// `cmp`: `eq` and `neq` bit by bit; the orderings compare as `memcmp` does.
fn compare(bytes: &[Byte], op: CmpOp, data: &[u8]) -> Tri {
    match op {
        CmpOp::Eq | CmpOp::Neq => {
            let equal = if !could_be(bytes, data) || ruled_out(bytes, data) {
                Tri::False
            } else if bytes.iter().all(|b| b.is_known()) {
                Tri::True
            } else {
                Tri::Maybe
            };
            if op == CmpOp::Neq { equal.not() } else { equal }
        }
        CmpOp::Gte => at_least(bytes, data),
        CmpOp::Lt => at_least(bytes, data).not(),
        CmpOp::Lte => at_least_rev(bytes, data),
        CmpOp::Gt => at_least_rev(bytes, data).not(),
    }
}

/// `bytes >= data` in `memcmp` order, decided by the first byte that differs; `Maybe` when
/// a byte before it is not fully known.
fn at_least(bytes: &[Byte], data: &[u8]) -> Tri {
    match order(bytes, data) {
        Some(std::cmp::Ordering::Less) => Tri::False,
        Some(_) => Tri::True,
        None => Tri::Maybe,
    }
}

/// `bytes <= data`.
fn at_least_rev(bytes: &[Byte], data: &[u8]) -> Tri {
    match order(bytes, data) {
        Some(std::cmp::Ordering::Greater) => Tri::False,
        Some(_) => Tri::True,
        None => Tri::Maybe,
    }
}

fn order(bytes: &[Byte], data: &[u8]) -> Option<std::cmp::Ordering> {
    for (b, d) in bytes.iter().zip(data) {
        if !b.is_known() {
            return None;
        }
        match b.value.cmp(d) {
            std::cmp::Ordering::Equal => {}
            other => return Some(other),
        }
    }
    Some(std::cmp::Ordering::Equal)
}
