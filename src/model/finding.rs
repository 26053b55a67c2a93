//! Audit findings as data: what the rules in `label::findings` report about a listener.

use serde::Serialize;

/// How much a finding matters; ordered, so `--fail-on` is a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// One thing an operator should look at, with a reason they can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Finding {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    /// It is about reaching the listener from other hosts, which the firewall decides.
    #[serde(skip)]
    pub exposed: bool,
    /// The firewall's verdict, when it changed or qualified the finding.
    pub firewall: Option<super::Firewall>,
}

impl Severity {
    /// One step less: what a firewall that closes the port leaves of a finding.
    pub(crate) fn lower(self) -> Severity {
        match self {
            Severity::High => Severity::Medium,
            Severity::Medium | Severity::Low => Severity::Low,
        }
    }
}
