//! The walk's answer in the contract's words: the verdict, the rule (or policy) that
//! decided, and a reason a person reads.

use crate::model::{Firewall, FirewallVerdict, RuleRef, Verdict};

use super::compile::{Compiled, QuickMap};
use super::packet::Ip;
use super::rule::Why;
use super::text::{clauses, kernel_name, rule_text, verdict_text};
use super::walk::{At, Cond, Outcome, POLICY};

/// What the walk found for one packet family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer<'r> {
    /// No base chain on the input hook for the family.
    NoChain,
    Decided(Outcome<'r>),
}

/// The rule, or chain policy, at `at`; kept once made, since many sockets share one.
pub(super) fn rule_ref(fw: &Compiled, texts: &mut QuickMap<At, RuleRef>, at: At) -> RuleRef {
    texts
        .entry(at)
        .or_insert_with(|| {
            let chain = fw.chains[at.chain as usize].chain;
            let table = fw.table_of(at.chain);
            let rule = chain
                .rules
                .get(at.rule as usize)
                .filter(|_| at.rule != POLICY);
            RuleRef {
                family: table.family,
                table: table.table.name.clone(),
                chain: chain.name.clone(),
                handle: rule.map(|r| r.handle),
                text: match rule {
                    Some(r) => rule_text(table.table, r),
                    None => format!(
                        "policy {}",
                        verdict_text(chain.policy.as_ref().unwrap_or(&Verdict::Accept))
                    ),
                },
            }
        })
        .clone()
}

/// The connections a conditional test lets through: `from 10.0.0.0/8`.
fn phrase(fw: &Compiled, cond: Cond) -> String {
    let table = fw.table_of(cond.at.chain).table;
    let Some(rule) = fw.chains[cond.at.chain as usize]
        .chain
        .rules
        .get(cond.at.rule as usize)
    else {
        return "for some connections".to_string();
    };
    clauses(table, rule)
        .and_then(|list| list.into_iter().find(|c| c.exprs.contains(&cond.expr)))
        .map_or_else(
            || format!("when `{}` matches", rule_text(table, rule)),
            |c| c.phrase(),
        )
}

/// The socket's side of a connection, as a reason names it: `tcp 8080`.
#[derive(Debug, Clone, Copy)]
pub(super) struct What {
    pub(super) proto: &'static str,
    pub(super) port: u16,
}

impl std::fmt::Display for What {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.proto, self.port)
    }
}

/// The verdict for one packet family.
pub(super) fn firewall(
    fw: &Compiled,
    texts: &mut QuickMap<At, RuleRef>,
    answer: Answer,
    what: What,
    ip: Ip,
) -> Firewall {
    let outcome = match answer {
        Answer::NoChain => {
            return Firewall {
                verdict: FirewallVerdict::Accept,
                rule: None,
                reason: format!("no base chain on the input hook for {}", ip.name()),
            };
        }
        Answer::Decided(o) => o,
    };
    let chain = |at: At| fw.chains[at.chain as usize].chain.name.as_str();
    let (verdict, by, reason) = match outcome {
        Outcome::Accept { by, except } => {
            let mut reason = if by.rule == POLICY {
                format!(
                    "no rule decides {what}; chain {} accepts by policy",
                    chain(by)
                )
            } else {
                format!("chain {} accepts {what}", chain(by))
            };
            if let Some(cond) = except {
                reason.push_str(", except ");
                reason.push_str(&phrase(fw, cond));
            }
            (FirewallVerdict::Accept, by, reason)
        }
        Outcome::Block { by, reject } => {
            let (verdict, verb) = if reject {
                (FirewallVerdict::Reject, "rejects")
            } else {
                (FirewallVerdict::Drop, "drops")
            };
            let reason = if by.rule == POLICY {
                format!(
                    "no rule accepts {what}; chain {} {verb} by policy",
                    chain(by)
                )
            } else {
                format!("chain {} {verb} {what}", chain(by))
            };
            (verdict, by, reason)
        }
        Outcome::Conditional { by, cond, also } => {
            let mut reason = format!("{what} is accepted only {}", phrase(fw, cond));
            if let Some(also) = also {
                reason.push_str(" and ");
                reason.push_str(&phrase(fw, also));
            }
            (FirewallVerdict::Conditional, by, reason)
        }
        Outcome::Unknown { by, why } => (FirewallVerdict::Unknown, by, unknown(fw, by, why, what)),
    };
    Firewall {
        verdict,
        rule: Some(rule_ref(fw, texts, by)),
        reason,
    }
}

fn unknown(fw: &Compiled, by: At, why: Why, what: What) -> String {
    let entry = &fw.chains[by.chain as usize];
    let chain = entry.chain.name.as_str();
    let table = fw.table_of(by.chain).table.name.as_str();
    let expr = |i: u32| {
        entry
            .chain
            .rules
            .get(by.rule as usize)
            .and_then(|r| r.exprs.get(i as usize))
            .map_or("?", kernel_name)
    };
    match why {
        Why::Expr(i) => format!(
            "chain {chain}: a rule uses {}, which portwho does not evaluate",
            expr(i)
        ),
        Why::Malformed(i) => format!(
            "chain {chain}: a rule's {} expression is malformed",
            expr(i)
        ),
        Why::NoSet(set) => {
            format!("chain {chain}: a rule looks up set {set}, which table {table} does not have")
        }
        Why::NoChain(to) => {
            format!("chain {chain} jumps to chain {to}, which table {table} does not have")
        }
        Why::Queue => {
            format!("chain {chain} queues {what} to a program, whose answer is not known")
        }
        Why::Code(code) => {
            format!("chain {chain}: a rule gives verdict {code}, unknown to portwho")
        }
        Why::Loop => format!("chain {chain} is reached again from itself"),
        Why::Deep => format!("chains are nested deeper than portwho follows at chain {chain}"),
        Why::Policy => format!("chain {chain} has a policy portwho does not know"),
    }
}

/// One verdict for a socket that takes both IPv6 and IPv4 (a dual-stack wildcard): the same
/// verdict reads as one; an accept over one family only is conditional.
pub(super) fn both(v6: Firewall, v4: Firewall) -> Firewall {
    use FirewallVerdict::{Accept, Conditional, Drop, Reject, Unknown};
    if v6.verdict == v4.verdict {
        return if v6.rule.is_none() && v4.rule.is_some() {
            v4
        } else {
            v6
        };
    }
    let reason = format!("IPv6: {}; IPv4: {}", v6.reason, v4.reason);
    let (verdict, rule) = match (v6.verdict, v4.verdict) {
        (Unknown, _) => (Unknown, v6.rule),
        (_, Unknown) => (Unknown, v4.rule),
        (Drop, Reject) | (Reject, Drop) => return v6,
        // The accepting side's rule; the blocking side's when no rule accepts (no chain).
        (Accept | Conditional, Drop | Reject) => (Conditional, v6.rule.or(v4.rule)),
        (Drop | Reject, Accept | Conditional) => (Conditional, v4.rule.or(v6.rule)),
        (Conditional, Accept) => (Conditional, v6.rule),
        (Accept, Conditional) => (Conditional, v4.rule),
        _ => (v6.verdict, v6.rule),
    };
    Firewall {
        verdict,
        rule,
        reason,
    }
}
