//! Exit statuses, as the command-line contract fixes them.

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// At least one socket matched.
    Matched = 0,
    /// Nothing matched (for a port: it is free).
    NoMatch = 1,
    /// Usage error or a failure to read the system.
    Error = 2,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_values() {
        assert_eq!(ExitCode::Matched.code(), 0);
        assert_eq!(ExitCode::NoMatch.code(), 1);
        assert_eq!(ExitCode::Error.code(), 2);
    }
}
