//! TEMPORARY stand-in until the evaluator lands (not to be committed).
use crate::model::{Firewall, FirewallVerdict, NoRuleset, RuleForward, Ruleset, Socket};
pub(crate) struct Firewalls<'r> {
    r: &'r Ruleset,
}
impl<'r> Firewalls<'r> {
    pub(crate) fn new(r: &'r Ruleset) -> Self {
        Firewalls { r }
    }
    pub(crate) fn verdict(&mut self, _socket: &Socket) -> Firewall {
        Firewall {
            verdict: if self.r.tables.is_empty() {
                FirewallVerdict::Accept
            } else {
                FirewallVerdict::Unknown
            },
            rule: None,
            reason: "no firewall rules".into(),
        }
    }
}
pub(crate) fn unknown(_why: &NoRuleset) -> Firewall {
    Firewall {
        verdict: FirewallVerdict::Unknown,
        rule: None,
        reason: "run as root".into(),
    }
}
pub(crate) fn forwards(_ruleset: &Ruleset) -> Vec<RuleForward> {
    Vec::new()
}
