//! Exit statuses, as the command-line contract fixes them.

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// At least one socket matched; `--audit` found nothing at or above `--fail-on`;
    /// `--diff` found no change.
    Matched,
    /// Nothing matched (for a port: it is free).
    NoMatch,
    /// `--diff`: something changed since the baseline.
    Changed,
    /// Usage error or a failure to read the system.
    Error,
    /// `--audit`: a finding at or above `--fail-on`.
    Findings,
}

impl ExitCode {
    pub fn code(self) -> u8 {
        match self {
            ExitCode::Matched => 0,
            ExitCode::NoMatch | ExitCode::Changed => 1,
            ExitCode::Error => 2,
            ExitCode::Findings => 3,
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_values() {
        assert_eq!(ExitCode::Matched.code(), 0);
        assert_eq!(ExitCode::NoMatch.code(), 1);
        assert_eq!(ExitCode::Changed.code(), 1);
        assert_eq!(ExitCode::Error.code(), 2);
        assert_eq!(ExitCode::Findings.code(), 3);
    }
}
