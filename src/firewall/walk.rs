//! The walk through a hook's base chains for one packet: jumps, gotos and returns followed,
//! each rule that matches only some connections splitting the walk in two (those it
//! matches, the rest), and the two answers joined into one.

use crate::model::Verdict;

use super::compile::{Compiled, QuickMap};
use super::packet::{Ip, Packet, Regs};
use super::rule::{Action, RuleEval, Why, eval};

/// A rule of a chain, or its policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct At {
    pub(super) chain: u32,
    pub(super) rule: u32,
}

/// `At::rule` of a chain's policy.
pub(super) const POLICY: u32 = u32::MAX;

impl At {
    pub(super) fn policy(chain: u32) -> At {
        At {
            chain,
            rule: POLICY,
        }
    }
}

/// The test of a rule (the expression at `expr`) that only some connections pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Cond {
    pub(super) at: At,
    pub(super) expr: u32,
}

/// What happens to new connections: to all of them, or to some.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Outcome<'r> {
    /// Accepted by `by`; `except` names a test that drops or rejects some before it.
    Accept {
        by: At,
        except: Option<Cond>,
    },
    Block {
        by: At,
        reject: bool,
    },
    /// Accepted by `by` only for the connections that pass `cond` (and `also`); the rest
    /// are dropped or rejected.
    Conditional {
        by: At,
        cond: Cond,
        also: Option<Cond>,
    },
    Unknown {
        by: At,
        why: Why<'r>,
    },
}

/// One answer from two: `then` for the connections that pass `cond`, `otherwise` for the
/// rest. Not knowing wins; an accept for some and a drop for the rest is conditional.
fn split<'r>(cond: Cond, then: Outcome<'r>, otherwise: Outcome<'r>) -> Outcome<'r> {
    use Outcome::{Accept, Block, Conditional, Unknown};
    match (then, otherwise) {
        (_, Unknown { .. }) => otherwise,
        (Unknown { .. }, _) => then,
        (Accept { .. }, Accept { .. }) | (Block { .. }, Block { .. } | Conditional { .. }) => {
            otherwise
        }
        (Accept { by, .. }, Block { .. } | Conditional { .. }) => Conditional {
            by,
            cond,
            also: None,
        },
        (Block { .. } | Conditional { .. }, Accept { by, .. }) => Accept {
            by,
            except: Some(cond),
        },
        (
            Conditional {
                by, cond: inner, ..
            },
            Block { .. } | Conditional { .. },
        ) => Conditional {
            by,
            cond,
            also: Some(inner),
        },
    }
}

/// Nested chains the walk follows: the kernel's jump stack holds 16; gotos do not count
/// there but do here.
const MAX_DEPTH: u32 = 32;

/// What one walk keeps, reused by the next so that many walks allocate once.
pub(super) struct Memo<'r> {
    /// A chain entered with what its end leads to has one answer: kept, so that a chain
    /// reached along many paths is walked once.
    done: QuickMap<(u32, Outcome<'r>), Outcome<'r>>,
    /// The chains being walked, outermost first: one entered again is a loop.
    open: Vec<(u32, Outcome<'r>)>,
    regs: Regs,
    candidates: Vec<Vec<u32>>,
}

impl Memo<'_> {
    pub(super) fn new() -> Self {
        Memo {
            done: QuickMap::default(),
            open: Vec::new(),
            regs: Regs::new(),
            candidates: Vec::new(),
        }
    }
}

pub(super) struct Walk<'c, 'r, 'm> {
    fw: &'c Compiled<'r>,
    packet: Packet,
    memo: &'m mut Memo<'r>,
    depth: u32,
}

impl<'c, 'r, 'm> Walk<'c, 'r, 'm> {
    pub(super) fn new(
        fw: &'c Compiled<'r>,
        packet: Packet,
        memo: &'m mut Memo<'r>,
    ) -> Walk<'c, 'r, 'm> {
        memo.done.clear();
        memo.open.clear();
        Walk {
            fw,
            packet,
            memo,
            depth: 0,
        }
    }

    /// Every base chain on the input hook for the packet's family must accept it: the first
    /// that drops or rejects every connection decides, then the first that cannot be known,
    /// then the first that accepts only some. `None` when no base chain is there.
    pub(super) fn input(&mut self) -> Option<Outcome<'r>> {
        let fw = self.fw;
        let chains = &fw.input[usize::from(self.packet.ip == Ip::V6)];
        let outcomes: Vec<Outcome> = chains.iter().map(|&c| self.base(c)).collect();
        let first = |want: fn(&Outcome) -> bool| outcomes.iter().copied().find(want);
        first(|o| matches!(o, Outcome::Block { .. }))
            .or_else(|| first(|o| matches!(o, Outcome::Unknown { .. })))
            .or_else(|| first(|o| matches!(o, Outcome::Conditional { .. })))
            .or_else(|| {
                let by = first(|o| matches!(o, Outcome::Accept { by, .. } if by.rule != POLICY));
                let except = outcomes.iter().find_map(|o| match o {
                    Outcome::Accept { except, .. } => *except,
                    _ => None,
                });
                match by.or_else(|| outcomes.first().copied()) {
                    Some(Outcome::Accept { by, .. }) => Some(Outcome::Accept { by, except }),
                    other => other,
                }
            })
    }

    /// A base chain from its first rule; its end, or a return, meets its policy.
    pub(super) fn base(&mut self, chain: u32) -> Outcome<'r> {
        let by = At::policy(chain);
        let policy = match self.fw.chains[chain as usize].chain.policy {
            None | Some(Verdict::Accept) => Outcome::Accept { by, except: None },
            Some(Verdict::Drop) => Outcome::Block { by, reject: false },
            Some(_) => Outcome::Unknown {
                by,
                why: Why::Policy,
            },
        };
        self.chain(chain, policy)
    }

    /// `chain` from its first rule, where its end (or a return) leads to `ret`.
    fn chain(&mut self, chain: u32, ret: Outcome<'r>) -> Outcome<'r> {
        let key = (chain, ret);
        // A base chain is entered once a walk: only the chains jumped to are kept.
        let kept = self.depth > 0;
        if let Some(done) = self.memo.done.get(&key).filter(|_| kept) {
            return *done;
        }
        let by = At::policy(chain);
        if self.depth >= MAX_DEPTH {
            return Outcome::Unknown { by, why: Why::Deep };
        }
        if self.memo.open.contains(&key) {
            return Outcome::Unknown { by, why: Why::Loop };
        }
        self.memo.open.push(key);
        self.depth += 1;
        let out = self.rules(chain, ret);
        self.depth -= 1;
        self.memo.open.pop();
        if kept {
            self.memo.done.insert(key, out);
        }
        out
    }

    /// The rules from the last that can matter back to the first: what follows a rule is
    /// known before the rule is weighed.
    fn rules(&mut self, chain: u32, ret: Outcome<'r>) -> Outcome<'r> {
        let fw = self.fw;
        let entry = &fw.chains[chain as usize];
        // A list per level of nesting, kept from walk to walk.
        let mut candidates = self.memo.candidates.pop().unwrap_or_default();
        fw.candidates(chain, self.packet.proto, self.packet.dport, &mut candidates);
        let mut evals = Vec::new();
        for &r in &candidates {
            let Some(rule) = entry.chain.rules.get(r as usize) else {
                continue;
            };
            let e = eval(fw, entry.table, rule, &self.packet, &mut self.memo.regs);
            if e == RuleEval::NoMatch {
                continue;
            }
            let last = matches!(e, RuleEval::Always(a) if !matches!(a, Action::Jump(_)));
            evals.push((r, e));
            if last {
                break;
            }
        }
        self.memo.candidates.push(candidates);
        let mut next = ret;
        for (rule, e) in evals.into_iter().rev() {
            let at = At { chain, rule };
            next = match e {
                RuleEval::NoMatch => next,
                RuleEval::Always(a) => self.act(a, at, next, ret),
                RuleEval::Some { cond, actions } => {
                    let cond = Cond { at, expr: cond };
                    let mut out = next;
                    for a in actions.into_iter().rev() {
                        let then = self.act(a, at, next, ret);
                        out = split(cond, then, out);
                    }
                    out
                }
            };
        }
        next
    }

    /// What an action leads to, given what follows the rule (`next`) and what the chain's
    /// end leads to (`ret`).
    fn act(&mut self, a: Action<'r>, at: At, next: Outcome<'r>, ret: Outcome<'r>) -> Outcome<'r> {
        match a {
            Action::Accept => Outcome::Accept {
                by: at,
                except: None,
            },
            Action::Drop => Outcome::Block {
                by: at,
                reject: false,
            },
            Action::Reject => Outcome::Block {
                by: at,
                reject: true,
            },
            Action::Continue => next,
            Action::Return => ret,
            Action::Jump(target) => self.chain(target, next),
            Action::Goto(target) => self.chain(target, ret),
            Action::Unknown(why) => Outcome::Unknown { by: at, why },
        }
    }
}
